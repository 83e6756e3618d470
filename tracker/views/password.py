"""The page behind a one-time password link: the person sets a new password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from tracker.errors import render_error
from tracker.extensions import db
from tracker.services import ServiceError, people
from tracker.views.admin_forms import ResetPasswordForm

bp = Blueprint("password", __name__, url_prefix="/passwort")


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
