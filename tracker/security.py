"""Login sessions and HTTP security headers."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import cache, lru_cache, partial
from urllib.parse import urlsplit

from flask import Flask, current_app, g, make_response, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import logout_user
from flask_login.utils import login_url
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from werkzeug.routing import IntegerConverter

from tracker.csrf import issue_token
from tracker.database import Prepared, columns_of, persistent_with
from tracker.extensions import limiter, login_manager
from tracker.models import Organisation, User, utcnow

log = logging.getLogger("tracker.security")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
# Pages show personal data: never keep them in a shared browser cache.
PAGE_HEADERS = (*SECURITY_HEADERS, ("Cache-Control", "no-store"))


# The largest id an INTEGER column holds on PostgreSQL (SQLite's are wider, never smaller).
MAX_DATABASE_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """<int:...> in URLs, bounded by what the database can hold: a larger number is a 404,
    not a database error (PostgreSQL refuses it; SQLite would not)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)


def database_id(value: str) -> int:
    """`type=` for request.args.get: a positive number the database's INTEGER holds; anything
    else raises ValueError, so werkzeug returns the default instead of a database error."""
    number = int(value)
    if not 0 < number <= MAX_DATABASE_ID:
        raise ValueError(value)
    return number


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vals) for key, vals in values)


@cache
def _user_by_id() -> Prepared:
    # Every request loads its user: a statement compiled once, run on the driver, and the
    # objects put in the session as if the ORM had loaded them (tracker.database.persistent),
    # ~200 µs less per request than a query through the ORM (bench/). The organisation comes
    # along: the page header shows it.
    return Prepared(
        select(*columns_of(User), *columns_of(Organisation))
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.id == bindparam("user_id"))
    )


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id is "<pk>:<session token>"; a rotated token logs the cookie out.
    pk, _, token = user_id.partition(":")
    if not pk.isdigit() or not token or int(pk) > MAX_DATABASE_ID:
        return None
    row = _user_by_id().first({"user_id": int(pk)})
    if row is None:
        return None
    user = persistent_with(User, "organisation", Organisation, row)
    if not user.active or user.session_token != token:
        return None
    return user


@login_manager.unauthorized_handler
def _login_required():
    """Not logged in (or the login expired). After login the person returns to the page she
    was on: for a form post or an htmx click that is the page, not the POST-only URL. An htmx
    request gets HX-Redirect, so the browser opens the login page instead of htmx swapping it
    into a table row."""
    if request.headers.get("HX-Request"):
        back = request.headers.get("HX-Current-URL")
    elif request.method == "GET":
        back = request.url
    else:
        back = request.referrer
    if back and urlsplit(back).netloc != request.host:
        back = None  # only ever back to a page of this site
    view = login_manager.login_view
    target = login_url(view, next_url=back) if back else url_for(view)
    if request.headers.get("HX-Request"):
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def form_csrf_token() -> str:
    """The CSRF token for the forms of this answer.

    A POST that Flask-WTF has validated brought a valid signed token, found where Flask-WTF
    looks (the form field, a prefixed form field, then the headers): its answer reuses that
    token instead of signing a new one (~60 µs of every attendance click, bench/). Tokens do
    not expire on their own (WTF_CSRF_TIME_LIMIT = None): they live as long as the login."""
    if g.get("csrf_valid"):
        field = current_app.config["WTF_CSRF_FIELD_NAME"]
        candidates = [request.form.get(field)]
        candidates += [value for key, value in request.form.items() if key.endswith(field)]
        candidates += [request.headers.get(name) for name in current_app.config["WTF_CSRF_HEADERS"]]
        for token in candidates:
            if token:
                return token
    return issue_token()


