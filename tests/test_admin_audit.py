"""Admins read the audit log and filter it by action, actor, organisation and date."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests import factories
from tracker.models import AuditEntry, Role
from tracker.services import audit


@pytest.fixture
def admin(auth):
    user = factories.user(role=Role.ADMIN, first_name="Ada", last_name="Admin")
    auth.login(user)
    return user


def _entry(db, actor, action, *, org=None, when=None, **details):
    entry = audit.record(actor, action, "organisation", org.id if org else None,
                         organisation_id=org.id if org else None, details=details)
    if when:
        entry.created_at = when
    db.session.commit()
    return entry


def test_every_admin_change_reaches_the_log_through_one_function(client, db, admin):
    client.post("/verwaltung/organisationen/neu", data={"name": "Landkreis"})
    page = client.get("/verwaltung/protokoll").get_data(as_text=True)
    assert "Organisation angelegt" in page and "Ada Admin" in page and "Landkreis" in page


def test_log_filters_by_action_actor_organisation_and_date(client, db, admin):
    lead_org = factories.organisation("Umweltbundesamt", short_name="UBA")
    other_org = factories.organisation("Hochschule", short_name="HS")
    lead = factories.user(lead_org, Role.HR_LEAD, first_name="Lena", last_name="Lead")
    _entry(db, lead, "organisation.update", org=lead_org, when=datetime(2025, 3, 1, 10), marker="mk-one")
    _entry(db, admin, "organisation.deactivate", org=other_org, when=datetime(2025, 6, 1, 10), marker="mk-two")
    _entry(db, admin, "organisation.update", org=other_org, when=datetime(2025, 9, 1, 10), marker="mk-three")

    def markers(**params):
        html = client.get("/verwaltung/protokoll", query_string=params).get_data(as_text=True)
        return {m for m in ("mk-one", "mk-two", "mk-three") if m in html}

    assert markers() == {"mk-one", "mk-two", "mk-three"}
    assert markers(action="organisation.update") == {"mk-one", "mk-three"}
    assert markers(actor="lena") == {"mk-one"}
    assert markers(actor="ADA ADMIN") == {"mk-two", "mk-three"}
    assert markers(organisation=other_org.id) == {"mk-two", "mk-three"}
    assert markers(date_from="2025-05-01", date_to="2025-06-30") == {"mk-two"}
    assert markers(date_to="2025-03-01") == {"mk-one"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2025-13-01"}, "„Von“ ist kein gültiges Datum."),
        ({"date_from": "2025-06-01", "date_to": "2025-01-01"}, "Das Datum „Von“ liegt nach dem Datum „Bis“."),
        ({"action": "drop table"}, "Unbekannte Aktion."),
    ],
)
def test_bad_filters_get_a_german_message(client, db, admin, params, message):
    response = client.get("/verwaltung/protokoll", query_string=params)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_log_paginates(client, db, admin):
    org = factories.organisation()
    start = datetime(2025, 1, 1)
    for n in range(60):
        _entry(db, admin, "organisation.update", org=org, when=start + timedelta(hours=n), n=f"nr{n:02d}")
    first = client.get("/verwaltung/protokoll").get_data(as_text=True)
    assert "nr59" in first and "nr00" not in first and "Seite 1 von 2" in first
    second = client.get("/verwaltung/protokoll?page=2").get_data(as_text=True)
    assert "nr00" in second


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.HR_STAFF])
def test_employees_and_hr_staff_do_not_read_the_log(client, auth, db, role):
    auth.login(factories.user(role=role))
    assert client.get("/verwaltung/protokoll").status_code == 403


def _text(html: str) -> str:
    """What a reader sees: the page's text without its tags."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_log_shows_local_times_names_and_german_words(client, db, admin):
    city = factories.organisation("Stadtverwaltung Dessau-Roßlau")
    uba = factories.organisation("Umweltbundesamt")
    anna = factories.user(city, first_name="Anna", last_name="Koordinatorin")
    person = factories.user(city, first_name="Jo", last_name="Weiß")
    db.session.commit()
    client.post("/verwaltung/reihen/neu", data={
        "title": "Vielfaltsmontag 2027", "owner_organisation_id": city.id,
        "open_to": [uba.id, city.id], "coordinators": anna.email,
    })
    audit.record(admin, "session.update", "session", None, organisation_id=city.id,
                 details=audit.changes(type("S", (), {"starts_at": datetime(2026, 12, 21, 8, 0)})(),
                                       {"starts_at": datetime(2026, 12, 21, 9, 0)}))
    audit.record(admin, "user.update", "user", person.id, organisation_id=city.id,
                 details={"role": ["employee", "hr_staff"], "archived": [False, True]})
    db.session.commit()

    page = _text(client.get("/verwaltung/protokoll").get_data(as_text=True))
    # 08:00 UTC in December is 09:00 in Berlin.
    assert "Beginn: 21.12.2026, 09:00 → 21.12.2026, 10:00" in page
    assert "Offen für: Umweltbundesamt, Stadtverwaltung Dessau-Roßlau" in page \
        or "Offen für: Stadtverwaltung Dessau-Roßlau, Umweltbundesamt" in page
    assert "Koordination: Anna Koordinatorin" in page
    assert "Rolle: Beschäftigte → Personalsachbearbeitung" in page
    assert "Archiviert: nein → ja" in page
    assert "T09:00" not in page and "employee" not in page and f"[{uba.id}" not in page

    english = _text(client.get("/verwaltung/protokoll?lang=en").get_data(as_text=True))
    assert "Role: Employee → HR staff" in english or "Role: Employees → HR staff" in english
    assert "Archived: no → yes" in english


