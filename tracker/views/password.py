"""The page behind a one-time password link: the person sets a new password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Length

from tracker.errors import render_error
from tracker.extensions import db, limiter
from tracker.services import ServiceError, people
from tracker.views.admin_forms import ResetPasswordForm

bp = Blueprint("password", __name__, url_prefix="/passwort")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse ein.")), Length(max=254)],
    )


def _reset_limit() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


@bp.route("/vergessen", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def forgot():
    """"Passwort vergessen": the same answer for known and unknown addresses."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        people.request_reset(form.email.data)
        db.session.commit()
        flash(_("Wenn zu dieser Adresse ein Konto besteht, haben wir einen Link zum Setzen "
                "eines neuen Passworts geschickt. Bitte sehen Sie in Ihrem Postfach nach."),
              "info")
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/neu/<token>", methods=["GET", "POST"])
def reset(token: str):
    row = people.find_reset_token(token)
    if row is None:
        # Unknown, used and expired links look the same: nothing to learn by guessing.
        return render_error(404, _("Dieser Link ist ungültig, abgelaufen oder wurde bereits "
                                   "benutzt. Bitte fragen Sie Ihre Personalstelle nach einem "
                                   "neuen Link."))
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            people.use_reset_token(row, form.password.data)
        except ServiceError as exc:
            db.session.rollback()
            form.password.errors = [*form.password.errors, exc.message]
            status = exc.status_code
        else:
            db.session.commit()
            flash(_("Ihr Passwort wurde gesetzt. Bitte melden Sie sich jetzt an."), "success")
            return redirect(url_for("auth.login"), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/password_reset.html", form=form, person=row.user), status
