"""What people find: the series and sessions they may see, and their own trainings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from tracker.extensions import db
from tracker.models import (
    AttendanceMark,
    CancelReason,
    Enrolment,
    EnrolmentState,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import access
from tracker.services.participation import is_participation

# What Meine Schulungen lists besides sessions the organiser cancelled.
SHOWN_STATES = (EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED, EnrolmentState.WALK_IN)


def series_to_choose(user: User) -> list[TrainingSeries]:
    """The series the person may see and that are not archived, by title: the list's filter."""
    return list(db.session.scalars(
        select(TrainingSeries)
        .where(access.visible_series_filter(user), TrainingSeries.archived.is_(False))
        .order_by(TrainingSeries.title, TrainingSeries.id)
    ))


def listed_sessions(user: User, *, series_id: int | None, starts_from: datetime | None,
                    starts_until: datetime | None, past: bool, offset: int,
                    limit: int) -> list[TrainingSession]:
    """One page of the sessions the person may see, with their series, grouped by series.

    Without a time range, only sessions that have not ended yet, unless `past`."""
    query = (
        select(TrainingSession)
        .join(TrainingSession.series)
        .where(access.visible_series_filter(user), TrainingSeries.archived.is_(False))
        .options(contains_eager(TrainingSession.series))
    )
    if series_id:
        query = query.where(TrainingSession.series_id == series_id)
    if starts_from is not None:
        query = query.where(TrainingSession.starts_at >= starts_from,
                            TrainingSession.starts_at <= starts_until)
    elif not past:
        query = query.where(TrainingSession.ends_at > utcnow())
    return list(db.session.scalars(
        query.order_by(TrainingSeries.title, TrainingSeries.id, TrainingSession.starts_at,
                       TrainingSession.id)
        .offset(offset)
        .limit(limit)
    ))


def series_with_sessions(series_id: int) -> tuple[TrainingSeries | None, list[TrainingSession]]:
    """A series with its partners and owner, and its sessions by date."""
    series = db.session.scalar(
        select(TrainingSeries)
        .where(TrainingSeries.id == series_id)
        .options(selectinload(TrainingSeries.open_to),
                 joinedload(TrainingSeries.owner_organisation))
    )
    if series is None:
        return None, []
    sessions = list(db.session.scalars(
        select(TrainingSession)
        .where(TrainingSession.series_id == series.id)
        .order_by(TrainingSession.starts_at, TrainingSession.id)
    ))
    return series, sessions


def person_by_id(raw: str) -> User | None:
    """The person an HR form names by id, or None for anything that is no id of a person.
    At most nine digits: a larger number is no id the database can hold (PostgreSQL errors)."""
    raw = (raw or "").strip()
    if not (raw.isdigit() and len(raw) < 10):
        return None
    return db.session.get(User, int(raw))


def enrolment_of_session(session: TrainingSession, enrolment_id: int) -> Enrolment | None:
    """An enrolment of this session with its person, or None (also for another session's)."""
    return db.session.scalar(
        select(Enrolment)
        .where(Enrolment.id == enrolment_id, Enrolment.session_id == session.id)
        .options(joinedload(Enrolment.user, innerjoin=True))
    )


@dataclass(frozen=True)
class MyTrainings:
    upcoming: list[TrainingSession]  # by date, each once
    past: list[tuple[Enrolment, str | None]]  # newest first, with the attendance status
    promotions: list[Enrolment]  # seats from the waiting list the person has not seen yet
    participations: list[tuple[int, str, int]]  # (series id, title, count) by title

    @property
    def total(self) -> int:
        return sum(count for _id, _title, count in self.participations)


def my_trainings(user: User, now: datetime | None = None) -> MyTrainings:
    """A person's enrolments, waiting-list places, history and participations, in two
    queries whatever their number."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Enrolment, AttendanceMark.status)
        .join(Enrolment.session)
        .join(TrainingSession.series)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(
            Enrolment.user_id == user.id,
            or_(
                Enrolment.state.in_(SHOWN_STATES),
                Enrolment.cancel_reason == CancelReason.SESSION_CANCELLED,
            ),
        )
        .options(contains_eager(Enrolment.session).contains_eager(TrainingSession.series))
        .order_by(TrainingSession.starts_at, Enrolment.id)
    ).all()

    upcoming: list[TrainingSession] = []
    seen: set[int] = set()
    past = []
    promotions = []
    for enrolment, status in rows:
        session = enrolment.session
        if session.ends_at > now:
            if session.id not in seen:  # a session cancelled by the organiser appears once
                seen.add(session.id)
                upcoming.append(session)
            if (enrolment.state == EnrolmentState.ENROLLED and enrolment.promoted_at
                    and enrolment.promotion_seen_at is None):
                promotions.append(enrolment)
        else:
            past.append((enrolment, status))
    past.reverse()

    counts = db.session.execute(
        select(TrainingSeries.id, TrainingSeries.title, func.count(AttendanceMark.id))
        .select_from(AttendanceMark)
        .join(Enrolment, AttendanceMark.enrolment_id == Enrolment.id)
        .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        .join(TrainingSeries, TrainingSession.series_id == TrainingSeries.id)
        .where(Enrolment.user_id == user.id, is_participation())
        .group_by(TrainingSeries.id, TrainingSeries.title)
        .order_by(TrainingSeries.title)
    ).all()
    return MyTrainings(upcoming=upcoming, past=past, promotions=promotions,
                       participations=[tuple(row) for row in counts])
