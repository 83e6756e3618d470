"""The participation workbook, read back with openpyxl and with python-calamine."""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from openpyxl.cell import WriteOnlyCell
from python_calamine import CalamineWorkbook

from tests import factories
from tests.test_reports import PRESENT, berlin, build_scene, expected, mark
from tracker.exports import participation as export
from tracker.exports.workbook import Column, Formatted, Sheet, safe_cell, write_workbook
from tracker.models import Role
from tracker.services import reports

SHEETS = ["Übersicht", "Teilnahmen", "Personen", "Organisationen"]
MARK_HEADERS = ["Nachname", "Vorname", "E-Mail", "Organisation (zum Zeitpunkt)", "Reihe",
                "Termin", "Datum", "Jahr", "Stunden", "Trainer/in", "Status", "Ohne Anmeldung"]
LABELS = {"present": "anwesend", "excused": "entschuldigt", "absent": "unentschuldigt"}


# --- reading a workbook back, two independent ways -------------------------------------------

def _normalise(value):
    if value == "":
        return None
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_openpyxl(data: bytes) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.title: [[_normalise(c.value) for c in row] for row in ws.iter_rows()]
            for ws in wb.worksheets}


def read_calamine(data: bytes) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: [[_normalise(v) for v in row] for row in wb.get_sheet_by_name(name).to_python()]
            for name in wb.sheet_names}


READERS = {"openpyxl": read_openpyxl, "calamine": read_calamine}


def as_dicts(rows: list[list]) -> list[dict]:
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def overview(rows: list[list]) -> dict:
    return {row[0]: row[1] for row in rows if row and row[0]}


def download(client, **args) -> bytes:
    # Closing the response closes (and so deletes) the temporary file, as a server does.
    with client.get("/auswertung/export.xlsx", query_string=args) as response:
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        assert response.mimetype == export_mimetype()
        return response.data


def export_mimetype() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- what the database says, computed independently ------------------------------------------

def expected_people(want) -> dict[tuple, dict]:
    people: dict[tuple, dict] = {}
    for last, first, org, series, _title, day, hours, status, _walk_in in want.marks:
        if status != PRESENT:
            continue
        p = people.setdefault((last, first, org), {"count": 0, "hours": 0.0, "first": day,
                                                   "last": day, "series": defaultdict(int)})
        p["count"] += 1
        p["hours"] += hours
        p["first"], p["last"] = min(p["first"], day), max(p["last"], day)
        p["series"][series] += 1
    return people


def expected_organisations(want) -> dict[tuple, tuple]:
    groups: dict[tuple, list] = defaultdict(list)
    for last, first, org, series, _title, day, hours, status, _walk_in in want.marks:
        if status == PRESENT:
            groups[(org, day.year, series)].append(((last, first), hours))
    return {key: (len(v), len({p for p, _h in v}), round(sum(h for _p, h in v), 2))
            for key, v in groups.items()}


