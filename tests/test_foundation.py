"""The ground everything stands on: configuration, schema, error pages, demo data."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from tests import factories
from tracker import create_app
from tracker.config import ConfigError, normalise_database_url
from tracker.extensions import db as _db
from tracker.models import (
    AttendanceMark,
    AttendanceStatus,
    Enrolment,
    EnrolmentState,
    Role,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import demo_data


def test_models_and_migrations_agree(app, db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, _db.metadata)
    assert diff == []


def test_production_refuses_to_start_with_the_default_secret(monkeypatch):
    monkeypatch.setenv("TRACKER_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_starts_with_a_real_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-long-random-secret-for-production-use")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    assert create_app().config["SECRET_KEY"].startswith("a-long")


@pytest.mark.parametrize("url", ["not a url", "mysql://root@localhost/x", "://"])
def test_malformed_database_url_is_a_plain_english_error(url):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        normalise_database_url(url)


def test_postgres_url_spellings_are_normalised():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_malformed_database_url_on_the_command_line_exits_with_a_message(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "nonsense"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tracker", "routes"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not a valid database URL" in result.stderr


def test_sqlite_runs_with_foreign_keys_and_wal(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    assert db.session.execute(_db.text("PRAGMA foreign_keys")).scalar() == 1
    assert db.session.execute(_db.text("PRAGMA journal_mode")).scalar() == "wal"


def test_unknown_url_gets_a_german_404_page(client):
    response = client.get("/gibt-es-nicht")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Seite nicht gefunden" in html
    assert "Traceback" not in html


def test_htmx_request_gets_a_short_message_not_a_page(client):
    response = client.get("/gibt-es-nicht", headers={"HX-Request": "true"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Seite nicht gefunden" in html


def test_unexpected_error_is_a_german_500_without_stack_trace(app):
    @app.get("/test-boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/test-boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Interner Fehler" in html
    assert "secret internals" not in html and "Traceback" not in html


def test_forbidden_is_a_german_403_page(app, auth):
    from tracker.services.access import role_required

    @app.get("/test-leads-only")
    @role_required(Role.HR_LEAD)
    def leads_only():
        return "ok"

    client = app.test_client()
    assert client.get("/test-leads-only").status_code == 302  # anonymous: to the login
    employee = factories.user(role=Role.EMPLOYEE)
    client.post("/anmelden", data={"email": employee.email, "password": factories.PASSWORD})
    response = client.get("/test-leads-only")
    assert response.status_code == 403
    assert "Kein Zugriff" in response.get_data(as_text=True)
    lead = factories.user(role=Role.HR_LEAD)
    client.post("/abmelden")
    client.post("/anmelden", data={"email": lead.email, "password": factories.PASSWORD})
    assert client.get("/test-leads-only").status_code == 200


def test_security_headers_on_pages(client):
    response = client.get("/anmelden")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_for_everyone_are_linked_from_the_footer(client):
    html = client.get("/anmelden").get_data(as_text=True)
    assert 'href="/barrierefreiheit"' in html and 'href="/leichte-sprache"' in html
    statement = client.get("/barrierefreiheit").get_data(as_text=True)
    assert "Schlichtungsstelle" in statement and "mailto:" in statement
    assert "Leichte" in client.get("/leichte-sprache").get_data(as_text=True)


def test_demo_data_is_realistic_deterministic_and_idempotent(app, db, runner):
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    participations = db.session.scalar(
        select(func.count()).select_from(AttendanceMark)
        .where(AttendanceMark.status == AttendanceStatus.PRESENT)
    )
    assert participations > 330
    for status in (AttendanceStatus.EXCUSED, AttendanceStatus.ABSENT):
        assert db.session.scalar(select(func.count()).select_from(AttendanceMark)
                                 .where(AttendanceMark.status == status)) > 0
    employees = db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.EMPLOYEE))
    assert 55 <= employees <= 70
    for role in Role:
        assert db.session.scalar(select(func.count()).select_from(User).where(User.role == role)) >= 1
    _assert_demo_has_a_waiting_list_and_one_running_sheet(db, utcnow())
    users_before = db.session.scalar(select(func.count()).select_from(User))
    again = runner.invoke(args=["demo-data"])
    assert again.exit_code == 0 and "already" in again.output
    assert db.session.scalar(select(func.count()).select_from(User)) == users_before
    logins = runner.invoke(args=["demo-logins"])
    assert demo_data.ADMIN_EMAIL in logins.output and demo_data.DEMO_PASSWORD in logins.output


def _assert_demo_has_a_waiting_list_and_one_running_sheet(db, now):
    waiting = db.session.scalar(select(func.count()).select_from(Enrolment).join(TrainingSession).where(
        Enrolment.state == EnrolmentState.WAITLISTED, TrainingSession.starts_at > now))
    assert waiting >= 1
    # One session runs right now with its sheet open, so HR staff trying the demo can mark.
    running = db.session.scalars(select(TrainingSession).where(
        TrainingSession.starts_at <= now, TrainingSession.ends_at > now,
        TrainingSession.closed_at.is_(None))).all()
    assert len(running) == 1
    enrolled = db.session.scalars(select(Enrolment).where(
        Enrolment.session_id == running[0].id, Enrolment.state == EnrolmentState.ENROLLED)).all()
    assert len(enrolled) == running[0].seats_taken >= 10
    assert not db.session.scalar(select(func.count()).select_from(AttendanceMark)
                                 .where(AttendanceMark.session_id == running[0].id))
    # Nothing still to come carries attendance marks.
    assert not db.session.scalar(select(func.count()).select_from(AttendanceMark).join(TrainingSession)
                                 .where(TrainingSession.starts_at > now))


@pytest.mark.parametrize("moment", [
    datetime(2026, 12, 7, 13, 10),   # a Vielfaltsmontag afternoon, its workshop running
    datetime(2026, 12, 7, 17, 0),    # the same evening: the year's last workshop is over
    datetime(2026, 12, 28, 9, 0),    # between the years
    datetime(2027, 1, 4, 8, 0),      # the morning of the new year's first workshop
    datetime(2027, 7, 15, 10, 0),    # the summer break
], ids=str)
def test_demo_data_has_something_to_do_whatever_day_it_is_loaded(app, db, moment):
    assert demo_data.load_demo_data(now=moment)
    db.session.flush()
    _assert_demo_has_a_waiting_list_and_one_running_sheet(db, moment)


def test_demo_login_works_through_the_form(app, db, client):
    demo_data.load_demo_data()
    db.session.commit()
    response = client.post("/anmelden", data={"email": demo_data.ADMIN_EMAIL,
                                               "password": demo_data.DEMO_PASSWORD})
    assert response.status_code == 303


def test_one_live_enrolment_per_person_and_session_is_enforced_by_the_database(app, db):
    from sqlalchemy.exc import IntegrityError

    session = factories.session()
    person = factories.user()
    factories.enrolment(session, person)
    with pytest.raises(IntegrityError):
        factories.enrolment(session, person, EnrolmentState.WAITLISTED)
    db.session.rollback()


def test_capacity_check_constraint_holds_in_the_database(app, db):
    from sqlalchemy.exc import IntegrityError

    session = factories.session(capacity=1)
    session.seats_taken = 2
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_email_is_unique_case_insensitively(app, db):
    from tracker.services import Conflict, accounts

    org = factories.organisation()
    factories.user(org, email="Kim@Example.org")
    with pytest.raises(Conflict):
        accounts.create_user(email="kim@example.ORG", first_name="K", last_name="M",
                             organisation=org)


def test_every_foreign_key_leads_an_index(app, db):
    """Joins and deletes along a foreign key never scan a table."""
    from sqlalchemy import inspect

    inspector = inspect(db.engine)
    missing = []
    for table in _db.metadata.sorted_tables:
        leading = {tuple(table.primary_key.columns.keys())[0]}
        for index in inspector.get_indexes(table.name):
            leading.add(index["column_names"][0])
        for unique in inspector.get_unique_constraints(table.name):
            leading.add(unique["column_names"][0])
        for fk in table.foreign_keys:
            if fk.parent.name not in leading:
                missing.append(f"{table.name}.{fk.parent.name}")
    assert missing == []
