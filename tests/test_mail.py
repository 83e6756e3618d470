"""Mail through the outbox, delivered to a real SMTP server (aiosmtpd) on loopback and read
back with the `email` package and `icalendar`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from tests import factories
from tests.mailserver import HangingServer, SmtpServer, free_port, part
from tracker.models import MailState, OutboxMail, Role, utcnow
from tracker.services import enrolment as enrolment_service
from tracker.services import mail, notify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def smtp(app):
    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_TIMEOUT=5)
        yield server.inbox


def outbox(db) -> list[OutboxMail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def calendar_of(message) -> Calendar:
    attachment = part(message, "text/calendar")
    assert attachment is not None, "the mail carries no calendar entry"
    return Calendar.from_ical(attachment.get_content())


def event_of(message):
    return calendar_of(message).walk("VEVENT")[0]


def test_an_enrolment_is_confirmed_with_a_calendar_entry(app, client, auth, db, smtp):
    session = factories.session(capacity=5, title="Vielfalt im Team")
    person = factories.user(session.series.owner_organisation, first_name="Ayşe",
                            last_name="Öztürk", email="ayse@example.org")
    auth.login(person)
    assert client.post(f"/reihen/termine/{session.id}/anmelden").status_code in (200, 303)
    [row] = outbox(db)
    assert row.state == MailState.PENDING and row.to_address == "ayse@example.org"

    assert mail.deliver_due() == 1
    [message] = smtp.wait_for(1)
    assert message["To"] == "ayse@example.org"
    assert "Anmeldung bestätigt" in message["Subject"]
    assert "fortbildung@example.org" in message["From"]
    text = part(message, "text/plain").get_content()
    html = part(message, "text/html").get_content()
    assert "Guten Tag Ayşe Öztürk" in text and "Vielfalt im Team" in text
    assert f"http://localhost:5000/reihen/termine/{session.id}" in text
    assert '<html lang="de">' in html and "Fortbildungsverbund" in html
    cal = calendar_of(message)
    assert cal["METHOD"] == "REQUEST"
    event = cal.walk("VEVENT")[0]
    assert int(event["SEQUENCE"]) == 0
    start = event.decoded("DTSTART")
    assert start.tzinfo is not None and start.utcoffset() == start.astimezone(
        ZoneInfo("Europe/Berlin")).utcoffset()
    assert start.astimezone(ZoneInfo("UTC")).replace(tzinfo=None) == session.starts_at
    assert outbox(db)[0].state == MailState.SENT


def test_cancelling_withdraws_the_entry_with_the_same_uid(app, client, auth, db, smtp):
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation)
    auth.login(person)
    client.post(f"/reihen/termine/{session.id}/anmelden")
    client.post(f"/reihen/termine/{session.id}/abmelden")
    assert mail.deliver_due() == 2
    confirmation, cancellation = smtp.wait_for(2)
    assert "storniert" in cancellation["Subject"]
    assert calendar_of(cancellation)["METHOD"] == "CANCEL"
    assert event_of(cancellation)["UID"] == event_of(confirmation)["UID"]
    assert str(event_of(cancellation)["STATUS"]) == "CANCELLED"


def test_the_first_in_line_is_told_of_her_promotion(app, client, auth, db, smtp):
    session = factories.session(capacity=1)
    org = session.series.owner_organisation
    first, second = factories.user(org, email="first@example.org"), factories.user(
        org, email="second@example.org")
    seat = enrolment_service.enrol(first, session)
    waiting = enrolment_service.enrol(second, session)
    db.session.commit()
    assert waiting.state == "waitlisted"
    mail.deliver_due()
    [wait_mail] = smtp.to("second@example.org")
    assert "Warteliste" in wait_mail["Subject"]
    assert "auf Platz 1" in part(wait_mail, "text/plain").get_content()
    assert part(wait_mail, "text/calendar") is None  # no seat, no calendar entry yet

    staff = factories.user(org, Role.HR_STAFF)
    enrolment_service.cancel(seat, actor=staff)
    db.session.commit()
    mail.deliver_due()
    promoted = [m for m in smtp.to("second@example.org") if "Platz erhalten" in m["Subject"]]
    assert len(promoted) == 1 and calendar_of(promoted[0])["METHOD"] == "REQUEST"
    removed = [m for m in smtp.to("first@example.org") if "storniert" in m["Subject"]]
    assert "Personalstelle" in part(removed[0], "text/plain").get_content()


def test_a_change_that_rolls_back_sends_nothing(app, db, smtp):
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation)
    db.session.commit()
    enrolment_service.enrol(person, session)
    db.session.rollback()
    assert outbox(db) == []
    assert mail.deliver_due() == 0
    assert smtp.wait_for(1, timeout=0.5) == []


def test_people_who_chose_english_get_english_mail(app, db, smtp):
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation)
    person.locale = "en"
    enrolment_service.enrol(person, session)
    db.session.commit()
    mail.deliver_due()
    [message] = smtp.wait_for(1)
    assert "Enrolment confirmed" in message["Subject"]
    assert '<html lang="en">' in part(message, "text/html").get_content()


def test_cancelling_or_moving_a_session_tells_everyone(app, client, auth, db, smtp):
    session = factories.session(capacity=1)
    org = session.series.owner_organisation
    seat, queue = factories.user(org, email="seat@example.org"), factories.user(
        org, email="queue@example.org")
    enrolment_service.enrol(seat, session)
    enrolment_service.enrol(queue, session)
    db.session.commit()
    mail.deliver_due()
    lead = factories.user(org, Role.HR_LEAD)
    from tracker.services import series_admin

    data = series_admin.SessionData(
        title=session.title, starts_at=session.starts_at + timedelta(hours=1),
        ends_at=session.ends_at + timedelta(hours=1),
        enrolment_deadline=session.enrolment_deadline, location="Raum 2.14", online_url="",
        trainer="", description="", capacity=1)
    series_admin.update_session(session, data, actor=lead)
    db.session.commit()
    mail.deliver_due()
    [moved] = [m for m in smtp.to("seat@example.org") if "geändert" in m["Subject"]]
    assert int(event_of(moved)["SEQUENCE"]) == 1 and str(event_of(moved)["LOCATION"]) == "Raum 2.14"
    assert [m for m in smtp.to("queue@example.org") if "geändert" in m["Subject"]]

    series_admin.cancel_session(session, actor=lead)
    db.session.commit()
    mail.deliver_due()
    [gone] = [m for m in smtp.to("seat@example.org") if "abgesagt" in m["Subject"]]
    assert calendar_of(gone)["METHOD"] == "CANCEL"
    assert [m for m in smtp.to("queue@example.org") if "abgesagt" in m["Subject"]]


def test_names_with_markup_and_line_breaks_never_reach_a_header_or_the_html(app, db, smtp):
    series = factories.series(title="Reihe\r\nBcc: victim@example.org")
    session = factories.session(series, capacity=5)
    person = factories.user(series.owner_organisation, first_name="<script>alert(1)</script>")
    enrolment_service.enrol(person, session)
    db.session.commit()
    mail.deliver_due()
    [message] = smtp.wait_for(1)
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    html = part(message, "text/html").get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_refusing_server_is_retried_then_shown_as_failed(app, db, smtp):
    smtp.refuse = True
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation)
    enrolment_service.enrol(person, session)
    db.session.commit()
    assert mail.deliver_due() == 0
    [row] = outbox(db)
    assert row.state == MailState.PENDING and row.attempts == 1
    assert "451" in row.last_error and row.next_attempt_at > utcnow()
    assert mail.deliver_due() == 0  # not due again yet

    # Past the retry window: the next attempt gives up and says why.
    row.created_at -= timedelta(days=2)
    row.next_attempt_at = utcnow()
    db.session.commit()
    mail.deliver_due()
    [row] = outbox(db)
    assert row.state == MailState.FAILED and row.attempts == 2

    admin = factories.user(role=Role.ADMIN)
    from tests.conftest import AuthActions

    client = app.test_client()
    AuthActions(client).login(admin)
    page = client.get("/verwaltung/postausgang?state=failed").get_data(as_text=True)
    assert "fehlgeschlagen" in page and person.email in page and "451" in page


def test_an_unreachable_or_hanging_server_costs_a_bounded_wait(app, db):
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation)
    enrolment_service.enrol(person, session)
    db.session.commit()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=1)
    assert mail.deliver_due() == 0
    [row] = outbox(db)
    assert row.state == MailState.PENDING and "refused" in row.last_error.lower()

    with HangingServer() as hanging:
        app.config.update(MAIL_PORT=hanging.port)
        row.next_attempt_at = utcnow()
        db.session.commit()
        assert mail.deliver_due() == 0
    [row] = outbox(db)
    assert row.state == MailState.PENDING and row.attempts == 2
    assert "timed out" in row.last_error.lower() or "timeout" in row.last_error.lower()


def test_without_a_mail_server_mails_wait_for_admins_to_read(app, db):
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation)
    enrolment_service.enrol(person, session)
    admin = factories.user(role=Role.ADMIN)
    db.session.commit()
    assert app.config["MAIL_SERVER"] == ""
    mail.deliver_due()
    [row] = outbox(db)
    assert row.state == MailState.HELD
    from tests.conftest import AuthActions

    client = app.test_client()
    AuthActions(client).login(admin)
    page = client.get("/verwaltung/postausgang").get_data(as_text=True)
    assert "nicht versendet (kein Mailserver)" in page
    detail = client.get(f"/verwaltung/postausgang/{row.id}").get_data(as_text=True)
    assert "Anmeldung bestätigt" in detail
    # Only admins read the outbox.
    lead_client = app.test_client()
    AuthActions(lead_client).login(factories.user(role=Role.HR_LEAD))
    assert lead_client.get("/verwaltung/postausgang").status_code == 403


def test_a_reminder_goes_once_however_often_the_scheduler_runs(app, db, smtp):
    session = factories.session(capacity=5, starts_in=timedelta(days=1, hours=12))
    org = session.series.owner_organisation
    keen, quiet = factories.user(org, email="keen@example.org"), factories.user(
        org, email="quiet@example.org")
    quiet.wants_reminders = False
    enrolment_service.enrol(keen, session)
    enrolment_service.enrol(quiet, session)
    later = factories.session(session.series, capacity=5, starts_in=timedelta(days=5))
    enrolment_service.enrol(keen, later)
    db.session.commit()
    for _ in range(3):
        notify.queue_reminders()
        db.session.commit()
    mail.deliver_due()
    reminders = [m for m in smtp.wait_for(5) if m["Subject"].startswith("Erinnerung")]
    assert [m["To"] for m in reminders] == ["keen@example.org"]


def test_two_workers_never_deliver_the_same_mail(app, db, smtp, migrated):
    org = factories.organisation()
    series = factories.series(org)
    session = factories.session(series, capacity=200)
    for n in range(60):
        enrolment_service.enrol(factories.user(org, email=f"p{n}@example.org"), session)
    db.session.commit()
    env = {**os.environ, "DATABASE_URL": migrated, "MAIL_SERVER": "127.0.0.1",
           "MAIL_PORT": str(app.config["MAIL_PORT"]), "SECRET_KEY": "x" * 32}
    workers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "tracker", "send-mail"],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    for worker in workers:
        _out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
    received = smtp.wait_for(60)
    assert sorted(m["To"] for m in received) == sorted(f"p{n}@example.org" for n in range(60))
    assert db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.state == MailState.SENT)) == 60


@pytest.mark.slow
def test_the_worker_delivers_what_a_request_committed(app, client, auth, db, smtp, migrated,
                                                     tmp_path):
    session = factories.session(capacity=5)
    person = factories.user(session.series.owner_organisation, email="worker@example.org")
    db.session.commit()
    env = {**os.environ, "DATABASE_URL": migrated, "MAIL_SERVER": "127.0.0.1",
           "MAIL_PORT": str(app.config["MAIL_PORT"]), "SECRET_KEY": "x" * 32}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "tracker", "worker"],
                                  env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            auth.login(person)
            client.post(f"/reihen/termine/{session.id}/anmelden")
            received = smtp.wait_for(1, timeout=30)
            assert [m["To"] for m in received] == ["worker@example.org"], log.read_text()
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def test_forgot_password_mails_a_link_that_sets_a_new_password(app, client, db, smtp):
    person = factories.user(email="vergesslich@example.org")
    db.session.commit()
    known = client.post("/passwort/vergessen", data={"email": "Vergesslich@example.org"})
    unknown = client.post("/passwort/vergessen", data={"email": "niemand@example.org"})
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    assert [row.to_address for row in outbox(db)] == ["vergesslich@example.org"]
    mail.deliver_due()
    [message] = smtp.wait_for(1)
    text = part(message, "text/plain").get_content()
    url = next(line for line in text.splitlines() if "/passwort/neu/" in line).strip()
    assert url.startswith("http://localhost:5000/passwort/neu/")
    path = url.removeprefix("http://localhost:5000")
    new = "ein-ganz-neues-Passwort"
    assert client.post(path, data={"password": new, "confirm": new}).status_code == 303
    assert client.post("/anmelden", data={"email": person.email, "password": new}
                       ).status_code == 303
    # The link is spent: a second use is refused with a clear message, not a 500.
    again = client.post(path, data={"password": new, "confirm": new})
    assert again.status_code == 404 and "ungültig" in again.get_data(as_text=True)


def test_forgot_password_sends_a_few_links_an_hour_at_most(app, client, db):
    factories.user(email="viel@example.org")
    db.session.commit()
    for _ in range(6):
        client.post("/passwort/vergessen", data={"email": "viel@example.org"})
    assert len(outbox(db)) == notify_limit()


def notify_limit() -> int:
    from tracker.services import people

    return people.RESET_REQUESTS_PER_HOUR


def test_a_new_person_is_invited_by_mail(app, client, auth, db, smtp):
    lead = factories.user(role=Role.HR_LEAD)
    db.session.commit()
    auth.login(lead)
    answer = client.post("/verwaltung/personen/neu", data={
        "first_name": "Neu", "last_name": "Kollegin", "email": "neu@example.org",
        "role": "employee", "organisation_id": str(lead.organisation_id)})
    assert answer.status_code == 303
    mail.deliver_due()
    [message] = smtp.wait_for(1)
    assert message["To"] == "neu@example.org" and "Zugang" in message["Subject"]
    assert "/passwort/neu/" in part(message, "text/plain").get_content()
