"""Login sessions and HTTP security headers."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, g, request, session
from flask_login import logout_user

from tracker.extensions import db, login_manager
from tracker.models import User, utcnow

log = logging.getLogger("tracker.security")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id is "<pk>:<session token>"; a rotated token logs the cookie out.
    pk, _, token = user_id.partition(":")
    if not pk.isdigit() or not token:
        return None
    user = db.session.get(User, int(pk))
    if user is None or not user.active or user.session_token != token:
        return None
    return user


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
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not request.path.startswith("/static/"):
            # Pages show personal data: never keep them in a shared browser cache.
            headers.setdefault("Cache-Control", "no-store")
            # One URL answers a full page or an htmx fragment: caches must tell them apart.
            headers.add("Vary", "HX-Request")
        return response
