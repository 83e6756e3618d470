"""The bench scripts work: the data set builder at a tiny scale, the load generator and the
rush hour against real gunicorn servers, and `make bench` on a machine without wrk or
PostgreSQL. Nothing here times anything; the figures are bench/run.py's business."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import statistics
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, func, select

from bench import dataset, loadgen, rush_hour
from bench import run as bench_run
from bench.loadgen import Request
from tests.conftest import make_app
from tracker.config import normalise_database_url
from tracker.models import AttendanceMark, Enrolment, TrainingSession

pytestmark = pytest.mark.slow


@pytest.fixture
def bench_database_url(tmp_path):
    """A fresh, empty database for the builder: a SQLite file, or a new database on the
    PostgreSQL server of TEST_DATABASE_URL (so COPY is exercised there)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield dataset.fresh_sqlite_url("bench", tmp_path)
        return
    url, name = dataset.create_postgres_database(base)
    yield url
    dataset.drop_postgres_database(base, name)


def _rows(url: str):
    engine = create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        sessions = conn.execute(select(TrainingSession)).all()
        enrolments = conn.execute(select(Enrolment).order_by(Enrolment.id)).all()
        marks = conn.execute(select(AttendanceMark)).all()
        count = conn.scalar(select(func.count()).select_from(Enrolment))
    engine.dispose()
    return sessions, enrolments, marks, count


def _server_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_tiny_network_follows_the_models_rules(bench_database_url):
    scale = dataset.TINY
    fx = dataset.build_network(bench_database_url, scale)
    sessions, enrolments, marks, count = _rows(bench_database_url)

    assert len(sessions) == scale.sessions
    assert count == scale.enrolments
    assert fx.counts["user_account"] == scale.people
    by_session: dict[int, list] = {}
    for e in enrolments:
        by_session.setdefault(e.session_id, []).append(e)
    for s in sessions:
        rows = by_session.get(s.id, [])
        enrolled = sum(1 for e in rows if e.state == "enrolled")
        assert s.seats_taken == enrolled <= s.capacity
        seqs = sorted(e.waitlist_seq for e in rows if e.state == "waitlisted")
        assert seqs == list(range(1, len(seqs) + 1))
        assert s.waitlist_seq == len(seqs)
    live = Counter((e.user_id, e.session_id) for e in enrolments if e.state != "cancelled")
    assert max(live.values()) == 1
    ends = {s.id: s.ends_at for s in sessions}
    starts = {s.id: s.starts_at for s in sessions}
    built_at = starts[fx.sheet_session_id] + timedelta(minutes=30)  # it started 30 min before
    assert marks and all(ends[m.session_id] < built_at for m in marks)
    # The fixtures: a running 30-person sheet without marks, pools of people not yet enrolled.
    sheet = [e for e in enrolments if e.session_id == fx.sheet_session_id]
    assert [e.id for e in sheet] == fx.sheet_enrolment_ids and len(sheet) == 30
    assert not any(m.session_id == fx.sheet_session_id for m in marks)
    assert starts[fx.sheet_session_id] < ends[fx.sheet_session_id]
    assert len(set(fx.enrol_session_ids)) == dataset.ENROL_SESSIONS
    for empty in (*fx.enrol_session_ids, fx.rush_session_id):
        assert not by_session.get(empty)
    assert len(set(fx.enrol_emails) | set(fx.rush_emails)) == scale.enrol_pool + scale.rush_users


def test_the_same_seed_builds_the_same_network(tmp_path):
    first = dataset.build_network(dataset.fresh_sqlite_url("a", tmp_path), dataset.TINY)
    second = dataset.build_network(dataset.fresh_sqlite_url("b", tmp_path), dataset.TINY)
    _, a, _, _ = _rows(first.database_url)
    _, b, _, _ = _rows(second.database_url)
    assert [(e.user_id, e.session_id, e.state, e.waitlist_seq) for e in a] == [
        (e.user_id, e.session_id, e.state, e.waitlist_seq) for e in b]
    assert first.enrol_emails == second.enrol_emails


