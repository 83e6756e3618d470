"""Attendance (Anwesenheit): the sheet of a session, marks, walk-ins and closing, each rule once.

Who is on the sheet: every enrolment of the session in state "enrolled" or "walk_in". People on
the waiting list held no seat and are not on it; one who shows up anyway is added as a walk-in,
which turns their waiting-list enrolment into a walk-in (same row, so they can never appear
twice, and the waiting list loses them). A cancelled enrolment is not on the sheet either.

Concurrency: every change of a mark first locks the enrolment row (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite the writing request's BEGIN IMMEDIATE serialises writers), then reads
the mark afresh and writes mark and AttendanceChange together; the UPDATE of a mark is
conditional on the version it read. Two clicks on the same row therefore run one after
the other: the last one wins, and the audit trail holds both, each with the status it really
replaced. "Alle offenen als anwesend" locks the sheet's enrolments in id order, so it
cannot deadlock with itself or with single clicks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import and_, case, exc, func, insert, or_, select, update
from sqlalchemy.orm import aliased, contains_eager

from tracker.extensions import db
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    AttendanceStatus,
    Enrolment,
    EnrolmentState,
    Organisation,
    TrainingSession,
    User,
    series_open_to,
    utcnow,
)
from tracker.services import Conflict, NotAllowed, ServiceError, access
from tracker.services.collation import german
from tracker.timeutil import local_day_bounds, to_local

# Enrolments that are on the sheet. Waitlisted and cancelled ones are not.
SHEET_STATES = (EnrolmentState.ENROLLED.value, EnrolmentState.WALK_IN.value)
STATUSES = tuple(s.value for s in AttendanceStatus)
SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10


def status_label(status: str | None) -> str:
    """The word for a status, as the buttons and badges say it; "offen" while unmarked."""
    return str(AttendanceStatus(status).label) if status else _("offen")


class SheetRow(NamedTuple):
    """One person on the sheet."""

    enrolment_id: int
    user_id: int
    first_name: str
    last_name: str
    email: str
    organisation: str  # at the time of enrolment
    organisation_short: str
    walk_in: bool
    from_waitlist: bool
    status: str | None
    version: int  # 0 while unmarked
    marked_at: datetime | None
    marked_by: str | None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def sort_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"

    @property
    def mark(self) -> AttendanceStatus | None:
        return AttendanceStatus(self.status) if self.status else None


@dataclass(frozen=True)
class Counts:
    """How many rows of a sheet carry each status; `open` is the rest."""

    total: int
    by_status: Mapping[str, int]

    def __getattr__(self, name: str) -> int:
        # counts.present, counts.excused, ...: one attribute per AttendanceStatus.
        if name == "by_status":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        try:
            return self.by_status[AttendanceStatus(name)]
        except (ValueError, KeyError):
            raise AttributeError(name) from None

    def of(self, status: AttendanceStatus) -> int:
        return self.by_status[status]

    @property
    def participations(self) -> int:
        return sum(self.by_status[s] for s in AttendanceStatus.participations())

    @property
    def open(self) -> int:
        return self.total - sum(self.by_status.values())


@dataclass(frozen=True)
class MarkResult:
    enrolment_id: int
    old_status: str | None
    new_status: str
    changed: bool
    # Someone else changed the row after the clicking person had loaded it.
    overrode_other: bool
    row: SheetRow  # the row after the click: the answer needs no second read


@dataclass(frozen=True)
class PersonHit:
    user_id: int
    first_name: str
    last_name: str
    email: str
    organisation: str
    waitlisted: bool

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class HistoryEntry:
    old_status: str | None
    new_status: str | None
    changed_at: datetime
    changed_by: str | None


# --- reading the sheet (each a single statement, whatever the number of participants) ---


def _rows_select(session_id: int):
    marker = aliased(User)
    return (
        select(
            Enrolment.id,
            Enrolment.state,
            Enrolment.waitlist_seq,
            User.id,
            User.first_name,
            User.last_name,
            User.email,
            Organisation.name,
            Organisation.short_name,
            AttendanceMark.status,
            AttendanceMark.version,
            AttendanceMark.marked_at,
            marker.first_name,
            marker.last_name,
        )
        .join(User, User.id == Enrolment.user_id)
        .join(Organisation, Organisation.id == Enrolment.organisation_id)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .outerjoin(marker, marker.id == AttendanceMark.marked_by_id)
        .where(Enrolment.session_id == session_id, Enrolment.state.in_(SHEET_STATES))
    )


def _to_row(r) -> SheetRow:
    marked_by = f"{r[12]} {r[13]}".strip() if r[12] is not None else None
    return SheetRow(
        enrolment_id=r[0],
        walk_in=r[1] == EnrolmentState.WALK_IN,
        from_waitlist=r[1] == EnrolmentState.WALK_IN and r[2] is not None,
        user_id=r[3],
        first_name=r[4],
        last_name=r[5],
        email=r[6],
        organisation=r[7],
        organisation_short=r[8] or r[7],
        status=r[9],
        version=r[10] or 0,
        marked_at=r[11],
        marked_by=marked_by,
    )


def sheet_rows(session_id: int) -> list[SheetRow]:
    """Everyone on the sheet: enrolled people by name, then walk-ins by name (as on paper)."""
    rows = db.session.execute(
        _rows_select(session_id).order_by(
            case((Enrolment.state == EnrolmentState.WALK_IN.value, 1), else_=0),
            german(User.last_name),
            german(User.first_name),
            Enrolment.id,
        )
    )
    return [_to_row(r) for r in rows]


def sheet_row(session_id: int, enrolment_id: int) -> SheetRow:
    """One row of the sheet, or a German 404 when the enrolment is not on this sheet."""
    r = db.session.execute(_rows_select(session_id).where(Enrolment.id == enrolment_id)).first()
    if r is None:
        raise _not_on_sheet()
    return _to_row(r)


def _count_where(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _status_counts():
    return [_count_where(AttendanceMark.status == status.value) for status in AttendanceStatus]


def _counts(total, *per_status) -> Counts:
    return Counts(
        total=int(total),
        by_status={s: int(n) for s, n in zip(AttendanceStatus, per_status, strict=True)},
    )


def sheet_counts(session_id: int) -> Counts:
    """Rows per status and in total, in one aggregate query."""
    row = db.session.execute(
        select(func.count(Enrolment.id), *_status_counts())
        .select_from(Enrolment)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.session_id == session_id, Enrolment.state.in_(SHEET_STATES))
    ).one()
    return _counts(*row)


def counts_by_session(session_ids: list[int]) -> dict[int, Counts]:
    """Counts of several sessions in one grouped query (for the list of sessions)."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        select(Enrolment.session_id, func.count(Enrolment.id), *_status_counts())
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.session_id.in_(session_ids), Enrolment.state.in_(SHEET_STATES))
        .group_by(Enrolment.session_id)
    )
    found = {sid: _counts(*rest) for sid, *rest in rows}
    empty = _counts(0, *(0 for _status in AttendanceStatus))
    return {sid: found.get(sid, empty) for sid in session_ids}