def check_workbook_equals_database(sheets: dict[str, list[list]], filters) -> None:
    assert list(sheets) == SHEETS
    want = expected(filters)
    network = expected(filters, by_organisation=False)

    # Teilnahmen: one row per attendance mark, status in German, walk-ins marked.
    assert sheets["Teilnahmen"][0] == MARK_HEADERS
    rows = as_dicts(sheets["Teilnahmen"])
    got = sorted(
        (r["Nachname"], r["Vorname"], r["Organisation (zum Zeitpunkt)"], r["Reihe"], r["Termin"],
         r["Datum"], r["Stunden"], r["Status"], r["Ohne Anmeldung"]) for r in rows
    )
    assert got == sorted(
        (last, first, org, series, title, day, hours, LABELS[status], "ja" if walk_in else "nein")
        for last, first, org, series, title, day, hours, status, walk_in in want.marks
    )
    assert all(isinstance(r["Datum"], date) and r["Jahr"] == r["Datum"].year for r in rows)
    assert sum(1 for r in rows if r["Status"] == "anwesend") == want.participations

    # Personen: cumulative per person, per series and in total.
    people = {(r["Nachname"], r["Vorname"], r["Organisation (zum Zeitpunkt)"]): r
              for r in as_dicts(sheets["Personen"])}
    expected_by_person = expected_people(want)
    assert set(people) == set(expected_by_person)
    for key, p in expected_by_person.items():
        row = people[key]
        assert row["Teilnahmen gesamt"] == p["count"]
        assert row["Stunden gesamt"] == pytest.approx(p["hours"])
        assert (row["Erste Teilnahme"], row["Letzte Teilnahme"]) == (p["first"], p["last"])
        for series, count in p["series"].items():
            assert row[f"Teilnahmen: {series}"] == count
    assert sum(r["Teilnahmen gesamt"] for r in people.values()) == want.participations

    # Organisationen: every partner, as numbers, per year and series.
    orgs = {(r["Organisation"], r["Jahr"], r["Reihe"]): (r["Teilnahmen"], r["Personen"],
                                                         r["Stunden"])
            for r in as_dicts(sheets["Organisationen"])}
    want_orgs = expected_organisations(network)
    assert set(orgs) == set(want_orgs)
    for key, (count, persons, hours) in want_orgs.items():
        assert orgs[key][:2] == (count, persons)
        assert orgs[key][2] == pytest.approx(hours)

    # Übersicht: the filters and the totals.
    summary = overview(sheets["Übersicht"])
    assert summary["Teilnahmen"] == want.participations
    assert summary["Personen mit Teilnahme"] == want.people
    assert summary["Durchgeführte Termine"] == want.sessions_held
    assert summary["Anwesenheitsmarkierungen"] == len(want.marks)
    assert summary["Stunden (Teilnahmen)"] == pytest.approx(want.hours)
    assert summary["Teilnahmen aller Partnerorganisationen"] == network.participations
    if want.marks:
        assert summary["Anwesenheitsquote"] == pytest.approx(want.participations / len(want.marks))
    assert summary["Zeitraum von"] == (filters.date_from or "offen (seit Beginn)")
    assert summary["Zeitraum bis"] == (filters.date_to or "offen (bis heute)")
    assert summary["Organisation"] == (filters.organisation_name or "alle Organisationen")
    assert isinstance(summary["Erstellt am"], datetime)


@pytest.fixture
def scene(app):
    return build_scene()


# --- the download ----------------------------------------------------------------------------

@pytest.mark.parametrize("reader", list(READERS))
def test_hr_lead_downloads_a_year_and_every_sheet_equals_the_database(client, auth, scene,
                                                                      reader):
    auth.login(scene.lead)
    data = download(client, **{"from": "2025-01-01", "to": "2025-12-31"})
    sheets = READERS[reader](data)
    filters = reports.parse_filters({"from": "2025-01-01", "to": "2025-12-31"}, scene.lead)
    check_workbook_equals_database(sheets, filters)
    # Her own people by name; the agency's people nowhere, but the agency's counts are there.
    names = {r[0] for name in ("Teilnahmen", "Personen") for r in sheets[name][1:]}
    assert names == {"Müller", "Schmidt", "Weber", "Öztürk"}
    assert "Umweltbundesamt" in {r[0] for r in sheets["Organisationen"][1:]}
    text = repr(sheets)
    assert "Yılmaz" not in text and "Elif" not in text and "Krüger" not in text


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("case", ["everything", "agency_recruiting", "from_2025_open_end"])
def test_admin_exports_and_the_numbers_equal_the_database(client, auth, scene, reader, case):
    args = {
        "everything": {"from": "", "to": ""},
        "agency_recruiting": {"from": "", "to": "", "series": str(scene.recruiting.id),
                              "organisation": str(scene.agency.id)},
        "from_2025_open_end": {"from": "2025-01-01", "to": ""},
    }[case]
    auth.login(scene.admin)
    sheets = READERS[reader](download(client, **args))
    check_workbook_equals_database(sheets, reports.parse_filters(args, scene.admin))


def test_time_zone_decides_the_year_of_a_session_at_midnight(client, auth, scene):
    """The workshop at 00:30 on 1 January 2026 in Berlin is a 2026 participation."""
    auth.login(scene.admin)
    sheets = read_calamine(download(client, **{"from": "", "to": ""}))
    newyear = [r for r in as_dicts(sheets["Teilnahmen"]) if r["Termin"] == "Neujahrsworkshop"]
    assert {(r["Datum"], r["Jahr"]) for r in newyear} == {(date(2026, 1, 1), 2026)}
    years = {(r["Organisation"], r["Jahr"]) for r in as_dicts(sheets["Organisationen"])
             if r["Reihe"] == "Recruiting"}
    assert ("Stadtverwaltung Dessau-Roßlau", 2026) in years


