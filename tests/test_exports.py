"""The participation workbook, read back with openpyxl and with python-calamine."""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from datetime import date, datetime

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
                                                                      reader, app):
    app.config["PRIVACY_MIN_COUNT"] = 1  # exact figures: the threshold has tests of its own
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
        assert row[stunden - 1].data_type == "n" and row[stunden - 1].number_format == "0.00"
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
    # U+FFFE and U+FFFF: openpyxl lets them through, and they make the sheet XML ill-formed
    # (LibreOffice then drops every row from that cell on). Set through the ORM, past the forms.
    noncharacters = factories.user(org, commit=False)
    noncharacters.last_name, noncharacters.first_name = "Wei\ufffeß\uffff", "\uffffJo\ufffe"
    mark(session, noncharacters, PRESENT)
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
        assert value in values, key  # the exact text, carriage return included
    assert {"=1+1 Reihe", "@Termin", "+Trainer", "=Behörde"} <= values
    assert all(c.data_type == "s" for c in cells)
    assert all(c.quotePrefix for c in cells)

    # python-calamine: the same texts, as strings; control characters are gone.
    sheets = read_calamine(data)
    marks = as_dicts(sheets["Teilnahmen"])
    assert {r["Nachname"] for r in marks} == {*HOSTILE.values(), "Weiß"}
    assert all(isinstance(r["Nachname"], str) for r in marks)
    assert {r["Vorname"] for r in marks} == {"Steuerzeichen", "Jo"}
    assert {r["Reihe"] for r in marks} == {"=1+1 Reihe"}
    assert {r["Organisation (zum Zeitpunkt)"] for r in marks} == {"=Behörde"}
    assert "Teilnahmen: =1+1 Reihe" in sheets["Personen"][0]
    # Every row arrived, in both readers, and no forbidden character is left anywhere.
    openpyxl_marks = as_dicts(read_openpyxl(data)["Teilnahmen"])
    assert len(marks) == len(openpyxl_marks) == len(HOSTILE) + 1
    assert ("Weiß", "Jo") in {(r["Nachname"], r["Vorname"]) for r in openpyxl_marks}
    for name, xml in _xml_of_sheets(data).items():
        assert "\ufffe" not in xml and "\uffff" not in xml, name


def test_safe_cell_is_the_one_gate_for_every_value():
    ws = openpyxl.Workbook(write_only=True).create_sheet("x")
    assert safe_cell("Müller", ws) == "Müller"
    assert safe_cell(3, ws) == 3 and safe_cell(None, ws) is None
    assert safe_cell(date(2025, 1, 1), ws) == date(2025, 1, 1)
    assert safe_cell("a\x00b\x08c\x1fd", ws) == "abcd"
    # Everything else XML 1.0 forbids: U+FFFE, U+FFFF and lone surrogates.
    assert safe_cell("a\ufffeb\uffffc\ud800d\udfffe", ws) == "abcde"
    assert safe_cell("\x7f\x85\ufffd\U0001f600", ws) == "\x7f\x85\ufffd\U0001f600"  # allowed
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


def test_a_time_zone_is_refused_as_openpyxl_refuses_it():
    """Excel has no time zones: an aware datetime is a programming error, not a silent shift."""
    from datetime import UTC

    aware = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    with pytest.raises(TypeError, match="timezones"):
        write_workbook([Sheet("Daten", [Column("Zeit")], [[Formatted(aware, "DD.MM.YYYY")]],
                              mixed=True)], io.BytesIO())


def test_every_kind_of_value_reads_back_as_written():
    """The writer uses openpyxl's public write-only API: what goes in comes out, in both
    readers, with the column's number format on formatted cells."""
    rows = [
        ["Müller", "O'Neil \"Nell\"", "a&b<c>d", " vorn", "hinten ", "Zeile\nZeile",
         "Ärger ß € 😀", "=1+1", 0, -1, 2**53, 2.25, 1 / 3, date(2025, 1, 2)],
        [None, None, "nur C", None, None, None, None, None, None, None, None, None, None, None],
    ]
    columns = [Column(f"S{i}") for i in range(13)] + [Column("Tag", 12, "DD.MM.YYYY")]
    out = io.BytesIO()
    assert write_workbook([Sheet("Daten", columns, iter(rows))], out) == {"Daten": 2}
    for reader in READERS.values():
        got = reader(out.getvalue())["Daten"]
        assert got[1][:8] == rows[0][:8]
        assert got[1][8:13] == [0, -1, 2**53, 2.25, pytest.approx(1 / 3)]
        assert got[1][13] == date(2025, 1, 2)
        assert got[2][:3] == [None, None, "nur C"]
    ws = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["Daten"]
    assert ws["N2"].number_format == "DD.MM.YYYY" and ws["N2"].is_date
    assert ws["H2"].quotePrefix and ws["H2"].data_type == "s"


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


