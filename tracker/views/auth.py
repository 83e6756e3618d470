"""Login, logout and the language switch."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tracker.database import only_reads_from_here, write_transactions
from tracker.errors import log_refusal
from tracker.extensions import db, multipass
from tracker.i18n import choose_language
from tracker.models import User
from tracker.security import start_login_session
from tracker.services import ServiceError, accounts, directory, login_guard
from tracker.sign_in import providers

bp = Blueprint("auth", __name__)
log = logging.getLogger("tracker.auth")


class LoginForm(FlaskForm):
    # An e-mail address, or the user name of a partner directory (see tracker/sign_in.py).
    email = StringField(
        _l("E-Mail-Adresse"),
        validators=[DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse ein.")), Length(max=254)],
    )
    password = PasswordField(
        _l("Passwort"),
        validators=[DataRequired(_l("Bitte geben Sie Ihr Passwort ein.")), Length(max=500)],
    )


def safe_next_url(target: str | None) -> str | None:
    """Only local paths: no scheme, no host, no protocol-relative //evil.example."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def _signed_in(user: User):
    start_login_session(user)
    login_user(user)
    log.info("login ok user=%s ip=%s", user.id, request.remote_addr)


@multipass.identity_handler
def _directory_identity(identity_info) -> None:
    """Flask-Multipass found the person in a partner directory: sign her in."""
    # The directory was asked outside a writing transaction (SQLite's write lock is not
    # held while a slow directory answers); the account is written in one of its own.
    db.session.rollback()
    with write_transactions():
        user = directory.account_for_identity(identity_info)
        db.session.commit()
    _signed_in(user)


def _page(form: LoginForm, status: int = 200):
    return render_template("auth/login.html", form=form, directories=providers()), status


def _refuse(form: LoginForm, message: str, status: int):
    form.form_errors.append(message)
    return _page(form, status)


@bp.route("/anmelden", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if providers():
        form.email.label.text = _("E-Mail-Adresse oder Benutzername")
    if request.method != "POST":
        return _page(form)
    email = accounts.normalise_email(request.form.get("email", ""))
    address = request.remote_addr or ""
    if login_guard.is_blocked(email, address):
        log_refusal(429, f"login rate limit email={email!r} ip={address}")
        form.validate_on_submit()  # keeps what was typed, shows the field messages
        return _refuse(form, _(
            "Zu viele Versuche: Die Anmeldung ist von dieser Adresse zu oft "
            "fehlgeschlagen. Bitte warten Sie einige Minuten und versuchen Sie es dann "
            "erneut."
        ), 429)
    if not form.validate_on_submit():
        return _page(form, 422)
    user = accounts.authenticate(form.email.data, form.password.data)
    if user is not None and not directory.local_password_allowed(user):
        log.warning("local password refused for user=%s: the organisation signs in through "
                    "its directory", user.id)
        user = None
    attempt = directory.Attempt()
    if user is None:
        only_reads_from_here()
        try:
            attempt = directory.sign_in(form.email.data.strip(), form.password.data)
        except ServiceError as exc:
            db.session.rollback()
            log.warning("directory login refused email=%r: %s", email, exc.message)
            return _refuse(form, exc.message, exc.status_code)
    with write_transactions():
        if user is None and not attempt.signed_in:
            login_guard.record_failure(email, address)
        else:
            login_guard.forget_failures(email, address)
        db.session.commit()
    if user is not None:
        _signed_in(user)
    if current_user.is_authenticated:
        target = safe_next_url(request.args.get("next")) or url_for("main.index")
        return redirect(target, code=303)
    log.warning("login failed email=%r ip=%s", email, request.remote_addr)
    if attempt.unavailable:
        names = ", ".join(p.title for p in attempt.unavailable)
        return _refuse(form, _(
            "Der Anmeldedienst von %(names)s ist zurzeit nicht erreichbar. Bitte versuchen "
            "Sie es in einigen Minuten erneut. Ein tracker-Passwort funktioniert weiterhin.",
            names=names,
        ), 503)
    return _refuse(
        form, _("E-Mail-Adresse oder Passwort ist falsch. Bitte prüfen Sie Ihre Eingabe."), 422
    )


@bp.post("/abmelden")
def logout():
    if current_user.is_authenticated:
        accounts.rotate_session_token(current_user)
        db.session.commit()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Sie wurden abgemeldet."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.post("/sprache")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        choose_language(lang)
        if current_user.is_authenticated:
            # Mails follow the language the person reads tracker in.
            accounts.set_locale(current_user, lang)
            db.session.commit()
    target = safe_next_url(request.form.get("next")) or url_for("main.index")
    return redirect(target, code=303)
