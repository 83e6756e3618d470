"""Who may do what: every role and organisation check of the app lives here."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import TypeVar

from flask import abort, g, has_request_context
from flask_login import current_user, login_required
from sqlalchemy import bindparam, select

from tracker.database import Prepared, columns_of, persistent_with
from tracker.extensions import db
from tracker.models import (
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    series_coordinator,
    series_open_to,
)

F = TypeVar("F", bound=Callable)

HR_ROLES = (Role.HR_STAFF, Role.HR_LEAD)
MANAGER_ROLES = (Role.HR_LEAD, Role.ADMIN)


def role_required(*roles: Role) -> Callable[[F], F]:
    """Login required, and one of `roles` (admins pass every role check)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not (current_user.is_admin or current_user.has_role(*roles)):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def is_coordinator(user: User, series_id: int) -> bool:
    return (
        db.session.execute(
            select(series_coordinator.c.user_id).where(
                series_coordinator.c.series_id == series_id,
                series_coordinator.c.user_id == user.id,
            )
        ).first()
        is not None
    )


def can_see_series(user: User, series: TrainingSeries) -> bool:
    """Employees see series open to their organisation; HR also sees their own series."""
    if user.is_admin or series.owner_organisation_id == user.organisation_id:
        return True
    if can_enrol(user, series):
        return True
    return is_coordinator(user, series.id)


def visible_series_filter(user: User):
    """SQL condition on TrainingSeries: the series `user` may see (as can_see_series)."""
    from sqlalchemy import or_, true

    if user.is_admin:
        return true()
    return or_(
        TrainingSeries.owner_organisation_id == user.organisation_id,
        TrainingSeries.id.in_(
            select(series_open_to.c.series_id).where(
                series_open_to.c.organisation_id == user.organisation_id
            )
        ),
        TrainingSeries.id.in_(
            select(series_coordinator.c.series_id).where(series_coordinator.c.user_id == user.id)
        ),
    )


def can_enrol(user: User, series: TrainingSeries) -> bool:
    """The series is open to the person's organisation. With `open_to` loaded it is checked
    there; else one row of the link table is asked for, instead of loading every partner
    organisation of the series (~16 on bench/'s large data set) for one enrolment."""
    organisation_id = user.organisation_id  # once: `user` is often the current_user proxy
    if "open_to" in series.__dict__:
        return any(org.id == organisation_id for org in series.open_to)
    # An enrolment asks twice, the view (may the person see the session?) and the service
    # (may they enrol?): within one request the row is asked for once.
    key = (series.id, organisation_id)
    answers = _request_answers()
    if key not in answers:
        answers[key] = _open_to_row().first(
            {"series_id": series.id, "organisation_id": organisation_id}) is not None
    return answers[key]


def _request_answers() -> dict:
    """can_enrol's answers in this request (a fresh dict outside one: a service called from
    a script or a test sees every change at once)."""
    if not has_request_context():
        return {}
    answers = g.get("tracker_open_to")
    if answers is None:
        answers = g.tracker_open_to = {}
    return answers


@cache
def _open_to_row() -> Prepared:
    return Prepared(
        select(series_open_to.c.series_id).where(
            series_open_to.c.series_id == bindparam("series_id"),
            series_open_to.c.organisation_id == bindparam("organisation_id"),
        )
    )


def enrollable_series_ids(user: User, series: list[TrainingSeries]) -> set[int]:
    """can_enrol for many series: those whose `open_to` is loaded are checked here, the rest
    in one query on the link table (a list need not load every partner organisation of
    every series it shows)."""
    found = {s.id for s in series if "open_to" in s.__dict__ and can_enrol(user, s)}
    unloaded = {s.id for s in series if "open_to" not in s.__dict__}
    if unloaded:
        found.update(db.session.scalars(
            select(series_open_to.c.series_id).where(
                series_open_to.c.organisation_id == user.organisation_id,
                series_open_to.c.series_id.in_(unloaded),
            )
        ))
    return found