# --- another organisation's series (issue 20, item 6) ---------------------------------------

@pytest.mark.parametrize("reader", list(READERS))
def test_organisations_sheet_never_shows_a_series_her_organisation_has_no_part_in(
        client, auth, scene, reader, app):
    from tests.test_reports import _college_series

    internal = _college_series(scene)
    app.config["PRIVACY_MIN_COUNT"] = 1  # exact figures: the threshold has tests of its own
    auth.login(scene.lead)
    sheets = READERS[reader](download(client, **{"from": "", "to": ""}))
    rows = as_dicts(sheets["Organisationen"])
    assert {r["Reihe"] for r in rows} == {"Vielfaltsmontag", "Recruiting"}
    assert "Hochschule Anhalt" not in {r["Organisation"] for r in rows}
    assert "Hochschulinterne Reihe" not in repr(sheets)
    summary = overview(sheets["Übersicht"])
    assert summary["Teilnahmen aller Partnerorganisationen"] == sum(r["Teilnahmen"] for r in rows)
    # The administration sees the college's series and counts.
    auth.logout()
    auth.login(scene.admin)
    rows = as_dicts(READERS[reader](download(client, **{"from": "", "to": ""}))["Organisationen"])
    assert ("Hochschule Anhalt", 2025, internal.title, 3) in {
        (r["Organisation"], r["Jahr"], r["Reihe"], r["Teilnahmen"]) for r in rows}


# --- hours add up (issue 20, item 12) --------------------------------------------------------

@pytest.mark.parametrize("reader", list(READERS))
def test_hours_of_the_rows_add_up_to_every_total(client, auth, app, db, reader):
    """30 sessions of 100 minutes: each row shows 1,67 h, and every total is 50 h, the exact
    sum of the rows' values (not 30 × 1.67 = 50.1), on every sheet and on the page."""
    import math
    from datetime import timedelta

    org = factories.organisation("Stadtverwaltung")
    lead = factories.user(org, Role.HR_LEAD)
    people = [factories.user(org, last_name=n, commit=False) for n in ("Aalto", "Berg")]
    s = factories.series(org, [org], title="Kurz und oft")
    for n in range(30):
        session = factories.session(s, starts_at=berlin(2025, 1, 6) + timedelta(days=7 * n),
                                    commit=False)
        session.ends_at = session.starts_at + timedelta(minutes=100)
        mark(session, people[0], PRESENT)
        if n % 3 == 0:
            mark(session, people[1], PRESENT)
    db.session.commit()
    auth.login(lead)
    args = {"from": "2025-01-01", "to": "2025-12-31"}
    sheets = READERS[reader](download(client, **args))

    marks = as_dicts(sheets["Teilnahmen"])
    assert len(marks) == 40
    assert all(round(r["Stunden"], 2) == 1.67 for r in marks)
    row_sum = math.fsum(r["Stunden"] for r in marks)
    assert round(row_sum, 9) == round(40 * 100 / 60, 9)

    people_rows = {r["Nachname"]: r for r in as_dicts(sheets["Personen"])}
    for name in ("Aalto", "Berg"):
        mine = math.fsum(r["Stunden"] for r in marks if r["Nachname"] == name)
        assert round(people_rows[name]["Stunden gesamt"], 9) == round(mine, 9)
        assert round(people_rows[name]["Stunden: Kurz und oft"], 9) == round(mine, 9)
    assert round(people_rows["Aalto"]["Stunden gesamt"], 9) == 50

    org_rows = as_dicts(sheets["Organisationen"])
    assert round(math.fsum(r["Stunden"] for r in org_rows), 9) == round(row_sum, 9)
    assert round(overview(sheets["Übersicht"])["Stunden (Teilnahmen)"], 9) == round(row_sum, 9)

    html = client.get("/auswertung/", query_string=args).get_data(as_text=True)
    assert re.search(r'id="figure-hours">\s*66,67\s*<', html)
    assert f"{round(row_sum, 2):.2f}".replace(".", ",") == "66,67"
