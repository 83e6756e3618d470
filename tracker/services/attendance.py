"""Attendance (Anwesenheit): the sheet of a session, marks, walk-ins and closing, each rule once.

Who is on the sheet: every enrolment of the session in state "enrolled" or "walk_in". People on
the waiting list held no seat and are not on it; one who shows up anyway is added as a walk-in,
which turns their waiting-list enrolment into a walk-in (same row, so they can never appear
twice, and the waiting list loses them). A cancelled enrolment is not on the sheet either.

Concurrency: every change of a mark first locks the enrolment row (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite the writing request's BEGIN IMMEDIATE serialises writers, so a click
there reads row and session in one statement, see mark), then reads the mark afresh and
writes mark and AttendanceChange together. Two clicks on the same row therefore run one after
the other: the last one wins, and the audit trail holds both, each with the status it really
replaced. "Alle offenen als anwesend" locks the sheet's enrolments in id order, so it
cannot deadlock with itself or with single clicks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from types import MappingProxyType
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, exc, func, insert, literal, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from tracker.database import Prepared, holds_write_lock
from tracker.extensions import db
from tracker.i18n import current_locale
from tracker.i18n import gettext as _
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
from tracker.services.participation import is_participation
from tracker.timeutil import to_local

# Enrolments that are on the sheet. Waitlisted and cancelled ones are not.
SHEET_STATES = (EnrolmentState.ENROLLED.value, EnrolmentState.WALK_IN.value)
STATUSES = tuple(s.value for s in AttendanceStatus)
SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10


def status_label(status: str | None) -> str:
    """The German word for a status, as the buttons and badges say it."""
    labels = _status_labels(current_locale())
    return labels.get(status or "", labels[""])


@lru_cache(maxsize=8)
def _status_labels(_locale: str) -> Mapping[str, str]:
    # Translated once per language and process: every click's answer names a status.
    return MappingProxyType({
        AttendanceStatus.PRESENT.value: _("anwesend"),
        AttendanceStatus.EXCUSED.value: _("entschuldigt"),
        AttendanceStatus.ABSENT.value: _("unentschuldigt"),
        "": _("offen"),
    })


class SheetRow(NamedTuple):
    """One person on the sheet. A named tuple, not a frozen dataclass: a sheet builds one
    per person on every view, and a frozen dataclass's __init__ cost ~5 µs (bench/)."""

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


@dataclass(frozen=True)
class Counts:
    total: int
    present: int
    excused: int
    absent: int

    @property
    def open(self) -> int:
        return self.total - self.present - self.excused - self.absent


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
# The statements of the sheet and the click are built and compiled once per process
# (tracker.database.Prepared) and run on the driver: building a select, its cache key and
# SQLAlchemy's execution context cost more than running it on SQLite (bench/, profiled with
# pyinstrument), and these run on every click of the attendance sheet.


def _on_sheet():
    # One placeholder per state (Prepared statements take no expanding IN lists).
    return Enrolment.state.in_([literal(state) for state in SHEET_STATES])


@cache
def _rows_statement():
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
        .where(Enrolment.session_id == bindparam("session_id"), _on_sheet())
    )


@cache
def _sheet_rows_statement() -> Prepared:
    # Enrolled people by name, then walk-ins by name (as on paper).
    return Prepared(_rows_statement().order_by(
        case((Enrolment.state == literal(EnrolmentState.WALK_IN.value), 1), else_=0),
        User.last_name,
        User.first_name,
        Enrolment.id,
    ))


@cache
def _sheet_row_statement() -> Prepared:
    return Prepared(_rows_statement().where(Enrolment.id == bindparam("enrolment_id")))


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


@cache
def _sheet_enrolments_statement() -> Prepared:
    # PostgreSQL: the sheet's enrolments with their organisations and marks; the people come
    # by their ids in a second statement (sheet_rows). Joined to user_account in one
    # statement, PostgreSQL planned for an average session (~250 of 500,000 enrolments in
    # 2,000 sessions), not this one's 30, and with its default random_page_cost (4) read all
    # 20,000 people into a hash instead of looking up 30 by key: 7-12 ms a sheet instead of
    # 0.5 (bench/, EXPLAIN ANALYZE). With the ids in hand its estimate is the list's length.
    return Prepared(
        select(
            Enrolment.id,
            Enrolment.state,
            Enrolment.waitlist_seq,
            Enrolment.user_id,
            Organisation.name,
            Organisation.short_name,
            AttendanceMark.status,
            AttendanceMark.version,
            AttendanceMark.marked_at,
            AttendanceMark.marked_by_id,
        )
        .join(Organisation, Organisation.id == Enrolment.organisation_id)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.session_id == bindparam("session_id"), _on_sheet())
    )


