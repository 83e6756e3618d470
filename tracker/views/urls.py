"""URLs for long lists: build a route once, then fill in each row's id by string joins.

url_for resolves the endpoint, converts every value and escapes the path on each call
(~16 µs); an attendance sheet needs two links per person. The shape of a route does not
change between rows, so `id_url` asks url_for once, with a marker id, and returns a function
that swaps the marker for the row's id.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import url_for

from tracker.security import MAX_DATABASE_ID

_MARKER = str(MAX_DATABASE_ID)


def id_url(endpoint: str, name: str, **values) -> Callable[[int], str]:
    """A function id -> url_for(endpoint, **values, **{name: id}) for positive integer ids."""
    url = url_for(endpoint, **values, **{name: MAX_DATABASE_ID})
    head, found, tail = url.rpartition(_MARKER)
    if not found:  # pragma: no cover - every id route puts the id in the path
        raise ValueError(f"{endpoint} does not show {name} in its URL")

    def build(row_id: int) -> str:
        return f"{head}{int(row_id)}{tail}"

    return build
