"""Engine set-up: SQLite pragmas and write transactions that cannot read stale counts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from flask import Flask, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tracker.extensions import db
from tracker.services.collation import register_sqlite_collation

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


def mark_request_as_writing(writing: bool) -> None:
    _immediate.set(writing)


def only_reads_from_here() -> None:
    """The rest of this writing request does not write to the database: end the transaction
    its start opened (it has only read) and read deferred from here on, so that SQLite's write
    lock is not held across slow work such as parsing an uploaded file."""
    db.session.rollback()
    mark_request_as_writing(False)


def _reads_after_commit(_session) -> None:
    # Views commit once; what a request does after its commit only reads, to render the
    # answer. It reads in a deferred transaction, so that a writing request does not keep
    # other writers out of SQLite while it renders. (A request that must write again wraps
    # that part in write_transactions().)
    if has_request_context():
        mark_request_as_writing(False)


def _unicode_lower(value):
    try:
        return value.lower()
    except AttributeError:  # NULL and numbers stay as they are
        return value


def _configure_sqlite(engine: Engine) -> None:
    # SQLAlchemy's documented recipe for pysqlite ("Serializable isolation / Savepoints /
    # Transactional DDL"): the driver's own deferred BEGIN is switched off and the begin
    # event emits BEGIN itself, IMMEDIATE for writing transactions.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds A-Z only: "Özdemir" stayed "Özdemir", so a search for
        # "öz" (lowered in Python) found nobody. Python's folds every letter, as PostgreSQL's
        # does. Searches use lower() ... LIKE, and SQLAlchemy writes ILIKE that way on SQLite.
        # No index is built on lower(), so none depends on the built-in one.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        # German name order under the same name as the ICU collation on PostgreSQL.
        register_sqlite_collation(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer waits up to 30 s for another one to commit, in SQLite's own busy handler.
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver callback
        immediate = _immediate.get()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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

    @app.teardown_request
    def _unflag_writes(_exc=None) -> None:
        # The flag is the request's: code that runs after it in the same thread (a test,
        # a CLI command) must not inherit BEGIN IMMEDIATE.
        mark_request_as_writing(False)