def sheet_rows(session_id: int) -> list[SheetRow]:
    """Everyone on the sheet: enrolled people by name, then walk-ins by name (as on paper)."""
    if db.engine.dialect.name == "sqlite":
        # SQLite joins by nested loops, each person looked up by key: one statement is
        # cheaper there (the second cost a fifth of the sheet's throughput, bench/ run L).
        return [_to_row(r) for r in _sheet_rows_statement().rows({"session_id": session_id})]
    rows = _sheet_enrolments_statement().rows({"session_id": session_id})
    if not rows:
        return []
    ids = {r[3] for r in rows} | {r[9] for r in rows if r[9] is not None}
    # Sorted by the database, so names order by its collation, as everywhere else.
    people = db.session.execute(
        select(User.id, User.first_name, User.last_name, User.email)
        .where(User.id.in_(ids))
        .order_by(User.last_name, User.first_name, User.id)
    ).all()
    place = {p.id: i for i, p in enumerate(people)}
    person = {p.id: p for p in people}
    rows.sort(key=lambda r: (r[1] == EnrolmentState.WALK_IN, place[r[3]], r[0]))

    def joined(r):  # the layout of _rows_statement's rows, which the click reads
        who, marker = person[r[3]], person.get(r[9])
        return (*r[:4], who.first_name, who.last_name, who.email, *r[4:9],
                marker.first_name if marker else None, marker.last_name if marker else None)

    return [_to_row(joined(r)) for r in rows]


def sheet_row(session_id: int, enrolment_id: int) -> SheetRow:
    """One row of the sheet, or a German 404 when the enrolment is not on this sheet."""
    r = _sheet_row_statement().first({"session_id": session_id, "enrolment_id": enrolment_id})
    if r is None:
        raise _not_on_sheet()
    return _to_row(r)


@cache
def _sheet_row_closing_statement() -> Prepared:
    return Prepared(
        _rows_statement()
        .add_columns(TrainingSession.closed_at)
        .join(TrainingSession, TrainingSession.id == Enrolment.session_id)
        .where(Enrolment.id == bindparam("enrolment_id"))
    )


def _sheet_row_closing(session: TrainingSession, enrolment_id: int) -> SheetRow:
    """sheet_row() and, from the same statement, the session's closed_at put on `session`."""
    r = _sheet_row_closing_statement().first(
        {"session_id": session.id, "enrolment_id": enrolment_id}
    )
    if r is None:
        raise _not_on_sheet()
    set_committed_value(session, "closed_at", r[-1])
    return _to_row(r)


def _count_where(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@cache
def _counts_statement() -> Prepared:
    return Prepared(
        select(
            func.count(Enrolment.id),
            _count_where(is_participation()),
            _count_where(AttendanceMark.status == AttendanceStatus.EXCUSED.value),
            _count_where(AttendanceMark.status == AttendanceStatus.ABSENT.value),
        )
        .select_from(Enrolment)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.session_id == bindparam("session_id"), _on_sheet())
    )


def sheet_counts(session_id: int) -> Counts:
    """present / excused / absent / total in one aggregate query; open is the rest."""
    total, present, excused, absent = _counts_statement().first({"session_id": session_id})
    return Counts(total=int(total), present=int(present), excused=int(excused), absent=int(absent))


def counts_by_session(session_ids: list[int]) -> dict[int, Counts]:
    """Counts of several sessions in one grouped query (for the list of sessions)."""
    if not session_ids:
        return {}

    rows = db.session.execute(
        select(
            Enrolment.session_id,
            func.count(Enrolment.id),
            _count_where(is_participation()),
            _count_where(AttendanceMark.status == AttendanceStatus.EXCUSED.value),
            _count_where(AttendanceMark.status == AttendanceStatus.ABSENT.value),
        )
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.session_id.in_(session_ids), Enrolment.state.in_(SHEET_STATES))
        .group_by(Enrolment.session_id)
    )
    found = {
        sid: Counts(total=int(t), present=int(p), excused=int(e), absent=int(a))
        for sid, t, p, e, a in rows
    }
    return {sid: found.get(sid, Counts(0, 0, 0, 0)) for sid in session_ids}


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


