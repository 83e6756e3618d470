"""The reports page's dashboard: participation over time, per series and per partner.

Every figure is an aggregate in SQL over the attendance marks of the page's selection: one
statement groups the marks per session, and the sessions (a few hundred a year) are put into
months and series here; one more groups the network's participations per organisation. The
number of statements does not grow with the data. Figures about other organisations' people
go through the privacy threshold (tracker.services.disclosure).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import case, func

from tracker.extensions import db
from tracker.models import AttendanceMark, Enrolment
from tracker.services import disclosure, reports
from tracker.services.disclosure import Shown
from tracker.services.participation import is_participation

MAX_MONTHS = 36  # a longer period is shown per year: three years of bars still fit a page


@dataclass(frozen=True)
class ChartSeries:
    name: str
    values: list[Shown | float | None]  # None: nothing to show for that category
    css: str = "a"


@dataclass(frozen=True)
class Chart:
    """A bar chart with its title and description, drawn as SVG and shown as a table."""

    key: str
    title: str
    description: str
    labels: list[str]
    series: list[ChartSeries]
    percent: bool = False  # values are percentages (0 to 100)

    @property
    def empty(self) -> bool:
        return not any(isinstance(v, disclosure.Withheld) or v for s in self.series
                       for v in s.values)

    @property
    def scale(self) -> float:
        """The largest value drawn (a withheld count is drawn as its bound)."""
        if self.percent:
            return 100.0
        values = [v.below if isinstance(v, disclosure.Withheld) else v or 0
                  for s in self.series for v in s.values]
        return float(max(values, default=0) or 1)


@dataclass(frozen=True)
class Dashboard:
    charts: list[Chart]
    network_participations: Shown | None  # all partners together (None: not asked for)


def _per_session(filters: reports.ReportFilters) -> dict[int, tuple[int, int]]:
    """Participations and marks per session of the selection."""
    rows = db.session.execute(
        reports.marks_of(
            AttendanceMark.session_id,
            func.coalesce(func.sum(case((is_participation(), 1), else_=0)), 0),
            func.count(AttendanceMark.id),
            filters=filters,
        ).group_by(AttendanceMark.session_id)
    )
    return {sid: (int(present), int(marks)) for sid, present, marks in rows}


def _month_label(month: date, per_year: bool) -> str:
    return str(month.year) if per_year else format_date(month, "MMM yyyy")


def _months(first: date, last: date) -> list[date]:
    months, current = [], date(first.year, first.month, 1)
    while current <= last:
        months.append(current)
        current = date(current.year + (current.month == 12), current.month % 12 + 1, 1)
    return months


def _time_charts(filters: reports.ReportFilters, sessions: dict[int, reports.SessionInfo],
                 counts: dict[int, tuple[int, int]]) -> list[Chart]:
    days = [sessions[sid].day for sid in counts if sid in sessions]
    first = filters.date_from or min(days, default=None)
    last = filters.date_to or max(days, default=None) or first
    months = _months(first, last) if first and last else []
    per_year = len(months) > MAX_MONTHS
    if per_year:  # the years that have data, not the whole of an open period
        buckets = [date(y, 1, 1) for y in range(min(days).year, max(days).year + 1)] if days else []
    else:
        buckets = months
    present: dict[date, int] = defaultdict(int)
    marks: dict[date, int] = defaultdict(int)
    by_series: dict[str, int] = defaultdict(int)
    for sid, (n_present, n_marks) in counts.items():
        info = sessions.get(sid)
        if info is None:
            continue
        bucket = date(info.day.year, 1 if per_year else info.day.month, 1)
        present[bucket] += n_present
        marks[bucket] += n_marks
        if n_present:
            by_series[info.series_title] += n_present
    labels = [_month_label(b, per_year) for b in buckets]
    series_titles = sorted(by_series, key=lambda title: (-by_series[title], title))
    if per_year:
        titles = (_("Teilnahmen je Jahr"),
                  _("Anzahl der Teilnahmen in der Auswahl, je Jahr des Zeitraums."),
                  _("Anwesenheitsquote je Jahr"),
                  _("Anteil der Teilnahmen an allen erfassten Anwesenheiten, in Prozent, je "
                    "Jahr; leer, wo nichts erfasst wurde."))
    else:
        titles = (_("Teilnahmen je Monat"),
                  _("Anzahl der Teilnahmen in der Auswahl, je Monat des Zeitraums."),
                  _("Anwesenheitsquote je Monat"),
                  _("Anteil der Teilnahmen an allen erfassten Anwesenheiten, in Prozent, je "
                    "Monat; leer, wo nichts erfasst wurde."))
    return [
        Chart("months", titles[0], titles[1], labels,
              [ChartSeries(_("Teilnahmen"), [present[b] for b in buckets])]),
        Chart("rate", titles[2], titles[3], labels,
              [ChartSeries(_("Anwesenheitsquote"),
                           [round(present[b] / marks[b] * 100, 1) if marks[b] else None
                            for b in buckets])], percent=True),
        Chart("series", _("Teilnahmen je Reihe"),
              _("Anzahl der Teilnahmen in der Auswahl, je Reihe, die größte zuerst."),
              series_titles, [ChartSeries(_("Teilnahmen"), [by_series[t] for t in series_titles])]),
    ]


def _year_chart(year: int, sessions: dict[int, reports.SessionInfo],
                counts: dict[int, tuple[int, int]]) -> Chart:
    """This year against last year, month by month, with the page's series and organisation."""
    per_month: dict[tuple[int, int], int] = defaultdict(int)
    for sid, (n_present, _marks) in counts.items():
        info = sessions.get(sid)
        if info is not None:
            per_month[info.day.year, info.day.month] += n_present
    months = [date(year, m, 1) for m in range(1, 13)]
    return Chart(
        "years", _("%(year)s und %(last)s im Vergleich", year=year, last=year - 1),
        _("Teilnahmen je Monat im Jahr %(year)s und im Vorjahr %(last)s, mit Reihe und "
          "Organisation der Auswahl.", year=year, last=year - 1),
        [format_date(m, "MMMM") for m in months],
        [ChartSeries(str(year), [per_month[year, m.month] for m in months], "a"),
         ChartSeries(str(year - 1), [per_month[year - 1, m.month] for m in months], "b")],
    )


