"""Enrolment rules: enrol, wait in line, cancel, promote, change capacity, cancel a session.

Every rule about seats and the waiting list is decided here, once. Capacity holds under any
concurrency because the seat counter `TrainingSession.seats_taken` is only changed by
conditional UPDATEs on the session row (`... WHERE seats_taken < capacity`, rowcount checked),
the database CHECKs the counter, and the partial unique index `uq_enrolment_live` refuses a
second live enrolment of the same person. Every operation first locks the session row
(`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite writing transactions start with
`BEGIN IMMEDIATE`, see tracker/database.py, and FOR UPDATE is not rendered), so enrolments, cancellations and capacity changes
of one session are applied one after the other and the waiting list never skips a free seat.

Seat quotas: until its release time a session may reserve seats for partner organisations.
A person then takes a seat of her organisation's quota, or else a free seat (capacity minus
the reserved seats); when both are gone she waits. Each quota's counter and the session's
`reserved_taken` change by conditional UPDATEs too, and CHECKs hold them within the quota
and the whole within the capacity. A quota seat given back goes to the next person of its
organisation in line. At the release the untaken quota seats become free seats and the
waiting list is served in order of enrolment across organisations (release_quotas).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import and_, func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, selectinload

from tracker.database import write_transactions
from tracker.extensions import db
from tracker.i18n import format_datetime
from tracker.models import (
    CancelReason,
    Enrolment,
    EnrolmentState,
    SessionQuota,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import Conflict, NotAllowed, ServiceError, access, audit, notify
from tracker.services.collation import german

LIVE_STATES = (EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED)
# Beyond any seminar room; keeps the number far inside a 32-bit INTEGER column.
MAX_CAPACITY = 10_000


def _when(value: datetime) -> str:
    """A naive UTC time in the reader's language and time zone, as every page prints it."""
    return format_datetime(value)


# --- What is open, and why not --------------------------------------------------------------


def enrol_closed(session: TrainingSession, *, by_staff: bool = False,
                 now: datetime | None = None) -> str | None:
    """Why nobody can enrol in `session` now, as a code ("cancelled", "archived", "started",
    "deadline"), or None when enrolment is open.

    HR staff enrolling someone on their behalf may do so after the deadline, until the start.
    """
    now = now or utcnow()
    if session.cancelled_at is not None:
        return "cancelled"
    if session.series.archived:
        return "archived"
    if session.starts_at <= now:
        return "started"
    if not by_staff and session.enrol_until <= now:
        return "deadline"
    return None


def cancel_closed(session: TrainingSession, *, by_staff: bool = False,
                  now: datetime | None = None) -> str | None:
    """Why a live enrolment of `session` cannot be cancelled now ("cancelled", "started",
    "deadline"), or None. After the deadline only HR staff remove people."""
    now = now or utcnow()
    if session.cancelled_at is not None:
        return "cancelled"
    if session.starts_at <= now:
        return "started"
    if not by_staff and session.cancel_until <= now:
        return "deadline"
    return None


def _enrol_refusal(code: str, session: TrainingSession) -> str:
    return {
        "cancelled": lambda: _("Dieser Termin wurde abgesagt; eine Anmeldung ist nicht möglich."),
        "archived": lambda: _("Diese Reihe ist archiviert; eine Anmeldung ist nicht mehr möglich."),
        "started": lambda: _("Dieser Termin hat bereits begonnen oder ist vorbei; eine Anmeldung "
                             "ist nicht mehr möglich."),
        "deadline": lambda: _("Die Anmeldefrist für diesen Termin ist am %(when)s abgelaufen; "
                              "eine Anmeldung ist nicht mehr möglich.",
                              when=_when(session.enrol_until)),
    }[code]()


def _cancel_refusal(code: str, session: TrainingSession) -> str:
    return {
        "cancelled": lambda: _("Dieser Termin wurde abgesagt; alle Anmeldungen sind bereits "
                               "storniert."),
        "started": lambda: _("Dieser Termin hat bereits begonnen; Änderungen erfolgen über die "
                             "Anwesenheitsliste."),
        "deadline": lambda: _("Die Abmeldefrist ist am %(when)s abgelaufen. Wenn Sie nicht "
                              "teilnehmen können, wenden Sie sich bitte an die Personalstelle.",
                              when=_when(session.cancel_until)),
    }[code]()


