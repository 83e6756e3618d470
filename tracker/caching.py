"""One per-request cache for pure data: what a request asks twice is computed once.

Modelled on Indico's `memoize_request` (indico/util/caching.py). The cache lives in Flask's
`g`, so it ends with the request (or the app context of a CLI command) and is never shared
between people or processes. Only pure data goes through it, keyed on the function and every
argument it depends on; never a security decision that must be re-checked (tokens, cookies).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import g, has_app_context

F = TypeVar("F", bound=Callable)

_CACHE = "tracker_memoize_request"


def memoize_request(fn: F) -> F:
    """Remember `fn(*args, **kwargs)` for the rest of the request.

    Arguments must be hashable (ORM objects hash by identity, which is what a request
    wants); a call with an unhashable argument, or outside an app context, is not cached."""

    @functools.wraps(fn)
    def memoized(*args, **kwargs):
        if not has_app_context():
            return fn(*args, **kwargs)
        cache: dict = g.setdefault(_CACHE, {})
        key = (fn.__module__, fn.__qualname__, args, frozenset(kwargs.items()))
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument
            return fn(*args, **kwargs)
        value = cache[key] = fn(*args, **kwargs)
        return value

    return memoized  # type: ignore[return-value]


def forget_request_cache() -> None:
    """Drop what this request remembered (after a change that the cached data depends on)."""
    if has_app_context():
        g.pop(_CACHE, None)
