"""Scale-out on PostgreSQL and Redis: two app servers (gunicorn) and two background workers
side by side. A rush of enrolments through both servers fills exactly the seats, and every
confirmation and every reminder reaches the SMTP server exactly once, although both workers
deliver the outbox and both run the periodic reminder sweep."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import factories
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.mailserver import SmtpServer
from tests.test_login_workers import _free_port, _request

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# A Redis database of its own, emptied before and after, so the queue starts empty.
REDIS_URL = "redis://127.0.0.1:6379/14"
SEATS, PEOPLE = 20, 40

SETUP = f"""
from datetime import timedelta
from flask_migrate import upgrade
from tests import factories
from tracker import create_app
from tracker.extensions import db
app = create_app()
with app.app_context():
    upgrade()
    org = factories.organisation("Stadtverwaltung", short_name="Stadt")
    series = factories.series(org, [org], title="Vielfaltsmontag")
    # Tomorrow: inside the reminder window (2 days) from the first sweep on.
    session = factories.session(series, starts_in=timedelta(days=1, hours=3),
                                capacity={SEATS}, deadline_before=timedelta(hours=1))
    for n in range({PEOPLE}):
        factories.user(org, email=f"p{{n}}@stadt.example", commit=False)
    db.session.commit()
    print(session.id)
"""


def _postgres_base() -> str:
    base = os.environ.get("TEST_DATABASE_URL", "")
    return base if base.startswith("postgresql") else POSTGRES


def _reachable() -> str | None:
    import redis

    probe = create_engine(_postgres_base())
    try:
        probe.connect().close()
    except Exception as exc:  # noqa: BLE001 - reported as the reason below
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({exc.__class__.__name__})"
    finally:
        probe.dispose()
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis at 127.0.0.1:6379 is not reachable ({exc.__class__.__name__})"
    return None


@pytest.fixture
def cluster(tmp_path):
    import redis

    problem = _reachable()
    if problem:
        pytest.fail(f"{problem}; the scale-out test needs both (see README, 'Tests').")
    base = _postgres_base()
    url, name = _create_postgres_database(base)
    queue = redis.Redis.from_url(REDIS_URL)
    queue.flushdb()
    smtp = SmtpServer()
    smtp.__enter__()
    engine = None
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL,
           "SECRET_KEY": "scale-out-secret-" + "x" * 20, "MAIL_SERVER": "127.0.0.1",
           "MAIL_PORT": str(smtp.port), "LOGIN_RATE_LIMIT": "1000 per minute",
           "PYTHONPATH": str(ROOT)}
    env.pop("QUEUE_FILE", None)
    processes = []
    logs = []
    try:
        setup = subprocess.run([sys.executable, "-c", SETUP], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=120, check=False)
        assert setup.returncode == 0, setup.stderr
        session_id = int(setup.stdout.strip().splitlines()[-1])
        ports = [_free_port(), _free_port()]
        for port in ports:
            log = (tmp_path / f"gunicorn-{port}.log").open("wb")
            logs.append(log)
            processes.append(subprocess.Popen(
                [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        for n in range(2):
            log = (tmp_path / f"worker-{n}.log").open("wb")
            logs.append(log)
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "tracker", "worker"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _request(port, "GET", "/anmelden", source="127.0.0.1")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / f"gunicorn-{port}.log").read_text()
                time.sleep(0.3)
        engine = create_engine(url)
        yield {"ports": ports, "session_id": session_id, "inbox": smtp.inbox,
               "engine": engine}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        if engine is not None:
            engine.dispose()
        smtp.__exit__(None, None, None)
        queue.flushdb()
        _drop_postgres_database(base, name)


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _logged_in(port: int, email: str, session_id: int) -> tuple[str, str]:
    _status, html, cookie = _request(port, "GET", "/anmelden", source="127.0.0.1")
    status, _html, cookie = _request(
        port, "POST", "/anmelden", source="127.0.0.1", cookie=cookie,
        body={"email": email, "password": factories.PASSWORD, "csrf_token": _csrf(html)})
    assert status == 303, email
    status, html, cookie = _request(port, "GET", f"/reihen/termine/{session_id}",
                                    source="127.0.0.1", cookie=cookie)
    assert status == 200
    return cookie, _csrf(html)


def test_a_rush_through_two_servers_is_exact_and_every_mail_arrives_once(cluster):
    ports, session_id = cluster["ports"], cluster["session_id"]
    people = [(ports[n % 2], f"p{n}@stadt.example") for n in range(PEOPLE)]
    with ThreadPoolExecutor(8) as pool:
        logins = list(pool.map(lambda p: _logged_in(p[0], p[1], session_id), people))

    def enrol(index: int) -> int:
        port = ports[index % 2]
        cookie, token = logins[index]
        return _request(port, "POST", f"/reihen/termine/{session_id}/anmelden",
                        source="127.0.0.1", cookie=cookie, body={"csrf_token": token})[0]

    with ThreadPoolExecutor(PEOPLE) as pool:
        statuses = list(pool.map(enrol, range(PEOPLE)))
    assert all(status in (200, 303) for status in statuses), statuses

    with cluster["engine"].connect() as conn:
        states = dict(conn.execute(text(
            "SELECT state, count(*) FROM enrolment WHERE session_id = :id GROUP BY state"),
            {"id": session_id}).all())
        taken = conn.execute(text("SELECT seats_taken FROM training_session WHERE id = :id"),
                             {"id": session_id}).scalar_one()
        places = [row[0] for row in conn.execute(text(
            "SELECT waitlist_seq FROM enrolment WHERE session_id = :id AND "
            "state = 'waitlisted' ORDER BY waitlist_seq"), {"id": session_id})]
    assert states == {"enrolled": SEATS, "waitlisted": PEOPLE - SEATS}
    assert taken == SEATS
    assert len(set(places)) == PEOPLE - SEATS and None not in places  # one queue, no ties

    # 40 confirmations (a seat or a waiting-list place) and 20 reminders, which both
    # workers' minute sweeps queue; the unique dedupe key lets only one of them through.
    expected = PEOPLE + SEATS
    inbox = cluster["inbox"]
    received = inbox.wait_for(expected, timeout=150)
    time.sleep(5)  # a duplicate would arrive now
    received = inbox.wait_for(expected, timeout=1)
    kinds = Counter((m["To"], m["Subject"].split(":")[0]) for m in received)
    assert len(received) == expected, sorted(kinds.items())
    assert all(count == 1 for count in kinds.values()), kinds
    reminders = [to for (to, kind) in kinds if kind.startswith("Erinnerung")]
    assert len(reminders) == SEATS
    with cluster["engine"].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox_mail WHERE state = 'sent'")
                            ).scalar_one() == expected
