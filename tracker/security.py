"""Login sessions and HTTP security headers."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, g, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import logout_user
from flask_login.utils import login_url
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.routing import IntegerConverter

from tracker.extensions import db, login_manager
from tracker.models import User, utcnow

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


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id is "<pk>:<session token>"; a rotated token logs the cookie out. The organisation
    # comes along: the page header shows it.
    pk, _, token = user_id.partition(":")
    if not pk.isdigit() or not token or int(pk) > MAX_DATABASE_ID:
        return None
    user = db.session.scalar(
        select(User).options(joinedload(User.organisation)).where(User.id == int(pk))
    )
    if user is None or not user.active or user.session_token != token:
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
        # Every request counts as activity, so the idle time runs from the person's last
        # request to the second.
        session["seen_at"] = now

    @app.after_request
    def _security_headers(response):
        if request.path.startswith("/static/"):
            wanted = SECURITY_HEADERS
        else:
            wanted = PAGE_HEADERS
            # One URL answers a full page or an htmx fragment: caches must tell them apart.
            response.vary.add("HX-Request")
        for name, value in wanted:
            response.headers.setdefault(name, value)
        return response
