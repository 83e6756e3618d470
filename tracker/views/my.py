"""Meine Schulungen: a person's enrolments, waiting-list places, history and participations."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import contains_eager

from tracker.database import write_transactions
from tracker.extensions import db
from tracker.models import (
    AttendanceMark,
    CancelReason,
    Enrolment,
    EnrolmentState,
    TrainingSeries,
    TrainingSession,
    utcnow,
)
from tracker.services import enrolment as enrolment_service
from tracker.services.participation import is_participation

bp = Blueprint("my", __name__, url_prefix="/meine-schulungen")
log = logging.getLogger("tracker.my")

SHOWN_STATES = (EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED, EnrolmentState.WALK_IN)


@bp.get("/")
@login_required
def index():
    now = utcnow()
    rows = db.session.execute(
        select(Enrolment, AttendanceMark.status)
        .join(Enrolment.session)
        .join(TrainingSession.series)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(
            Enrolment.user_id == current_user.id,
            or_(
                Enrolment.state.in_(SHOWN_STATES),
                Enrolment.cancel_reason == CancelReason.SESSION_CANCELLED,
            ),
        )
        .options(
            contains_eager(Enrolment.session).contains_eager(TrainingSession.series)
        )
        .order_by(TrainingSession.starts_at, Enrolment.id)
    ).all()

    upcoming_sessions = []
    seen = set()
    past = []
    promotions = []
    for enrolment, status in rows:
        session = enrolment.session
        if session.ends_at > now:
            if session.id not in seen:  # a session cancelled by the organiser appears once
                seen.add(session.id)
                upcoming_sessions.append(session)
            if (enrolment.state == EnrolmentState.ENROLLED and enrolment.promoted_at
                    and enrolment.promotion_seen_at is None):
                promotions.append(enrolment)
        else:
            past.append((enrolment, status))
    past.reverse()
    offers = enrolment_service.offers(current_user, upcoming_sessions)

    counts = db.session.execute(
        select(TrainingSeries.id, TrainingSeries.title, func.count(AttendanceMark.id))
        .select_from(AttendanceMark)
        .join(Enrolment, AttendanceMark.enrolment_id == Enrolment.id)
        .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        .join(TrainingSeries, TrainingSession.series_id == TrainingSeries.id)
        .where(Enrolment.user_id == current_user.id, is_participation())
        .group_by(TrainingSeries.id, TrainingSeries.title)
        .order_by(TrainingSeries.title)
    ).all()

    html = render_template(
        "my/index.html",
        offers=[offers[s.id] for s in upcoming_sessions],
        past=past,
        promotions=promotions,
        participations=counts,
        total=sum(c for _id, _title, c in counts),
        export_url=_export_url(),
    )
    if promotions:
        _mark_seen([e.id for e in promotions])
    return html


def _export_url() -> str | None:
    """The data-protection download, once the privacy area provides it."""
    if "privacy.export_my_data" not in current_app.view_functions:
        return None
    return url_for("privacy.export_my_data")


def _mark_seen(enrolment_ids: list[int]) -> None:
    """The news "Sie haben einen Platz erhalten" is shown once. The page is rendered first; the
    flag is then written in a writing transaction of its own (this is a GET, which reads in a
    deferred one on SQLite). If that fails, the news is simply shown again next time."""
    db.session.commit()
    try:
        with write_transactions():
            enrolment_service.mark_promotions_seen(current_user, enrolment_ids)
            db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not mark promotions seen for user %s", current_user.id, exc_info=True)