def test_download_has_a_telling_name_and_is_never_cached(client, auth, scene):
    auth.login(scene.lead)
    with client.get("/auswertung/export.xlsx",
                    query_string={"from": "2025-01-01", "to": "2025-12-31"}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == (
            "attachment; filename=teilnahmen_2025-01-01_2025-12-31.xlsx")
        assert response.headers["Cache-Control"] == "no-store"
        assert zipfile.is_zipfile(io.BytesIO(response.data))


def test_data_sheets_are_ready_for_filtering_in_excel(client, auth, scene):
    auth.login(scene.admin)
    wb = openpyxl.load_workbook(io.BytesIO(download(client, **{"from": "", "to": ""})))
    assert wb.sheetnames == SHEETS
    for name in SHEETS[1:]:
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
        assert all(cell.font.b for cell in ws[1]), name
        assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[1])
    marks = wb["Teilnahmen"]
    datum, stunden, jahr = (MARK_HEADERS.index(h) + 1 for h in ("Datum", "Stunden", "Jahr"))
    for row in marks.iter_rows(min_row=2):
        assert row[datum - 1].is_date and row[datum - 1].number_format == "DD.MM.YYYY"
        assert row[stunden - 1].data_type == "n" and row[stunden - 1].number_format == "0.0"
        assert isinstance(row[jahr - 1].value, int)
    people = wb["Personen"]
    header = [c.value for c in people[1]]
    first = header.index("Erste Teilnahme")
    assert all(r[first].is_date for r in people.iter_rows(min_row=2))
    summary = {r[0].value: r[1] for r in wb["Übersicht"].iter_rows() if r[0].value}
    assert summary["Anwesenheitsquote"].number_format == "0.0%"
    assert summary["Zeitraum von"].value == "offen (seit Beginn)"


@pytest.mark.parametrize("reader", list(READERS))
def test_empty_selection_gives_a_valid_workbook_with_headers(client, auth, scene, reader):
    auth.login(scene.lead)
    sheets = READERS[reader](download(client, **{"from": "2010-01-01", "to": "2010-12-31"}))
    assert list(sheets) == SHEETS
    assert sheets["Teilnahmen"] == [MARK_HEADERS]
    assert len(sheets["Personen"]) == 1 and sheets["Personen"][0][0] == "Nachname"
    assert len(sheets["Organisationen"]) == 1
    summary = overview(sheets["Übersicht"])
    assert summary["Teilnahmen"] == 0 and summary["Anwesenheitsquote"] == "–"


def test_a_few_hundred_rows_stream_in_chunks_and_all_arrive(client, auth, app, db):
    org = factories.organisation()
    s = factories.series(org, title="Große Reihe")
    lead = factories.user(org, Role.HR_LEAD)
    people = [factories.user(org, first_name=f"P{i}", commit=False) for i in range(55)]
    for n in range(6):
        session = factories.session(s, starts_at=berlin(2025, 2, 3 + n), capacity=60,
                                    commit=False)
        for i, person in enumerate(people):
            mark(session, person, PRESENT if (i + n) % 5 else "absent")
    db.session.commit()
    filters = reports.parse_filters({"from": "2025-01-01", "to": "2025-12-31"}, lead)
    streamed = list(reports.mark_rows(filters, chunk_size=7))
    assert len(streamed) == 330
    days = [row[4].day for row in streamed]
    assert days == sorted(days)
    auth.login(lead)
    data = download(client, **{"from": "2025-01-01", "to": "2025-12-31"})
    for reader in READERS.values():
        check_workbook_equals_database(reader(data), filters)


# --- safe cells ------------------------------------------------------------------------------

HOSTILE = {
    "formula": "=HYPERLINK(\"http://evil.example\",\"klick\")",
    "plus": "+49 340 1234",
    "minus": "-2+3",
    "at": "@SUMME(A1:A9)",
    "tab": "\tTabulator",
    "cr": "\rWagenrücklauf",
    "dde": "=cmd|' /C calc'!A0",
}


