"""htmx helpers: answer a fragment only to a real partial request, else the full page."""

from __future__ import annotations

from flask import render_template, request


def is_partial() -> bool:
    """An htmx request that swaps part of a page (boosted navigation wants the page)."""
    return bool(getattr(request, "htmx", None)) and not request.htmx.boosted


def render_page_or_fragment(page: str, fragment: str, **context) -> str:
    return render_template(fragment if is_partial() else page, **context)