# --- Locking and counters ------------------------------------------------------------------


def lock_session(session: TrainingSession) -> TrainingSession:
    """Lock the session row for this transaction and read its columns again.

    On PostgreSQL the row lock orders all seat changes of one session; on SQLite the
    transaction already holds the write lock (BEGIN IMMEDIATE), and FOR UPDATE is not rendered.
    Only the row's own columns are read again: refreshing the relationships too would reset
    its series, which then loaded again with its partner organisations.
    """
    db.session.flush()
    db.session.refresh(session, attribute_names=_SESSION_COLUMNS, with_for_update=True)
    return session


_SESSION_COLUMNS = tuple(attribute.key for attribute in inspect(TrainingSession).column_attrs)


# Seats held or reserved: the taken ones plus the reserved ones nobody has taken yet.
_COMMITTED = (TrainingSession.seats_taken + TrainingSession.reserved_seats
              - TrainingSession.reserved_taken)


def _take_seat(session: TrainingSession, organisation_id: int) -> tuple[bool, int | None]:
    """Take a seat: of the organisation's quota while quotas hold, else a free one.

    Returns whether a seat was taken and the organisation whose quota gave it (None: a free
    seat). The WHERE clauses decide, not counts read before."""
    if session.has_quotas and _take_quota_seat(session.id, organisation_id):
        return True, organisation_id
    result = db.session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session.id, TrainingSession.capacity > _COMMITTED)
        .values(seats_taken=TrainingSession.seats_taken + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1, None


def _take_quota_seat(session_id: int, organisation_id: int) -> bool:
    result = db.session.execute(
        update(SessionQuota)
        .where(SessionQuota.session_id == session_id,
               SessionQuota.organisation_id == organisation_id,
               SessionQuota.seats_taken < SessionQuota.seats)
        .values(seats_taken=SessionQuota.seats_taken + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    result = db.session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session_id,
               TrainingSession.quotas_released_at.is_(None),
               TrainingSession.reserved_taken < TrainingSession.reserved_seats,
               TrainingSession.seats_taken < TrainingSession.capacity)
        .values(seats_taken=TrainingSession.seats_taken + 1,
                reserved_taken=TrainingSession.reserved_taken + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # pragma: no cover - the quotas add up to the reserved seats
        raise Conflict(_("Die Platzvergabe hat sich geändert. Bitte versuchen Sie es erneut."))
    return True


def _give_back_seat(session: TrainingSession, quota_organisation_id: int | None,
                    now: datetime) -> Enrolment | None:
    """A seat is given back: it passes to the next in line who may have it and stays taken,
    or it is freed. While quotas hold, a quota seat goes to the next person of its
    organisation, else back to the quota; a free seat to the first in line."""
    if quota_organisation_id is not None and session.has_quotas:
        moved = _promote(session.id, 1, now, quota_organisation_id=quota_organisation_id)
        if moved:
            return moved[0]
        db.session.execute(
            update(SessionQuota)
            .where(SessionQuota.session_id == session.id,
                   SessionQuota.organisation_id == quota_organisation_id,
                   SessionQuota.seats_taken > 0)
            .values(seats_taken=SessionQuota.seats_taken - 1)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(TrainingSession)
            .where(TrainingSession.id == session.id, TrainingSession.reserved_taken > 0,
                   TrainingSession.seats_taken > 0)
            .values(seats_taken=TrainingSession.seats_taken - 1,
                    reserved_taken=TrainingSession.reserved_taken - 1)
            .execution_options(synchronize_session=False)
        )
        return None
    moved = _promote(session.id, 1, now)
    if moved:
        return moved[0]
    db.session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session.id, TrainingSession.seats_taken > 0)
        .values(seats_taken=TrainingSession.seats_taken - 1)
        .execution_options(synchronize_session=False)
    )
    return None


def _next_waitlist_ticket(session_id: int) -> int:
    """Draw the next waiting-list number atomically: UPDATE ... RETURNING where the database
    has it (PostgreSQL, SQLite >= 3.35), else the UPDATE and a SELECT in the same
    transaction, which holds the row lock."""
    draw = (
        update(TrainingSession)
        .where(TrainingSession.id == session_id)
        .values(waitlist_seq=TrainingSession.waitlist_seq + 1)
        .execution_options(synchronize_session=False)
    )
    if db.session.get_bind().dialect.update_returning:
        return db.session.execute(draw.returning(TrainingSession.waitlist_seq)).scalar_one()
    db.session.execute(draw)
    return db.session.execute(
        select(TrainingSession.waitlist_seq).where(TrainingSession.id == session_id)
    ).scalar_one()


def _refresh_counters(session: TrainingSession) -> None:
    db.session.expire(session, ["seats_taken", "waitlist_seq", "capacity", "reserved_seats",
                                "reserved_taken", "quotas_released_at"])
    for quota in session.__dict__.get("quotas", ()):
        db.session.expire(quota, ["seats_taken"])


def _release_if_due(session: TrainingSession) -> None:
    """The release time has passed and the worker has not released yet: release first, so
    that nobody waits for a seat that is free by now."""
    if session.quotas_due and session.cancelled_at is None:
        release_quotas(session)


# --- Enrol ---------------------------------------------------------------------------------


def enrol(user: User, session: TrainingSession, *, actor: User | None = None) -> Enrolment:
    """Enrol `user` in `session`: a seat if one is free, else a place on the waiting list.

    `actor` is HR staff (or a coordinator or admin) enrolling someone on their behalf; the
    person enrolled is always `user`, and their organisation is taken from their account.
    Refuses a cancelled, past, archived or closed session, an organisation the series is not
    open to, and a second live enrolment (the database refuses it; we say so kindly).
    """
    on_behalf = actor is not None and actor.id != user.id
    if on_behalf and not access.can_run_session(actor, session):
        raise NotAllowed(_("Sie dürfen für diesen Termin keine anderen Personen anmelden."))
    if not user.active:
        raise ServiceError(_("Dieses Konto ist deaktiviert; die Person kann nicht angemeldet "
                             "werden."))
    if not access.can_enrol(user, session.series):
        if on_behalf:
            raise ServiceError(_(
                "%(name)s gehört zu keiner Organisation, für die diese Reihe freigegeben ist.",
                name=user.full_name,
            ))
        raise NotAllowed(_("Ihre Organisation ist für diese Reihe nicht freigegeben."))

    session = lock_session(session)
    _release_if_due(session)
    closed = enrol_closed(session, by_staff=on_behalf)
    if closed:
        raise ServiceError(_enrol_refusal(closed, session))

    try:
        with db.session.begin_nested():
            enrolment = Enrolment(
                user_id=user.id,
                session_id=session.id,
                organisation_id=user.organisation_id,
                created_by_id=actor.id if on_behalf else None,
            )
            taken, enrolment.quota_organisation_id = _take_seat(session, user.organisation_id)
            if taken:
                enrolment.state = EnrolmentState.ENROLLED
            else:
                enrolment.state = EnrolmentState.WAITLISTED
                enrolment.waitlist_seq = _next_waitlist_ticket(session.id)
            db.session.add(enrolment)
            db.session.flush()
    except IntegrityError as exc:
        # uq_enrolment_live: this person already holds a live enrolment (double submit).
        # The savepoint is rolled back, with the seat or ticket taken above.
        if on_behalf:
            raise Conflict(_(
                "%(name)s ist für diesen Termin bereits angemeldet.", name=user.full_name
            )) from exc
        raise Conflict(_("Sie sind für diesen Termin bereits angemeldet.")) from exc
    finally:
        _refresh_counters(session)
    notify.enrolled(enrolment, position=waitlist_position(enrolment))
    return enrolment


# --- Cancel and promote --------------------------------------------------------------------


def _promote(session_id: int, count: int, now: datetime, *,
             quota_organisation_id: int | None = None) -> list[Enrolment]:
    """Move the first `count` people of the waiting list onto seats that are already counted;
    with `quota_organisation_id`, the first of that organisation onto seats of its quota."""
    if count <= 0:
        return []
    conditions = [Enrolment.session_id == session_id,
                  Enrolment.state == EnrolmentState.WAITLISTED]
    if quota_organisation_id is not None:
        conditions.append(Enrolment.organisation_id == quota_organisation_id)
    ids = list(db.session.scalars(
        select(Enrolment.id).where(*conditions).order_by(Enrolment.waitlist_seq).limit(count)
    ))
    if not ids:
        return []
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.id.in_(ids), Enrolment.state == EnrolmentState.WAITLISTED)
        .values(state=EnrolmentState.ENROLLED, promoted_at=now, promotion_seen_at=None,
                updated_at=now, quota_organisation_id=quota_organisation_id)
        .execution_options(synchronize_session=False)
    )
    promoted = list(db.session.scalars(
        select(Enrolment).where(Enrolment.id.in_(ids))
        .order_by(Enrolment.waitlist_seq)
        .execution_options(populate_existing=True)
    ))
    return promoted