def _xml_of_sheets(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")}


def test_hostile_names_are_written_as_text_that_is_never_evaluated(client, auth, app, db):
    org = factories.organisation("=Behörde")
    admin = factories.user(org, Role.ADMIN)
    series = factories.series(org, title="=1+1 Reihe")
    session = factories.session(series, starts_at=berlin(2025, 5, 5), title="@Termin",
                                capacity=20, commit=False)
    session.trainer = "+Trainer"
    people = {}
    # Control characters XML forbids; PostgreSQL itself refuses NUL, SQLite stores it.
    control = "Steuer\x07zei\x0bchen\x1b" + ("\x00" if db.engine.dialect.name == "sqlite" else "")
    for key, value in HOSTILE.items():
        person = factories.user(org, commit=False)
        person.last_name = value  # set directly: create_user would strip the tab
        person.first_name = control
        people[key] = person
        mark(session, person, PRESENT)
    db.session.commit()

    auth.login(admin)
    data = download(client, **{"from": "", "to": ""})

    # No formula anywhere in the file.
    for name, xml in _xml_of_sheets(data).items():
        assert "<f>" not in xml and "<f " not in xml, name

    # openpyxl: string cells with the exact text, marked as quoted text.
    wb = openpyxl.load_workbook(io.BytesIO(data))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value[:1] in "=+-@\t\r\n"]
    values = {c.value for c in cells}
    for key, value in HOSTILE.items():
        text = value.replace("\r", "\n")  # XML turns a carriage return into a line feed
        assert text in values, key
    assert {"=1+1 Reihe", "@Termin", "+Trainer", "=Behörde"} <= values
    assert all(c.data_type == "s" for c in cells)
    assert all(c.quotePrefix for c in cells)

    # python-calamine: the same texts, as strings; control characters are gone.
    sheets = read_calamine(data)
    marks = as_dicts(sheets["Teilnahmen"])
    assert {r["Nachname"] for r in marks} == {v.replace("\r", "\n") for v in HOSTILE.values()}
    assert all(isinstance(r["Nachname"], str) for r in marks)
    assert {r["Vorname"] for r in marks} == {"Steuerzeichen"}
    assert {r["Reihe"] for r in marks} == {"=1+1 Reihe"}
    assert {r["Organisation (zum Zeitpunkt)"] for r in marks} == {"=Behörde"}
    assert "Teilnahmen: =1+1 Reihe" in sheets["Personen"][0]


def test_safe_cell_is_the_one_gate_for_every_value():
    ws = openpyxl.Workbook(write_only=True).create_sheet("x")
    assert safe_cell("Müller", ws) == "Müller"
    assert safe_cell(3, ws) == 3 and safe_cell(None, ws) is None
    assert safe_cell(date(2025, 1, 1), ws) == date(2025, 1, 1)
    assert safe_cell("a\x00b\x08c\x1fd", ws) == "abcd"
    assert safe_cell("\tok\nline", ws).value == "\tok\nline"
    assert len(safe_cell("x" * 40000, ws)) == 32767
    for value in HOSTILE.values():
        cell = safe_cell(value, ws)
        assert isinstance(cell, type(WriteOnlyCell(ws)))
        assert (cell.value, cell.data_type, cell.quotePrefix) == (value, "s", True)


def test_writer_streams_sheets_with_formatted_columns():
    out = io.BytesIO()
    counts = write_workbook([Sheet("Daten", [Column("Name"), Column("Tag", 12, "DD.MM.YYYY")],
                                   iter([("=x", date(2025, 1, 2)), ("y", None)]))], out)
    assert counts == {"Daten": 2}
    assert read_calamine(out.getvalue())["Daten"] == [["Name", "Tag"], ["=x", date(2025, 1, 2)],
                                                      ["y", None]]