def test_the_demo_data_sets_series_list_shows_a_full_first_page(tmp_path):
    # The series list's cost growth compares the demo's first page with the large data set's:
    # both must show PAGE_SIZE sessions, or the growth measures the content (the demo alone
    # shows 8 to 10 upcoming sessions).
    from tracker.extensions import db
    from tracker.views.trainings import PAGE_SIZE

    scale = dataclasses.replace(dataset.TINY, list_sessions=PAGE_SIZE)
    fx = dataset.build_demo(dataset.fresh_sqlite_url("demo", tmp_path), scale)
    app = make_app(fx.database_url)
    with app.app_context():
        client = app.test_client()
        login = client.post("/anmelden",
                            data={"email": fx.list_email, "password": fx.list_password})
        assert login.status_code == 303
        page = client.get("/reihen/").get_data(as_text=True)
        db.engine.dispose()
    assert page.count('class="kern-table__cell sessions-table__title"') == PAGE_SIZE
    assert "Weiterer Termin" in page


def test_load_generator_drives_a_bare_server_and_leaves_nothing_running():
    process = loadgen.start_gunicorn("bench.bare_app:app")
    port = process.bench_port
    try:
        requests = [Request("GET", "/3000"), Request("POST", "/500", {"HX-Request": "true"}, "a=b")]
        counted = loadgen.python_load(port, requests, connections=3, count=40)
        timed = loadgen.python_load(port, requests, connections=2, duration=0.3)
        status, body = loadgen.fetch(port, "/3000")
        if loadgen.wrk_available():
            # A fraction of a second too (the measurements' rounds): wrk takes whole seconds.
            by_wrk = loadgen.wrk_load(port, requests, connections=2, duration=0.6)
            assert by_wrk.requests > 0 and by_wrk.failed == 0
    finally:
        loadgen.stop(process)
    assert counted.requests == 40 and counted.statuses == {"200": 40} and counted.failed == 0
    assert timed.requests > 0 and timed.failed == 0
    assert status == 200 and len(body) == 3000
    assert process.poll() is not None and _server_gone(process.pid)
    assert process.pid not in loadgen.running()


