"""tracker as the bench serves it: the app of wsgi.py plus one reference route.

`GET /bench/floor/<size>` answers the bare app's constant page of `size` bytes, but inside
tracker: after every hook and extension of a real request (session cookie, Flask-Login loading
the person from the database, CSRF, rate limiter, security headers). Its ratio to bare Flask is
the ceiling for any logged-in page of tracker on the machine at hand; the attendance targets
are best read against it. The route exists only in this bench module, never in the product.
"""

from __future__ import annotations

from flask import Response
from flask_login import login_required

from bench.bare_app import page
from wsgi import app


@app.get("/bench/floor/<int:size>")
@login_required
def floor(size: int) -> Response:
    return Response(page(min(size, 2_000_000)), mimetype="text/html")
