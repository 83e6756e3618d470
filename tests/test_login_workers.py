"""The login limit holds across gunicorn workers: failures are counted in the database."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
PASSWORD = "das-richtige-passwort"  # noqa: S105 - a test account

SETUP = f"""
from flask_migrate import upgrade
from tracker import create_app
from tracker.extensions import db
from tracker.models import Organisation
from tracker.services import accounts
app = create_app()
with app.app_context():
    upgrade()
    org = Organisation(name="Stadtverwaltung", short_name="Stadt")
    db.session.add(org)
    accounts.create_user(email="inhaberin@stadt.example", first_name="Ina", last_name="Haber",
                         organisation=org, password={PASSWORD!r})
    db.session.commit()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(port, method, path, *, source, cookie="", body=None):
    # A new connection for every request, so that either worker may answer it.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"Connection": "close"}
    if cookie:
        headers["Cookie"] = cookie
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(body)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    set_cookie = response.getheader("Set-Cookie") or ""
    conn.close()
    return response.status, text, set_cookie.split(";", 1)[0] or cookie


def _login_page(port, source):
    status, html, cookie = _request(port, "GET", "/anmelden", source=source)
    assert status == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return cookie, token


@pytest.mark.slow
def test_the_login_limit_holds_across_two_gunicorn_workers(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
           "RATELIMIT_ENABLED": "true", "LOGIN_RATE_LIMIT": "10 per 5 minutes",
           "TRACKER_ENV": "development"}
    env.pop("TRUSTED_HOSTS", None)
    subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, check=True)
    port = _free_port()
    server = subprocess.Popen(
        [str(GUNICORN), "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        cookie, token = _login_page(port, "127.0.0.1")
        wrong = {"email": "inhaberin@stadt.example", "password": "falsch", "csrf_token": token}
        statuses = [_request(port, "POST", "/anmelden", source="127.0.0.1", cookie=cookie,
                             body=wrong)[0] for _ in range(10)]
        assert statuses == [422] * 10
        # The 11th and every later one, whichever worker answers, is refused.
        for _ in range(6):
            status, html, _cookie = _request(port, "POST", "/anmelden", source="127.0.0.1",
                                             cookie=cookie, body=wrong)
            assert status == 429
            assert "zu oft fehlgeschlagen" in html
        # The owner, from her own address, still signs in.
        cookie, token = _login_page(port, "127.0.0.2")
        status, _html, _cookie = _request(
            port, "POST", "/anmelden", source="127.0.0.2", cookie=cookie,
            body={"email": "inhaberin@stadt.example", "password": PASSWORD, "csrf_token": token})
        assert status == 303
    finally:
        server.terminate()
        server.wait(timeout=30)
