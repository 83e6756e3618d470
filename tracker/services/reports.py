"""Auswertung: report filters, headline figures and the rows behind the participation workbook."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Integer, case, cast, distinct, func, literal, or_, select

from tracker.extensions import db
from tracker.i18n import format_date
from tracker.models import (
    AttendanceMark,
    AttendanceStatus,
    Enrolment,
    EnrolmentState,
    Organisation,
    TrainingSeries,
    TrainingSession,
    User,
    series_open_to,
)
from tracker.services import NotAllowed, ServiceError, access
from tracker.services.collation import german
from tracker.services.participation import is_participation
from tracker.timeutil import from_local, local_day_bounds, to_local


def status_labels(locale: str = "de") -> dict[str, str]:
    """Stored status value -> its label, in `locale` (the workbook is German)."""
    with force_locale(locale):
        return {status.value: str(status.label) for status in AttendanceStatus}

# Dates outside this range are typing mistakes (and Excel has no dates before 1900).
MIN_YEAR, MAX_YEAR = 1900, 2100
CHUNK_SIZE = 2000

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


class SeriesNotFound(ServiceError):
    """A series the asking organisation has no part in: answered as if it did not exist."""

    status_code = 404


class FilterErrors(ServiceError):
    """The filters cannot be used; `errors` maps each field to its German message and
    `english` holds the same problems for the command line."""

    def __init__(self, errors: dict[str, str], english: list[str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors
        self.english = english


@dataclass(frozen=True)
class ReportFilters:
    """What a report covers. `organisation_id` None means every organisation (admins only)."""

    date_from: date | None = None
    date_to: date | None = None
    series_id: int | None = None
    series_title: str | None = None
    organisation_id: int | None = None
    organisation_name: str | None = None
    # The organisation whose view of the network this is: only series it owns or that are
    # open to it, also in the figures across partners. None: every series (admins, CLI).
    series_scope_id: int | None = None
    # Whether counts of other organisations' people are shown exactly (admins, the command
    # line, the coordinators of the selected series) or with the privacy threshold.
    exact_others: bool = True

    def query_args(self) -> dict[str, str]:
        """The filters as URL parameters (for the download link and the shortcuts)."""
        return {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "series": str(self.series_id or ""),
            "organisation": str(self.organisation_id or ""),
        }


def calendar_year(today: date) -> tuple[date, date]:
    return date(today.year, 1, 1), date(today.year, 12, 31)


def last_twelve_months(today: date) -> tuple[date, date]:
    try:
        start = today.replace(year=today.year - 1) + timedelta(days=1)
    except ValueError:  # 29 February
        start = date(today.year - 1, 3, 1)
    return start, today


def _parse_date(raw: str | None, label_de: str, option: str, errors: dict, english: list,
                key: str) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    match = _ISO_DATE.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _GERMAN_DATE.match(text)
        if not match:
            errors[key] = _("%(label)s: Bitte geben Sie ein Datum im Format TT.MM.JJJJ an.",
                             label=label_de)
            english.append(f"{option}: {text!r} is not a date; use YYYY-MM-DD.")
            return None
        day, month, year = (int(g) for g in match.groups())
    try:
        value = date(year, month, day)
    except ValueError:
        errors[key] = _("%(label)s: Den %(date)s gibt es nicht.", label=label_de,
                         date=f"{day:02d}.{month:02d}.{year:04d}")
        english.append(f"{option}: {text!r} is not a valid calendar date.")
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        errors[key] = _("%(label)s: Bitte wählen Sie ein Datum zwischen %(first)s und %(last)s.",
                         label=label_de, first=MIN_YEAR, last=MAX_YEAR)
        english.append(f"{option}: {text!r} is outside {MIN_YEAR}-{MAX_YEAR}.")
        return None
    return value


def _parse_id(raw: str | None) -> int | None | bool:
    """None for empty, an int, or False for something that is no id at all."""
    text = (raw or "").strip()
    if not text:
        return None
    # At most nine digits: every id fits the database's INTEGER (PostgreSQL refuses more).
    if not text.isdigit() or len(text) > 9:
        return False
    return int(text)


def parse_filters(raw: Mapping[str, str | None], user: User | None, *,
                  today: date | None = None) -> ReportFilters:
    """Check the raw filters (from a URL or the command line) and who asks for them.

    `user` None is the command line, which runs with an administrator's scope. Without any
    period the report covers the current calendar year; an empty from/to leaves that end open.
    An HR lead always gets their own organisation; asking for another one is refused (403).
    """
    errors: dict[str, str] = {}
    english: list[str] = []
    if "from" not in raw and "to" not in raw:
        date_from, date_to = calendar_year(today or to_local_today())
    else:
        date_from = _parse_date(raw.get("from"), _("Von"), "--from", errors, english, "from")
        date_to = _parse_date(raw.get("to"), _("Bis"), "--to", errors, english, "to")
    if date_from and date_to and date_from > date_to:
        errors["to"] = _("Das Ende des Zeitraums liegt vor seinem Anfang. Bitte prüfen Sie die "
                          "Daten.")
        english.append(f"--to {date_to.isoformat()} is before --from {date_from.isoformat()}.")

    series_id = _parse_id(raw.get("series"))
    series = None
    if series_id is not None:
        series = db.session.get(TrainingSeries, series_id) if series_id is not False else None
        if series is None:
            errors["series"] = _("Die gewählte Reihe gibt es nicht.")
            english.append(f"--series: there is no series with id {raw.get('series')!r}.")

    organisation_id = _parse_id(raw.get("organisation"))
    organisation = None
    if organisation_id is not None:
        organisation = (db.session.get(Organisation, organisation_id)
                        if organisation_id is not False else None)
        if organisation is None:
            errors["organisation"] = _("Die gewählte Organisation gibt es nicht.")
            english.append(
                f"--organisation: there is no organisation with id {raw.get('organisation')!r}."
            )
    if errors:
        raise FilterErrors(errors, english)

    scope_id = None if user is None or user.is_admin else user.organisation_id
    if series is not None and scope_id is not None and db.session.execute(
            select(TrainingSeries.id).where(TrainingSeries.id == series.id,
                                            series_in_scope(scope_id))).first() is None:
        raise SeriesNotFound(_("Die gewählte Reihe gibt es nicht."))

    if user is not None:
        if organisation is None and not user.is_admin:
            organisation = user.organisation
        if not access.can_export_organisation(user, organisation.id if organisation else None):
            raise NotAllowed(
                _("Sie dürfen nur die Teilnahmen der Beschäftigten Ihrer eigenen Organisation "
                  "auswerten. Zahlen aller Partner finden Sie im Blatt „Organisationen“.")
            )
    return ReportFilters(
        date_from=date_from,
        date_to=date_to,
        series_id=series.id if series else None,
        series_title=series.title if series else None,
        organisation_id=organisation.id if organisation else None,
        organisation_name=organisation.name if organisation else None,
        series_scope_id=scope_id,
        exact_others=(user is None or user.is_admin
                      or (series is not None and access.is_coordinator(user, series.id))),
    )


def series_in_scope(organisation_id: int) -> ColumnElement[bool]:
    """SQL condition on TrainingSeries: owned by the organisation or open to it."""
    return or_(
        TrainingSeries.owner_organisation_id == organisation_id,
        TrainingSeries.id.in_(select(series_open_to.c.series_id)
                              .where(series_open_to.c.organisation_id == organisation_id)),
    )


def to_local_today() -> date:
    from tracker.models import utcnow

    return to_local(utcnow()).date()


# --- the selection ---------------------------------------------------------------------------

def session_conditions(filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Period (Berlin calendar days of the session's start) and series."""
    conditions: list[ColumnElement[bool]] = []
    if filters.date_from or filters.date_to:
        start, end = local_day_bounds(filters.date_from or date(MIN_YEAR, 1, 1),
                                      filters.date_to or date(MAX_YEAR, 12, 31))
        if filters.date_from:
            conditions.append(TrainingSession.starts_at >= start)
        if filters.date_to:
            conditions.append(TrainingSession.starts_at <= end)
    if filters.series_id:
        conditions.append(TrainingSession.series_id == filters.series_id)
    return conditions