@cache
def _closed_at_statement() -> Prepared:
    return Prepared(
        select(TrainingSession.closed_at)
        .where(TrainingSession.id == bindparam("session_id"))
        .with_for_update(read=True)
    )


def ensure_may_mark(
    actor: User, session: TrainingSession, now: datetime | None = None,
    *, closed_at_read: bool = False,
) -> None:
    # Read closed_at afresh and, on PostgreSQL, hold a share lock on the session row until the
    # commit: closing (an UPDATE of that row) then waits for marks in flight, and a mark that
    # starts after the close sees it. `closed_at_read`: the caller has just read it in a
    # transaction holding SQLite's write lock (mark).
    # The session row was read in this transaction and sessions are never deleted.
    if not closed_at_read:
        (fresh,) = _closed_at_statement().first({"session_id": session.id})
        set_committed_value(session, "closed_at", fresh)
    refusal = marking_refusal(actor, session, now)
    if refusal is not None:
        raise refusal


@cache
def _lock_statement() -> Prepared:
    return Prepared(
        select(Enrolment.session_id, Enrolment.state)
        .where(Enrolment.id == bindparam("enrolment_id"))
        .with_for_update()
    )


def _lock_sheet_enrolment(session_id: int, enrolment_id: int) -> None:
    row = _lock_statement().first({"enrolment_id": enrolment_id})
    if row is None or row[0] != session_id or row[1] not in SHEET_STATES:
        raise _not_on_sheet()


# A click writes with Core statements on the tables, built once: the ORM's unit of work cost
# a third of a click (bench/, pyinstrument) for two rows whose values are all known here.
_MARKS = AttendanceMark.__table__
_CHANGES = AttendanceChange.__table__


def _insert(table, *names: str) -> Prepared:
    return Prepared(insert(table).values({name: bindparam(name) for name in names}))


@cache
def _insert_mark_statement() -> Prepared:
    return _insert(_MARKS, "enrolment_id", "session_id", "status", "marked_by_id", "marked_at",
                   "version")


@cache
def _update_mark_statement() -> Prepared:
    return Prepared(
        update(_MARKS)
        .where(_MARKS.c.enrolment_id == bindparam("b_enrolment_id"))
        .values(
            status=bindparam("b_status"),
            marked_by_id=bindparam("b_marked_by_id"),
            marked_at=bindparam("b_marked_at"),
            version=bindparam("b_version"),
        )
    )


@cache
def _insert_change_statement() -> Prepared:
    return _insert(_CHANGES, "enrolment_id", "old_status", "new_status", "changed_by_id",
                   "changed_at")


def _record(enrolment_id: int, old: str | None, new: str | None, actor: User, now: datetime):
    """The audit row of one change of a mark."""
    _insert_change_statement().execute({
        "enrolment_id": enrolment_id, "old_status": old, "new_status": new,
        "changed_by_id": actor.id, "changed_at": now,
    })


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
    if holds_write_lock():
        # SQLite: no other writer until this transaction ends, so one statement reads the
        # row and the session's closed_at as they stay until the commit (bench/: the lock
        # and the second read were 7 % of a click).
        row = _sheet_row_closing(session, enrolment_id)
        status = parse_status(status)
        ensure_may_mark(actor, session, now, closed_at_read=True)
    else:
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
    if old is None:
        _insert_mark_statement().execute({
            "enrolment_id": enrolment_id, "session_id": session.id, "status": status,
            "marked_by_id": actor.id, "marked_at": now, "version": 1,
        })
    else:
        _update_mark_statement().execute({
            "b_enrolment_id": enrolment_id, "b_status": status, "b_marked_by_id": actor.id,
            "b_marked_at": now, "b_version": version_before + 1,
        })
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
        .order_by(User.last_name, User.first_name, User.id)
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