def _runnable_sessions(actor: User):
    """Sessions `actor` may mark, with their series, not cancelled."""
    return (
        select(TrainingSession)
        .join(TrainingSession.series)
        .options(contains_eager(TrainingSession.series))
        .where(access.runnable_series_filter(actor), TrainingSession.cancelled_at.is_(None))
    )


def _end_of_today() -> datetime:
    today = to_local(utcnow()).date()
    return local_day_bounds(today, today)[1]


def upcoming_sessions(actor: User, limit: int) -> list[TrainingSession]:
    """The next sessions after today that `actor` may mark, soonest first."""
    return list(db.session.scalars(
        _runnable_sessions(actor)
        .where(TrainingSession.starts_at > _end_of_today())
        .order_by(TrainingSession.starts_at, TrainingSession.id)
        .limit(limit)
    ))


def recent_sessions(actor: User, *, page: int, per_page: int):
    """Today's and past sessions `actor` may mark, newest first, one page of them."""
    return db.paginate(
        _runnable_sessions(actor)
        .where(TrainingSession.starts_at <= _end_of_today())
        .order_by(TrainingSession.starts_at.desc(), TrainingSession.id.desc()),
        page=page,
        per_page=per_page,
        error_out=False,
    )


def closed_by(session: TrainingSession) -> User | None:
    """Who closed the session's attendance, if anyone did."""
    return db.session.get(User, session.closed_by_id) if session.closed_by_id else None