def _mark_conditions(filters: ReportFilters, *, by_organisation: bool = True):
    conditions = session_conditions(filters)
    # "Organisation" is the person's organisation when they enrolled, so history stays true.
    if by_organisation and filters.organisation_id:
        conditions.append(Enrolment.organisation_id == filters.organisation_id)
    elif filters.series_scope_id is not None:
        # Across partners, an HR lead sees her own people's marks and, of the others, only
        # those in series her organisation owns or is invited to.
        conditions.append(or_(
            Enrolment.organisation_id == filters.series_scope_id,
            TrainingSession.series_id.in_(
                select(TrainingSeries.id).where(series_in_scope(filters.series_scope_id))),
        ))
    return conditions


def marks_of(*columns, filters: ReportFilters, by_organisation: bool = True):
    """SELECT over the attendance marks of the selection."""
    return (
        select(*columns)
        .select_from(AttendanceMark)
        .join(Enrolment, Enrolment.id == AttendanceMark.enrolment_id)
        .join(TrainingSession, TrainingSession.id == AttendanceMark.session_id)
        .where(*_mark_conditions(filters, by_organisation=by_organisation))
    )


def session_seconds_sql() -> ColumnElement:
    """A session's length in whole seconds, in SQL (the two databases spell it differently).

    Whole seconds add up exactly, so every total of hours is (seconds summed) / 3600, the
    same exact value as the sum of the rows' hours; nothing is rounded before display."""
    if db.engine.dialect.name == "postgresql":
        seconds = func.extract("epoch", TrainingSession.ends_at - TrainingSession.starts_at)
    else:
        seconds = (func.julianday(TrainingSession.ends_at)
                   - func.julianday(TrainingSession.starts_at)) * 86400
    return cast(func.round(seconds), Integer)


