"""Two speed-ups that bench/ asked for keep their behaviour: translations looked up once per
request still follow each request's language, and a writing request reads for its answer
after the commit without holding SQLite's write lock."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from tests import factories
from tracker.models import Enrolment, EnrolmentState


def test_each_request_is_rendered_in_its_own_language(client):
    assert "Passwort" in client.get("/anmelden").get_data(as_text=True)
    client.post("/sprache", data={"lang": "en"})
    english = client.get("/anmelden").get_data(as_text=True)
    assert "Log in" in english and "Passwort" not in english
    client.post("/sprache", data={"lang": "de"})
    german = client.get("/anmelden").get_data(as_text=True)
    assert "Passwort" in german and "Log in" not in german


def test_enrolment_commits_under_the_write_lock_and_renders_after_it(client, auth, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("BEGIN IMMEDIATE is SQLite's; PostgreSQL locks rows instead")
    session = factories.session(capacity=5)
    user = factories.user(session.series.owner_organisation)
    auth.login(user)
    session_id, user_id = session.id, user.id
    # The request must begin its own transaction, as it does in a server process.
    db.session.remove()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.strip().split()[0].upper() + (
            " IMMEDIATE" if statement.strip().upper() == "BEGIN IMMEDIATE" else ""))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.post(f"/reihen/termine/{session_id}/anmelden",
                               headers={"HX-Request": "true"})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert response.status_code == 200
    assert db.session.scalar(select(Enrolment.state).where(
        Enrolment.user_id == user_id, Enrolment.session_id == session_id)) == (
        EnrolmentState.ENROLLED)
    # The first transaction writes (taken with BEGIN IMMEDIATE); the reads for the answer
    # come after the commit in a deferred one, so the other worker is not kept waiting.
    assert statements[0] == "BEGIN IMMEDIATE"
    writes = [i for i, s in enumerate(statements) if s in ("INSERT", "UPDATE")]
    later_begins = [s for s in statements[writes[-1]:] if s.startswith("BEGIN")]
    assert later_begins and all(s == "BEGIN" for s in later_begins)
    assert statements.count("BEGIN IMMEDIATE") == 1
