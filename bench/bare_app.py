"""The reference: a bare Flask app that answers a constant page, the stack's own limit.

`GET` or `POST /<size>` returns an HTML page of exactly `size` bytes (built once per size), so
each of tracker's pages is compared with a bare page of the same size served by the same
gunicorn set-up. Serve it with `gunicorn bench.bare_app:app`.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, Response

app = Flask(__name__)

_HEAD = b"<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\"><title>bare</title></head><body><p>"
_TAIL = b"</p></body></html>"


@lru_cache(maxsize=64)
def page(size: int) -> bytes:
    filler = max(size - len(_HEAD) - len(_TAIL), 0)
    return _HEAD + (b"Vielfaltsmontag " * (filler // 16 + 1))[:filler] + _TAIL


@app.route("/", defaults={"size": 2048}, methods=["GET", "POST"])
@app.route("/<int:size>", methods=["GET", "POST"])
def constant(size: int) -> Response:
    return Response(page(min(size, 2_000_000)), mimetype="text/html")
