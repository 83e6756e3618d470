"""URLs for long lists: build a route once, then fill in each row's id by string joins.

url_for resolves the endpoint, converts every value and escapes the path on each call
(~16 µs); an attendance sheet needs two links per person. The shape of a route does not
change between rows, so `id_url` asks url_for once, with a marker id, and returns a function
that swaps the marker for the row's id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from flask import Flask, current_app, has_request_context, request, url_for

from tracker.security import MAX_DATABASE_ID

_MARKER = str(MAX_DATABASE_ID)


def id_url(endpoint: str, name: str, **values) -> Callable[[int], str]:
    """A function id -> url_for(endpoint, **values, **{name: id}) for positive integer ids."""
    url = remembered_url_for(endpoint, **values, **{name: MAX_DATABASE_ID})
    head, found, tail = url.rpartition(_MARKER)
    if not found:  # pragma: no cover - every id route puts the id in the path
        raise ValueError(f"{endpoint} does not show {name} in its URL")

    def build(row_id: int) -> str:
        return f"{head}{int(row_id)}{tail}"

    # The same URL with a text in place of the id (for markup rendered once and stamped).
    build.with_marker = lambda marker: f"{head}{marker}{tail}"  # type: ignore[attr-defined]
    return build


def remembered_url_for(endpoint: str, **values) -> str:
    """url_for, remembered per app (see init_app); for templates and id_url."""
    if "_external" in values or "_scheme" in values or not has_request_context():
        return url_for(endpoint, **values)
    blueprint = request.blueprint if endpoint.startswith(".") else None
    try:
        key = tuple(values.items())  # in order: extra values become the query string
        return current_app.extensions["tracker_urls"](
            request.script_root, blueprint, endpoint, key
        )
    except (TypeError, KeyError):  # an unhashable value; an app without init_app
        return url_for(endpoint, **values)


def init_app(app: Flask) -> None:
    """Templates (and id_url) build URLs through a per-app memory of url_for.

    A page's layout alone asks for a dozen URLs that never change (stylesheets, scripts, the
    navigation), ~12 µs each through url_for (bench/). A URL built without _external depends
    only on the endpoint, its values and the script root it is served under (and, for a
    relative endpoint, the current blueprint); tracker has no url_defaults, so those are the
    key. External URLs and values that cannot be a key go to url_for as they are."""

    @lru_cache(maxsize=4096)
    def remembered(_script_root: str, _blueprint: str | None, endpoint: str, items: tuple) -> str:
        return url_for(endpoint, **dict(items))

    app.extensions["tracker_urls"] = remembered
    app.jinja_env.globals["url_for"] = remembered_url_for
