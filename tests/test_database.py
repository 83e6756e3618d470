"""The database layer of the hot paths (tracker/database.py): prepared statements on the
driver, rows put into the session as if the ORM had loaded them, and SQLite's writer queue.
Each is checked against what SQLAlchemy itself does, on the test run's database."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime

import pytest
from sqlalchemy import bindparam, event, inspect, literal, select

from tests import factories
from tracker.database import (
    Prepared,
    QueuedWritersConnection,
    columns_of,
    holds_write_lock,
    persistent,
    write_transactions,
)
from tracker.models import Organisation, TrainingSession, User


def _user_statement():
    return select(*columns_of(User)).where(User.id == bindparam("user_id"))


def test_prepared_rows_equal_sqlalchemys_with_types_processed(db):
    person = factories.user()
    person.active = False
    db.session.commit()
    person_id = person.id
    db.session.remove()
    core = db.session.execute(_user_statement(), {"user_id": person_id}).one()
    db.session.remove()
    prepared = Prepared(_user_statement()).first({"user_id": person_id})
    assert tuple(core) == prepared
    names = [c.key for c in columns_of(User)]
    values = dict(zip(names, prepared, strict=True))
    assert isinstance(values["created_at"], datetime)  # text on SQLite, parsed back
    assert values["active"] is False  # 0 on SQLite, a bool again
    assert Prepared(_user_statement()).first({"user_id": person_id + 1000}) is None


def test_prepared_writes_run_in_the_sessions_transaction_and_listeners_see_them(db):
    org_id = factories.organisation().id
    db.session.commit()
    db.session.remove()
    rename = Prepared(
        Organisation.__table__.update()
        .where(Organisation.__table__.c.id == bindparam("org_id"))
        .values(name=bindparam("new_name"))
    )
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert rename.execute({"org_id": org_id, "new_name": "Umbenannt"}) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert any(s.lstrip().upper().startswith("UPDATE") for s in seen)
    db.session.rollback()  # the write was part of the session's transaction
    assert db.session.get(Organisation, org_id).name != "Umbenannt"


def test_prepared_refuses_expanding_in_lists_and_takes_literal_ones(db):
    expanding = Prepared(select(User.id).where(User.role.in_(["employee", "admin"])))
    with pytest.raises(ValueError, match="literal"):
        expanding.rows()
    person = factories.user(role="hr_staff")
    literals = Prepared(
        select(User.id).where(User.role.in_([literal("hr_staff"), literal("hr_lead")]))
    )
    assert literals.rows() == [(person.id,)]


def test_persistent_gives_what_the_orm_would_load(db):
    person = factories.user()
    person_id, org_id = person.id, person.organisation_id
    db.session.remove()
    row = Prepared(_user_statement()).first({"user_id": person_id})
    built = persistent(User, row)
    state = inspect(built)
    assert state.persistent and not db.session.dirty
    assert db.session.get(User, person_id) is built  # in the identity map, no second object
    assert built.organisation.id == org_id  # relationships load lazily
    loaded = {c.key: getattr(built, c.key) for c in columns_of(User)}
    db.session.remove()
    orm = db.session.get(User, person_id)
    assert loaded == {c.key: getattr(orm, c.key) for c in columns_of(User)}
    # A change is a normal unit-of-work change.
    built = persistent(User, row)
    built.first_name = "Geändert"
    db.session.commit()
    db.session.remove()
    assert db.session.get(User, person_id).first_name == "Geändert"


def test_persistent_fills_expired_attributes_and_keeps_changed_ones(db):
    person = factories.user(first_name="Alt", last_name="Name")
    row = Prepared(_user_statement()).first({"user_id": person.id})
    db.session.expire(person)
    person.last_name = "Neu"  # changed in this session, not yet flushed
    again = persistent(User, row)
    assert again is person
    assert "first_name" in person.__dict__  # filled from the row, no refresh query
    assert person.first_name == "Alt" and person.last_name == "Neu"


def test_a_session_row_comes_with_its_series(db, client):
    session = factories.session()
    db.session.commit()
    session_id, series_id = session.id, session.series_id
    db.session.remove()
    from tracker.services.access import get_session_or_404

    with client.application.test_request_context():
        loaded = get_session_or_404(session_id)
        assert isinstance(loaded, TrainingSession)
        assert "series" in loaded.__dict__ and loaded.series.id == series_id


# --- SQLite's writer queue -----------------------------------------------------------------


def _connect(path, factory=QueuedWritersConnection):
    return sqlite3.connect(path, factory=factory, isolation_level=None, check_same_thread=False)


def test_a_second_writer_waits_for_the_first_to_commit(tmp_path):
    first, second = _connect(tmp_path / "q.db"), _connect(tmp_path / "q.db")
    first.execute("CREATE TABLE t (x INTEGER)")
    first.wait_for_writer_turn()
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO t VALUES (1)")
    order: list[str] = []
    turn = threading.Event()

    def write_second():
        second.wait_for_writer_turn()
        order.append("second has its turn")
        turn.set()
        second.execute("BEGIN IMMEDIATE")
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()

    worker = threading.Thread(target=write_second)
    worker.start()
    assert not turn.wait(0.3)  # still the first writer's turn
    order.append("first commits")
    first.commit()
    worker.join(10)
    assert order == ["first commits", "second has its turn"]
    assert [x for (x,) in first.execute("SELECT x FROM t ORDER BY x")] == [1, 2]
    # Both turns are over: a third connection gets one at once.
    third = _connect(tmp_path / "q.db")
    third.wait_for_writer_turn()
    assert third._writing
    third.rollback()
    assert not third._writing
    for conn in (first, second, third):
        conn.close()


def test_a_writer_without_a_turn_in_time_goes_on_to_sqlites_own_waiting(tmp_path):
    class Impatient(QueuedWritersConnection):
        WAIT_SECONDS = 0.0

    holder, late = _connect(tmp_path / "q.db"), _connect(tmp_path / "q.db", Impatient)
    holder.wait_for_writer_turn()
    late.wait_for_writer_turn()  # returns without the turn instead of waiting for ever
    assert holder._writing and not late._writing
    holder.rollback()
    late.close()
    holder.close()


def test_memory_databases_have_no_queue():
    conn = _connect(":memory:")
    conn.wait_for_writer_turn()
    assert not conn._writing
    conn.close()


def test_the_apps_sqlite_connections_queue_and_release_their_turn(app, db, client, auth):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the writer queue is SQLite's; PostgreSQL locks rows")
    staff = factories.user(role="hr_staff")
    email = staff.email
    raw = db.engine.raw_connection()
    try:
        assert isinstance(raw.driver_connection, QueuedWritersConnection)
        # SQLite's own checkpoint would run inside commit(), holding the turn: switched off,
        # the connection checkpoints after its turn instead.
        assert raw.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    finally:
        raw.close()
    db.session.remove()
    assert auth.login(email).status_code == 303  # a writing request: BEGIN IMMEDIATE
    db.session.remove()  # what the request's teardown does (the test client shares the session)
    path = db.engine.url.database
    other = _connect(path)
    try:
        other.wait_for_writer_turn()  # the request's turn ended with its transaction
        assert other._writing
    finally:
        other.rollback()
        other.close()


def test_only_sqlites_writing_transactions_hold_the_write_lock(app, db):
    """holds_write_lock() lets a click on SQLite skip its row lock: it must be True only in
    a transaction begun with BEGIN IMMEDIATE, and never on PostgreSQL."""
    sqlite = db.engine.dialect.name == "sqlite"
    db.session.remove()
    db.session.scalar(select(literal(1)))  # a reading transaction (deferred BEGIN)
    assert holds_write_lock() is False
    db.session.rollback()
    with write_transactions():
        db.session.scalar(select(literal(1)))
        assert holds_write_lock() is sqlite
        db.session.commit()
    # The pooled connection remembers nothing from the transaction before.
    db.session.scalar(select(literal(1)))
    assert holds_write_lock() is False
    db.session.rollback()