def cancel(enrolment: Enrolment, *, actor: User) -> Enrolment | None:
    """Cancel a live enrolment; a freed seat goes to the first on the waiting list.

    The person herself cancels until the deadline; HR staff of the session (or a coordinator,
    an admin) remove people until the session starts. Returns the promoted enrolment, if any.
    """
    session = enrolment.session
    by_staff = actor.id != enrolment.user_id
    if by_staff and not access.can_run_session(actor, session):
        raise NotAllowed(_("Sie dürfen diese Anmeldung nicht stornieren."))

    session = lock_session(session)
    _release_if_due(session)
    db.session.refresh(enrolment)
    if enrolment.state == EnrolmentState.WALK_IN:
        raise Conflict(_("Diese Person wurde ohne Anmeldung erfasst; Änderungen erfolgen über "
                         "die Anwesenheitsliste."))
    if enrolment.state not in LIVE_STATES:
        raise Conflict(_("Diese Anmeldung ist bereits storniert."))
    closed = cancel_closed(session, by_staff=by_staff)
    if closed:
        raise ServiceError(_cancel_refusal(closed, session))

    now = utcnow()
    was_enrolled = enrolment.state == EnrolmentState.ENROLLED
    result = db.session.execute(
        update(Enrolment)
        .where(Enrolment.id == enrolment.id, Enrolment.state.in_(LIVE_STATES))
        .values(state=EnrolmentState.CANCELLED, cancelled_at=now, updated_at=now,
                cancel_reason=CancelReason.STAFF if by_staff else CancelReason.SELF)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # pragma: no cover - the session lock makes this unreachable
        raise Conflict(_("Diese Anmeldung ist bereits storniert."))

    promoted = None
    if was_enrolled:
        promoted = _give_back_seat(session, enrolment.quota_organisation_id, now)
    db.session.flush()
    db.session.refresh(enrolment)
    _refresh_counters(session)
    notify.cancelled(enrolment, by_staff=by_staff, held_seat=was_enrolled)
    if promoted is not None:
        notify.promoted(promoted)
    return promoted


# --- Capacity and cancelling a whole session -----------------------------------------------


def change_capacity(session: TrainingSession, new_capacity: int, *, actor: User) -> list[Enrolment]:
    """Raise or lower the capacity; raising promotes people from the waiting list in order.

    Lowering below the number of people who hold a seat is refused: nobody loses a seat.
    """
    if not access.can_run_session(actor, session):
        raise NotAllowed(_("Sie dürfen die Kapazität dieses Termins nicht ändern."))
    if isinstance(new_capacity, bool) or not isinstance(new_capacity, int):
        raise ServiceError(_("Bitte geben Sie die Kapazität als ganze Zahl an."))
    if new_capacity < 1:
        raise ServiceError(_("Die Kapazität muss mindestens 1 Platz betragen."))
    if new_capacity > MAX_CAPACITY:
        raise ServiceError(_("Die Kapazität darf höchstens %(n)s Plätze betragen.",
                             n=MAX_CAPACITY))

    session = lock_session(session)
    _release_if_due(session)
    if session.cancelled_at is not None:
        raise ServiceError(_("Dieser Termin wurde abgesagt; die Kapazität kann nicht geändert "
                             "werden."))
    if session.starts_at <= utcnow():
        raise ServiceError(_(
            "Dieser Termin hat bereits begonnen; die Kapazität kann nicht mehr geändert werden."
        ))
    committed = session.seats_taken + session.reserved_seats - session.reserved_taken
    if new_capacity < committed and session.reserved_seats:
        raise ServiceError(_(
            "Die Kapazität kann nicht unter %(n)s Plätze gesenkt werden: %(reserved)s sind für "
            "Organisationen reserviert und %(free)s freie Plätze belegt. Senken Sie zuerst die "
            "Kontingente.", n=committed, reserved=session.reserved_seats,
            free=session.seats_taken - session.reserved_taken,
        ))
    if new_capacity < committed:
        raise ServiceError(_(
            "Die Kapazität kann nicht unter die Zahl der Angemeldeten (%(n)s) gesenkt werden. "
            "Entfernen Sie zuerst Anmeldungen.", n=session.seats_taken,
        ))

    result = db.session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session.id, new_capacity >= _COMMITTED)
        .values(capacity=new_capacity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # pragma: no cover - the session lock makes this unreachable
        raise Conflict(_("Die Zahl der Angemeldeten hat sich geändert. Bitte versuchen Sie es "
                         "erneut."))

    # The new seats are free seats: they go to the first in line, whatever the organisation.
    promoted = _fill_free_seats(session, new_capacity - committed, utcnow())
    _refresh_counters(session)
    for person in promoted:
        notify.promoted(person)
    return promoted


def _fill_free_seats(session: TrainingSession, count: int, now: datetime) -> list[Enrolment]:
    promoted = _promote(session.id, count, now)
    if promoted:
        db.session.execute(
            update(TrainingSession)
            .where(TrainingSession.id == session.id,
                   _COMMITTED + len(promoted) <= TrainingSession.capacity)
            .values(seats_taken=TrainingSession.seats_taken + len(promoted))
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    return promoted


def serve_quota_queues(session: TrainingSession) -> list[Enrolment]:
    """After the quotas changed: people waiting get the seats that now have room for them,
    in order, first from their organisation's quota, then the free seats."""
    now = utcnow()
    promoted: list[Enrolment] = []
    for quota in session.quotas if session.has_quotas else ():
        moved = _promote(session.id, quota.seats - quota.seats_taken, now,
                         quota_organisation_id=quota.organisation_id)
        if not moved:
            continue
        n = len(moved)
        db.session.execute(
            update(SessionQuota)
            .where(SessionQuota.id == quota.id, SessionQuota.seats_taken + n <= SessionQuota.seats)
            .values(seats_taken=SessionQuota.seats_taken + n)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(TrainingSession)
            .where(TrainingSession.id == session.id,
                   TrainingSession.reserved_taken + n <= TrainingSession.reserved_seats)
            .values(seats_taken=TrainingSession.seats_taken + n,
                    reserved_taken=TrainingSession.reserved_taken + n)
            .execution_options(synchronize_session=False)
        )
        promoted += moved
    db.session.flush()
    _refresh_counters(session)
    promoted += _fill_free_seats(session, session.free_seats, now)
    _refresh_counters(session)
    for person in promoted:
        notify.promoted(person)
    return promoted


def release_quotas(session: TrainingSession, *, now: datetime | None = None) -> list[Enrolment]:
    """The release: seats no organisation has taken from its quota become free seats, and the
    waiting list is served in order of enrolment across organisations, in the caller's
    transaction. The quotas keep how many seats they gave. Returns the people promoted."""
    session = lock_session(session)
    if session.quotas_released_at is not None or session.cancelled_at is not None:
        return []
    now = now or utcnow()
    unused = session.reserved_seats - session.reserved_taken
    db.session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session.id, TrainingSession.quotas_released_at.is_(None))
        .values(reserved_seats=0, reserved_taken=0, quotas_released_at=now)
        .execution_options(synchronize_session=False)
    )
    promoted = _fill_free_seats(session, session.capacity - session.seats_taken, now)
    _refresh_counters(session)
    audit.record(None, "session.quotas_released", "session", session.id,
                 organisation_id=session.series.owner_organisation_id,
                 details={"unused": unused, "promoted": [e.id for e in promoted]})
    for person in promoted:
        notify.promoted(person)
    return promoted


