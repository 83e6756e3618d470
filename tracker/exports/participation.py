"""The participation workbook: the report's rows as German sheets (headers, rows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

from sqlalchemy import text

from tracker.exports.workbook import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    HOURS_FORMAT,
    PERCENT_FORMAT,
    Column,
    Formatted,
    Sheet,
    write_workbook,
)
from tracker.extensions import db
from tracker.models import AttendanceStatus, utcnow
from tracker.services import disclosure, reports
from tracker.services.disclosure import Withheld
from tracker.services.reports import ReportFilters
from tracker.timeutil import to_local

SHEET_OVERVIEW = "Übersicht"
SHEET_MARKS = "Teilnahmen"
SHEET_PEOPLE = "Personen"
SHEET_ORGANISATIONS = "Organisationen"

MARK_COLUMNS = [
    Column("Nachname", 18),
    Column("Vorname", 16),
    Column("E-Mail", 30),
    Column("Organisation (zum Zeitpunkt)", 30),
    Column("Reihe", 30),
    Column("Termin", 36),
    Column("Datum", 12, DATE_FORMAT),
    Column("Jahr", 8),
    Column("Stunden", 9, HOURS_FORMAT),
    Column("Trainer/in", 22),
    Column("Status", 15),
    Column("Ohne Anmeldung", 10),
]

ORGANISATION_COLUMNS = [
    Column("Organisation", 34),
    Column("Jahr", 8),
    Column("Reihe", 34),
    Column("Teilnahmen", 12),
    Column("Personen", 11),
    Column("Stunden", 10, HOURS_FORMAT),
]


def export_filename(filters: ReportFilters) -> str:
    """What and when, e.g. teilnahmen_2025-01-01_2025-12-31.xlsx."""
    start = filters.date_from.isoformat() if filters.date_from else "anfang"
    end = filters.date_to.isoformat() if filters.date_to else "heute"
    return f"teilnahmen_{start}_{end}.xlsx"


def _mark_rows(filters: ReportFilters) -> Iterator[tuple]:
    for last, first, email, organisation, s, status, walk_in in reports.mark_rows(filters):
        yield (last, first, email, organisation, s.series_title, s.title, s.day, s.day.year,
               s.hours, s.trainer, status, "ja" if walk_in else "nein")


def _reporting(rows: Iterator[tuple], progress: Callable[[int], None],
               every: int) -> Iterator[tuple]:
    for done, row in enumerate(rows, 1):
        yield row
        if done % every == 0:
            progress(done)


def marks_sheet(filters: ReportFilters, *, progress: Callable[[int], None] | None = None,
                progress_every: int = 2000) -> Sheet:
    """The "Teilnahmen" sheet: one row per attendance mark of the selection, streamed.
    `progress`, if given, hears how many rows are written every `progress_every` rows."""
    rows = _mark_rows(filters)
    if progress is not None:
        rows = _reporting(rows, progress, progress_every)
    return Sheet(SHEET_MARKS, MARK_COLUMNS, rows)


def _people_sheet(filters: ReportFilters) -> Sheet:
    series = reports.series_with_participations(filters)
    columns = [
        Column("Nachname", 18),
        Column("Vorname", 16),
        Column("E-Mail", 30),
        Column("Organisation (zum Zeitpunkt)", 30),
        Column("Teilnahmen gesamt", 12),
        Column("Stunden gesamt", 10, HOURS_FORMAT),
        Column("Erste Teilnahme", 12, DATE_FORMAT),
        Column("Letzte Teilnahme", 12, DATE_FORMAT),
    ]
    for _sid, title in series:
        columns += [Column(f"Teilnahmen: {title}", 14),
                    Column(f"Stunden: {title}", 12, HOURS_FORMAT)]

    def rows() -> Iterator[list]:
        for person in reports.person_totals(filters):
            row = [person.last_name, person.first_name, person.email, person.organisation,
                   person.participations, person.hours, person.first, person.last]
            for sid, _title in series:
                # Blank, not 0, for a series the person never attended: easier to read,
                # counts as 0 in sums and pivots, and fewer cells to write.
                row += person.per_series.get(sid, (None, None))
            yield row

    return Sheet(SHEET_PEOPLE, columns, rows())


def _organisation_rows(filters: ReportFilters) -> tuple[list[tuple], int | str]:
    """The Organisationen sheet's rows and the participations of all partners together.

    Other organisations' small counts are withheld ("< 5") for a viewer without exact figures,
    and so many more cells that the overview's total minus the visible cells gives none of
    them back (tracker.services.disclosure)."""
    totals = reports.organisation_totals(filters)
    own_id = None if filters.exact_others else filters.series_scope_id
    own = sum(r.participations for r in totals if r.organisation_id == own_id)
    others = {i: r.participations for i, r in enumerate(totals) if r.organisation_id != own_id}
    shown, network = disclosure.protect_parts(own, others, exact=filters.exact_others)
    rows = []
    for i, r in enumerate(totals):
        count = shown.get(i, r.participations)
        if isinstance(count, Withheld):  # its hours would give the count back
            rows.append((r.organisation, r.year, r.series_title, str(count),
                         _cell(disclosure.protect(r.people, exact=False)), "–"))
            continue
        people = disclosure.protect(r.people, exact=filters.exact_others or i not in others)
        rows.append((r.organisation, r.year, r.series_title, count, _cell(people), r.hours))
    return rows, _cell(network)


def _cell(value: disclosure.Shown) -> int | str:
    return str(value) if isinstance(value, Withheld) else value


def _overview_rows(filters: ReportFilters, figures: reports.Figures,
                   network: int | str, created_by: str, created_at: datetime) -> list:
    def day(value: date | None, open_text: str):
        return Formatted(value, DATE_FORMAT) if value else open_text

    rate = figures.attendance_rate
    labels = reports.status_labels()
    participation_words = " oder ".join(f"„{labels[s.value]}“"
                                        for s in AttendanceStatus.participations())
    all_words = ", ".join(labels[s.value] for s in AttendanceStatus)
    return [
        ["Auswertung der Schulungsteilnahmen", None],
        ["Erstellt am", Formatted(created_at, DATETIME_FORMAT)],
        ["Erstellt von", created_by],
        [None, None],
        ["Filter", None],
        ["Zeitraum von", day(filters.date_from, "offen (seit Beginn)")],
        ["Zeitraum bis", day(filters.date_to, "offen (bis heute)")],
        ["Reihe", filters.series_title or "alle Reihen"],
        ["Organisation", filters.organisation_name or "alle Organisationen"],
        [None, None],
        ["Summen", None],
        ["Teilnahmen", figures.participations],
        ["Personen mit Teilnahme", figures.people],
        ["Durchgeführte Termine", figures.sessions_held],
        ["Stunden (Teilnahmen)", Formatted(figures.hours, HOURS_FORMAT)],
        ["Anwesenheitsmarkierungen", figures.marks],
        *([f"davon {labels[status.value]}", count]
          for status, count in figures.not_participations),
        ["Anwesenheitsquote", Formatted(rate, PERCENT_FORMAT) if rate is not None else "–"],
        ["Teilnahmen aller Partnerorganisationen", network],
        [None, None],
        ["Hinweise", None],
        ["Teilnahme", f"Als Teilnahme zählt ein Termin mit dem Status {participation_words}, "
                      "auch ohne Anmeldung. Nur Teilnahmen gehen in die Summen ein."],
        ["Blatt „Teilnahmen“", f"Eine Zeile je Anwesenheitsmarkierung ({all_words}). Filtern "
                               f"Sie die Spalte „Status“ auf {participation_words}, um nur "
                               "Teilnahmen zu sehen."],
        ["Stunden", "Die genaue Dauer jedes Termins, mit zwei Nachkommastellen angezeigt. Alle "
                    "Summen (Personen, Organisationen, Übersicht) addieren dieselben genauen "
                    "Werte: die Summe einer Spalte gleicht der Summe im Blatt."],
        ["Blatt „Personen“", "Teilnahmen und Stunden je Person, je Reihe und insgesamt."],
        ["Blatt „Organisationen“", "Teilnahmen, Personen und Stunden je Organisation, Jahr und "
                                   "Reihe, für alle Partnerorganisationen in den Reihen, an "
                                   "denen Ihre Organisation beteiligt ist (nur Zahlen, keine "
                                   "Namen). Kleine Zahlen anderer Organisationen erscheinen als "
                                   f"„< {disclosure.threshold()}“, und so viele weitere, dass "
                                   "sie sich nicht aus der Summe errechnen lassen."],
        ["Organisation (zum Zeitpunkt)", "Die Organisation, der die Person bei der Anmeldung "
                                         "angehörte."],
        ["Termine", "Durchgeführt: Termine, für die Anwesenheit erfasst wurde. Datum und Jahr "
                    "in deutscher Zeit (Europe/Berlin)."],
    ]


@dataclass(frozen=True)
class ExportResult:
    rows: dict[str, int]  # data rows per sheet
    figures: reports.Figures


def _consistent_snapshot() -> None:
    """All sheets from one snapshot of the data. SQLite's read transaction already is one;
    PostgreSQL needs REPEATABLE READ, set before the transaction's first statement."""
    if db.engine.dialect.name == "postgresql":
        db.session.commit()  # ends the read transaction of the login check; nothing to write
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        db.session.execute(text("SELECT 1"))


def write_participation_workbook(filters: ReportFilters, target: str | IO[bytes], *,
                                 created_by: str, now: datetime | None = None,
                                 progress: Callable[[int], None] | None = None,
                                 progress_every: int = 2000) -> ExportResult:
    """Write the whole workbook for `filters` (already checked for who asks) to `target`."""
    _consistent_snapshot()
    figures = reports.headline_figures(filters)
    organisation_rows, network = _organisation_rows(filters)
    created_at = to_local(now or utcnow()).replace(tzinfo=None, microsecond=0)
    sheets = [
        Sheet(SHEET_OVERVIEW, [Column("Angabe", 38), Column("Wert", 90)],
              _overview_rows(filters, figures, network, created_by, created_at),
              data=False, mixed=True),
        marks_sheet(filters, progress=progress, progress_every=progress_every),
        _people_sheet(filters),
        Sheet(SHEET_ORGANISATIONS, ORGANISATION_COLUMNS, organisation_rows),
    ]
    # Row generators are lazy: each sheet's query runs while that sheet is written.
    counts = write_workbook(sheets, target)
    return ExportResult(counts, figures)

