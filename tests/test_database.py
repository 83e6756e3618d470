"""What the database layer (tracker/database.py) promises, as people and the database see it:
writers that run at once never lose a change, a reader never holds a writer up, a writer
never holds a reader up, and a session comes with its series in one statement. On the test
run's database, SQLite or PostgreSQL."""

from __future__ import annotations

import threading
import traceback
from contextlib import contextmanager

from sqlalchemy import event, select, update

from tests import factories
from tracker.database import write_transactions
from tracker.extensions import db as _db
from tracker.models import Organisation, TrainingSession

WRITERS = 12


@contextmanager
def _statements(db):
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def _in_threads(app, work, count: int) -> list[str]:
    """Run `work()` in `count` threads at once, each with its own app context and connection;
    the error of each thread that failed."""
    errors: list[str] = []
    start = threading.Barrier(count)

    def worker() -> None:
        with app.app_context():
            try:
                start.wait(timeout=60)
                work()
            except Exception:  # noqa: BLE001 - reported to the test, which fails on it
                _db.session.rollback()
                errors.append(traceback.format_exc())
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_writers_that_read_then_write_at_once_all_commit_and_lose_nothing(app, db):
    """Each writer reads the counter and writes it back one higher, the pattern that loses
    updates when two transactions read the same stale value. Writing transactions (BEGIN
    IMMEDIATE on SQLite, the row lock on PostgreSQL) let every writer commit, one after the
    other, and the count is exact."""
    session = factories.session(capacity=WRITERS + 5)
    db.session.commit()
    session_id = session.id

    def read_then_write() -> None:
        with write_transactions():
            taken = db.session.scalar(
                select(TrainingSession.seats_taken)
                .where(TrainingSession.id == session_id)
                .with_for_update()
            )
            db.session.execute(
                update(TrainingSession)
                .where(TrainingSession.id == session_id)
                .values(seats_taken=taken + 1)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()

    assert _in_threads(app, read_then_write, WRITERS) == []
    db.session.remove()
    assert db.session.get(TrainingSession, session_id).seats_taken == WRITERS


def test_an_open_reading_transaction_does_not_keep_a_writer_out(app, db, client, auth):
    """Someone's page is still being read (its transaction open) while another person logs in,
    which writes: the login goes through at once and the reader still sees the page's data."""
    staff = factories.user(role="hr_staff")
    organisation_id = staff.organisation_id
    db.session.commit()
    email = staff.email
    reader = db.engine.connect()
    try:
        assert reader.scalar(
            select(Organisation.name).where(Organisation.id == organisation_id)) is not None
        assert reader.in_transaction()
        db.session.remove()
        assert auth.login(email).status_code == 303
        # The reader goes on in its own transaction and ends it normally.
        assert reader.scalar(
            select(Organisation.id).where(Organisation.id == organisation_id)) == organisation_id
    finally:
        reader.rollback()
        reader.close()


def test_a_writer_holding_its_transaction_does_not_keep_readers_out(app, db, client, auth):
    """While one writing transaction is open (not yet committed), pages still answer, and
    they show what was committed before it, not the writer's unfinished change."""
    series = factories.series(title="Vielfaltsmontag")
    factories.session(series, title="Vorher gespeichert")
    employee = factories.user(series.owner_organisation)
    db.session.commit()
    series_id, email = series.id, employee.email
    auth.login(email)
    db.session.remove()

    holding = threading.Event()
    release = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        with app.app_context():
            try:
                with write_transactions():
                    db.session.execute(
                        update(TrainingSession)
                        .where(TrainingSession.series_id == series_id)
                        .values(title="Noch nicht gespeichert")
                        .execution_options(synchronize_session=False)
                    )
                    holding.set()
                    release.wait(timeout=60)
                    db.session.rollback()
            except Exception:  # noqa: BLE001 - reported to the test, which fails on it
                errors.append(traceback.format_exc())
                holding.set()
            finally:
                db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(timeout=60)
        page = client.get(f"/reihen/{series_id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Vorher gespeichert" in text and "Noch nicht gespeichert" not in text
    finally:
        release.set()
        thread.join(timeout=60)
    assert errors == []


def test_a_session_is_loaded_with_its_series_in_one_statement(db, client):
    session = factories.session()
    db.session.commit()
    session_id, series_title = session.id, session.series.title
    db.session.remove()
    from tracker.services.access import get_session_or_404

    with client.application.test_request_context(), _statements(db) as seen:
        loaded = get_session_or_404(session_id)
        assert loaded.id == session_id
        assert loaded.series.title == series_title
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
