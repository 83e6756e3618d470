"""Write (headers, rows) sheets as a streaming xlsx workbook; every cell passes `safe_cell`.

openpyxl's write-only mode as documented: `Workbook(write_only=True)`, `ws.append(row)`, and
`WriteOnlyCell` only where a cell needs a style (the bold headers, a number format). With
lxml installed openpyxl streams each sheet through lxml's incremental writer.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

# Excel and LibreOffice evaluate text that starts with these as a formula (or, for tab and
# carriage return, as the start of one once the cell is edited or the data goes through CSV).
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
MAX_CELL_CHARS = 32767  # Excel's limit for the text of one cell

# Every character XML 1.0 forbids (https://www.w3.org/TR/xml/#charsets): C0 controls other
# than tab, line feed and carriage return, lone surrogates, and U+FFFE/U+FFFF. openpyxl only
# refuses the control characters; U+FFFE/U+FFFF would make the sheet XML ill-formed, which
# LibreOffice answers by silently dropping every row from that cell on.
XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

DATE_FORMAT = "DD.MM.YYYY"
DATETIME_FORMAT = "DD.MM.YYYY HH:MM"
# Hours are stored exactly (a session's minutes / 60) and shown with two decimals; every
# total sums the same exact values, so a column's sum equals its total.
HOURS_FORMAT = "0.00"
INTEGER_FORMAT = "0"
PERCENT_FORMAT = "0.0%"

_HEADER_FONT = Font(bold=True)
_HEADER_ALIGNMENT = Alignment(wrap_text=True, vertical="top")


def clean_text(value: str) -> str:
    """Text without the characters XML 1.0 forbids, cut to Excel's limit for one cell."""
    # Every printable character is one XML allows; the pattern only looks at the rest (tabs,
    # line breaks, and what must go).
    if not value.isprintable() and XML_ILLEGAL.search(value):
        value = XML_ILLEGAL.sub("", value)
    if len(value) > MAX_CELL_CHARS:
        value = value[:MAX_CELL_CHARS]
    return value


def safe_cell(value: Any, ws) -> Any:
    """What to write for `value` on worksheet `ws`; the only way a value gets into a cell.

    Text loses the characters XML forbids instead of breaking the file, and is cut to
    Excel's limit. Text that starts with a formula trigger is written as a string cell with
    Excel's "quote prefix" (what typing a leading apostrophe does): the exact text is kept,
    both Excel and LibreOffice show it as text and never evaluate it, and it stays text when
    someone edits the cell. Other values pass unchanged.
    """
    if type(value) is not str:
        return value
    value = clean_text(value)
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
    # Values may be Formatted(...), for short sheets such as Übersicht.
    mixed: bool = False


def _header_cell(ws, text: str) -> Cell:
    value = safe_cell(text, ws)
    cell = value if isinstance(value, Cell) else WriteOnlyCell(ws, value=value)
    cell.font = _HEADER_FONT
    cell.alignment = _HEADER_ALIGNMENT
    return cell


def _formatted_cell(ws, value: Any, number_format: str) -> Any:
    value = safe_cell(value, ws)
    if value is None:
        return None
    cell = value if isinstance(value, Cell) else WriteOnlyCell(ws, value=value)
    cell.number_format = number_format
    return cell


def _write_sheet(wb: Workbook, sheet: Sheet) -> int:
    ws = wb.create_sheet(sheet.title)
    columns = list(sheet.columns)
    # In write-only mode widths and panes must be set before the first row is written.
    for index, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    if sheet.data:
        ws.freeze_panes = "A2"
    ws.append([_header_cell(ws, c.header) for c in columns])

    count = 0
    if sheet.mixed:
        for row in sheet.rows:
            ws.append([_formatted_cell(ws, v.value, v.number_format) if isinstance(v, Formatted)
                       else safe_cell(v, ws) for v in row])
            count += 1
    else:
        # Only the columns with a number format need a cell object, and one per column is
        # enough: append() writes the row at once, so the cell can carry the next row's
        # value. Every other value is appended as it is and openpyxl makes the cell.
        formatted = []
        for index, column in enumerate(columns):
            if column.number_format:
                cell = WriteOnlyCell(ws)
                cell.number_format = column.number_format
                formatted.append((index, cell))
        for row in sheet.rows:
            values = [safe_cell(value, ws) if type(value) is str else value for value in row]
            for index, cell in formatted:
                value = values[index] if index < len(values) else None
                if value is not None and not isinstance(value, Cell):
                    cell.value = value
                    values[index] = cell
            ws.append(values)
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
    except BaseException:
        _discard(wb)
        raise
    wb.save(target)
    return counts


def _discard(wb: Workbook) -> None:
    """After a failure: let openpyxl finish and remove the half-written sheets' temporary
    files now (saving is what does that), into nowhere, instead of at the process's exit."""
    with contextlib.suppress(Exception), open(os.devnull, "wb") as nowhere:
        wb.save(nowhere)
