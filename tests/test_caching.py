"""The two caches for pure data: per request and per worker thread."""

from __future__ import annotations

import threading

from flask import Flask

from tracker.caching import forget_request_cache, memoize_request, memoize_thread

calls: list = []


@memoize_request
def _per_request(n):
    calls.append(("request", n))
    return object()


@memoize_thread
def _per_thread(n):
    calls.append(("thread", n))
    return object()


def test_a_request_computes_once_per_argument_and_a_new_request_again():
    app = Flask(__name__)
    with app.app_context():
        first = _per_request(1)
        assert _per_request(1) is first
        assert _per_request(2) is not first
        forget_request_cache()
        assert _per_request(1) is not first
    with app.app_context():
        assert _per_request(1) is not first
        assert _per_request([1]) is not _per_request([1])  # unhashable: computed each time


def test_a_thread_keeps_its_value_and_another_thread_builds_its_own():
    mine = _per_thread("a")
    assert _per_thread("a") is mine
    assert _per_thread("b") is not mine
    theirs: list = []
    worker = threading.Thread(target=lambda: theirs.extend([_per_thread("a"), _per_thread("a")]))
    worker.start()
    worker.join()
    assert theirs[0] is theirs[1]
    assert theirs[0] is not mine