def test_hr_lead_reads_the_entries_about_her_own_organisation_only(client, auth, db):
    city = factories.organisation("Stadtverwaltung")
    uba = factories.organisation("Umweltbundesamt")
    lead = factories.user(city, Role.HR_LEAD)
    _entry(db, None, "organisation.update", org=city, name=["Stadt", "Stadtverwaltung"])
    _entry(db, None, "organisation.update", org=uba, name=["UBA alt", "Umweltbundesamt"])
    auth.login(lead)

    response = client.get("/verwaltung/protokoll")
    assert response.status_code == 200
    page = _text(response.get_data(as_text=True))
    assert "Stadt → Stadtverwaltung" in page
    assert "UBA alt" not in page
    assert "Protokoll" in _text(client.get("/verwaltung/").get_data(as_text=True))
    assert client.get(f"/verwaltung/protokoll?organisation={uba.id}").status_code == 404
    own = _text(client.get(f"/verwaltung/protokoll?organisation={city.id}").get_data(as_text=True))
    assert "Stadt → Stadtverwaltung" in own


def test_cli_changes_are_recorded_without_an_actor(db, app):
    entry = audit.record(None, "user.anonymise", "user", 1, details={"reason": "retention"})
    db.session.commit()
    assert db.session.get(AuditEntry, entry.id).actor_id is None


def _statements(db, client, url):
    from sqlalchemy import event

    seen = []

    def listener(*args):
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(seen)


def test_admin_lists_cost_the_same_number_of_queries_for_few_and_many_rows(client, db, admin):
    def grow(n):
        for _ in range(n):
            org = factories.organisation()
            person = factories.user(org)
            series = factories.series(org)
            factories.session(series)
            for action, kind, obj in (("organisation.update", "organisation", org.id),
                                      ("user.update", "user", person.id),
                                      ("series.update", "series", series.id)):
                audit.record(admin, action, kind, obj, organisation_id=org.id)
        db.session.commit()

    urls = ["/verwaltung/protokoll", "/verwaltung/reihen", "/verwaltung/personen",
            "/verwaltung/organisationen"]
    grow(2)
    few = {url: _statements(db, client, url) for url in urls}
    grow(15)
    many = {url: _statements(db, client, url) for url in urls}
    assert few == many