def history(session_id: int, enrolment_id: int) -> list[HistoryEntry]:
    """The audit trail of one row, oldest first (the row itself is checked by the caller)."""
    changer = aliased(User)
    rows = db.session.execute(
        select(
            AttendanceChange.old_status,
            AttendanceChange.new_status,
            AttendanceChange.changed_at,
            changer.first_name,
            changer.last_name,
        )
        .join(Enrolment, Enrolment.id == AttendanceChange.enrolment_id)
        .outerjoin(changer, changer.id == AttendanceChange.changed_by_id)
        .where(AttendanceChange.enrolment_id == enrolment_id, Enrolment.session_id == session_id)
        .order_by(AttendanceChange.changed_at, AttendanceChange.id)
    )
    return [
        HistoryEntry(old, new, at, f"{first} {last}".strip() if first is not None else None)
        for old, new, at, first, last in rows
    ]


# --- the rules ---


def _not_on_sheet() -> ServiceError:
    return ServiceError(
        _("Diese Person steht nicht auf der Anwesenheitsliste dieses Termins."), 404
    )


def parse_status(value: str | None) -> str:
    if value not in STATUSES:
        raise ServiceError(
            _("Unbekannter Status. Erlaubt sind „anwesend“, „entschuldigt“ und „unentschuldigt“.")
        )
    return value  # type: ignore[return-value]


def marking_refusal(
    actor: User, session: TrainingSession, now: datetime | None = None
) -> ServiceError | None:
    """Why `actor` may not mark `session` now (as the error to raise), or None when they may.

    The sheet page uses it to decide whether to show buttons; every change calls it through
    ensure_may_mark, which re-reads closed_at so a close in another request is respected."""
    now = now or utcnow()
    if not access.can_run_session(actor, session):
        return NotAllowed(_("Sie dürfen die Anwesenheit dieses Termins nicht erfassen."))
    if session.is_cancelled:
        return Conflict(_("Dieser Termin wurde abgesagt; es gibt keine Anwesenheit zu erfassen."))
    if now < session.starts_at:
        start = to_local(session.starts_at).strftime("%d.%m.%Y, %H:%M")
        return Conflict(_(
            "Die Anwesenheit kann erst ab Beginn des Termins erfasst werden (%(start)s Uhr).",
            start=start,
        ))
    if session.closed_at is not None and not access.can_change_closed_marks(actor, session):
        return NotAllowed(
            _("Dieser Termin ist abgeschlossen. Änderungen kann nur noch die Personalleitung "
              "oder die Administration vornehmen.")
        )
    return None


def ensure_may_mark(actor: User, session: TrainingSession, now: datetime | None = None) -> None:
    # Read closed_at afresh and, on PostgreSQL, hold a share lock on the session row until the
    # commit: closing (an UPDATE of that row) then waits for marks in flight, and a mark that
    # starts after the close sees it.
    db.session.refresh(session, ["closed_at"], with_for_update={"read": True})
    refusal = marking_refusal(actor, session, now)
    if refusal is not None:
        raise refusal


def _lock_sheet_enrolment(session_id: int, enrolment_id: int) -> None:
    row = db.session.execute(
        select(Enrolment.session_id, Enrolment.state)
        .where(Enrolment.id == enrolment_id)
        .with_for_update()
    ).first()
    if row is None or row.session_id != session_id or row.state not in SHEET_STATES:
        raise _not_on_sheet()


def _record(enrolment_id: int, old: str | None, new: str | None, actor: User, now: datetime):
    """The audit row of one change of a mark."""
    db.session.execute(insert(AttendanceChange).values(
        enrolment_id=enrolment_id, old_status=old, new_status=new,
        changed_by_id=actor.id, changed_at=now,
    ))