def release_due_quotas() -> int:
    """Release the quotas of every session whose release time has come, each in its own
    transaction (committed here); run every minute by the worker. Returns how many."""
    ids = list(db.session.scalars(
        select(TrainingSession.id).where(
            TrainingSession.quota_release_at <= utcnow(),
            TrainingSession.quotas_released_at.is_(None),
            TrainingSession.cancelled_at.is_(None),
        ).order_by(TrainingSession.quota_release_at)
    ))
    db.session.rollback()
    for session_id in ids:
        with write_transactions():
            session = db.session.get(TrainingSession, session_id)
            release_quotas(session)
            db.session.commit()
    return len(ids)


def cancel_session(session: TrainingSession, *, actor: User) -> None:
    """The organiser cancels a session: its live enrolments are cancelled but kept, so the
    people affected see "abgesagt" in Meine Schulungen."""
    if not access.can_manage_series(actor, session.series):
        raise NotAllowed(_("Sie dürfen diesen Termin nicht absagen."))
    session = lock_session(session)
    if session.cancelled_at is not None:
        raise Conflict(_("Dieser Termin ist bereits abgesagt."))
    if session.starts_at <= utcnow():
        raise ServiceError(_("Ein Termin, der bereits begonnen hat, kann nicht abgesagt werden."))
    now = utcnow()
    # Everyone is told in this transaction, composed before their enrolments change.
    notify.session_cancelled(session, [
        (e, e.state == EnrolmentState.ENROLLED)
        for e in notify.live_enrolments_with_people(session.id)
    ])
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.session_id == session.id, Enrolment.state.in_(LIVE_STATES))
        .values(state=EnrolmentState.CANCELLED, cancelled_at=now, updated_at=now,
                cancel_reason=CancelReason.SESSION_CANCELLED)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session.id)
        .values(cancelled_at=now, seats_taken=0, reserved_taken=0)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    db.session.expire(session)
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Enrolment) and obj.session_id == session.id:
            db.session.expire(obj)