def _corpus(ws) -> tuple[list[list], list]:
    """Rows the export's fast path writes as text (every kind of value the export writes,
    with the edges of each), and values that must send their row through openpyxl."""
    from openpyxl.worksheet.hyperlink import Hyperlink

    hours = WriteOnlyCell(ws)
    hours.number_format = "0.0"
    day = WriteOnlyCell(ws)
    day.number_format = "DD.MM.YYYY"
    stamp = WriteOnlyCell(ws, value=datetime(2025, 3, 4, 5, 6, 7, 123456))
    stamp.number_format = "DD.MM.YYYY HH:MM"
    header = WriteOnlyCell(ws, value="Stunden: Vielfalt & <Führung>")
    header.font = openpyxl.styles.Font(bold=True)
    header.alignment = openpyxl.styles.Alignment(wrap_text=True, vertical="top")
    fast = []
    for n in range(3):
        hours.value = n + 0.25
        day.value = date(2025, 1, 2 + n)
        fast.append(["Müller", "O'Neil \"Nell\"", "a&b<c>d", " vorn", "hinten ", "  ", "\n",
                     "Zeile\nZeile", "Ärger ß € 😀", "#N/A?", "=", "x" * 300, 0, -1, 2**53 + 1,
                     10**20, 2.25, 1e-7, 1 / 3, -0.0, None, hours, day, stamp, header,
                     safe_cell("=1+1", ws), safe_cell("@Pfad", ws), safe_cell("\tTab", ws)])
    fast.append([None, None, "nur C"])
    fast.append([])
    day.value = date(1900, 1, 1)  # before Excel's phantom 29 February 1900
    fast.append([day, None, None, None, 7])
    linked = WriteOnlyCell(ws, value="Seite")
    linked.hyperlink = Hyperlink(ref="", target="https://example.org/")
    empty_styled = WriteOnlyCell(ws)
    empty_styled.font = openpyxl.styles.Font(italic=True)
    slow = [True, "", "#N/A", "=SUM(A1:A2)", linked, float("nan"), float("inf"), Decimal("1.5"),
            date(2025, 1, 2), datetime(2025, 1, 2, 3, 4), empty_styled]
    return fast, slow


def _aware_cell(ws):
    """A date with a time zone, which openpyxl refuses when it writes the cell."""
    from datetime import UTC

    cell = WriteOnlyCell(ws, value=datetime(2025, 1, 2, 3, 4, tzinfo=UTC))
    cell.number_format = "DD.MM.YYYY HH:MM"
    return cell


def _sheet_xml(sheet_class) -> bytes:
    """The workbook's XML written by `sheet_class` for the corpus: the fast rows, then each
    slow value in a row of fast values, then the fast rows again (styles registered late)."""
    wb = openpyxl.Workbook(write_only=True)
    ws = sheet_class(parent=wb, title="Daten")
    wb._add_sheet(ws)
    fast, slow = _corpus(ws)
    for row in fast:
        ws.append(row)
    for value in slow:
        ws.append(["vorher", 1, value, 2.5, "nachher"])
    for row in fast:
        ws.append(row)
    ws.append(value for value in ["aus", "einem", "Generator", 1])
    ws.append(range(3))
    out = io.BytesIO()
    wb.save(out)
    with zipfile.ZipFile(out) as archive:
        return b"".join(archive.read(name) for name in sorted(archive.namelist())
                        if not name.startswith("docProps/"))  # docProps hold the save time


def test_the_streaming_sheet_writes_what_openpyxls_own_writes():
    """StreamingSheet writes rows as text (bench/): the same bytes as openpyxl's own sheet."""
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    from tracker.exports.workbook import StreamingSheet

    ours = _sheet_xml(StreamingSheet)
    assert ours == _sheet_xml(WriteOnlyWorksheet)
    assert b"&amp;" in ours and b'xml:space="preserve"' in ours and b"<f>SUM(A1:A2)</f>" in ours
    with pytest.raises(TypeError, match="timezones"):  # as openpyxl: no time zones in Excel
        aware = _aware_cell(openpyxl.Workbook(write_only=True).create_sheet()).value
        write_workbook([Sheet("Daten", [Column("Zeit")], [[Formatted(aware, "DD.MM.YYYY")]],
                              mixed=True)], io.BytesIO())


def test_the_fast_path_takes_the_exports_rows_and_leaves_the_rest_to_openpyxl():
    from tracker.exports.workbook import RowWriter, StreamingSheet

    wb = openpyxl.Workbook(write_only=True)
    ws = StreamingSheet(parent=wb, title="Daten")
    wb._add_sheet(ws)
    writer = RowWriter(ws)
    fast, slow = _corpus(ws)
    for row in fast:
        assert writer._row_text(row, 2) is not None, row
    for value in [*slow, _aware_cell(ws)]:
        assert writer._row_text(["vorher", value], 2) is None, value
    writer.close()
    writer.cleanup()


