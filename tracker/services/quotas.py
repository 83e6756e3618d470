"""Seat quotas: partner organisations' fair share of a popular session.

A session (and, as the default for its new sessions, a series) reserves seats per partner
organisation until a release time, e.g. "UBA 10, Stadt 10, Hochschule 5, frei 5". How the
seats are taken, given back and released is decided in tracker.services.enrolment; here the
quotas are set and checked. Every refusal names its field, so that the form shows the message
next to it, and nothing is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.i18n import format_datetime
from tracker.models import (
    Enrolment,
    EnrolmentState,
    Organisation,
    SeriesQuota,
    SessionQuota,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import NotAllowed, ServiceError, access, audit, enrolment

DEFAULT_RELEASE_DAYS = 7
MAX_RELEASE_DAYS = 365


class QuotaError(ServiceError):
    """A refusal about one field of the quota form: "total", "release" or an organisation id."""

    def __init__(self, message: str, field: str | int = "total") -> None:
        super().__init__(message, 422)
        self.field = field


@dataclass(frozen=True)
class QuotaUse:
    organisation: Organisation
    seats: int
    seats_taken: int
    waiting: int


def eligible_organisations(series: TrainingSeries) -> list[Organisation]:
    """The organisations whose people may enrol, so that may hold a quota."""
    return list(series.open_to)


def _check_seats(series: TrainingSeries, seats: dict[int, int]) -> dict[int, int]:
    allowed = {org.id: org for org in eligible_organisations(series)}
    for organisation_id, value in seats.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise QuotaError(_("Bitte geben Sie eine ganze Zahl an."), organisation_id)
        if value < 0:
            raise QuotaError(_("Ein Kontingent kann nicht negativ sein."), organisation_id)
        if value > enrolment.MAX_CAPACITY:
            raise QuotaError(_("Ein Kontingent darf höchstens %(n)s Plätze umfassen.",
                               n=enrolment.MAX_CAPACITY), organisation_id)
        if value and organisation_id not in allowed:
            raise QuotaError(_("Für diese Organisation ist die Reihe nicht freigegeben; sie kann "
                               "kein Kontingent erhalten."), organisation_id)
    return {key: value for key, value in seats.items() if value > 0}


def default_release(session: TrainingSession) -> datetime:
    days = session.series.quota_release_days if session.series else DEFAULT_RELEASE_DAYS
    return session.starts_at - timedelta(days=days)


def set_session_quotas(session: TrainingSession, seats: dict[int, int],
                       release_at: datetime | None, *, actor: User) -> list[Enrolment]:
    """Set the session's quotas (organisation id -> seats) and release time (naive UTC; None:
    the series' default). People of an organisation waiting while its quota now has room get
    those seats, in order. Returns the people promoted."""
    if not access.can_manage_series(actor, session.series):
        raise NotAllowed(_("Sie dürfen die Kontingente dieses Termins nicht ändern."))
    seats = _check_seats(session.series, seats)
    # Enrolments change the counters: read them under the session's lock, then decide.
    session = enrolment.lock_session(session)
    if session.cancelled_at is not None:
        raise QuotaError(_("Dieser Termin wurde abgesagt; Kontingente können nicht mehr "
                           "geändert werden."))
    if session.quotas_released_at is not None:
        raise QuotaError(_("Die Kontingente dieses Termins wurden am %(when)s freigegeben; "
                           "seitdem sind alle Plätze frei.",
                           when=format_datetime(session.quotas_released_at, "short")))
    if release_at is None:
        release_at = default_release(session)
    if release_at >= session.starts_at:
        raise QuotaError(_("Die Freigabe muss vor dem Beginn des Termins liegen."), "release")
    if seats and release_at <= utcnow():
        raise QuotaError(_("Die Freigabe muss in der Zukunft liegen."), "release")

    current = {q.organisation_id: q for q in session.quotas}
    for organisation_id, quota in current.items():
        if seats.get(organisation_id, 0) < quota.seats_taken:
            raise QuotaError(_("%(org)s hat bereits %(n)s Plätze aus dem Kontingent belegt; "
                               "weniger ist nicht möglich.", org=quota.organisation.name,
                               n=quota.seats_taken), organisation_id)
    reserved = sum(seats.values())
    free_taken = session.seats_taken - session.reserved_taken
    if reserved > session.capacity - free_taken:
        if free_taken:
            raise QuotaError(_("Die Kontingente (zusammen %(sum)s) übersteigen die %(left)s "
                               "Plätze, die neben %(free)s belegten freien Plätzen bleiben "
                               "(Kapazität %(cap)s).", sum=reserved,
                               left=session.capacity - free_taken, free=free_taken,
                               cap=session.capacity))
        raise QuotaError(_("Die Kontingente (zusammen %(sum)s) übersteigen die Kapazität von "
                           "%(cap)s Plätzen.", sum=reserved, cap=session.capacity))

    before = {org_id: q.seats for org_id, q in current.items()}
    for organisation_id, quota in current.items():
        if organisation_id in seats:
            quota.seats = seats[organisation_id]
        elif quota.seats_taken == 0:
            session.quotas.remove(quota)
        else:  # pragma: no cover - refused above (fewer seats than taken)
            quota.seats = quota.seats_taken
    for organisation_id, value in seats.items():
        if organisation_id not in current:
            session.quotas.append(SessionQuota(organisation_id=organisation_id, seats=value,
                                               seats_taken=0))
    session.reserved_seats = reserved
    session.quota_release_at = release_at if reserved else None
    db.session.flush()
    promoted = enrolment.serve_quota_queues(session)
    audit.record(actor, "session.quotas", "session", session.id,
                 organisation_id=session.series.owner_organisation_id,
                 details={"before": {str(k): v for k, v in before.items()},
                          "after": {str(k): v for k, v in seats.items()},
                          "release_at": release_at.isoformat() if reserved else None,
                          "promoted": [e.id for e in promoted]})
    return promoted


def usage(session: TrainingSession) -> list[QuotaUse]:
    """Each quota with its seats, the seats taken from it and the organisation's people
    waiting; two statements whatever the number of organisations."""
    waiting = dict(db.session.execute(
        select(Enrolment.organisation_id, func.count(Enrolment.id))
        .where(Enrolment.session_id == session.id,
               Enrolment.state == EnrolmentState.WAITLISTED)
        .group_by(Enrolment.organisation_id)
    ).all())
    rows = db.session.execute(
        select(SessionQuota, Organisation)
        .join(Organisation, Organisation.id == SessionQuota.organisation_id)
        .where(SessionQuota.session_id == session.id)
        .order_by(Organisation.name)
    ).all()
    return [QuotaUse(org, q.seats, q.seats_taken, waiting.get(org.id, 0)) for q, org in rows]


# --- The series' defaults -----------------------------------------------------------------


def set_series_quotas(series: TrainingSeries, seats: dict[int, int], release_days: int, *,
                      actor: User) -> None:
    """The quotas and release (days before the session) that new sessions of the series get;
    sessions that exist keep theirs."""
    if not access.can_manage_series(actor, series):
        raise NotAllowed(_("Sie dürfen die Kontingente dieser Reihe nicht ändern."))
    seats = _check_seats(series, seats)
    if isinstance(release_days, bool) or not isinstance(release_days, int) \
            or not 1 <= release_days <= MAX_RELEASE_DAYS:
        raise QuotaError(_("Die Freigabe liegt 1 bis %(n)s Tage vor dem Termin.",
                           n=MAX_RELEASE_DAYS), "release")
    before = {q.organisation_id: q.seats for q in series.default_quotas}
    series.default_quotas = [SeriesQuota(organisation_id=k, seats=v) for k, v in seats.items()]
    series.quota_release_days = release_days
    db.session.flush()
    audit.record(actor, "series.quotas", "series", series.id,
                 organisation_id=series.owner_organisation_id,
                 details={"before": {str(k): v for k, v in before.items()},
                          "after": {str(k): v for k, v in seats.items()},
                          "release_days": release_days})


def apply_series_defaults(session: TrainingSession) -> None:
    """A new session takes the series' default quotas, as far as they fit its capacity and
    its release lies ahead (a smaller room gets none: HR sets them by hand)."""
    defaults = [q for q in session.series.default_quotas if q.seats > 0]
    if not defaults:
        return
    reserved = sum(q.seats for q in defaults)
    release_at = default_release(session)
    if reserved > session.capacity or release_at <= utcnow():
        return
    session.quotas = [SessionQuota(organisation_id=q.organisation_id, seats=q.seats,
                                   seats_taken=0) for q in defaults]
    session.reserved_seats = reserved
    session.reserved_taken = 0
    session.quota_release_at = release_at