def _organisation_chart(filters: reports.ReportFilters) -> tuple[Chart, Shown]:
    """Participations per partner organisation in the series the viewer's organisation takes
    part in; other organisations' small counts withheld."""
    rows = db.session.execute(
        reports.marks_of(
            Enrolment.organisation_id, func.count(AttendanceMark.id),
            filters=filters, by_organisation=False,
        ).where(is_participation()).group_by(Enrolment.organisation_id)
    ).all()
    names = reports.organisation_names()
    counts = {org_id: int(n) for org_id, n in rows}
    own_id = filters.series_scope_id if not filters.exact_others else None
    own = counts.pop(own_id, 0) if own_id is not None else 0
    shown, total = disclosure.protect_parts(own, counts, exact=filters.exact_others)
    if own_id is not None:
        shown = {own_id: own, **shown}
    ordered = sorted(shown, key=lambda org_id: (org_id != own_id, names.get(org_id, "")))
    return Chart(
        "organisations", _("Teilnahmen je Organisation"),
        _("Teilnahmen aller Partnerorganisationen in den Reihen der Auswahl, je Organisation "
          "der Teilnehmenden. Kleine Zahlen anderer Organisationen erscheinen als „< %(n)s“.",
          n=disclosure.threshold()),
        [names.get(org_id, "") for org_id in ordered],
        [ChartSeries(_("Teilnahmen"), [shown[org_id] for org_id in ordered])],
    ), total


def build(filters: reports.ReportFilters) -> Dashboard:
    year = (filters.date_to or reports.to_local_today()).year
    both = dataclasses.replace(filters, date_from=date(year - 1, 1, 1), date_to=date(year, 12, 31))
    both_sessions, both_counts = reports.sessions_in_selection(both), _per_session(both)
    if filters.date_from and filters.date_to and (
        both.date_from <= filters.date_from and filters.date_to <= both.date_to
    ):
        # The usual period (this year, last twelve months) lies inside the comparison's two
        # years: its sessions are those of the comparison on its days (the same Berlin
        # calendar days `session_conditions` selects), so one aggregate serves both.
        sessions = {sid: info for sid, info in both_sessions.items()
                    if filters.date_from <= info.day <= filters.date_to}
        counts = {sid: c for sid, c in both_counts.items() if sid in sessions}
    else:
        sessions, counts = reports.sessions_in_selection(filters), _per_session(filters)
    organisations, network = _organisation_chart(filters)
    return Dashboard(
        charts=[*_time_charts(filters, sessions, counts),
                _year_chart(year, both_sessions, both_counts), organisations],
        network_participations=network,
    )
