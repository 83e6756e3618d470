"""Factory functions: each test builds exactly the data it needs."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from tracker.extensions import db
from tracker.models import (
    Enrolment,
    EnrolmentState,
    Organisation,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import accounts

PASSWORD = "correct-horse-battery"  # noqa: S105
_seq = itertools.count(1)


def organisation(name: str | None = None, **kwargs) -> Organisation:
    n = next(_seq)
    org = Organisation(name=name or f"Behörde {n}", short_name=kwargs.pop("short_name", f"B{n}"), **kwargs)
    db.session.add(org)
    db.session.flush()
    return org


def user(
    org: Organisation | None = None,
    role: Role | str = Role.EMPLOYEE,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str = "Muster",
    password: str | None = PASSWORD,
    commit: bool = True,
) -> User:
    n = next(_seq)
    u = accounts.create_user(
        email=email or f"person{n}@example.org",
        first_name=first_name or f"Person{n}",
        last_name=last_name,
        organisation=org or organisation(),
        role=role,
        password=password,
    )
    if commit:
        db.session.commit()
    return u


def series(
    owner: Organisation | None = None,
    open_to: list[Organisation] | None = None,
    *,
    title: str | None = None,
    coordinators: list[User] | None = None,
    commit: bool = True,
) -> TrainingSeries:
    owner = owner or organisation()
    s = TrainingSeries(
        title=title or f"Reihe {next(_seq)}",
        description="Eine Testreihe",
        owner_organisation=owner,
        open_to=open_to if open_to is not None else [owner],
        coordinators=coordinators or [],
    )
    db.session.add(s)
    db.session.flush()
    if commit:
        db.session.commit()
    return s


def session(
    series_: TrainingSeries | None = None,
    *,
    starts_at: datetime | None = None,
    starts_in: timedelta = timedelta(days=14),
    hours: float = 2,
    capacity: int = 10,
    deadline_before: timedelta = timedelta(days=1),
    title: str | None = None,
    commit: bool = True,
) -> TrainingSession:
    series_ = series_ or series()
    start = starts_at or (utcnow().replace(microsecond=0) + starts_in)
    s = TrainingSession(
        series=series_,
        title=title or f"Termin {next(_seq)}",
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        enrolment_deadline=start - deadline_before,
        location="Rathaus, Raum 1",
        trainer="Dr. Test",
        capacity=capacity,
        seats_taken=0,
        waitlist_seq=0,
    )
    db.session.add(s)
    db.session.flush()
    if commit:
        db.session.commit()
    return s


def enrolment(
    session_: TrainingSession,
    user_: User,
    state: EnrolmentState = EnrolmentState.ENROLLED,
    *,
    commit: bool = True,
) -> Enrolment:
    """Direct insert for setting up a scene; the rules themselves live in the services."""
    e = Enrolment(user=user_, session=session_, organisation_id=user_.organisation_id, state=state)
    if state == EnrolmentState.ENROLLED:
        session_.seats_taken += 1
    elif state == EnrolmentState.WAITLISTED:
        session_.waitlist_seq += 1
        e.waitlist_seq = session_.waitlist_seq
    db.session.add(e)
    db.session.flush()
    if commit:
        db.session.commit()
    return e