def mark(
    session: TrainingSession,
    enrolment_id: int,
    status: str | None,
    actor: User,
    *,
    seen_version: int | None = None,
    now: datetime | None = None,
) -> MarkResult:
    """Set one person's status. Re-clicking the current status changes nothing (no audit row);
    `seen_version` is the version the clicking person saw, to tell them they overrode someone.
    The result carries the row as it now stands, so the answer needs no second read."""
    now = now or utcnow()
    _lock_sheet_enrolment(session.id, enrolment_id)
    status = parse_status(status)
    ensure_may_mark(actor, session, now)
    # Read after the lock (a new statement sees what a click before us committed).
    row = sheet_row(session.id, enrolment_id)
    old, version_before = row.status, row.version
    overrode = seen_version is not None and seen_version != version_before
    if old == status:
        return MarkResult(enrolment_id, old, status, changed=False, overrode_other=overrode,
                          row=row)
    values = dict(status=status, marked_by_id=actor.id, marked_at=now,
                  version=version_before + 1)
    if old is None:
        db.session.execute(insert(AttendanceMark).values(
            enrolment_id=enrolment_id, session_id=session.id, **values
        ))
    else:
        # Conditional on the version read: a write that slipped past the lock changes nothing.
        result = db.session.execute(
            update(AttendanceMark)
            .where(AttendanceMark.enrolment_id == enrolment_id,
                   AttendanceMark.version == version_before)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(_("Der Eintrag wurde gerade geändert. Bitte versuchen Sie es erneut."))
    _record(enrolment_id, old, status, actor, now)
    row = row._replace(status=status, version=version_before + 1, marked_at=now,
                       marked_by=f"{actor.first_name} {actor.last_name}".strip())
    return MarkResult(enrolment_id, old, status, changed=True, overrode_other=overrode, row=row)


def mark_all_present(
    session: TrainingSession, actor: User, *, now: datetime | None = None
) -> int:
    """"Alle offenen als anwesend": every unmarked row becomes present; returns how many."""
    now = now or utcnow()
    ensure_may_mark(actor, session, now)
    # Lock the sheet's enrolments in a fixed order (see the module docstring), then read
    # which are still open: a single click committed meanwhile is not overwritten.
    db.session.execute(
        select(Enrolment.id)
        .where(Enrolment.session_id == session.id, Enrolment.state.in_(SHEET_STATES))
        .order_by(Enrolment.id)
        .with_for_update()
    ).all()
    open_ids = db.session.scalars(
        select(Enrolment.id)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(
            Enrolment.session_id == session.id,
            Enrolment.state.in_(SHEET_STATES),
            AttendanceMark.id.is_(None),
        )
        .order_by(Enrolment.id)
    ).all()
    if not open_ids:
        return 0
    present = AttendanceStatus.PRESENT.value
    db.session.execute(
        insert(AttendanceMark),
        [
            dict(enrolment_id=eid, session_id=session.id, status=present,
                 marked_by_id=actor.id, marked_at=now, version=1)
            for eid in open_ids
        ],
    )
    db.session.execute(
        insert(AttendanceChange),
        [
            dict(enrolment_id=eid, old_status=None, new_status=present,
                 changed_by_id=actor.id, changed_at=now)
            for eid in open_ids
        ],
    )
    db.session.flush()
    return len(open_ids)


def _open_organisation_ids(session: TrainingSession) -> set[int]:
    return set(
        db.session.scalars(
            select(series_open_to.c.organisation_id).where(
                series_open_to.c.series_id == session.series_id
            )
        )
    )


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_people(session: TrainingSession, q: str | None) -> tuple[list[PersonHit], bool]:
    """People a walk-in can be: active staff of the organisations the series is open to, found
    by name or e-mail, not already on the sheet. Returns (hits, more_than_shown)."""
    q = " ".join((q or "").split())[:100]
    if len(q) < SEARCH_MIN_CHARS:
        return [], False
    pattern = _like_pattern(q)
    on_sheet = select(Enrolment.user_id).where(
        Enrolment.session_id == session.id, Enrolment.state.in_(SHEET_STATES)
    )
    waiting = aliased(Enrolment)
    rows = db.session.execute(
        select(
            User.id, User.first_name, User.last_name, User.email, Organisation.name, waiting.id
        )
        .join(Organisation, Organisation.id == User.organisation_id)
        .join(
            series_open_to,
            and_(
                series_open_to.c.organisation_id == User.organisation_id,
                series_open_to.c.series_id == session.series_id,
            ),
        )
        .outerjoin(
            waiting,
            and_(
                waiting.user_id == User.id,
                waiting.session_id == session.id,
                waiting.state == EnrolmentState.WAITLISTED.value,
            ),
        )
        .where(
            User.active.is_(True),
            User.anonymised_at.is_(None),
            User.id.not_in(on_sheet),
            or_(
                (User.first_name + " " + User.last_name).ilike(pattern, escape="\\"),
                (User.last_name + ", " + User.first_name).ilike(pattern, escape="\\"),
                User.email.ilike(pattern, escape="\\"),
            ),
        )
        .order_by(german(User.last_name), german(User.first_name), User.id)
        .limit(SEARCH_LIMIT + 1)
    ).all()
    hits = [PersonHit(r[0], r[1], r[2], r[3], r[4], r[5] is not None) for r in rows]
    return hits[:SEARCH_LIMIT], len(hits) > SEARCH_LIMIT


def add_walk_in(
    session: TrainingSession, user_id: int | None, actor: User, *, now: datetime | None = None
) -> Enrolment:
    """Put someone who came without a seat on the sheet, marked present and flagged walk-in.

    A person on the waiting list keeps their enrolment row, which becomes the walk-in (and so
    leaves the waiting list); anyone else gets a new walk-in enrolment with their current
    organisation. Walk-ins hold no seat."""
    now = now or utcnow()
    ensure_may_mark(actor, session, now)
    if not isinstance(user_id, int):
        raise ServiceError(_("Bitte wählen Sie eine Person aus der Suche aus."))
    person = db.session.get(User, user_id)
    if (
        person is None
        or not person.active
        or person.anonymised_at is not None
        or person.organisation_id not in _open_organisation_ids(session)
    ):
        raise ServiceError(
            _("Diese Person wurde nicht gefunden oder gehört zu keiner Organisation, für die "
              "diese Reihe offen ist."),
            404,
        )
    existing = db.session.scalars(
        select(Enrolment)
        .where(
            Enrolment.user_id == person.id,
            Enrolment.session_id == session.id,
            Enrolment.state != EnrolmentState.CANCELLED.value,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if existing is not None and existing.state in SHEET_STATES:
        raise Conflict(_("%(name)s steht bereits auf der Anwesenheitsliste.",
                          name=person.full_name))
    if existing is not None:  # on the waiting list: the same row becomes the walk-in
        existing.state = EnrolmentState.WALK_IN.value
        existing.updated_at = now
        enrolment = existing
        db.session.flush()
    else:
        enrolment = Enrolment(
            user_id=person.id,
            session_id=session.id,
            organisation_id=person.organisation_id,
            state=EnrolmentState.WALK_IN.value,
            created_by_id=actor.id,
            created_at=now,
            updated_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(enrolment)
        except exc.IntegrityError:
            # The same person was added in a parallel request a moment ago.
            raise Conflict(_(
                "%(name)s steht bereits auf der Anwesenheitsliste.", name=person.full_name
            )) from None
    present = AttendanceStatus.PRESENT.value
    db.session.add(
        AttendanceMark(
            enrolment_id=enrolment.id,
            session_id=session.id,
            status=present,
            marked_by_id=actor.id,
            marked_at=now,
            version=1,
        )
    )
    _record(enrolment.id, None, present, actor, now)
    db.session.flush()
    return enrolment


def close(session: TrainingSession, actor: User, *, now: datetime | None = None) -> None:
    """Abschließen: only once everyone is marked; afterwards only HR lead/admin change marks."""
    now = now or utcnow()
    if not access.can_run_session(actor, session):
        raise NotAllowed(_("Sie dürfen diesen Termin nicht abschließen."))
    if now < session.starts_at:
        raise Conflict(_("Ein Termin kann erst nach seinem Beginn abgeschlossen werden."))
    if session.is_cancelled:
        raise Conflict(_("Dieser Termin wurde abgesagt."))
    open_rows = sheet_counts(session.id).open
    if open_rows:
        raise Conflict(_(
            "Es sind noch %(n)s Einträge offen. Bitte erfassen Sie zuerst für alle einen Status.",
            n=open_rows,
        ))
    # Conditional UPDATE: of two people closing at once, exactly one succeeds.
    result = db.session.execute(
        TrainingSession.__table__.update()
        .where(TrainingSession.id == session.id, TrainingSession.closed_at.is_(None))
        .values(closed_at=now, closed_by_id=actor.id)
    )
    if result.rowcount != 1:
        raise Conflict(_("Dieser Termin ist bereits abgeschlossen."))
    db.session.refresh(session, ["closed_at", "closed_by_id"])


def reopen(session: TrainingSession, actor: User) -> None:
    """Wieder öffnen: an HR lead of the owner or an admin lets HR staff change marks again."""
    if not access.can_change_closed_marks(actor, session):
        raise NotAllowed(
            _("Nur die Personalleitung oder die Administration kann einen Termin wieder öffnen.")
        )
    if session.closed_at is None:
        raise Conflict(_("Dieser Termin ist nicht abgeschlossen."))
    session.closed_at = None
    session.closed_by_id = None
    db.session.flush()
