"""Who may do what: every role and organisation check of the app lives here."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from tracker.caching import memoize_request
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
    organisation of the series for one enrolment."""
    organisation_id = user.organisation_id  # once: `user` is often the current_user proxy
    if "open_to" in series.__dict__:
        return any(org.id == organisation_id for org in series.open_to)
    return is_open_to(series.id, organisation_id)


@memoize_request
def is_open_to(series_id: int, organisation_id: int | None) -> bool:
    """One row of the link table. An enrolment asks twice, the view (may the person see the
    session?) and the service (may they enrol?): within one request it is asked once."""
    return db.session.execute(
        select(series_open_to.c.series_id).where(
            series_open_to.c.series_id == series_id,
            series_open_to.c.organisation_id == organisation_id,
        )
    ).first() is not None


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


@memoize_request
def _coordinates_any_series(user_id: int) -> bool:
    return db.session.execute(
        select(series_coordinator.c.series_id)
        .where(series_coordinator.c.user_id == user_id)
        .limit(1)
    ).first() is not None


def coordinates_any_series(user: User) -> bool:
    """One indexed query, remembered for the request (the navigation asks on every page)."""
    return _coordinates_any_series(user.id)


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


def can_certify(user: User, organisation_id: int | None) -> bool:
    """Certificates and training records of the people of an organisation (their
    organisation when they took part): its HR staff and lead, and admins."""
    if user.is_admin:
        return True
    return user.has_role(*HR_ROLES) and organisation_id == user.organisation_id


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


def get_session_or_404(session_id: int) -> TrainingSession:
    """The session with its series (every check on a session looks at it), in one statement."""
    session = db.session.scalar(
        select(TrainingSession)
        .where(TrainingSession.id == session_id)
        .options(joinedload(TrainingSession.series, innerjoin=True))
    )
    if session is None:
        abort(404)
    return session


def get_series_or_404(series_id: int) -> TrainingSeries:
    series = db.session.get(TrainingSeries, series_id)
    if series is None:
        abort(404)
    return series