# --- Reading positions and counts ----------------------------------------------------------


def waitlist_position(enrolment: Enrolment) -> int | None:
    """1-based place on the waiting list (rank among the people still waiting), or None."""
    if enrolment.state != EnrolmentState.WAITLISTED or enrolment.waitlist_seq is None:
        return None
    return db.session.scalar(
        select(func.count()).select_from(Enrolment).where(
            Enrolment.session_id == enrolment.session_id,
            Enrolment.state == EnrolmentState.WAITLISTED,
            Enrolment.waitlist_seq <= enrolment.waitlist_seq,
        )
    )


def waitlist_positions(enrolments: Iterable[Enrolment]) -> dict[int, int]:
    """Places on the waiting list for many enrolments at once, in one query: {id: place}."""
    waiting = [e for e in enrolments if e.state == EnrolmentState.WAITLISTED]
    if not waiting:
        return {}
    ranked = (
        select(
            Enrolment.id.label("id"),
            func.row_number()
            .over(partition_by=Enrolment.session_id, order_by=Enrolment.waitlist_seq)
            .label("position"),
        )
        .where(
            Enrolment.session_id.in_({e.session_id for e in waiting}),
            Enrolment.state == EnrolmentState.WAITLISTED,
        )
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.id, ranked.c.position).where(ranked.c.id.in_([e.id for e in waiting]))
    )
    return {row.id: row.position for row in rows}


