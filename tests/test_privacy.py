"""Data protection: people download their data; admins anonymise those who left; retention."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests import factories
from tracker.models import (
    AttendanceMark,
    AttendanceStatus,
    AuditEntry,
    Certificate,
    Enrolment,
    EnrolmentState,
    PasswordResetToken,
    Role,
    User,
    series_coordinator,
    utcnow,
)
from tracker.services import audit, people, privacy
from tracker.services.participation import is_participation


def _mark(db, enrolment, status=AttendanceStatus.PRESENT):
    mark = AttendanceMark(enrolment_id=enrolment.id, session_id=enrolment.session_id, status=status)
    db.session.add(mark)
    db.session.commit()
    return mark


def _participations(db):
    return db.session.scalar(select(func.count(AttendanceMark.id)).where(is_participation()))


# --- Download of one's own data -------------------------------------------------------------


def test_employee_downloads_everything_held_about_her(client, auth, db):
    org = factories.organisation("Umweltbundesamt")
    kim = factories.user(org, first_name="Kim", last_name="Öztürk", email="kim@uba.example")
    other = factories.user(org, email="someone.else@uba.example")
    series = factories.series(org, title="Vielfaltsmontag 2025")
    past = factories.session(series, starts_in=timedelta(days=-30), title="Vorurteile erkennen")
    upcoming = factories.session(series, title="Inklusion")
    _mark(db, factories.enrolment(past, kim))
    factories.enrolment(upcoming, kim, EnrolmentState.WAITLISTED)
    factories.enrolment(past, other)
    audit.record(None, "user.update", "user", kim.id, organisation_id=org.id, details={"role": ["a", "b"]})
    db.session.commit()
    auth.login(kim)

    response = client.get("/meine-daten/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="meine-daten-')
    assert "no-store" in response.headers["Cache-Control"]
    data = json.loads(response.get_data(as_text=True))
    assert data["person"]["email"] == "kim@uba.example" and data["person"]["nachname"] == "Öztürk"
    by_title = {e["termin"]: e for e in data["anmeldungen"]}
    assert set(by_title) == {"Vorurteile erkennen", "Inklusion"}
    assert by_title["Vorurteile erkennen"]["anwesenheit"]["status"] == "present"
    assert by_title["Inklusion"]["status"] == "waitlisted"
    assert by_title["Inklusion"]["reihe"] == "Vielfaltsmontag 2025"
    assert [e["aktion"] for e in data["protokoll"]] == ["user.update"]
    assert "someone.else" not in response.get_data(as_text=True)
    assert "password" not in response.get_data(as_text=True).lower()


def test_employee_reads_her_data_as_a_workbook_with_german_words(client, auth, db):
    org = factories.organisation("Umweltbundesamt")
    kim = factories.user(org, first_name="Kim", last_name="Öztürk", email="kim@uba.example")
    other = factories.user(org, email="someone.else@uba.example")
    series = factories.series(org, title="Vielfaltsmontag 2025")
    past = factories.session(series, starts_in=timedelta(days=-30), title="Vorurteile erkennen")
    upcoming = factories.session(series, title="Inklusion")
    _mark(db, factories.enrolment(past, kim))
    factories.enrolment(upcoming, kim, EnrolmentState.WAITLISTED)
    factories.enrolment(past, other)
    audit.record(None, "user.update", "user", kim.id, organisation_id=org.id, details={"role": ["a", "b"]})
    db.session.commit()
    auth.login(kim)
    mine = next(e for e in db.session.scalars(select(Enrolment)) if e.user_id == kim.id
                and e.session_id == past.id)
    assert client.get(f"/meine-schulungen/bescheinigungen/{mine.id}").status_code == 200
    # The workbook stays German whatever language the pages are in.
    assert '<html lang="en">' in client.get("/meine-daten/?lang=en").get_data(as_text=True)

    response = client.get("/meine-daten/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename=meine-daten-' in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["Person", "Anmeldungen", "Änderungen am Konto", "Passwort-Links",
                             "Bescheinigungen"]
    certificate = list(wb["Bescheinigungen"].iter_rows(values_only=True))
    assert len(certificate) == 2 and certificate[1][2] == "Vorurteile erkennen"
    assert isinstance(certificate[1][3], datetime) and certificate[1][4] == 1
    code = db.session.scalars(select(Certificate)).one().code
    assert certificate[1][7] == code
    person = {row[0]: row[1] for row in wb["Person"].iter_rows(values_only=True)}
    assert person["Nachname"] == "Öztürk" and person["Rolle"] == "Beschäftigte"
    assert person["Konto aktiv"] == "ja"
    rows = list(wb["Anmeldungen"].iter_rows(values_only=True))
    header, body = rows[0], {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[:3] == ("Reihe", "Termin", "Beginn")
    assert set(body) == {"Vorurteile erkennen", "Inklusion"}
    assert body["Vorurteile erkennen"]["Anwesenheit"] == "anwesend"
    assert body["Vorurteile erkennen"]["Status"] == "angemeldet"
    assert body["Inklusion"]["Status"] == "auf der Warteliste"
    assert isinstance(body["Inklusion"]["Beginn"], datetime)
    changes = list(wb["Änderungen am Konto"].iter_rows(values_only=True))
    assert changes[1][1] == "Person geändert"
    text = " ".join(str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row)
    assert "someone.else" not in text
    assert "waitlisted" not in text and "enrolled" not in text and "present" not in text


def test_my_data_page_links_both_downloads(client, auth):
    auth.login(factories.user())
    html = client.get("/meine-daten/").get_data(as_text=True)
    assert 'href="/meine-daten/export"' in html
    assert 'href="/meine-daten/export.xlsx"' in html


@pytest.mark.parametrize("path", ["/meine-daten/export", "/meine-daten/export.xlsx"])
def test_anonymous_visitor_gets_no_data(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


# --- Anonymisation by an admin --------------------------------------------------------------


@pytest.fixture
def admin(auth):
    user = factories.user(role=Role.ADMIN)
    auth.login(user)
    return user


def _left(org=None, **kwargs):
    person = factories.user(org, **kwargs)
    person.active = False
    from tracker.extensions import db

    db.session.commit()
    return person


def test_admin_anonymises_a_person_who_left_and_counts_stay_right(app, client, db, admin):
    org = factories.organisation("Hochschule Anhalt")
    person = factories.user(org, first_name="Greta", last_name="Weber", email="greta.weber@hs.example")
    theirs = app.test_client()
    theirs.post("/anmelden", data={"email": person.email, "password": factories.PASSWORD})
    series = factories.series(org, coordinators=[person])
    past = factories.session(series, starts_in=timedelta(days=-10))
    _mark(db, factories.enrolment(past, person))
    people.issue_reset_link(person, actor=admin)
    audit.record(admin, "user.update", "user", person.id, details={"email": ["alt@hs.example", person.email]})
    db.session.commit()
    people.set_active(person, False, actor=admin)
    db.session.commit()
    before = (_participations(db), db.session.scalar(select(func.count(Enrolment.id))))

    response = client.post(f"/verwaltung/personen/{person.id}/anonymisieren")
    assert response.status_code == 303
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert person.full_name == "Anonymisiert"
    assert person.email == f"anonym-{person.id}@invalid"
    assert person.password_hash == "" and person.active is False and person.anonymised_at is not None
    assert (_participations(db), db.session.scalar(select(func.count(Enrolment.id)))) == before
    assert db.session.scalar(select(func.count(PasswordResetToken.id))) == 0
    assert db.session.scalar(select(func.count()).select_from(series_coordinator)) == 0
    texts = json.dumps([e.details for e in db.session.scalars(select(AuditEntry))], ensure_ascii=False)
    assert "greta" not in texts.lower() and "alt@hs.example" not in texts
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.anonymise")).actor_id == admin.id
    # Old login cookie and the old e-mail are both useless now.
    assert "Greta" not in theirs.get("/").get_data(as_text=True)
    assert theirs.post("/anmelden", data={"email": "greta.weber@hs.example",
                                          "password": factories.PASSWORD}).status_code == 422
    page = client.get(f"/verwaltung/personen/{person.id}").get_data(as_text=True)
    assert "anonymisiert am" in page


def test_anonymising_frees_an_upcoming_seat_for_the_waiting_list(client, db, admin):
    org = factories.organisation()
    person = factories.user(org)
    session = factories.session(factories.series(org), capacity=1)
    factories.enrolment(session, person)
    waiting = factories.enrolment(session, factories.user(org), EnrolmentState.WAITLISTED)
    people.set_active(person, False, actor=admin)
    db.session.commit()
    assert client.post(f"/verwaltung/personen/{person.id}/anonymisieren").status_code == 303
    db.session.expire_all()
    assert db.session.get(Enrolment, waiting.id).state == EnrolmentState.ENROLLED


def test_an_active_person_must_be_deactivated_before_anonymising(client, db, admin):
    person = factories.user()
    response = client.post(f"/verwaltung/personen/{person.id}/anonymisieren")
    assert response.status_code == 422
    assert "Bitte deaktivieren Sie die Person zuerst" in response.get_data(as_text=True)
    db.session.refresh(person)
    assert person.anonymised_at is None and person.last_name == "Muster"


def test_anonymising_twice_is_a_conflict_and_self_is_refused(client, db, admin):
    person = _left()
    client.post(f"/verwaltung/personen/{person.id}/anonymisieren")
    again = client.post(f"/verwaltung/personen/{person.id}/anonymisieren")
    assert again.status_code == 409
    assert "bereits anonymisiert" in again.get_data(as_text=True)
    own = client.post(f"/verwaltung/personen/{admin.id}/anonymisieren")
    assert own.status_code == 422
    db.session.refresh(admin)
    assert admin.anonymised_at is None


def test_anonymised_person_cannot_be_reactivated_or_edited(client, db, admin):
    person = _left()
    client.post(f"/verwaltung/personen/{person.id}/anonymisieren")
    response = client.post(f"/verwaltung/personen/{person.id}/aktiv", data={"active": "1"})
    assert response.status_code == 422
    db.session.refresh(person)
    assert person.active is False


def test_hr_lead_may_not_anonymise(client, auth, db):
    org = factories.organisation()
    auth.login(factories.user(org, Role.HR_LEAD))
    person = _left(org)
    assert client.post(f"/verwaltung/personen/{person.id}/anonymisieren").status_code == 403
    db.session.refresh(person)
    assert person.anonymised_at is None


def test_anonymise_is_post_only(client, db, admin):
    person = _left()
    assert client.get(f"/verwaltung/personen/{person.id}/anonymisieren").status_code == 405


# --- Retention on the command line ----------------------------------------------------------


def _aged(db, *, active=False, created_years_ago=0, role=Role.EMPLOYEE, org=None):
    person = factories.user(org, role)
    person.active = active
    person.created_at = utcnow() - timedelta(days=365 * created_years_ago + 10)
    db.session.commit()
    return person


def test_retention_dry_run_lists_and_changes_nothing(runner, db):
    old_leaver = _aged(db, created_years_ago=4)
    result = runner.invoke(args=["retention", "--older-than", "3", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Would anonymise 1 person" in result.output and f"id {old_leaver.id}" in result.output
    assert "Dry run: nothing was changed." in result.output
    db.session.expire_all()
    assert db.session.get(User, old_leaver.id).anonymised_at is None


def test_retention_anonymises_only_people_who_left_long_ago(runner, db):
    org = factories.organisation()
    old_leaver = _aged(db, created_years_ago=4, org=org)
    still_working = _aged(db, active=True, created_years_ago=10, org=org)
    recent_leaver = _aged(db, created_years_ago=1, org=org)
    old_admin = _aged(db, created_years_ago=10, role=Role.ADMIN, org=org)
    # An old account whose last session was last year is not due.
    active_lately = _aged(db, created_years_ago=6, org=org)
    session = factories.session(factories.series(org), starts_at=datetime(utcnow().year - 1, 3, 1, 9))
    enrolment = factories.enrolment(session, active_lately)
    enrolment.created_at = enrolment.updated_at = utcnow() - timedelta(days=6 * 365)
    # And one whose enrolments are all older than the period is.
    long_gone = _aged(db, created_years_ago=9, org=org)
    old_session = factories.session(factories.series(org), starts_at=datetime(utcnow().year - 8, 3, 1, 9))
    old_enrolment = factories.enrolment(old_session, long_gone)
    old_enrolment.created_at = old_enrolment.updated_at = utcnow() - timedelta(days=8 * 365 + 30)
    _mark(db, old_enrolment).marked_at = utcnow() - timedelta(days=8 * 365)
    db.session.commit()
    participations = _participations(db)

    result = runner.invoke(args=["retention", "--older-than", "3"])
    assert result.exit_code == 0, result.output
    assert "Anonymised 2 people" in result.output
    db.session.expire_all()
    anonymised = {u.id for u in db.session.scalars(select(User).where(User.anonymised_at.is_not(None)))}
    assert anonymised == {old_leaver.id, long_gone.id}
    for untouched in (still_working, recent_leaver, old_admin, active_lately):
        assert untouched.id not in anonymised
    assert _participations(db) == participations
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.anonymise")).all()
    assert {e.actor_id for e in entries} == {None} and entries[0].details == {"reason": "retention:3y"}
    # Running again finds nobody.
    again = runner.invoke(args=["retention", "--older-than", "3"])
    assert again.exit_code == 0 and "Nobody is due" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retention"], "Missing option '--older-than'"),
        (["retention", "--older-than", "0"], "0 is not in the range 1<=x<=100"),
        (["retention", "--older-than", "-2"], "is not in the range"),
        (["retention", "--older-than", "drei"], "'drei' is not a valid integer"),
    ],
)
def test_retention_refuses_bad_arguments_in_english_with_exit_code_2(runner, db, args, message):
    person = _aged(db, created_years_ago=40)
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output
    db.session.expire_all()
    assert db.session.get(User, person.id).anonymised_at is None


def test_years_before_handles_leap_days():
    assert privacy.years_before(datetime(2024, 2, 29, 12), 1) == datetime(2023, 2, 28, 12)
