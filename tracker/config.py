"""Configuration read from environment variables, with safe development defaults."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEV_SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105 - refused in production
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class ConfigError(RuntimeError):
    """Raised when the configuration cannot work; the message is for an operator."""


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and check that the URL parses."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"DATABASE_URL is not a valid database URL: {url!r}. "
            "Use sqlite:///path/to/file.db or postgresql+psycopg://user@host/dbname."
        ) from exc
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"DATABASE_URL names the unsupported database {parsed.get_backend_name()!r}; "
            "tracker runs on SQLite or PostgreSQL."
        )
    return url


class Config:
    """Settings for a running tracker; every value can be set from the environment."""

    def __init__(self) -> None:
        self.ENV_NAME = os.environ.get("TRACKER_ENV", "development")
        self.SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'tracker.db'}")
        )
        self.SESSION_COOKIE_NAME = "tracker_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        # Idle and absolute timeouts of a login, in minutes.
        self.SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "60"))
        self.SESSION_ABSOLUTE_MINUTES = int(os.environ.get("SESSION_ABSOLUTE_MINUTES", "720"))
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_MB", "10")) * 1024 * 1024
        # A report export of more rows than this is built by the worker while the page
        # shows its progress; the file is kept for its owner for EXPORT_KEEP_HOURS.
        self.EXPORT_BACKGROUND_ROWS = int(os.environ.get("EXPORT_BACKGROUND_ROWS", "5000"))
        self.EXPORT_KEEP_HOURS = float(os.environ.get("EXPORT_KEEP_HOURS", "24"))
        # Where people reach tracker: links handed out (password links) are built from it,
        # never from the Host header of the request that issued them.
        self.BASE_URL = os.environ.get("BASE_URL", "http://localhost:5000").rstrip("/")
        # Host names tracker answers for (comma-separated); any other Host header gets 400.
        # Unset: every host, as suits development and tests; set it in production.
        hosts = [h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()]
        self.TRUSTED_HOSTS = hosts or None
        self.PASSWORD_RESET_HOURS = int(os.environ.get("PASSWORD_RESET_HOURS", "72"))
        self.BABEL_DEFAULT_LOCALE = "de"
        self.BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
        self.LANGUAGES = ("de", "en")
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the login session
        # The background queue (huey): Redis when REDIS_URL is set, else a SQLite file.
        # Several app servers share their rate limits there too.
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.RATELIMIT_STORAGE_URI = os.environ.get(
            "RATELIMIT_STORAGE_URI", self.REDIS_URL or "memory://")
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per 5 minutes")
        # "Passwort vergessen" per address (Flask-Limiter); per account, a few links an hour.
        self.PASSWORD_RESET_RATE_LIMIT = os.environ.get(
            "PASSWORD_RESET_RATE_LIMIT", "10 per 15 minutes")
        # The public page that checks a certificate's code: enough for people, not for guessing.
        self.CERTIFICATE_VERIFY_RATE_LIMIT = os.environ.get(
            "CERTIFICATE_VERIFY_RATE_LIMIT", "30 per minute")
        # Certificates in one download (a session's, a report period's): more would keep the
        # person and an app worker waiting for minutes.
        self.CERTIFICATES_PER_DOWNLOAD = int(os.environ.get("CERTIFICATES_PER_DOWNLOAD", "150"))
        # Counts of another organisation's people below this are shown as "< N" (issue 24).
        # The partners' directories people sign in with (README, tracker/sign_in.py).
        self.AUTH_CONFIG = os.environ.get("AUTH_CONFIG", "")
        self.PRIVACY_MIN_COUNT = int(os.environ.get("PRIVACY_MIN_COUNT", "5"))
        self.SQLALCHEMY_ENGINE_OPTIONS: dict = {}
        self.SQLALCHEMY_RECORD_QUERIES = False
        # Mail, with Flask-Mailman's names. Without MAIL_SERVER mails stay in the outbox,
        # marked "nicht versendet (kein Mailserver)", for an admin to read in Postausgang.
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        # Always SMTP, tests included: they talk to a real SMTP server on loopback.
        self.MAIL_BACKEND = "smtp"
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = os.environ.get(
            "MAIL_DEFAULT_SENDER", "Gemeinsame Fortbildungen <fortbildung@example.org>"
        )
        # A server that hangs costs the worker this many seconds per attempt, never more.
        self.MAIL_TIMEOUT = int(os.environ.get("MAIL_TIMEOUT", "20"))
        # Named in every mail's footer and as the calendar entry's organiser.
        self.MAIL_NETWORK_NAME = os.environ.get(
            "MAIL_NETWORK_NAME", "Fortbildungsverbund der Partnerverwaltungen"
        )
        # Retries with growing back-off; after this many hours a mail is given up as failed.
        self.MAIL_GIVE_UP_HOURS = float(os.environ.get("MAIL_GIVE_UP_HOURS", "24"))
        self.ACCESSIBILITY_CONTACT = os.environ.get(
            "ACCESSIBILITY_CONTACT", "barrierefreiheit@example.org"
        )

    @property
    def is_production(self) -> bool:
        return self.ENV_NAME == "production"

    def check(self) -> None:
        """Refuse settings that are unsafe in production."""
        if self.is_production and self.SECRET_KEY in ("", DEV_SECRET_KEY):
            raise ConfigError(
                "SECRET_KEY is not set. In production (TRACKER_ENV=production) tracker refuses "
                "to start with the development key; set SECRET_KEY to a long random value."
            )
        if self.is_production and len(self.SECRET_KEY) < 16:
            raise ConfigError("SECRET_KEY is too short; use at least 16 random characters.")