def waitlist_lengths(session_ids: Iterable[int]) -> dict[int, int]:
    """How many people wait for each session, in one query."""
    ids = set(session_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Enrolment.session_id, func.count())
        .where(Enrolment.session_id.in_(ids), Enrolment.state == EnrolmentState.WAITLISTED)
        .group_by(Enrolment.session_id)
    )
    return {session_id: count for session_id, count in rows}


def live_enrolments(user: User, session_ids: Iterable[int]) -> dict[int, Enrolment]:
    """The person's live enrolment (seat or waiting list) per session, in one query."""
    ids = set(session_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(Enrolment).where(
            Enrolment.user_id == user.id,
            Enrolment.session_id.in_(ids),
            Enrolment.state.in_(LIVE_STATES),
        )
    )
    return {e.session_id: e for e in rows}


def live_enrolment(user: User, session: TrainingSession) -> Enrolment | None:
    return live_enrolments(user, [session.id]).get(session.id)


@dataclass(frozen=True)
class Offer:
    """What one person sees of one session: her place, the free seats, what she may do."""

    session: TrainingSession
    enrolment: Enrolment | None
    position: int | None
    waitlist_length: int
    may_enrol: bool  # her organisation is one the series is open to
    enrol_closed: str | None  # why nobody can enrol now (a code, see enrol_closed)
    cancel_closed: str | None  # why she cannot cancel now (see cancel_closed)
    is_over: bool  # the session has ended
    # Seats left in her organisation's quota while quotas hold; None without such a quota.
    quota_left: int | None = None

    @property
    def seats_left(self) -> int:
        """The seats she could take now: free ones and those left in her quota."""
        return self.session.free_seats + (self.quota_left or 0)

    @property
    def is_enrolled(self) -> bool:
        return self.enrolment is not None and self.enrolment.state == EnrolmentState.ENROLLED

    @property
    def is_waitlisted(self) -> bool:
        return self.enrolment is not None and self.enrolment.state == EnrolmentState.WAITLISTED

    @property
    def is_full(self) -> bool:
        return self.seats_left == 0


