"""Password links: they end with every change of the account, and point to tracker's
configured address whatever Host header the issuing request carried."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.conftest import make_app
from tracker.models import Role


@pytest.fixture
def city(db):
    return factories.organisation("Stadtverwaltung")


@pytest.fixture
def lead(auth, city):
    user = factories.user(city, Role.HR_LEAD, email="personalleitung@stadt.example")
    auth.login(user)
    return user


def _issue_link(client, person, **kwargs) -> str:
    response = client.post(f"/verwaltung/personen/{person.id}/passwort-link", **kwargs)
    assert response.status_code == 200
    return re.search(r'value="([^"]*/passwort/neu/[^"]+)"', response.get_data(as_text=True)).group(1)


def _path(link: str) -> str:
    return link[link.index("/passwort/neu/"):]


def test_a_link_stays_dead_after_deactivation_and_reactivation(app, client, db, lead, city):
    person = factories.user(city)
    path = _path(_issue_link(client, person))
    assert app.test_client().get(path).status_code == 200
    assert client.post(f"/verwaltung/personen/{person.id}/aktiv", data={"active": "0"}
                       ).status_code == 303
    assert app.test_client().get(path).status_code == 404
    assert client.post(f"/verwaltung/personen/{person.id}/aktiv", data={"active": "1"}
                       ).status_code == 303
    db.session.refresh(person)
    assert person.active
    again = app.test_client().get(path)
    assert again.status_code == 404
    assert "ungültig, abgelaufen oder wurde bereits benutzt" in again.get_data(as_text=True)
    # The person's password is what it was: nothing was changed through the dead link.
    login = app.test_client().post("/anmelden", data={"email": person.email,
                                                      "password": factories.PASSWORD})
    assert login.status_code == 303


@pytest.mark.parametrize("change", ["email", "role", "password"])
def test_a_change_of_the_account_ends_its_open_link(app, client, db, lead, city, change):
    from tracker.services import accounts

    person = factories.user(city)
    path = _path(_issue_link(client, person))
    if change == "email":
        person.email = "neu@stadt.example"
    elif change == "role":
        person.role = str(Role.HR_STAFF)
    else:
        accounts.set_password(person, "ein-ganz-neues-passwort")
    db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_a_link_issued_under_a_foreign_host_points_to_the_configured_address(app, city):
    lead = factories.user(city, Role.HR_LEAD)
    person = factories.user(city)
    client = app.test_client()
    evil = "http://evil.example"
    login = client.post("/anmelden", base_url=evil,
                        data={"email": lead.email, "password": factories.PASSWORD})
    assert login.status_code == 303
    link = _issue_link(client, person, base_url=evil)
    assert link.startswith(app.config["BASE_URL"] + "/passwort/neu/")
    assert "evil.example" not in link


def test_an_unknown_host_is_refused_when_trusted_hosts_are_set(monkeypatch, migrated):
    monkeypatch.setenv("TRUSTED_HOSTS", "tracker.example, localhost")
    app = make_app(migrated)
    with app.app_context():
        client = app.test_client()
        assert client.get("/anmelden", base_url="http://tracker.example").status_code == 200
        assert client.get("/anmelden").status_code == 200
        assert client.get("/anmelden", base_url="http://evil.example").status_code == 400
