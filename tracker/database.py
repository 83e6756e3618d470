"""Engine set-up: SQLite pragmas and write transactions that cannot read stale counts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from flask import Flask, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tracker.extensions import db

# True while the current request or block writes: SQLite then opens its transaction with
# BEGIN IMMEDIATE, taking the write lock before the first read (SQLAlchemy's documented
# recipe for pysqlite). Reads keep a deferred BEGIN so they never wait for the lock.
_immediate: ContextVar[bool] = ContextVar("tracker_immediate_transactions", default=False)


@contextlib.contextmanager
def write_transactions() -> Iterator[None]:
    """Open every transaction begun inside the block as a writing one."""
    token = _immediate.set(True)
    try:
        yield
    finally:
        _immediate.reset(token)


def core_execute(statement, params=None):
    """Run a Core statement (a column select or a table write) on the session's connection.

    session.execute wraps every statement in the ORM's execution layer: ~100 µs a statement
    on top of Core's ~50 (bench/, measured on SQLite), which on the attendance sheet cost more
    than the SQL. For statements whose results are plain rows the ORM adds nothing; pending
    ORM changes are flushed first, as session.execute would."""
    session = db.session()
    session.flush()
    return session.connection().execute(statement, params)


def mark_request_as_writing(writing: bool) -> None:
    _immediate.set(writing)


def _reads_after_commit(_session) -> None:
    # Views commit once; what a request does after its commit only reads, to render the
    # answer. Read it in a deferred transaction, so a writing request does not hold SQLite's
    # write lock while it renders: bench/ measured the attendance click spending ~40% of its
    # time after the commit while the other worker slept in SQLite's busy handler.
    # (A request that must write again wraps that part in write_transactions().)
    if has_request_context():
        mark_request_as_writing(False)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of pysqlite's lazy one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver callback
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)

    if not event.contains(db.session, "after_commit", _reads_after_commit):
        event.listen(db.session, "after_commit", _reads_after_commit)

    @app.before_request
    def _flag_writes() -> None:
        from flask import request

        mark_request_as_writing(request.method not in ("GET", "HEAD", "OPTIONS"))