def can_manage_series(user: User, series: TrainingSeries) -> bool:
    """Create, edit and cancel sessions: the owner's HR lead, or an admin."""
    if user.is_admin:
        return True
    return user.role == Role.HR_LEAD and series.owner_organisation_id == user.organisation_id


def can_run_session(user: User, session: TrainingSession) -> bool:
    """See the enrolment list and mark attendance: owner's HR, coordinators, admins."""
    series = session.series
    if user.is_admin:
        return True
    if user.has_role(*HR_ROLES) and series.owner_organisation_id == user.organisation_id:
        return True
    return is_coordinator(user, series.id)


def can_change_closed_marks(user: User, session: TrainingSession) -> bool:
    if user.is_admin:
        return True
    return (
        user.role == Role.HR_LEAD
        and session.series.owner_organisation_id == user.organisation_id
    )


def coordinates_any_series(user: User) -> bool:
    """One indexed query, remembered for the request (the navigation asks on every page)."""
    from flask import g

    cache = g.setdefault("_coordinates_any_series", {})
    if user.id not in cache:
        cache[user.id] = (
            db.session.execute(
                select(series_coordinator.c.series_id)
                .where(series_coordinator.c.user_id == user.id)
                .limit(1)
            ).first()
            is not None
        )
    return cache[user.id]


def can_use_attendance(user: User) -> bool:
    """The attendance area: HR staff and leads, admins, and coordinators of any series."""
    if user.is_admin or user.has_role(*HR_ROLES):
        return True
    return coordinates_any_series(user)


def runnable_series_filter(user: User):
    """SQL condition on TrainingSeries: the series whose sessions can_run_session allows."""
    from sqlalchemy import or_, true

    if user.is_admin:
        return true()
    coordinated = TrainingSeries.id.in_(
        select(series_coordinator.c.series_id).where(series_coordinator.c.user_id == user.id)
    )
    if user.has_role(*HR_ROLES):
        return or_(TrainingSeries.owner_organisation_id == user.organisation_id, coordinated)
    return coordinated


def can_manage_user(actor: User, target: User) -> bool:
    """Admins manage everyone; an HR lead manages the people of their own organisation."""
    if actor.is_admin:
        return True
    return (
        actor.role == Role.HR_LEAD
        and target.organisation_id == actor.organisation_id
        and target.role != Role.ADMIN
    )


def assignable_roles(actor: User) -> list[Role]:
    """Only an admin creates admins."""
    if actor.is_admin:
        return list(Role)
    if actor.role == Role.HR_LEAD:
        return [Role.EMPLOYEE, Role.HR_STAFF, Role.HR_LEAD]
    return []


def can_export_organisation(user: User, organisation_id: int | None) -> bool:
    """Names of an organisation's people: its own HR lead, or an admin (None = all)."""
    if user.is_admin:
        return True
    return user.role == Role.HR_LEAD and organisation_id == user.organisation_id


@cache
def _session_with_series() -> Prepared:
    # Every check on a session looks at its series: one statement, compiled once per process
    # and run on the driver; the objects go into the session as if the ORM had loaded them
    # (tracker.database.persistent: ~100 µs less on every attendance click, bench/).
    return Prepared(
        select(*columns_of(TrainingSession), *columns_of(TrainingSeries))
        .join(TrainingSeries, TrainingSeries.id == TrainingSession.series_id)
        .where(TrainingSession.id == bindparam("session_id"))
    )


def get_session_or_404(session_id: int) -> TrainingSession:
    row = _session_with_series().first({"session_id": session_id})
    if row is None:
        abort(404)
    return persistent_with(TrainingSession, "series", TrainingSeries, row)


def get_series_or_404(series_id: int) -> TrainingSeries:
    series = db.session.get(TrainingSeries, series_id)
    if series is None:
        abort(404)
    return series