def offers(user: User, sessions: Iterable[TrainingSession]) -> dict[int, Offer]:
    """Offers for many sessions in three or four queries, whatever their number.

    The sessions' series should be loaded eagerly by the caller; their `open_to` need not be
    (access.enrollable_series_ids).
    """
    sessions = list(sessions)
    ids = [s.id for s in sessions]
    mine = live_enrolments(user, ids)
    lengths = waitlist_lengths(ids)
    positions = waitlist_positions(mine.values())
    now = utcnow()
    series = list({s.series_id: s.series for s in sessions}.values())
    open_series = access.enrollable_series_ids(user, series)
    quotas = quotas_left(user.organisation_id, [s.id for s in sessions if s.has_quotas])
    result = {}
    for s in sessions:
        e = mine.get(s.id)
        result[s.id] = _offer(s, e, positions.get(e.id) if e is not None else None,
                              lengths.get(s.id, 0), s.series_id in open_series, now,
                              quotas.get(s.id))
    return result


def quotas_left(organisation_id: int | None, session_ids: list[int]) -> dict[int, int]:
    """Seats left in the organisation's quota per session (sessions whose quotas hold)."""
    if organisation_id is None or not session_ids:
        return {}
    return dict(db.session.execute(
        select(SessionQuota.session_id, SessionQuota.seats - SessionQuota.seats_taken)
        .where(SessionQuota.session_id.in_(session_ids),
               SessionQuota.organisation_id == organisation_id, SessionQuota.seats > 0)
    ).all())


def offer_after_change(user_id: int, session_id: int, position: int | None, *,
                       may_enrol: bool) -> Offer:
    """The offer for a session whose enrolment this request has just changed and committed,
    read in one statement: the session with its series, its waiting list's length and the
    person's live enrolment (None after a cancel). `position` is her place on the waiting
    list as the change left it; `may_enrol` whether the series is open to her."""
    waiting = (
        select(func.count()).select_from(Enrolment)
        .where(Enrolment.session_id == TrainingSession.id,
               Enrolment.state == EnrolmentState.WAITLISTED)
        .correlate(TrainingSession)
        .scalar_subquery()
    )
    session, length, enrolment = db.session.execute(
        select(TrainingSession, waiting, Enrolment)
        .join(TrainingSession.series)
        .outerjoin(Enrolment, and_(Enrolment.session_id == TrainingSession.id,
                                   Enrolment.user_id == user_id,
                                   Enrolment.state.in_(LIVE_STATES)))
        .where(TrainingSession.id == session_id)
        .options(contains_eager(TrainingSession.series))
    ).one()
    quota = None
    if session.has_quotas:
        organisation_id = db.session.scalar(select(User.organisation_id).where(User.id == user_id))
        quota = quotas_left(organisation_id, [session.id]).get(session.id)
    return _offer(session, enrolment, position, length, may_enrol, utcnow(), quota)


