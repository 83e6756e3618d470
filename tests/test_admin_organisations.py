"""Administrators create, rename and deactivate partner organisations; nobody deletes one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests import factories
from tracker.models import AuditEntry, Organisation, Role


def _admin(auth):
    admin = factories.user(role=Role.ADMIN)
    auth.login(admin)
    return admin


def test_admin_creates_an_organisation_and_the_audit_log_records_it(client, auth, db):
    admin = _admin(auth)
    response = client.post("/verwaltung/organisationen/neu",
                           data={"name": "Landkreis Anhalt-Bitterfeld", "short_name": "LK ABI"})
    assert response.status_code == 303
    org = db.session.scalar(select(Organisation).where(Organisation.name == "Landkreis Anhalt-Bitterfeld"))
    assert org.short_name == "LK ABI" and org.active
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "organisation.create"))
    assert entry.actor_id == admin.id and entry.object_id == org.id
    page = client.get("/verwaltung/organisationen").get_data(as_text=True)
    assert "Landkreis Anhalt-Bitterfeld" in page


def test_admin_renames_an_organisation(client, auth, db):
    _admin(auth)
    org = factories.organisation("Stadt Alt")
    response = client.post(f"/verwaltung/organisationen/{org.id}",
                           data={"name": "Stadt Neu", "short_name": "SN"})
    assert response.status_code == 303
    db.session.refresh(org)
    assert org.name == "Stadt Neu"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "organisation.update"))
    assert entry.details["name"] == ["Stadt Alt", "Stadt Neu"]


def test_duplicate_organisation_name_is_refused_next_to_the_field(client, auth, db):
    _admin(auth)
    factories.organisation("Umweltbundesamt")
    db.session.commit()
    before = db.session.scalar(select(func.count(Organisation.id)))
    response = client.post("/verwaltung/organisationen/neu", data={"name": "umweltbundesamt"})
    assert response.status_code == 409
    assert "Eine Organisation mit diesem Namen gibt es bereits." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Organisation.id))) == before


def test_empty_organisation_name_gets_a_german_message(client, auth, db):
    _admin(auth)
    response = client.post("/verwaltung/organisationen/neu", data={"name": "  "})
    assert response.status_code == 422
    assert "Bitte geben Sie den Namen ein." in response.get_data(as_text=True)


def test_deactivating_keeps_the_organisation_and_its_people(client, auth, db):
    _admin(auth)
    org = factories.organisation("Hochschule")
    person = factories.user(org)
    response = client.post(f"/verwaltung/organisationen/{org.id}/aktiv", data={"active": "0"})
    assert response.status_code == 303
    db.session.refresh(org)
    assert org.active is False
    assert db.session.get(type(person), person.id) is not None
    client.post(f"/verwaltung/organisationen/{org.id}/aktiv", data={"active": "1"})
    db.session.refresh(org)
    assert org.active is True


def test_deactivating_by_htmx_swaps_the_row(client, auth, db):
    _admin(auth)
    org = factories.organisation("Hochschule")
    response = client.post(f"/verwaltung/organisationen/{org.id}/aktiv", data={"active": "0"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr class="kern-table__row" id="organisation-{org.id}">')
    assert "deaktiviert" in html and 'hx-swap-oob="innerHTML:#messages"' in html


def test_there_is_no_way_to_delete_an_organisation(client, auth):
    _admin(auth)
    org = factories.organisation()
    assert client.delete(f"/verwaltung/organisationen/{org.id}").status_code == 405


def test_activation_route_is_post_only(client, auth):
    _admin(auth)
    org = factories.organisation()
    assert client.get(f"/verwaltung/organisationen/{org.id}/aktiv").status_code == 405


@pytest.mark.parametrize("role", [Role.HR_LEAD])
def test_hr_lead_may_not_manage_organisations(client, auth, db, role):
    org = factories.organisation()
    auth.login(factories.user(org, role))
    assert client.get("/verwaltung/").status_code == 200
    assert client.get("/verwaltung/organisationen").status_code == 403
    assert client.post("/verwaltung/organisationen/neu", data={"name": "X"}).status_code == 403
    assert client.post(f"/verwaltung/organisationen/{org.id}/aktiv", data={"active": "0"}).status_code == 403
    db.session.refresh(org)
    assert org.active


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.HR_STAFF])
def test_employees_and_hr_staff_get_403_on_the_administration(client, auth, role):
    auth.login(factories.user(role=role))
    assert client.get("/verwaltung/").status_code == 403


def test_anonymous_visitor_is_sent_to_the_login(client):
    response = client.get("/verwaltung/")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]


def test_organisation_list_searches_and_paginates(client, auth, db):
    _admin(auth)
    for n in range(30):
        factories.organisation(f"Amt {n:02d}")
    db.session.commit()
    page1 = client.get("/verwaltung/organisationen?q=amt").get_data(as_text=True)
    assert "Amt 00" in page1 and "Amt 29" not in page1 and "Seite 1 von 2" in page1
    page2 = client.get("/verwaltung/organisationen?q=amt&page=2").get_data(as_text=True)
    assert "Amt 29" in page2
    only = client.get("/verwaltung/organisationen?q=Amt 07").get_data(as_text=True)
    assert "Amt 07" in only and "Amt 08" not in only
