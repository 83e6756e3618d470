"""Engine set-up: SQLite pragmas and write transactions that cannot read stale counts."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache

from flask import Flask, has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value

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


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session has loaded, for a view that renders its
    answer from values in hand (the attendance click, enrol and cancel). Expiring the
    request's user and session (~30 µs, bench/) buys nothing there: nothing changed them, and
    the session ends with the request. What the request changed by SQL (seat counters) must
    be expired by whoever changed it, so that it is read again."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


_turns_guard = threading.Lock()
_process_turns: dict[str, threading.Lock] = {}


def _process_turn(path: str) -> threading.Lock:
    with _turns_guard:
        return _process_turns.setdefault(path, threading.Lock())


class QueuedWritersConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions first wait their turn.

    SQLite lets one writer in at a time; another one waits in SQLite's busy handler, which
    sleeps 1, 2, 5, 10 ... ms between looks, far longer than a click holds the lock (bench/:
    with two gunicorn workers marking attendance, a fifth of a core sat idle). Here a writer
    first takes its process's turn for the database (a lock, so threads wait without
    spinning), then the exclusive flock on `<database>-writers.lock` that orders the
    processes, looking every 0.1 ms; both are let go when the transaction ends, so the next
    writer starts almost at once. This only orders writers: SQLite's locking stays in charge
    of correctness, and a writer without a turn after 30 s goes on to SQLite's own busy
    timeout as before, so the queue can cost time, never a write.

    Checkpoints: SQLite's automatic checkpoint runs inside commit(), so its fsync would
    hold the turn; it is switched off for these connections (see _configure_sqlite) and
    every CHECKPOINT_EVERY commits a connection checkpoints (PASSIVE) after its turn."""

    WAIT_SECONDS = 30.0
    POLL_SECONDS = 0.0001
    CHECKPOINT_EVERY = 200

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        self._writer_lock: int | None = None
        self._turn: threading.Lock | None = None
        self._writing = False
        self._commits = 0
        path = os.fspath(database) if isinstance(database, str | os.PathLike) else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            self._writer_lock = os.open(f"{path}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._turn = _process_turn(os.path.realpath(path))

    @property
    def queues_writers(self) -> bool:
        return self._writer_lock is not None

    def wait_for_writer_turn(self) -> None:
        if self._turn is None or self._writing:
            return
        deadline = time.monotonic() + self.WAIT_SECONDS
        if not self._turn.acquire(timeout=self.WAIT_SECONDS):
            return  # no turn: SQLite's own waiting decides
        while True:
            try:
                fcntl.flock(self._writer_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._turn.release()
                    return
                time.sleep(self.POLL_SECONDS)
            else:
                self._writing = True
                return

    def _end_turn(self) -> None:
        if self._writing:
            self._writing = False
            try:
                fcntl.flock(self._writer_lock, fcntl.LOCK_UN)
            finally:
                self._turn.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()
        if self._writer_lock is not None:
            self._commits += 1
            if self._commits % self.CHECKPOINT_EVERY == 0:
                # After the turn, so the next writer does not wait for the checkpoint's fsync.
                self.execute("PRAGMA wal_checkpoint(PASSIVE)").close()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()
            if self._writer_lock is not None:
                os.close(self._writer_lock)
                self._writer_lock = None


def sqlite_engine_options(options: dict) -> dict:
    """Engine options for a SQLite file: connections that queue their writers."""
    connect_args = dict(options.get("connect_args", {}))
    connect_args.setdefault("factory", QueuedWritersConnection)
    return {**options, "connect_args": connect_args}


def _unicode_lower(value):
    try:
        return value.lower()
    except AttributeError:  # NULL and numbers stay as they are
        return value


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of pysqlite's lazy one.
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds A-Z only: "Özdemir" stayed "Özdemir", so a search for
        # "öz" (lowered in Python) found nobody. Python's folds every letter, as PostgreSQL's
        # does. Searches use lower() ... LIKE, and SQLAlchemy writes ILIKE that way on SQLite.
        # No index is built on lower(), so none depends on the built-in one.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if getattr(dbapi_connection, "queues_writers", False):
                cursor.execute("PRAGMA wal_autocheckpoint=0")  # see QueuedWritersConnection
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver callback
        # Straight on the driver's connection: exec_driver_sql's execution context cost
        # ~40 µs of every request that touches the database (bench/).
        driver = conn.connection.driver_connection
        immediate = _immediate.get()
        conn.info[_WRITE_LOCKED] = immediate
        if immediate:
            sql = "BEGIN IMMEDIATE"
            if isinstance(driver, QueuedWritersConnection):
                driver.wait_for_writer_turn()
        else:
            sql = "BEGIN"
        cursor = driver.cursor()
        try:
            driver_execute(conn, cursor, sql, ())
        finally:
            cursor.close()


_WRITE_LOCKED = "tracker_write_locked"


def holds_write_lock() -> bool:
    """True when the session's transaction began with SQLite's BEGIN IMMEDIATE: no other
    writer can commit before it ends, so a statement run in it reads what stays current until
    the commit, and a row lock would add nothing. False on PostgreSQL, which locks rows one
    by one (SELECT ... FOR UPDATE), and in SQLite's reading transactions."""
    return db.session.connection().info.get(_WRITE_LOCKED, False)


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


# --- prepared statements: the hot paths, straight on the driver ---------------------------


def driver_execute(connection, cursor, sql: str, params) -> None:
    """cursor.execute, announced to the engine's before_cursor_execute listeners when there
    are any (the tests and bench/ count statements with one; SQL logging with echo=True and
    listeners on a single Connection do not see these statements). Listeners cannot rewrite
    the statement here. (The engine's own dispatcher: the per-connection one is built anew
    for every connection, ~20 µs a request.)"""
    listeners = connection.engine.dispatch.before_cursor_execute
    if listeners:
        for listener in listeners:
            listener(connection, cursor, sql, params, None, False)
    cursor.execute(sql, params)


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor.

    For the statements of every click and every page view (the user of each request, the
    attendance click). Connection.execute costs ~50-80 µs a statement in SQLAlchemy's
    execution context and result set-up on top of ~5 µs in the driver (bench/, pyinstrument),
    and the compiled form of a fixed statement never changes. This keeps what SQLAlchemy
    gives these statements: the SQL of the dialect (FOR UPDATE on PostgreSQL only, the
    parameter style), the bind and result processing of each column's type (datetimes as
    text on SQLite), and the session's transaction (the statement runs on the session's
    connection, after a flush, as session.execute would).

    Parameters are named by their bindparam names. IN over constants must use literal()
    elements (one placeholder each), not an expanding list."""

    __slots__ = ("statement", "_forms")

    def __init__(self, statement) -> None:
        self.statement = statement
        self._forms: dict[str, tuple] = {}

    def _form(self, dialect) -> tuple:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = self._compile(dialect)
        return form

    def _compile(self, dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("IN over constants needs literal() elements in a Prepared statement")
        defaults = compiled.construct_params(_check=False)
        processors = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        order = tuple(compiled.positiontup or ()) if dialect.positional else None
        results = None
        if self.statement.is_select:
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            if not any(results):
                results = None
        return compiled.string, defaults, processors, order, results

    def _run(self, params: dict):
        session = db.session()
        session.flush()
        connection = session.connection()
        sql, defaults, processors, order, results = self._form(connection.dialect)
        values = {**defaults, **params} if defaults else params
        if processors:
            values = {
                key: (processors[key](value) if key in processors else value)
                for key, value in values.items()
            }
        cursor = connection.connection.driver_connection.cursor()
        driver_execute(
            connection, cursor, sql, [values[name] for name in order] if order is not None else values
        )
        return cursor, results

    def rows(self, params: dict | None = None) -> list[tuple]:
        cursor, results = self._run(params or {})
        try:
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        if results is None:
            return fetched
        return [
            tuple(value if process is None else process(value)
                  for process, value in zip(results, row, strict=True))
            for row in fetched
        ]

    def first(self, params: dict | None = None) -> tuple | None:
        found = self.rows(params)
        return found[0] if found else None

    def execute(self, params: dict | None = None) -> int:
        """An INSERT, UPDATE or DELETE; returns the number of rows it touched."""
        cursor, _results = self._run(params or {})
        try:
            return cursor.rowcount
        finally:
            cursor.close()


def persistent(model, values) -> object:
    """An instance of `model` from a row of all its mapped columns (in mapper order), put in
    the session as if the ORM had loaded it: ~3 times cheaper than a query through the ORM
    for the objects every request loads (its user). Attributes that are not columns (its
    relationships) load lazily as usual, or are set with set_committed_value."""
    mapper = inspect(model)
    identity = db.session.identity_map.get(
        mapper.identity_key_from_primary_key([values[i] for i in _pk_positions(mapper)])
    )
    if identity is not None:
        # Loaded before in this session: as the ORM does, fill in what was expired (by a
        # commit) from the row, and leave loaded and changed attributes as they are.
        unloaded = inspect(identity).unloaded
        for key, value in zip(_column_keys(mapper), values, strict=True):
            if key in unloaded:
                set_committed_value(identity, key, value)
        return identity
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(zip(_column_keys(mapper), values, strict=True))
    make_transient_to_detached(instance)
    # Session.add without its walk over every relationship for pending related objects
    # (half the cost of this function, bench/): an object just read has none.
    db.session()._update_impl(instance_state(instance))
    return instance


def persistent_with(model, relation: str, related_model, row) -> object:
    """persistent() for a row of `model`'s columns followed by those of one many-to-one
    relation (columns_of(model) + columns_of(related_model)): both objects, linked."""
    split = len(columns_of(model))
    instance = persistent(model, row[:split])
    if relation not in instance.__dict__:
        set_committed_value(instance, relation, persistent(related_model, row[split:]))
    return instance


@cache
def _column_keys(mapper) -> tuple[str, ...]:
    return tuple(attribute.key for attribute in mapper.column_attrs)


@cache
def _pk_positions(mapper) -> tuple[int, ...]:
    keys = _column_keys(mapper)
    return tuple(keys.index(mapper.get_property_by_column(c).key) for c in mapper.primary_key)


@cache
def columns_of(model) -> tuple:
    """The table columns of `model`'s mapped attributes, in the order persistent() reads."""
    return tuple(attribute.columns[0] for attribute in inspect(model).column_attrs)