def start_login_session(user: User) -> None:
    """Called at login: a fresh session, so nothing from before the login survives."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    now = utcnow().timestamp()
    session["login_at"] = now
    session["seen_at"] = now
    session.permanent = True


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page explains itself
    login_manager.session_protection = "basic"
    app.session_interface = RememberingSessionInterface()
    app.permanent_session_lifetime = timedelta(minutes=app.config["SESSION_ABSOLUTE_MINUTES"])
    # Before any blueprint adds its routes, so every <int:...> is bounded.
    app.url_map.converters["int"] = DatabaseIdConverter

    @app.before_request
    def _refuse_nul_characters():
        # NUL is never part of real input; PostgreSQL refuses to store it (a 500), SQLite
        # would store it silently. Refuse it for every form and query, once, here.
        if _has_nul(request.args.lists()) or (
            request.method not in ("GET", "HEAD", "OPTIONS") and _has_nul(request.form.lists())
        ):
            from tracker.errors import log_refusal, render_error

            log_refusal(400, "NUL character in input")
            return render_error(
                400, _("Die Eingabe enthält ein unzulässiges Steuerzeichen. Bitte prüfen Sie sie.")
            )
        return None

    @app.before_request
    def _enforce_session_timeouts() -> None:
        if "login_at" not in session:
            return
        now = utcnow().timestamp()
        idle = app.config["SESSION_IDLE_MINUTES"] * 60
        absolute = app.config["SESSION_ABSOLUTE_MINUTES"] * 60
        if now - session.get("seen_at", 0) > idle or now - session["login_at"] > absolute:
            logout_user()
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            g.session_expired = True
            return
        # Write the cookie at most once a minute, not on every request.
        if now - session.get("seen_at", 0) > 60:
            session["seen_at"] = now

    @app.after_request
    def _security_headers(response):
        # One pass over the few headers a response has, instead of a case-insensitive
        # search per header (Headers.setdefault): ~50 µs less on every answer (bench/).
        present = {name.lower() for name, _value in response.headers.items()}
        if request.path.startswith("/static/"):
            wanted = SECURITY_HEADERS
        else:
            wanted = PAGE_HEADERS
            # One URL answers a full page or an htmx fragment: caches must tell them apart.
            response.headers.add("Vary", "HX-Request")
        response.headers.extend([pair for pair in wanted if pair[0].lower() not in present])
        return response


class RememberingSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, with cookies already verified remembered per process.

    A browser sends the same cookie with every request until tracker changes it; checking
    its signature and decoding it again cost ~60 µs a request (bench/). What a cookie says
    never changes, so a cookie string verified before is taken from memory (its age is still
    checked against the session's lifetime, as Flask does); an unknown or forged cookie goes
    through the full check. Each request gets its own copy of the data."""

    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer] = {}
        self._verified = lru_cache(maxsize=4096)(self._verify)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(key)
        if found is None:
            found = self._serializers[key] = super().get_signing_serializer(app)
        return found

    @staticmethod
    def _verify(serializer: URLSafeTimedSerializer, cookie: str) -> tuple[object, float]:
        data, signed_at = serializer.loads(cookie, return_timestamp=True)
        return data, signed_at.timestamp()

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        try:
            data, signed_at = self._verified(serializer, cookie)
        except BadSignature:
            return self.session_class()
        age = time.time() - signed_at
        if age < 0 or age > app.permanent_session_lifetime.total_seconds():
            return self.session_class()  # expired, as itsdangerous's max_age would say
        return self.session_class(_copy(data))


def _copy(value):
    # Session values are JSON-like; only dicts and lists can be changed in place.
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _limiter_hook(fn) -> bool:
    owner = fn.args[0] if isinstance(fn, partial) and fn.args else getattr(fn, "__self__", None)
    return owner is limiter


def narrow_rate_limiter(app: Flask) -> None:
    """Run Flask-Limiter's request hooks only for the views that carry a limit.

    Its before-, after- and teardown-request hooks cost ~75 µs on every request (bench/,
    measured on the login floor), though tracker has no default, application or blueprint
    limits: the only limits sit on views (the login) and are checked by the decorator's own
    wrapper. The hooks still run for those views (the after-request hook applies
    `deduct_when`). Called after the blueprints are registered; with any app-wide limit
    configured, every request keeps the hooks."""
    if any(app.config.get(key) for key in (
        "RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META"
    )):
        return
    limited = frozenset(
        endpoint for endpoint, view in app.view_functions.items()
        # The limiter's decorator marks its wrapper with (a weak proxy of) the limiter.
        if getattr(view, "__wrapper-limiter-instance", None) == limiter
    )

    def before(hook):
        return lambda: hook() if request.endpoint in limited else None

    def after(hook):
        return lambda response: hook(response) if request.endpoint in limited else response

    def teardown(hook):
        return lambda exc=None: hook(exc) if request.endpoint in limited else None

    for funcs, wrap in ((app.before_request_funcs, before), (app.after_request_funcs, after),
                        (app.teardown_request_funcs, teardown)):
        hooks = funcs.get(None, [])
        hooks[:] = [wrap(h) if _limiter_hook(h) else h for h in hooks]
