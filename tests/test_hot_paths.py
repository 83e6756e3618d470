"""The pages people feel most keep their behaviour: each request follows its own language,
a writing request renders its answer after the commit without keeping other writers out,
and an enrolment takes a fixed number of statements."""

from __future__ import annotations

import sqlite3

import pytest
from flask import before_render_template
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


def test_while_an_enrolment_renders_its_answer_another_writer_can_write(client, auth, db):
    """The enrolment commits before its answer is rendered, and what it reads for the answer
    does not take the write lock again: while the widget renders, another connection can begin
    a writing transaction at once (SQLite allows one writer at a time)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows")
    session = factories.session(capacity=5)
    user = factories.user(session.series.owner_organisation)
    auth.login(user)
    session_id, user_id = session.id, user.id
    db.session.remove()
    other_writer_got_in: list[bool] = []

    def try_to_write(_app, template=None, **_extra):
        if template.name != "trainings/_enrol_response.html":
            return
        other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other_writer_got_in.append(True)
            other.execute("ROLLBACK")
        except sqlite3.OperationalError:  # database is locked
            other_writer_got_in.append(False)
        finally:
            other.close()

    before_render_template.connect(try_to_write)
    try:
        response = client.post(f"/reihen/termine/{session_id}/anmelden",
                               headers={"HX-Request": "true"})
    finally:
        before_render_template.disconnect(try_to_write)

    assert response.status_code == 200
    assert other_writer_got_in == [True]
    assert db.session.scalar(select(Enrolment.state).where(
        Enrolment.user_id == user_id, Enrolment.session_id == session_id)) == (
        EnrolmentState.ENROLLED)


def _htmx_post(client, url):
    return client.post(url, headers={"HX-Request": "true"})


def _switch_to(auth, person):
    auth.logout()
    assert auth.login(person).status_code == 303


def test_enrol_and_cancel_answer_with_the_counts_after_the_commit(client, auth, db):
    """The widget renders from the session the view loaded (kept through the commit): its seat
    counters must be those after this request and any other that committed before it."""
    session = factories.session(capacity=2)
    org = session.series.owner_organisation
    first, second, third = (factories.user(org) for _ in range(3))
    session_id, first_id, third_id = session.id, first.id, third.id
    first, second, third = first.email, second.email, third.email
    url = f"/reihen/termine/{session_id}"
    for person in (first, second):
        _switch_to(auth, person)
        assert _htmx_post(client, f"{url}/anmelden").status_code == 200
    _switch_to(auth, third)
    answer = _htmx_post(client, f"{url}/anmelden").get_data(as_text=True)
    assert "Warteliste auf Platz 1" in answer
    assert "Ausgebucht, 1 Person wartet" in " ".join(answer.split())

    _switch_to(auth, first)
    answer = " ".join(_htmx_post(client, f"{url}/abmelden").get_data(as_text=True).split())
    # The seat went to the third person: still full, nobody waits any more.
    assert "Sie haben sich von" in answer
    assert "Ausgebucht" in answer and "wartet" not in answer
    db.session.remove()
    states = {user_id: state for user_id, state in db.session.execute(
        select(Enrolment.user_id, Enrolment.state).where(Enrolment.session_id == session_id))}
    assert states[third_id] == EnrolmentState.ENROLLED
    assert states[first_id] == EnrolmentState.CANCELLED

    _switch_to(auth, second)
    answer = " ".join(_htmx_post(client, f"{url}/abmelden").get_data(as_text=True).split())
    assert "1 Platz frei von 2" in answer


def _enrol_counting_statements(client, db, session) -> list[str]:
    """Enrol the logged-in person in `session` (5 seats, none taken) through htmx; the SQL
    statements of that request."""
    session_id = session.id
    db.session.remove()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = _htmx_post(client, f"/reihen/termine/{session_id}/anmelden")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    assert "4 Plätze frei von 5" in " ".join(response.get_data(as_text=True).split())
    return statements


def test_an_enrolment_takes_a_fixed_number_of_statements(client, auth, db):
    """12 statements whatever the data set: the session comes with its series in one
    statement, its partners are not loaded, the confirmation mail is one INSERT into the
    outbox, and after the commit (which expires what the request loaded) one statement reads
    the session with its series, the waiting list's length and the person's enrolment for the
    answer."""
    session = factories.session(capacity=5)
    user = factories.user(session.series.owner_organisation)
    auth.login(user)
    statements = _enrol_counting_statements(client, db, session)
    selects_of_the_session = [s for s in statements if s.lstrip().upper().startswith("SELECT")
                              and "FROM training_session" in s and "training_session.title" in s]
    # The view's load, the service's locked refresh, and the read for the answer.
    assert len(selects_of_the_session) == 3
    assert not [s for s in statements if "series_open_to" in s and "organisation.name" in s]
    assert len([s for s in statements if s.startswith("INSERT INTO outbox_mail")]) == 1
    assert len(statements) <= 12


def test_a_partners_enrolment_asks_the_link_table_once(client, auth, db):
    # The view (may the person see the session?) and the service (may they enrol?) both ask
    # whether the series is open to the person's organisation; one row, asked for once.
    session = factories.session(capacity=5)
    partner = factories.organisation("Umweltbundesamt", short_name="UBA")
    session.series.open_to.append(partner)
    db.session.commit()
    auth.login(factories.user(partner))
    statements = _enrol_counting_statements(client, db, session)
    assert len([s for s in statements if "FROM series_open_to" in s]) == 1
