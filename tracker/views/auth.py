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
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from tracker.errors import log_refusal
from tracker.extensions import db
from tracker.i18n import choose_language
from tracker.security import start_login_session
from tracker.services import accounts, login_guard

bp = Blueprint("auth", __name__)
log = logging.getLogger("tracker.auth")


class LoginForm(FlaskForm):
    email = EmailField(
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


@bp.route("/anmelden", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if request.method == "POST":
        email = accounts.normalise_email(request.form.get("email", ""))
        address = request.remote_addr or ""
        if login_guard.is_blocked(email, address):
            log_refusal(429, f"login rate limit email={email!r} ip={address}")
            form.validate_on_submit()  # keeps what was typed, shows the field messages
            form.form_errors.append(_(
                "Zu viele Versuche: Die Anmeldung ist von dieser Adresse zu oft "
                "fehlgeschlagen. Bitte warten Sie einige Minuten und versuchen Sie es dann "
                "erneut."
            ))
            return render_template("auth/login.html", form=form), 429
        if form.validate_on_submit():
            user = accounts.authenticate(form.email.data, form.password.data)
            if user is None:
                login_guard.record_failure(email, address)
                db.session.commit()
            if user is not None:
                login_guard.forget_failures(email, address)
                db.session.commit()
                start_login_session(user)
                login_user(user)
                log.info("login ok user=%s ip=%s", user.id, request.remote_addr)
                target = safe_next_url(request.args.get("next")) or url_for("main.index")
                return redirect(target, code=303)
            log.warning(
                "login failed email=%r ip=%s", accounts.normalise_email(form.email.data),
                request.remote_addr,
            )
            form.form_errors.append(
                _("E-Mail-Adresse oder Passwort ist falsch. Bitte prüfen Sie Ihre Eingabe.")
            )
        status = 422
    return render_template("auth/login.html", form=form), status


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
