"""Caches for pure data: per request (what a request asks twice is computed once) and per
worker thread (library objects built once and reused, such as loaded fonts).

Modelled on Indico's `memoize_request` (indico/util/caching.py). The cache lives in Flask's
`g`, so it ends with the request (or the app context of a CLI command) and is never shared
between people or processes. Only pure data goes through it, keyed on the function and every
argument it depends on; never a security decision that must be re-checked (tokens, cookies).
"""

from __future__ import annotations

import functools
import threading
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


_thread = threading.local()


def memoize_thread(fn: F) -> F:
    """Remember `fn(*args)` for the life of the worker thread.

    For pure data that is expensive to build and safe to reuse between requests, such as
    WeasyPrint's font configuration (the fonts unpacked from static/, which WeasyPrint
    documents as reusable across documents). Per thread, because such library objects are
    not made to be shared between threads. Keyed on the function and every argument;
    never for security decisions, which are re-checked on every request."""

    @functools.wraps(fn)
    def memoized(*args):
        cache: dict = _thread.__dict__.setdefault("cache", {})
        key = (fn.__module__, fn.__qualname__, args)
        try:
            return cache[key]
        except KeyError:
            value = cache[key] = fn(*args)
            return value

    return memoized  # type: ignore[return-value]
