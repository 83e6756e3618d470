"""German name order (DIN 5007-1, "Ä like A, ß like ss") on both databases.

PostgreSQL sorts with the ICU collation `german` (locale `de`), created by a migration. SQLite
has no ICU, so the same collation name is registered on every SQLite connection with a
comparison that follows ICU's rules for German: letters first by their base letter ignoring
case and accents (ä = a, ß = ss, ø = o), then by accents (a before ä, ss before ß), then by
case (lower before upper), and last by the text itself, as PostgreSQL breaks ties. Spaces
and punctuation count and come before letters ("Van Berg" before "van der Berg", "Müller-Lüdenscheidt"
before "Müllerova"). tests/test_collation.py holds both databases to the same order.

Order people with `german(User.last_name)` wherever a list shows them by name.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from sqlalchemy.sql.elements import ColumnElement

COLLATION = "german"

# Letters that Unicode does not decompose, as ICU's root collation treats them: a base letter
# (or two) with an accent-like difference.
_SPECIAL = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
    "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i",
}
# Accents in ICU's secondary order (the ones names carry); others follow by code point.
_ACCENTS = {mark: rank for rank, mark in enumerate(
    "\u0301\u0300\u0306\u0302\u030c\u030a\u0308\u030b\u0303\u0307\u0327\u0328\u0304")}
_SPECIAL_ACCENT = 100  # the difference between ß and ss, ø and o, ...
# Punctuation in ICU's root order; punctuation not listed follows by code point.
_PUNCTUATION = {c: rank for rank, c in enumerate("_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$")}


def _primary(char: str) -> tuple[int, int | str]:
    category = unicodedata.category(char)
    if category[0] == "Z" or char.isspace():
        return (0, ord(char))
    if category[0] == "P" or char in _PUNCTUATION:
        return (1, _PUNCTUATION.get(char, 1000 + ord(char)))
    if category[0] == "S":
        return (2, ord(char))
    if category[0] == "N":
        value = unicodedata.digit(char, None)
        return (3, value if value is not None else ord(char))
    return (4, char.casefold())


@lru_cache(maxsize=8192)
def german_sort_key(text: str | None) -> tuple:
    """A key that orders texts as ICU's German collation does (None first)."""
    if text is None:
        return ()
    primary: list = []
    secondary: list[list[int]] = []
    tertiary: list[int] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char):
            if secondary:
                secondary[-1].append(_ACCENTS.get(char, 200 + ord(char)))
            continue
        special = _SPECIAL.get(char)
        letters = special if special is not None else char
        for i, letter in enumerate(letters):
            primary.append(_primary(letter))
            # ß sorts after ss, ø after o: the difference sits on the last letter.
            marks = [_SPECIAL_ACCENT] if special is not None and i == len(letters) - 1 else []
            secondary.append(marks)
            tertiary.append(1 if letter != letter.casefold() else 0)
    return (
        tuple(primary),
        tuple(tuple(marks) for marks in secondary),
        tuple(tertiary),
        text,
    )


def compare_german(left: str | None, right: str | None) -> int:
    """SQLite's collation callback: negative, zero or positive."""
    a, b = german_sort_key(left), german_sort_key(right)
    return (a > b) - (a < b)


def register_sqlite_collation(dbapi_connection) -> None:
    dbapi_connection.create_collation(COLLATION, compare_german)


def german(column) -> ColumnElement:
    """`column` in German name order, for ORDER BY (and comparisons) on both databases."""
    return column.collate(COLLATION)