def _offer(s: TrainingSession, e: Enrolment | None, position: int | None, length: int,
           may_enrol: bool, now: datetime, quota_left: int | None = None) -> Offer:
    return Offer(
        session=s,
        enrolment=e,
        position=position,
        waitlist_length=length,
        may_enrol=may_enrol,
        enrol_closed=enrol_closed(s, now=now),
        cancel_closed=cancel_closed(s, now=now),
        is_over=s.ends_at <= now,
        quota_left=quota_left,
    )


# --- The HR view of a session --------------------------------------------------------------


@dataclass(frozen=True)
class Roster:
    session: TrainingSession
    enrolled: list[Enrolment]
    waiting: list[tuple[int, Enrolment]]  # (place, enrolment), in queue order


def roster(session: TrainingSession) -> Roster:
    """Who holds a seat and who waits, with people and organisations, in a fixed number of
    queries whatever the number of people."""
    options = (
        contains_eager(Enrolment.user),
        selectinload(Enrolment.organisation),
        selectinload(Enrolment.created_by),
    )
    enrolled = list(db.session.scalars(
        select(Enrolment)
        .join(Enrolment.user)
        .where(Enrolment.session_id == session.id, Enrolment.state == EnrolmentState.ENROLLED)
        .options(*options)
        .order_by(german(User.last_name), german(User.first_name), Enrolment.id)
    ))
    # The place is the rank among the people still waiting, computed by the database.
    position = func.row_number().over(order_by=Enrolment.waitlist_seq).label("position")
    waiting = [
        (row.position, row.Enrolment)
        for row in db.session.execute(
            select(Enrolment, position)
            .join(Enrolment.user)
            .where(Enrolment.session_id == session.id,
                   Enrolment.state == EnrolmentState.WAITLISTED)
            .options(*options)
            .order_by(Enrolment.waitlist_seq)
        )
    ]
    return Roster(session=session, enrolled=enrolled, waiting=waiting)


def candidates(session: TrainingSession, query: str, *, limit: int = 20) -> list[tuple[User, bool]]:
    """People HR may enrol: active, of an organisation the series is open to, matching the
    search by name or e-mail. Each with a flag: already holds a live enrolment."""
    needle = (query or "").strip().lower()
    if len(needle) < 2:
        return []
    needle = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{needle}%"
    open_ids = [org.id for org in session.series.open_to]
    if not open_ids:
        return []
    live = (
        select(Enrolment.id)
        .where(Enrolment.user_id == User.id, Enrolment.session_id == session.id,
               Enrolment.state.in_(LIVE_STATES))
        .exists()
    )
    full_name = func.lower(User.first_name + " " + User.last_name)
    rows = db.session.execute(
        select(User, live.label("enrolled"))
        .where(
            User.active.is_(True),
            User.anonymised_at.is_(None),
            User.organisation_id.in_(open_ids),
            db.or_(
                full_name.like(pattern, escape="\\"),
                func.lower(User.last_name + ", " + User.first_name).like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),
            ),
        )
        .order_by(german(User.last_name), german(User.first_name), User.id)
        .limit(limit)
    )
    return [(row.User, bool(row.enrolled)) for row in rows]


# --- Promotions the person has not seen yet ------------------------------------------------


def mark_promotions_seen(user_id: int, enrolment_ids: Iterable[int]) -> None:
    ids = list(enrolment_ids)
    if not ids:
        return
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.id.in_(ids), Enrolment.user_id == user_id,
               Enrolment.promotion_seen_at.is_(None))
        .values(promotion_seen_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.flush()

