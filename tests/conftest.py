"""Fixtures: a real database (SQLite file, or PostgreSQL with TEST_DATABASE_URL), one schema
per test run built by the migrations, emptied after every test."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

# The background queue of the tests is a file of their own (tracker/tasks.py reads it when
# first imported); nobody consumes it unless a test starts a worker on it.
os.environ.setdefault("QUEUE_FILE", os.path.join(
    os.environ.get("TMPDIR", "/tmp"), f"tracker-test-queue-{uuid.uuid4().hex[:10]}.db"))
os.environ.pop("REDIS_URL", None)

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests import factories
from tracker import create_app
from tracker.extensions import db as _db

TEST_SETTINGS = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-not-for-production",
    # Tests of the CSRF protection switch it on themselves.
    "WTF_CSRF_ENABLED": False,
    "RATELIMIT_ENABLED": False,
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
}


def _create_postgres_database(base_url: str) -> tuple[str, str]:
    """A fresh database per run, so parallel runs on one server never meet."""
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1)
                   if base_url.startswith("postgresql://") else base_url)
    name = f"tracker_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(base_url: str, name: str) -> None:
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1)
                   if base_url.startswith("postgresql://") else base_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@contextlib.contextmanager
def fresh_database(tmp_path_factory, label: str) -> Iterator[str]:
    """A database of its own: a SQLite file in tmp, or a new PostgreSQL database on the
    TEST_DATABASE_URL server, dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp(label) / 'tracker.db'}"
        return
    url, name = _create_postgres_database(base)
    try:
        yield url
    finally:
        _drop_postgres_database(base, name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    with fresh_database(tmp_path_factory, "db") as url:
        yield url


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    """Build the schema once per run through the real migrations."""
    from flask_migrate import upgrade

    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
        _db.engine.dispose()
    return database_url


def _empty_all_tables() -> None:
    tables = list(reversed(_db.metadata.sorted_tables))
    if _db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        _db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            _db.session.execute(table.delete())
    _db.session.commit()


class IsolatedClient(FlaskClient):
    """Requests share the test's app context (and so its `g`); start each one with an
    empty `g`, as every real request does, so no logged-in user is cached across requests."""

    def open(self, *args, **kwargs):
        from flask import g

        g.__dict__.clear()
        return super().open(*args, **kwargs)


def make_app(database_url: str, **overrides) -> Flask:
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app_settings() -> dict:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def app(migrated: str, app_settings: dict) -> Iterator[Flask]:
    app = make_app(migrated, **app_settings)
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_all_tables()
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Logs in through the real login form."""

    def __init__(self, client: FlaskClient):
        self._client = client

    def login(self, user_or_email, password: str = factories.PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        return self._client.post("/anmelden", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/abmelden")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)