def _hours(seconds) -> float:
    return int(seconds or 0) / 3600


# --- headline figures ------------------------------------------------------------------------

@dataclass(frozen=True)
class Figures:
    participations: int  # marks of a status that counts as a participation
    people: int  # distinct people with at least one participation
    sessions_held: int  # distinct sessions with attendance recorded
    marks: int  # all attendance marks, whatever the status
    by_status: dict[AttendanceStatus, int]  # marks per status, every status present
    hours: float  # hours of training attended (exact; shown with two decimals)

    @property
    def excused(self) -> int:
        return self.by_status[AttendanceStatus.EXCUSED]

    @property
    def absent(self) -> int:
        return self.by_status[AttendanceStatus.ABSENT]

    @property
    def not_participations(self) -> list[tuple[AttendanceStatus, int]]:
        """The marks that are no participation, per status (for "davon ..." lines)."""
        return [(status, self.by_status[status]) for status in AttendanceStatus
                if not status.counts_as_participation]

    @property
    def attendance_rate(self) -> float | None:
        """Present among all marks; None when nothing was recorded."""
        return self.participations / self.marks if self.marks else None


def headline_figures(filters: ReportFilters, *, by_organisation: bool = True) -> Figures:
    """All figures in one SQL statement."""
    present = is_participation()
    statuses = list(AttendanceStatus)
    row = db.session.execute(
        marks_of(
            func.count(AttendanceMark.id),
            func.coalesce(func.sum(case((present, 1), else_=0)), 0),
            func.count(distinct(case((present, Enrolment.user_id)))),
            func.count(distinct(AttendanceMark.session_id)),
            func.coalesce(func.sum(case((present, session_seconds_sql()), else_=0)), 0),
            *(func.coalesce(func.sum(case((AttendanceMark.status == status.value, 1),
                                          else_=0)), 0)
              for status in statuses),
            filters=filters,
            by_organisation=by_organisation,
        )
    ).one()
    marks, participations, people, sessions, seconds, *per_status = row
    return Figures(
        participations=int(participations), people=int(people), sessions_held=int(sessions),
        marks=int(marks), by_status={s: int(n) for s, n in zip(statuses, per_status, strict=True)},
        hours=_hours(seconds),
    )


def mark_count(filters: ReportFilters) -> int:
    """How many rows the workbook's "Teilnahmen" sheet will have."""
    return int(db.session.scalar(marks_of(func.count(AttendanceMark.id), filters=filters)) or 0)


def describe(filters: ReportFilters) -> str:
    """The selection in words, as the page and the list of exports name it."""
    if filters.date_from and filters.date_to:
        period = _("Termine vom %(first)s bis %(last)s", first=format_date(filters.date_from),
                   last=format_date(filters.date_to))
    elif filters.date_from:
        period = _("Termine ab %(first)s", first=format_date(filters.date_from))
    elif filters.date_to:
        period = _("Termine bis %(last)s", last=format_date(filters.date_to))
    else:
        period = _("Alle Termine")
    return " · ".join((period, filters.series_title or _("alle Reihen"),
                       filters.organisation_name or _("alle Organisationen")))


