"""Meine Schulungen: a person's enrolments, waiting-list places, history and participations."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from tracker.database import write_transactions
from tracker.extensions import db
from tracker.models import AttendanceStatus
from tracker.services import accounts, certificates
from tracker.services import enrolment as enrolment_service
from tracker.services import trainings as trainings_service

bp = Blueprint("my", __name__, url_prefix="/meine-schulungen")
log = logging.getLogger("tracker.my")


@bp.get("/")
@login_required
def index():
    mine = trainings_service.my_trainings(current_user)
    offers = enrolment_service.offers(current_user, mine.upcoming)
    html = render_template(
        "my/index.html",
        offers=[offers[s.id] for s in mine.upcoming],
        past=mine.past,
        promotions=mine.promotions,
        participations=mine.participations,
        total=mine.total,
        export_url=_export_url(),
        participation_statuses=[s.value for s in AttendanceStatus.participations()],
        record_years=certificates.record_years(current_user, current_user),
    )
    if mine.promotions:
        _mark_seen(current_user.id, [e.id for e in mine.promotions])
    return html


@bp.post("/erinnerungen")
@login_required
def reminders():
    wanted = request.form.get("reminders") == "1"
    accounts.set_reminders(current_user, wanted)
    db.session.commit()
    flash(_("Sie erhalten wieder Erinnerungen vor Ihren Terminen.") if wanted
          else _("Sie erhalten keine Erinnerungen mehr; Bestätigungen und Änderungen "
                 "schicken wir weiterhin."), "success")
    return redirect(url_for(".index"), code=303)


def _export_url() -> str | None:
    """The data-protection download, once the privacy area provides it."""
    if "privacy.export_my_data" not in current_app.view_functions:
        return None
    return url_for("privacy.export_my_data")


def _mark_seen(user_id: int, enrolment_ids: list[int]) -> None:
    """The news "Sie haben einen Platz erhalten" is shown once. The page was read in a
    reading transaction (this is a GET); the flag is written in a writing transaction of
    its own, after the page is rendered. If that fails, the news is simply shown again."""
    db.session.close()  # ends the reading transaction
    try:
        with write_transactions():
            enrolment_service.mark_promotions_seen(user_id, enrolment_ids)
            db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not mark promotions seen for user %s", user_id, exc_info=True)
