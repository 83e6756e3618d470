"""Write (headers, rows) sheets as a streaming xlsx workbook; every cell passes `safe_cell`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from math import isfinite
from typing import IO, Any, NamedTuple

from et_xmlfile.xmlfile import _IncrementalFileWriter
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter

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
    """openpyxl's write-only worksheet, writing the export's rows as XML text in one go.

    openpyxl (3.1, without lxml) turns every value into a Cell, every Cell into an
    ElementTree element and serialises each element through et_xmlfile, namespace handling
    included: ~80,000 instructions a cell, over 90 % of an export (bench/README.md). A row
    of the export holds only a few kinds of values (text, numbers, dates, the export's
    styled cells), so `RowWriter` writes such a row as the text openpyxl would write for
    it, in one string; a row holding anything else (formulas, links, comments, booleans,
    openpyxl's error codes, empty text ...) goes through openpyxl's own cells and writer.
    tests/test_exports.py checks that both write the same bytes."""

    def _get_writer(self):  # openpyxl's, with the writer class below
        if self._writer is None:
            self._writer = RowWriter(self)
            self._writer.write_top()

    def _values_to_row(self, values, row_idx):
        # The row as appended: RowWriter.write_row decides how it is written.
        return values

    def _row_cells(self, values, row_idx):
        """openpyxl's conversion of appended values into cells, for RowWriter's slow path:
        the same, except that a Cell is checked for first (openpyxl takes a Cell only after
        assigning it to its scratch cell raised ValueError, whose message formats the cell's
        repr: 7 % of a whole export before rows were written as text)."""
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


def _escape(text: str) -> str:
    """Text content as ElementTree escapes it (only &, < and >; quotes stay)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _inline_text(value: str) -> str | None:
    """The <is> element openpyxl writes for a text cell; None for empty text (no element)."""
    if not value:
        return None
    stripped = value.strip()
    if stripped and stripped != value:
        return f'<is><t xml:space="preserve">{_escape(value)}</t></is>'
    return f"<is><t>{_escape(value)}</t></is>"


def _plain_text(value: str) -> str | None:
    """_inline_text for an appended str, or None where openpyxl would not store it as this
    text: a formula or an error value, text it cuts or refuses (safe_cell has seen to that)."""
    if (not value or (value[0] == "=" and len(value) > 1) or value in ERROR_CODES
            or len(value) > MAX_CELL_CHARS or _illegal(value)):
        return None
    return _inline_text(value)


def _number(value: int | float) -> str | None:
    return f"{value:.16g}" if isfinite(value) else None  # openpyxl: "%.16g" % value


class RowWriter(WorksheetWriter):
    """openpyxl's worksheet writer; a row of plain values and the export's cells is written
    as one string of the XML openpyxl writes for it (see StreamingSheet)."""

    def __init__(self, ws, out=None) -> None:
        super().__init__(ws, out)
        workbook = ws.parent
        self._epoch = workbook.epoch
        self._dates_as_numbers = not workbook.iso_dates
        self._letters: list[str] = []

    def write_row(self, xf, row, row_idx):
        if type(row) is not list and type(row) is not tuple:
            row = list(row)  # append() also takes a generator or a range
        text = None
        if type(xf) is _IncrementalFileWriter and not self.ws.row_dimensions:
            text = self._row_text(row, row_idx)
        if text is None:
            super().write_row(xf, self.ws._row_cells(row, row_idx), row_idx)
        else:
            xf._file(text)  # et_xmlfile's raw output, inside the open <sheetData>

    def _row_text(self, values, row_idx: int) -> str | None:
        letters = self._letters
        if len(values) > len(letters):
            letters += [get_column_letter(i) for i in range(len(letters) + 1, len(values) + 1)]
        r = str(row_idx)
        parts = [f'<row r="{r}">']
        add = parts.append
        for letter, value in zip(letters, values, strict=False):
            if value is None:
                continue
            kind = type(value)
            if kind is str:
                inline = _plain_text(value)
                if inline is None:
                    return None
                add(f'<c r="{letter}{r}" t="inlineStr">{inline}</c>')
            elif kind is int or kind is float:
                number = _number(value)
                if number is None:
                    return None
                add(f'<c r="{letter}{r}" t="n"><v>{number}</v></c>')
            elif isinstance(value, Cell):
                cell = self._cell_text(value, f"{letter}{r}")
                if cell is None:
                    return None
                add(cell)
            else:
                return None
        add("</row>")
        return "".join(parts)

    def _cell_text(self, cell: Cell, ref: str) -> str | None:
        if cell.hyperlink is not None or cell._comment is not None:
            return None
        value, data_type = cell._value, cell.data_type
        style = f' s="{cell.style_id}"' if cell.has_style else ""
        kind = type(value)
        if data_type == "s" and kind is str:
            # Text the cell stores as text, quote-prefixed "=..." of safe_cell's included
            # (openpyxl checked it when it was assigned).
            inline = _inline_text(value)
            if inline is None:
                return None
            return f'<c r="{ref}"{style} t="inlineStr">{inline}</c>'
        if data_type == "n" and (kind is int or kind is float):
            number = _number(value)
        elif (data_type == "d" and self._dates_as_numbers and (kind is date or kind is datetime)
              and (kind is date or value.tzinfo is None)):
            number = _number(to_excel(value, self._epoch))
        else:
            return None
        if number is None:
            return None
        return f'<c r="{ref}"{style} t="n"><v>{number}</v></c>'


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