def test_rush_hour_and_measurements_run_against_a_tiny_tracker(tmp_path):
    fx = dataset.build_network(dataset.fresh_sqlite_url("tiny", tmp_path), dataset.TINY)

    class Opts:
        tool = "python"
        connections = 2
        duration = 0.3
        data_dir = tmp_path

    with loadgen.served("bench.bare_app:app") as bare:
        measured = bench_run.measure(fx, "tiny", bare, Opts())

    for name in bench_run.SCENARIOS:
        scenario = measured["scenarios"][name]
        assert "error" not in scenario, (name, scenario)
        assert scenario["tracker"]["requests"] > 0 and scenario["tracker"]["failed"] == 0
        assert scenario["ratio"] > 0
        # Tracker and bare in turns; the ratio is the median pair's. The enrolment pool is
        # sent in slices, one per pair: nobody enrols twice (that would answer 409 and
        # count as failed above).
        pairs = scenario["pair_ratios"]
        rounds = bench_run.ENROL_ROUNDS if name == "enrol" else bench_run.ROUNDS
        assert len(pairs) == len(scenario["bare"]["runs_rps"]) == rounds
        assert len(scenario["tracker"]["runs_rps"]) == rounds
        assert scenario["ratio"] == round(sorted(pairs)[len(pairs) // 2], 4)
    rush = measured["rush_hour"]
    assert rush["attempts"] == 10 and rush["server_errors"] == 0
    assert (rush["enrolled"], rush["waitlisted"]) == (3, 7)
    assert rush["checks"]["waitlist_contiguous"] and rush["ok"]
    counts = bench_run.count_statements(fx)
    assert all(isinstance(n, int) and n > 0 for n in counts.values()), counts
    cpu = bench_run.cpu_per_request(fx, repeat=2)
    assert cpu["enrol"] is None and all(cpu[name] > 0 for name in ("sheet", "click", "series"))
    assert loadgen.running() == []


def test_rush_hour_verification_notices_an_overbooked_session(tmp_path):
    fx = dataset.build_network(dataset.fresh_sqlite_url("tiny", tmp_path), dataset.TINY)
    engine = create_engine(fx.database_url)
    emails = fx.rush_emails
    opts = SimpleNamespace(data_dir=tmp_path)  # no mail server: the outbox holds the mails
    with loadgen.served("wsgi:app", env=bench_run.tracker_env(fx, "tiny", opts)) as port:
        logins = loadgen.login_pool(port, emails, fx.password)
        rush_hour.attempt_all(port, fx.rush_session_id, logins)
    # Someone squeezes in past the counter: the check must say so.
    with engine.begin() as conn:
        conn.execute(Enrolment.__table__.update()
                     .where(Enrolment.session_id == fx.rush_session_id,
                            Enrolment.state == "waitlisted", Enrolment.waitlist_seq == 1)
                     .values(state="enrolled", waitlist_seq=None))
    engine.dispose()
    verdict = rush_hour.verify(fx.database_url, fx.rush_session_id, emails)
    assert verdict["enrolled"] == 4 and not verdict["ok"]
    assert not verdict["checks"]["enrolled_equals_capacity"]
    assert not verdict["checks"]["waitlist_contiguous"]


def test_make_bench_without_wrk_or_postgres_runs_what_it_can_and_exits_0(tmp_path, monkeypatch):
    # No wrk on the PATH (the servers and flask run through sys.executable), and a
    # PostgreSQL address where nothing listens.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    results = tmp_path / "results.json"
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = bench_run.main(["--scale", "tiny", "--duration", "0.3", "--connections", "2",
                               "--export-rows", "50", "--certificates", "2",
                               "--data-dir", str(tmp_path),
                               "--results", str(results)])
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    data = json.loads(results.read_text())
    skipped = " ".join(data["skipped"])
    assert code == 0, data["errors"]
    assert "wrk: not installed" in skipped
    assert "PostgreSQL: not reachable" in skipped
    assert data["settings"]["tool"] == "python"
    # The certificates: both sides made the same two, and the ratio is reported.
    assert data["certificates"]["people"] == 2 and data["certificates"]["ratio"] > 0
    assert data["certificates"]["tracker"]["pdf"]["bytes"] > 0
    assert set(data["throughput"]) == {"demo-sqlite", "tiny-sqlite"}
    # Side by side: each measurement on both data sets, one right after the other, then the
    # next measurement (the growth compares figures of the same minute).
    started = sorted((scenario["started_s"], name)
                     for run in data["throughput"].values()
                     for name, scenario in run["scenarios"].items())
    assert [name for _, name in started] == [name for name in bench_run.SCENARIOS
                                             for _ in range(2)]
    # ... and within a measurement the rounds take turns: demo, tiny, demo, tiny, ...
    for name in bench_run.SCENARIOS:
        rounds = sorted((t, label) for label, run in data["throughput"].items()
                        for t in run["scenarios"][name]["rounds_started_s"])
        expected = bench_run.ENROL_ROUNDS if name == "enrol" else bench_run.ROUNDS
        assert [label for _, label in rounds] == ["demo-sqlite", "tiny-sqlite"] * expected
        growth = data["growth"][name]
        demo, tiny = (data["throughput"][label]["scenarios"][name]["pair_ratios"]
                      for label in ("demo-sqlite", "tiny-sqlite"))
        quotients = [d / t for d, t in zip(demo, tiny, strict=True)]
        assert growth["growth"] == pytest.approx(statistics.median(quotients), abs=1e-3)
    assert data["rush_hour"]["tiny-sqlite"]["ok"]
    assert data["rush_hour"]["postgresql"]["skipped"].startswith("skipped")
    assert data["machine"]["cores"] and data["versions"]["openpyxl"]
    assert data["export"] or "export" in skipped
    assert loadgen.running() == []


def test_the_login_floor_route_exists_only_in_the_bench_app(app):
    # bench/tracker_app.py adds /bench/floor for the measurement; the product never has it.
    assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/bench")]