# --- rows for the workbook -------------------------------------------------------------------

@dataclass(frozen=True)
class SessionInfo:
    series_id: int
    series_title: str
    title: str
    day: date  # Berlin calendar day of the start
    hours: float
    trainer: str


def sessions_in_selection(filters: ReportFilters) -> dict[int, SessionInfo]:
    """The sessions in the period and series, by id (a few thousand at most)."""
    rows = db.session.execute(
        select(TrainingSession.id, TrainingSession.series_id, TrainingSeries.title,
               TrainingSession.title, TrainingSession.starts_at, TrainingSession.ends_at,
               TrainingSession.trainer)
        .join(TrainingSeries, TrainingSeries.id == TrainingSession.series_id)
        .where(*session_conditions(filters))
    )
    return {
        sid: SessionInfo(series_id, series_title, title, to_local(starts).date(),
                         _hours(round((ends - starts).total_seconds())), trainer or "")
        for sid, series_id, series_title, title, starts, ends, trainer in rows
    }


def organisation_names() -> dict[int, str]:
    return dict(db.session.execute(select(Organisation.id, Organisation.name)).all())


def mark_rows(filters: ReportFilters, *, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """Every attendance mark of the selection, streamed in chunks (server-side cursor on
    PostgreSQL), ordered by date, session and name. Yields plain tuples:
    (last_name, first_name, email, organisation, SessionInfo, status label, walk_in)."""
    sessions = sessions_in_selection(filters)
    orgs = organisation_names()
    statement = (
        marks_of(User.last_name, User.first_name, User.email, Enrolment.organisation_id,
               AttendanceMark.session_id, AttendanceMark.status, Enrolment.state,
               filters=filters)
        .join(User, User.id == Enrolment.user_id)
        .order_by(TrainingSession.starts_at, TrainingSession.id, german(User.last_name),
                  german(User.first_name), AttendanceMark.id)
        .execution_options(yield_per=chunk_size)
    )
    walk_in = EnrolmentState.WALK_IN.value
    labels = status_labels()
    for last, first, email, org_id, session_id, status, state in db.session.execute(statement):
        yield (last, first, email, orgs.get(org_id, ""), sessions[session_id],
               labels.get(status, status), state == walk_in)


@dataclass
class PersonTotals:
    last_name: str
    first_name: str
    email: str
    organisation: str
    participations: int = 0
    hours: float = 0.0
    first: date | None = None
    last: date | None = None
    # series id -> (participations, hours)
    per_series: dict[int, tuple[int, float]] = field(default_factory=dict)


def series_with_participations(filters: ReportFilters) -> list[tuple[int, str]]:
    """The series in which the selection has participations, by title: the Personen columns."""
    rows = db.session.execute(
        marks_of(TrainingSeries.id, TrainingSeries.title, filters=filters)
        .join(TrainingSeries, TrainingSeries.id == TrainingSession.series_id)
        .where(is_participation())
        .group_by(TrainingSeries.id, TrainingSeries.title)
        .order_by(TrainingSeries.title, TrainingSeries.id)
    )
    return [(sid, title) for sid, title in rows]


def person_totals(filters: ReportFilters, *, chunk_size: int = CHUNK_SIZE
                  ) -> Iterator[PersonTotals]:
    """Participations per person (and organisation at the time), per series and in total;
    aggregated in SQL per person and series, merged here while streaming."""
    orgs = organisation_names()
    per_series = (
        marks_of(Enrolment.user_id.label("user_id"),
               Enrolment.organisation_id.label("organisation_id"),
               TrainingSession.series_id.label("series_id"),
               func.count(AttendanceMark.id).label("participations"),
               func.sum(session_seconds_sql()).label("seconds"),
               func.min(TrainingSession.starts_at).label("first"),
               func.max(TrainingSession.starts_at).label("last"), filters=filters)
        .where(is_participation())
        .group_by(Enrolment.user_id, Enrolment.organisation_id, TrainingSession.series_id)
        .subquery()
    )
    statement = (
        select(per_series.c.user_id, per_series.c.organisation_id, per_series.c.series_id,
               per_series.c.participations, per_series.c.seconds, per_series.c.first,
               per_series.c.last, User.last_name, User.first_name, User.email)
        .join(User, User.id == per_series.c.user_id)
        .order_by(german(User.last_name), german(User.first_name), per_series.c.user_id,
                  per_series.c.organisation_id, per_series.c.series_id)
        .execution_options(yield_per=chunk_size)
    )
    current: PersonTotals | None = None
    key = None
    first_utc = last_utc = None
    total_seconds = 0

    def finish(person: PersonTotals) -> PersonTotals:
        # Naive UTC until here: one time-zone conversion per person, not per series.
        person.first, person.last = to_local(first_utc).date(), to_local(last_utc).date()
        person.hours = _hours(total_seconds)
        return person

    for (user_id, org_id, series_id, count, seconds, first, last, last_name, first_name,
         email) in db.session.execute(statement):
        if (user_id, org_id) != key:
            if current is not None:
                yield finish(current)
            key = (user_id, org_id)
            current = PersonTotals(last_name, first_name, email, orgs.get(org_id, ""))
            first_utc, last_utc = first, last
            total_seconds = 0
        current.per_series[series_id] = (int(count), _hours(seconds))
        current.participations += int(count)
        total_seconds += int(seconds or 0)
        first_utc, last_utc = min(first_utc, first), max(last_utc, last)
    if current is not None:
        yield finish(current)


@dataclass(frozen=True)
class OrganisationYearSeries:
    organisation_id: int
    organisation: str
    year: int
    series_title: str
    participations: int
    people: int
    hours: float


def organisation_totals(filters: ReportFilters) -> list[OrganisationYearSeries]:
    """Participations, distinct people and hours per organisation, year and series: counts of
    every partner, no names, whatever the organisation filter (figures across partners)."""
    sessions = sessions_in_selection(filters)
    if not sessions:
        return []
    # The Berlin calendar year of a session's start, as a CASE over UTC year boundaries;
    # grouped in an outer query so both databases see one and the same expression.
    years = sorted({info.day.year for info in sessions.values()})
    year = case(
        *[(TrainingSession.starts_at < from_local(datetime(y + 1, 1, 1)), y) for y in years[:-1]],
        else_=years[-1],
    ) if len(years) > 1 else literal(years[0], Integer)
    inner = (
        marks_of(Enrolment.organisation_id.label("organisation_id"), year.label("year"),
               TrainingSession.series_id.label("series_id"), Enrolment.user_id.label("user_id"),
               session_seconds_sql().label("seconds"), filters=filters, by_organisation=False)
        .where(is_participation())
        .subquery()
    )
    rows = db.session.execute(
        select(inner.c.organisation_id, inner.c.year, inner.c.series_id, func.count(),
               func.count(distinct(inner.c.user_id)), func.sum(inner.c.seconds))
        .group_by(inner.c.organisation_id, inner.c.year, inner.c.series_id)
    ).all()
    orgs = organisation_names()
    series_titles = {info.series_id: info.series_title for info in sessions.values()}
    result = [
        OrganisationYearSeries(org_id, orgs.get(org_id, ""), int(y), series_titles.get(series_id, ""),
                               int(count), int(people), _hours(seconds))
        for org_id, y, series_id, count, people, seconds in rows
    ]
    result.sort(key=lambda r: (r.organisation, r.year, r.series_title))
    return result


# --- choices for the filter form -------------------------------------------------------------

def series_choices(user: User) -> list[tuple[int, str]]:
    """Admins pick any series; an HR lead those her organisation owns or is invited to."""
    statement = select(TrainingSeries.id, TrainingSeries.title).order_by(TrainingSeries.title)
    if not user.is_admin:
        statement = statement.where(series_in_scope(user.organisation_id))
    return list(db.session.execute(statement).all())


def organisation_choices(user: User) -> list[tuple[int, str]]:
    """Admins pick any organisation; an HR lead only has their own."""
    statement = select(Organisation.id, Organisation.name).order_by(Organisation.name)
    if not user.is_admin:
        statement = statement.where(Organisation.id == user.organisation_id)
    return [(i, n) for i, n in db.session.execute(statement)]
