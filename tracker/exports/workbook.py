"""Write (headers, rows) sheets as a streaming xlsx workbook; every cell passes `safe_cell`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

# Excel and LibreOffice evaluate text that starts with these as a formula (or, for tab and
# carriage return, as the start of one once the cell is edited or the data goes through CSV).
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
MAX_CELL_CHARS = 32767  # Excel's limit for the text of one cell

DATE_FORMAT = "DD.MM.YYYY"
DATETIME_FORMAT = "DD.MM.YYYY HH:MM"
HOURS_FORMAT = "0.0"
INTEGER_FORMAT = "0"
PERCENT_FORMAT = "0.0%"

_illegal = ILLEGAL_CHARACTERS_RE.search
_remove_illegal = ILLEGAL_CHARACTERS_RE.sub
_HEADER_FONT = Font(bold=True)


def safe_cell(value: Any, ws) -> Any:
    """What to write for `value` on worksheet `ws`; the only way a value gets into a cell.

    Text loses the characters XML forbids (NUL and other control characters) instead of
    crashing the export, and is cut to Excel's limit. Text that starts with a formula trigger
    is written as a string cell with Excel's "quote prefix" (what typing a leading apostrophe
    does): the exact text is kept, both Excel and LibreOffice show it as text and never
    evaluate it, and it stays text when someone edits the cell. Other values pass unchanged.
    """
    if type(value) is not str:
        return value
    if _illegal(value):
        value = _remove_illegal("", value)
    if len(value) > MAX_CELL_CHARS:
        value = value[:MAX_CELL_CHARS]
    if value and value[0] in FORMULA_TRIGGERS:
        cell = WriteOnlyCell(ws)
        cell.value = value  # openpyxl makes "=..." a formula here ...
        cell.data_type = "s"  # ... so store it as a plain string instead
        cell.quotePrefix = True
        return cell
    return value


class Formatted(NamedTuple):
    """A value with its own number format, for sheets whose columns mix kinds (Übersicht)."""

    value: Any
    number_format: str


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 14
    # Excel number format for every value of the column (dates, hours); None for text.
    number_format: str | None = None


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    # A data sheet: bold frozen header row and an autofilter over all rows.
    data: bool = True
    # Values may be Formatted(...) (slower path, for short sheets).
    mixed: bool = False


class StreamingSheet(WriteOnlyWorksheet):
    """openpyxl's write-only worksheet, taking the export's own cells without a detour.

    openpyxl (3.1) first assigns every appended value to its scratch cell, and takes a Cell as
    it comes only after that assignment raised ValueError, whose message formats the cell's
    repr. The export passes a Cell for every formatted value (dates, hours: two per row of
    "Teilnahmen", up to a dozen per row of "Personen"), and that detour was 7 % of a whole
    export (bench/, instruction counts). Here a Cell is checked for first; every other value
    goes through the scratch cell exactly as in openpyxl. tests/test_exports.py compares
    what both write."""

    def _values_to_row(self, values, row_idx):
        cell = WriteOnlyCell(self)
        for col_idx, value in enumerate(values, 1):
            if value is None:
                continue
            if isinstance(value, Cell):
                value.column, value.row = col_idx, row_idx
                if value.hyperlink is not None:
                    value.hyperlink.ref = value.coordinate
                yield value
            else:
                # The scratch cell, as in openpyxl; assigning a value never gives it a link.
                cell.value = value
                cell.column, cell.row = col_idx, row_idx
                yield cell
                if cell.has_style:  # a date's default number format: not used again
                    cell = WriteOnlyCell(self)


def _create_sheet(wb: Workbook, title: str) -> StreamingSheet:
    ws = StreamingSheet(parent=wb, title=title)
    wb._add_sheet(ws)  # what Workbook.create_sheet does with its own write-only class
    return ws


def _header_cell(ws, text: str) -> Cell:
    value = safe_cell(text, ws)
    cell = value if isinstance(value, Cell) else WriteOnlyCell(ws, value=value)
    cell.font = _HEADER_FONT
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


def _write_sheet(wb: Workbook, sheet: Sheet) -> int:
    ws = _create_sheet(wb, sheet.title)
    columns = list(sheet.columns)
    # In write-only mode widths and panes must be set before the first row is written.
    for index, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    if sheet.data:
        ws.freeze_panes = "A2"
    ws.append([_header_cell(ws, c.header) for c in columns])

    # One reusable formatted cell per formatted column: ws.append() writes the row at once,
    # so the same cell object can carry the next row's value (fast path of the export).
    formatted = [None] * len(columns)
    for index, column in enumerate(columns):
        if column.number_format:
            cell = WriteOnlyCell(ws)
            cell.number_format = column.number_format
            formatted[index] = cell

    count = 0
    append = ws.append
    if sheet.mixed:
        for row in sheet.rows:
            out = []
            for value in row:
                if isinstance(value, Formatted):
                    cell = WriteOnlyCell(ws, value=safe_cell(value.value, ws))
                    cell.number_format = value.number_format
                    value = cell
                else:
                    value = safe_cell(value, ws)
                out.append(value)
            append(out)
            count += 1
    elif any(formatted):
        plan = [(index, cell) for index, cell in enumerate(formatted) if cell is not None]
        for row in sheet.rows:
            out = [safe_cell(value, ws) for value in row]
            for index, cell in plan:
                if out[index] is not None:
                    cell.value = out[index]
                    out[index] = cell
            append(out)
            count += 1
    else:
        for row in sheet.rows:
            append([safe_cell(value, ws) for value in row])
            count += 1

    if sheet.data:
        # The autofilter is written after the rows, so it can name the last row.
        ws.auto_filter.ref = f"A1:{get_column_letter(max(len(columns), 1))}{count + 1}"
    return count


def write_workbook(sheets: Iterable[Sheet], target: str | IO[bytes]) -> dict[str, int]:
    """Stream the sheets into an xlsx file (path or binary file object); returns the number
    of data rows per sheet. Sheets are written one after the other, rows never held all."""
    wb = Workbook(write_only=True)
    counts: dict[str, int] = {}
    try:
        for sheet in sheets:
            counts[sheet.title] = _write_sheet(wb, sheet)
        wb.save(target)
    except BaseException:
        _discard(wb)
        raise
    return counts


def _discard(wb: Workbook) -> None:
    """After a failure: close the half-written sheets' streams and delete their temporary
    files now, instead of leaving open generators and files to the garbage collector."""
    for ws in wb.worksheets:
        rows, writer = getattr(ws, "_rows", None), getattr(ws, "_writer", None)
        with contextlib.suppress(Exception):
            if rows is not None:
                rows.close()
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
            with contextlib.suppress(Exception):
                writer.cleanup()