def test_a_failing_export_answers_with_an_error_page_not_half_a_file(client, auth, scene,
                                                                      monkeypatch):
    def broken(_filters, **_kwargs):
        yield from ()
        raise RuntimeError("database went away")

    monkeypatch.setattr(reports, "person_totals", broken)
    auth.login(scene.admin)
    response = client.get("/auswertung/export.xlsx", query_string={"from": "", "to": ""})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "Content-Disposition" not in response.headers


# --- the command line ------------------------------------------------------------------------

def test_command_line_writes_the_same_workbook(runner, scene, tmp_path):
    out = tmp_path / "bericht.xlsx"
    result = runner.invoke(args=["export", "participation", "--out", str(out),
                                 "--from", "2025-01-01", "--to", "2025-12-31",
                                 "--organisation", str(scene.city.id)])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "5 participations" in result.output
    filters = reports.parse_filters({"from": "2025-01-01", "to": "2025-12-31",
                                     "organisation": str(scene.city.id)}, None)
    for reader in READERS.values():
        sheets = reader(out.read_bytes())
        check_workbook_equals_database(sheets, filters)
        assert overview(sheets["Übersicht"])["Erstellt von"] == "Kommandozeile"
    assert [p.name for p in tmp_path.iterdir()] == ["bericht.xlsx"]


def test_command_line_without_filters_exports_everything(runner, scene, tmp_path):
    out = tmp_path / "alles.xlsx"
    result = runner.invoke(args=["export", "participation", "--out", str(out)])
    assert result.exit_code == 0, result.output
    check_workbook_equals_database(read_calamine(out.read_bytes()),
                                   reports.parse_filters({"from": "", "to": ""}, None))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--from", "2025-12-31", "--to", "2025-01-01"], "--to 2025-01-01 is before --from 2025-12-31"),
        (["--from", "2025-02-30"], "'2025-02-30' is not a valid calendar date"),
        (["--to", "yesterday"], "'yesterday' is not a date; use YYYY-MM-DD"),
        (["--series", "9999"], "there is no series with id '9999'"),
        (["--organisation", "abc"], "there is no organisation with id 'abc'"),
    ],
)
def test_command_line_refuses_bad_input_and_leaves_the_file_alone(runner, scene, tmp_path,
                                                                  options, message):
    out = tmp_path / "bericht.xlsx"
    out.write_bytes(b"last week's report")
    result = runner.invoke(args=["export", "participation", "--out", str(out), *options])
    assert result.exit_code != 0
    assert message in result.output
    assert out.read_bytes() == b"last week's report"
    assert [p.name for p in tmp_path.iterdir()] == ["bericht.xlsx"]


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing-folder/bericht.xlsx", "does not exist"), ("bericht.csv", "must end in .xlsx")],
)
def test_command_line_refuses_an_unusable_target(runner, app, tmp_path, target, message):
    result = runner.invoke(args=["export", "participation", "--out", str(tmp_path / target)])
    assert result.exit_code != 0
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_command_line_failure_keeps_the_old_file_and_leaves_no_partial_file(
        runner, scene, tmp_path, monkeypatch):
    def broken(_filters, **_kwargs):
        yield from ()
        raise RuntimeError("database went away")

    monkeypatch.setattr(reports, "person_totals", broken)
    out = tmp_path / "bericht.xlsx"
    out.write_bytes(b"last week's report")
    result = runner.invoke(args=["export", "participation", "--out", str(out)])
    assert result.exit_code != 0
    assert out.read_bytes() == b"last week's report"
    assert [p.name for p in tmp_path.iterdir()] == ["bericht.xlsx"]


def test_filename_says_what_and_when():
    filters = reports.ReportFilters(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
    assert export.export_filename(filters) == "teilnahmen_2025-01-01_2025-12-31.xlsx"
    assert export.export_filename(reports.ReportFilters()) == "teilnahmen_anfang_heute.xlsx"
    assert re.fullmatch(r"teilnahmen_anfang_2025-12-31\.xlsx",
                        export.export_filename(reports.ReportFilters(date_to=date(2025, 12, 31))))
