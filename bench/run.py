"""`make bench`: tracker's speed and scale, each figure a ratio against a reference measured
in the same run (see bench/README.md).

    python -m bench.run            # the full run (large data set: 500,000 enrolments)
    python -m bench.run --quick    # the same steps on a tenth of the data, shorter loads
    BENCH_SCALE=small make bench   # the same as --quick

Steps: build the demo and the large data set (SQLite; also PostgreSQL when reachable), serve
each with gunicorn next to the bare reference app, drive both with the same load generator,
count SQL statements per page, run the rush hour, run the export bench, print a table and
write bench/results.json. What cannot run here (no wrk, no PostgreSQL, no export bench) is
skipped with the reason; the exit code is 0 unless something that ran failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench import dataset, loadgen, rush_hour
from bench.dataset import DATA_DIR, Fixtures, Scale
from bench.loadgen import LoadResult, Request
from tests.mailserver import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
SECRET_KEY = "bench-secret-key-not-for-production"  # noqa: S105 - local servers only

# Share of bare Flask on the large SQLite data set (issue 19's floors).
TARGETS = {"sheet": 0.10, "click": 0.08, "enrol": 0.06, "series": 0.05, "reports": 0.03}
GROWTH_LIMIT = 1.3  # small/large relative throughput
# A rush's throughput (people / wall time) against the steady-state enrolment POST's
# requests per second on the same data set: below this, writers queue behind each other.
RUSH_THROUGHPUT_TARGET = 0.5
EXPORT_RATIO_TARGET = 0.9
EXPORT_MEMORY_TARGET_MB = 150

SCENARIOS = {
    "sheet": "attendance sheet, 30 people (full page)",
    "click": "attendance click (htmx fragment POST)",
    "enrol": "enrolment POST (htmx)",
    "series": "series list",
    "series_one": "series list filtered to one series",
    "reports": "reports page with the dashboard (HR lead, this year)",
    "floor": "login floor: constant page after login",
}
FLOOR_BYTES = 3500  # about the size of an attendance click's answer
FORM = "application/x-www-form-urlencoded"
ROUNDS = 3  # tracker and bare in turns per measurement
# The enrolment's rounds, each on its own slice of the pool: a round is one second of wrk
# (see Measurement.run_round), and three of them read cost growths of 1.02 to 1.50 for the same
# code.
ENROL_ROUNDS = 9
RESERVED = 22  # pool members kept out of the load: 1 for the SQL count, 1 probe, 20 warm-up


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("flask", "sqlalchemy", "openpyxl", "gunicorn", "psycopg", "werkzeug"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- throughput


def _scenario_requests(fx: Fixtures, name: str, hr, lister, pool, lead=None) -> list[Request]:
    if name == "sheet":
        return [Request("GET", f"/anwesenheit/termine/{fx.sheet_session_id}",
                        {"Cookie": hr.cookie})]
    if name == "series":
        return [Request("GET", "/reihen/", {"Cookie": lister.cookie})]
    if name == "reports":
        return [Request("GET", "/auswertung/", {"Cookie": lead.cookie})]
    if name == "floor":
        # The reference inside tracker (bench/tracker_app.py): the login, no page.
        return [Request("GET", f"/bench/floor/{FLOOR_BYTES}", {"Cookie": hr.cookie})]
    if name == "series_one":
        # The same content on every data set (the bench series and its sessions), so only
        # the amount of data around it differs: the cleanest view of cost growth.
        return [Request("GET", f"/reihen/?reihe={fx.bench_series_id}", {"Cookie": lister.cookie})]
    if name == "click":
        headers = {"Cookie": hr.cookie, "X-CSRFToken": hr.csrf, "HX-Request": "true",
                   "Content-Type": FORM}
        # Every click changes the row: present, excused, absent, present, ...
        return [Request("POST", f"/anwesenheit/termine/{fx.sheet_session_id}/eintraege/{eid}",
                        headers, f"status={status}")
                for status in ("present", "excused", "absent") for eid in fx.sheet_enrolment_ids]
    if name == "enrol":
        # Every person of the pool once in each enrolment session (a request sent once).
        return [Request("POST", f"/reihen/termine/{sid}/anmelden",
                        {"Cookie": login.cookie, "X-CSRFToken": login.csrf, "HX-Request": "true",
                         "Content-Type": FORM}, "")
                for sid in fx.enrol_session_ids for login in pool]
    raise KeyError(name)


def _probe(port: int, req: Request) -> tuple[int, int]:
    """One request on its own: status and body size (the bare page is made as large)."""
    import http.client

    with contextlib.closing(http.client.HTTPConnection(loadgen.HOST, port, timeout=60)) as conn:
        conn.request(req.method, req.path, body=req.body.encode() or None, headers=req.headers)
        response = conn.getresponse()
        return response.status, len(response.read())


def _bare(requests: list[Request], size: int) -> list[Request]:
    # The same method, headers and body, so both servers parse the same request.
    return [Request(r.method, f"/{size}", r.headers, r.body) for r in requests]


def _merged(runs: list[LoadResult]) -> LoadResult:
    """Several runs of one measurement as one: requests and seconds added up (so rps is over
    all of them), statuses and errors summed, the median p50 and the worst p99."""
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for run in runs:
        for code, n in run.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
        for kind, n in run.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    p50s = [r.p50_ms for r in runs if r.p50_ms is not None]
    p99s = [r.p99_ms for r in runs if r.p99_ms is not None]
    return LoadResult(tool=runs[0].tool, requests=sum(r.requests for r in runs),
                      seconds=sum(r.seconds for r in runs), statuses=statuses, errors=errors,
                      p50_ms=statistics.median(p50s) if p50s else None,
                      p99_ms=max(p99s) if p99s else None, connections=runs[0].connections)


def tracker_env(fx: Fixtures, label: str, opts) -> dict[str, str]:
    """tracker as it runs in production: mail switched on (the bench's own SMTP server), so
    every enrolment fills the outbox and enqueues its delivery in the same request; each data
    set has its own queue file under the data directory."""
    env = {"DATABASE_URL": fx.database_url, "SECRET_KEY": SECRET_KEY,
           "TRACKER_ENV": "development", "PYTHONDONTWRITEBYTECODE": "1",
           "QUEUE_FILE": str(opts.data_dir / f"queue-{label}.db")}
    if getattr(opts, "mail_port", None):
        env |= {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(opts.mail_port),
                "BASE_URL": "http://127.0.0.1:5000"}
    return env


class Measurement:
    """One measurement on one served data set: prepared once (probe and warm-up), then run
    round by round, each round a tracker run and a bare run back to back, so that the data
    sets' rounds can take turns (see measure_side_by_side)."""

    def __init__(self, fx: Fixtures, label: str, port: int, bare_port: int, name: str, opts):
        self.fx, self.label, self.port, self.bare_port = fx, label, port, bare_port
        self.name, self.opts = name, opts
        self.once = name == "enrol"
        self.started = round(time.time(), 3)
        self.login_seconds = 0.0
        self.tracker_runs: list[LoadResult] = []
        self.bare_runs: list[LoadResult] = []
        self.rounds_started_s: list[float] = []
        # The enrolment pool can be sent only once: the last person is kept for the SQL
        # count, RESERVED - 1 more for the probe and the warm-up, and the rest is cut into
        # one slice per round (7,000 people in three sessions: ~2,300 requests a round).
        pool = fx.enrol_emails[:-1]
        self.slices = ([pool[:-RESERVED + 1][i::ENROL_ROUNDS] for i in range(ENROL_ROUNDS)]
                       if self.once else [])
        if self.once and not all(self.slices):
            raise ValueError(f"an enrolment pool of {len(fx.enrol_emails)} is too small for "
                             f"{ENROL_ROUNDS} rounds")
        requests = self._requests(pool[-RESERVED + 1:] if self.once else [])
        probe, warm = requests[-1], requests[-RESERVED + 1:-1] if self.once else requests
        status, self.size = _probe(port, probe)
        self.error = f"probe answered HTTP {status}" if status >= 400 else None
        if self.error:
            say(f"  [{label}] {name}: {self.error}; not measured")
            return
        loadgen.python_load(port, warm, connections=2, count=20)
        loadgen.python_load(bare_port, _bare(warm, self.size), connections=2, count=20)

    def _requests(self, pool_emails: list[str]) -> list[Request]:
        # Fresh logins for every round. A browser stores the cookie that tracker re-signs
        # once a minute (the idle timeout's stamp); wrk replays a fixed one, so a login
        # older than a minute would have every measured request re-sign and send the
        # cookie, which no browser causes.
        t0 = time.perf_counter()
        fx = self.fx
        hr = loadgen.login(self.port, fx.hr_email, fx.password)
        lister = loadgen.login(self.port, fx.list_email, fx.list_password)
        pool = loadgen.login_pool(self.port, pool_emails, fx.password) if pool_emails else []
        lead = (loadgen.login(self.port, fx.lead_email, fx.lead_password)
                if self.name == "reports" else None)
        self.login_seconds += time.perf_counter() - t0
        return _scenario_requests(fx, self.name, hr, lister, pool, lead)

    def run_round(self, i: int) -> bool:
        """Round i: tracker for its share of the duration, then the bare app as long. On a
        shared VM the same code measured 0.14 to 0.23 in consecutive 5-second runs; a pair
        run back to back sees the same machine, and the median drops a bad minute. The
        enrolment's wrk runs one second on half its round's slice (enough for ~1,150
        enrolments a second, see loadgen.load), the bare app as long; the others get ROUNDS
        rounds of two thirds of the duration each (wrk rounds it to whole seconds)."""
        requests = self._requests(self.slices[i] if self.once else [])
        self.rounds_started_s.append(round(time.time(), 3))
        share = self.opts.duration / ENROL_ROUNDS if self.once else self.opts.duration * 2 / ROUNDS
        run = loadgen.load(self.port, requests, tool=self.opts.tool,
                           connections=self.opts.connections, duration=share, once=self.once)
        # The Python generator sends a pool once: the bare app then gets as many requests
        # as tracker did; wrk runs both for the same time.
        bare_once = self.once and run.tool == "python"
        bare = loadgen.load(
            self.bare_port, _bare(requests[: run.requests] if bare_once else requests, self.size),
            tool=run.tool, connections=self.opts.connections,
            duration=loadgen.ONCE_SECONDS if self.once else share, once=bare_once)
        self.tracker_runs.append(run)
        self.bare_runs.append(bare)
        return True

    def result(self) -> dict:
        if self.error:
            return {"error": self.error}
        pair_ratios = [t.rps / b.rps if b.rps else 0.0
                       for t, b in zip(self.tracker_runs, self.bare_runs, strict=True)]
        ratio = statistics.median(pair_ratios)
        tracker = _merged(self.tracker_runs)
        bare_rps = statistics.median(b.rps for b in self.bare_runs)
        say(f"  [{self.label}] {self.name:<10} tracker {tracker.rps:8.1f} req/s  bare "
            f"{bare_rps:8.1f} req/s  ratio {ratio:.3f}  ({self.size} bytes, "
            f"{tracker.failed} failed)")
        return {
            "started_s": self.started,  # seconds since the epoch: when it was prepared
            "rounds_started_s": self.rounds_started_s,
            "bytes": self.size,
            "tracker": {**tracker.as_dict(),
                        "runs_rps": [round(t.rps, 1) for t in self.tracker_runs]},
            "bare": {**self.bare_runs[0].as_dict(), "rps": round(bare_rps, 1),
                     "runs_rps": [round(b.rps, 1) for b in self.bare_runs]},
            "pair_ratios": [round(r, 4) for r in pair_ratios],
            "ratio": round(ratio, 4),
        }


def _announce(fx: Fixtures, label: str, port: int, rush: bool) -> None:
    say(f"  [{label}] tracker on port {port}; logging in {len(fx.enrol_emails)} "
        f"+ {len(fx.rush_emails) if rush else 0} people ...")


def _call(_what: str, fn, *args):
    return fn(*args)  # no record: a failure propagates


def measure(fx: Fixtures, label: str, bare_port: int, opts, rush: bool = True) -> dict:
    """The measurements of one data set and its rush hour; a failure raises."""
    return measure_side_by_side({label: fx}, bare_port, opts, _call, rush=rush)[label]


def measure_side_by_side(fixtures: dict[str, Fixtures], bare_port: int, opts, step,
                         rush: bool = True) -> dict[str, dict]:
    """Every data set served at once; each measurement runs its rounds in turns, round 1 on
    demo, round 1 on large, round 2 on demo, ..., then the next measurement, then the rush
    hours. The cost growth compares the demo's and the large data set's pairs of the same
    round (see _growth). Measured one whole data set after the other, five minutes apart,
    they met different minutes of this VM (the same sheet read 0.187 and 0.124, and a few
    minutes later on its own 0.142 and 0.134). `step(what, fn, *args)` runs one piece and
    records its failure (see main)."""
    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        ports: dict[str, int] = {}
        for label, fx in fixtures.items():
            server = loadgen.served("bench.tracker_app:app", env=tracker_env(fx, label, opts),
                                    log=opts.data_dir / "logs" / f"gunicorn-{label}.log")
            port = step(f"serving {label}", stack.enter_context, server)
            if port:
                ports[label] = port
                results[label] = {"scenarios": {}, "login_seconds": 0.0}
                _announce(fx, label, port, rush)
        for name in SCENARIOS:
            running: dict[str, Measurement] = {}
            for label, port in ports.items():
                results[label]["scenarios"][name] = {"error": "failed (see errors)"}
                prepared = step(f"{name} on {label}", Measurement, fixtures[label], label, port,
                                bare_port, name, opts)
                if prepared and not prepared.error:
                    running[label] = prepared
                elif prepared:
                    results[label]["scenarios"][name] = prepared.result()
            for i in range(ENROL_ROUNDS if name == "enrol" else ROUNDS):
                for label, measurement in list(running.items()):
                    if not step(f"{name} on {label}", measurement.run_round, i):
                        del running[label]
            for label, measurement in running.items():
                results[label]["scenarios"][name] = measurement.result()
                results[label]["login_seconds"] += round(measurement.login_seconds, 1)
        rushed = ports if rush else {}
        for label, port in rushed.items():
            done = step(f"rush hour on {label}", run_rush, fixtures[label], port, label)
            if done:
                _rate_rush(done, results[label]["scenarios"].get("enrol", {}))
                if getattr(opts, "sink", None) is not None:
                    done["mail"] = step(f"mail delivery on {label}", deliver_rush_mail,
                                        fixtures[label], label, opts)
                results[label]["rush_hour"] = done
    return results


def _rate_rush(rush: dict, enrol: dict) -> None:
    """The rush's throughput beside the steady-state enrolment's, measured in the same run."""
    steady = (enrol.get("tracker") or {}).get("rps")
    rush["throughput_rps"] = round(rush["attempts"] / rush["wall_s"], 1) if rush["wall_s"] else None
    rush["steady_enrol_rps"] = steady
    rush["throughput_share"] = (round(rush["throughput_rps"] / steady, 3)
                                if steady and rush["throughput_rps"] else None)
    share = rush["throughput_share"]
    rush["throughput_ok"] = share is None or share >= RUSH_THROUGHPUT_TARGET


def run_rush(fx: Fixtures, port: int, label: str) -> dict:
    logins = loadgen.login_pool(port, fx.rush_emails, fx.password)
    say(f"  [{label}] rush hour: {len(logins)} people at once for a few seats ...")
    attempt = rush_hour.attempt_all(port, fx.rush_session_id, logins)
    places = attempt.pop("_places")
    check = rush_hour.verify(fx.database_url, fx.rush_session_id, fx.rush_emails, places)
    result = {**attempt, **check}
    result["ok"] = check["ok"] and attempt["server_errors"] == 0 and (
        attempt["client_errors"] + attempt["transport_errors"] == 0)
    say(f"  [{label}] rush hour: {check['enrolled']} enrolled, {check['waitlisted']} waiting, "
        f"statuses {attempt['statuses']}, wall {attempt['wall_s']} s, p99 {attempt['p99_ms']} ms"
        f" -> {'OK' if result['ok'] else 'FAILED'}")
    return result


def _outbox_counts(database_url: str, rush_emails: list[str]) -> tuple[dict[str, int], int]:
    """The outbox by state, and how many of its mails are to people of the rush."""
    from sqlalchemy import create_engine, func, select

    from tracker.config import normalise_database_url
    from tracker.models import OutboxMail

    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as conn:
            states = dict(conn.execute(select(OutboxMail.state, func.count())
                                       .group_by(OutboxMail.state)).all())
            rush = conn.execute(select(func.count()).select_from(OutboxMail)
                                .where(OutboxMail.to_address.in_(rush_emails))).scalar_one()
    finally:
        engine.dispose()
    return {str(k): v for k, v in states.items()}, rush


def _hold_all_but(database_url: str, rush_emails: list[str]) -> None:
    """Park the mails of the steady-state measurements, so that the worker's time is the
    rush's mails alone (they were all queued while no worker ran)."""
    from sqlalchemy import create_engine, update

    from tracker.config import normalise_database_url
    from tracker.models import MailState, OutboxMail

    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(update(OutboxMail)
                         .where(OutboxMail.state == MailState.PENDING,
                                OutboxMail.to_address.not_in(rush_emails))
                         .values(state=MailState.HELD))
    finally:
        engine.dispose()


def deliver_rush_mail(fx: Fixtures, label: str, opts, timeout: float = 600.0) -> dict:
    """The rush's mails (one confirmation per person, with its .ics) were queued while the
    load ran; now one `flask worker` (as `make run` starts it) delivers them to the bench's
    SMTP server, and the time from its start to the last mail accepted is reported."""
    states, queued = _outbox_counts(fx.database_url, fx.rush_emails)
    _hold_all_but(fx.database_url, fx.rush_emails)
    sink = opts.sink.inbox
    rush = set(fx.rush_emails)

    def arrived() -> int:
        with sink.lock:
            return sum(1 for m in sink.messages if m["To"] in rush)

    before = arrived()
    say(f"  [{label}] mail: {queued} mails of the rush in the outbox ({states}); "
        "starting a worker ...")
    log = (opts.data_dir / "logs" / f"worker-{label}.log").open("w")
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "tracker", "worker"], cwd=ROOT,
        env={**os.environ, **tracker_env(fx, label, opts)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        while arrived() - before < queued and time.perf_counter() - started < timeout:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker ended with {worker.returncode} (see {log.name})")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    delivered = arrived() - before
    result = {"queued": queued, "delivered": delivered, "seconds": round(seconds, 2),
              "per_second": round(delivered / seconds, 1) if seconds else None,
              "outbox_before": states, "ok": delivered >= queued}
    say(f"  [{label}] mail: the worker delivered {delivered} of {queued} in {result['seconds']} s"
        f" ({result['per_second']}/s) -> {'OK' if result['ok'] else 'FAILED'}")
    return result


# --------------------------------------------------------------------------- SQL counts


def count_statements(fx: Fixtures) -> dict[str, int | str]:
    """Statements per request, counted in-process with a before_cursor_execute listener."""
    from sqlalchemy import event

    from tracker import create_app
    from tracker.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": fx.database_url, "SECRET_KEY": SECRET_KEY,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def _count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        def logged_in(email: str, password: str):
            client = app.test_client()
            response = client.post("/anmelden", data={"email": email, "password": password})
            if response.status_code != 303:
                raise RuntimeError(f"in-process login of {email}: HTTP {response.status_code}")
            return client

        def counted(client, method: str, path: str, **kwargs) -> int | str:
            statements.clear()
            response = client.open(path, method=method, **kwargs)
            if response.status_code >= 400:
                return f"HTTP {response.status_code}"
            return len(statements)

        htmx = {"HX-Request": "true"}
        hr = logged_in(fx.hr_email, fx.password)
        click_url = (f"/anwesenheit/termine/{fx.sheet_session_id}/eintraege/"
                     f"{fx.sheet_enrolment_ids[0]}")
        # A click that changes the row (one that repeats the status writes nothing).
        hr.post(click_url, data={"status": "present"}, headers=htmx)
        lister = logged_in(fx.list_email, fx.list_password)
        enroller = logged_in(fx.enrol_emails[-1], fx.password)
        lead = logged_in(fx.lead_email, fx.lead_password)
        return {
            "sheet": counted(hr, "GET", f"/anwesenheit/termine/{fx.sheet_session_id}"),
            "click": counted(hr, "POST", click_url, data={"status": "excused"}, headers=htmx),
            "enrol": counted(enroller, "POST",
                             f"/reihen/termine/{fx.enrol_session_ids[0]}/anmelden", headers=htmx),
            "series": counted(lister, "GET", "/reihen/"),
            "series_one": counted(lister, "GET", f"/reihen/?reihe={fx.bench_series_id}"),
            "reports": counted(lead, "GET", "/auswertung/"),
        }
    finally:
        event.remove(engine, "before_cursor_execute", _count)
        with app.app_context():
            db.engine.dispose()


def cpu_per_request(fx: Fixtures, repeat: int = 40) -> dict[str, float | None]:
    """CPU milliseconds per request, in-process (test client, time.process_time): far less
    sensitive than req/s to what else the machine runs, so the demo/large comparison of cost
    growth holds even on a busy machine. The enrolment POST needs a new person per request
    and is left out (its pool is used up by the load)."""
    from tracker import create_app
    from tracker.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": fx.database_url, "SECRET_KEY": SECRET_KEY,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    hr, lister, lead = app.test_client(), app.test_client(), app.test_client()
    for client, email, password in ((hr, fx.hr_email, fx.password),
                                    (lister, fx.list_email, fx.list_password),
                                    (lead, fx.lead_email, fx.lead_password)):
        if client.post("/anmelden", data={"email": email, "password": password}).status_code != 303:
            raise RuntimeError(f"in-process login of {email} failed")
    statuses = ("present", "excused", "absent")

    def click(i: int):
        eid = fx.sheet_enrolment_ids[i % len(fx.sheet_enrolment_ids)]
        return hr.post(f"/anwesenheit/termine/{fx.sheet_session_id}/eintraege/{eid}",
                       data={"status": statuses[(i // len(fx.sheet_enrolment_ids)) % 3]},
                       headers={"HX-Request": "true"})

    pages = {
        "sheet": lambda i: hr.get(f"/anwesenheit/termine/{fx.sheet_session_id}"),
        "click": click,
        "series": lambda i: lister.get("/reihen/"),
        "series_one": lambda i: lister.get(f"/reihen/?reihe={fx.bench_series_id}"),
        "reports": lambda i: lead.get("/auswertung/"),
    }
    out: dict[str, float | None] = {"enrol": None}
    try:
        for name, send in pages.items():
            for i in range(5):
                if send(i).status_code != 200:
                    raise RuntimeError(f"{name} did not answer 200 in-process")
            started = time.process_time()
            for i in range(repeat):
                send(i)
            out[name] = round((time.process_time() - started) / repeat * 1000, 2)
    finally:
        with app.app_context():
            db.engine.dispose()
    return out


# --------------------------------------------------------------------------- export


def run_export(rows: int) -> dict:
    """bench/export_bench.py (written with the export), in its own process so that its peak
    memory is its own."""
    if not (ROOT / "bench" / "export_bench.py").exists():
        return {"skipped": "export bench not available (bench/export_bench.py is missing)"}
    code = ("import json, bench.export_bench as e; "
            f"print('EXPORTJSON ' + json.dumps(e.run(rows={rows}), default=str))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=1800)
    for line in result.stdout.splitlines():
        if line.startswith("EXPORTJSON "):
            return json.loads(line[len("EXPORTJSON "):])
    return {"error": f"export bench failed ({result.returncode}): "
                     f"{(result.stderr or result.stdout).strip()[-1500:]}"}


def run_certificates(people: int = 30) -> dict:
    """bench/certificate_bench.py: its children are processes of their own already."""
    from bench import certificate_bench

    try:
        return certificate_bench.run(people)
    except RuntimeError as exc:
        return {"error": str(exc)[-1500:]}


def _find(data: dict, *names: str):
    """The number under the first of `names` that has one, at the top level before nested
    (the export bench owns its key names)."""
    for name in names:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    for value in data.values():
        if isinstance(value, dict):
            found = _find(value, *names)
            if found is not None:
                return found
    return None


# --------------------------------------------------------------------------- report


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def summarise(results: dict, path: Path = RESULTS) -> list[str]:
    lines = []
    m = results["machine"]
    v = results["versions"]
    lines.append("")
    lines.append(f"tracker bench {results['started_at']}  mode={results['mode']}  "
                 f"cores={m['cores']}  load={results['settings']['tool']} "
                 f"({results['settings']['connections']} connections, "
                 f"{results['settings']['duration']} s)")
    lines.append(f"Python {v['python']}, Flask {v['flask']}, SQLAlchemy {v['sqlalchemy']}, "
                 f"openpyxl {v['openpyxl']}, gunicorn {v['gunicorn']} (2 sync workers each)")
    lines.append("")
    lines.append("Data sets")
    for label, ds in results["datasets"].items():
        c = ds.get("counts", {})
        lines.append(f"  {label:<18} {c.get('organisation', 0):>3} orgs {c.get('user_account', 0):>6}"
                     f" people {c.get('training_session', 0):>5} sessions "
                     f"{c.get('enrolment', 0):>7} enrolments {c.get('attendance_mark', 0):>7} "
                     f"marks   built in {ds.get('build_seconds', '-')} s")
    lines.append("")
    header = (f"  {'measurement':<42} {'data set':<18} {'tracker/s':>9} {'bare/s':>9} "
              f"{'ratio':>6} {'target':>10} {'SQL':>4} {'bytes':>7}")
    lines.append("Throughput against bare Flask (same gunicorn, same load generator)")
    lines.append(header)
    for label, run in results["throughput"].items():
        counts = results["sql_counts"].get(label, {})
        for name, title in SCENARIOS.items():
            s = run.get("scenarios", {}).get(name)
            if s is None:
                continue
            if "error" in s:
                lines.append(f"  {title:<42} {label:<18} {s['error']}")
                continue
            target = TARGETS.get(name) if label == f"{results['settings']['scale']}-sqlite" else None
            verdict = ""
            if target is not None:
                verdict = f">={target:.2f} " + ("ok" if s["ratio"] >= target else "MISSED")
            lines.append(f"  {title:<42} {label:<18} {s['tracker']['rps']:>9.1f} "
                         f"{s['bare']['rps']:>9.1f} {s['ratio']:>6.3f} {verdict:>10} "
                         f"{counts.get(name) or '-'!s:>4} {s['bytes']:>7}")
    if results.get("growth"):
        lines.append("")
        lines.append(f"Cost growth: ratio on demo / ratio on large, median of the rounds "
                     f"(limit {GROWTH_LIMIT}); "
                     "SQL statements and in-process CPU ms per request, demo -> large")
        for name, g in results["growth"].items():
            cpu = (f"CPU {_fmt(g.get('cpu_ms_small'))} -> {_fmt(g.get('cpu_ms_large'))} ms "
                   f"(x{_fmt(g.get('cpu_growth'), '.2f')})")
            rounds = g.get("rounds")
            spread = f"{min(rounds):.2f}-{max(rounds):.2f}" if rounds else "-"
            lines.append(f"  {SCENARIOS[name]:<42} {_fmt(g['growth'], '.2f'):>6}  "
                         f"{'ok' if g['ok'] else 'MISSED':<6}  rounds {spread:<9}  SQL "
                         f"{g['sql_small'] or '-'} -> {g['sql_large'] or '-'}   {cpu}")
    if results["rush_hour"]:
        lines.append("")
        lines.append("Rush hour: concurrent enrolments for a 30-seat session")
        for label, r in results["rush_hour"].items():
            if "skipped" in r or "error" in r:
                lines.append(f"  {label:<18} {r.get('skipped') or r.get('error')}")
                continue
            failed = [k for k, ok in r["checks"].items() if not ok]
            lines.append(f"  {label:<18} {r['attempts']} attempts: {r['enrolled']} enrolled, "
                         f"{r['waitlisted']} waiting (tickets {r['waitlist_first_last']}), "
                         f"5xx {r['server_errors']}, statuses {r['statuses']}, wall "
                         f"{r['wall_s']} s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms -> "
                         f"{'OK' if r['ok'] else 'FAILED ' + ', '.join(failed)}")
            m = r.get("mail")
            if m:
                lines.append(f"  {'':<18} mail on: {m['queued']} mails queued by the rush, "
                             f"delivered by one worker in {m['seconds']} s "
                             f"({m['per_second']}/s) -> {'OK' if m['ok'] else 'FAILED'}")
            share = r.get("throughput_share")
            if share is not None:
                lines.append(f"  {'':<18} throughput {r['throughput_rps']}/s = {share:.2f} of the "
                             f"steady enrolment's {r['steady_enrol_rps']:.1f}/s (target >= "
                             f"{RUSH_THROUGHPUT_TARGET}) "
                             f"{'ok' if r['throughput_ok'] else 'MISSED'}")
    e = results.get("export") or {}
    lines.append("")
    lines.append("Export")
    if "skipped" in e or "error" in e:
        lines.append(f"  {e.get('skipped') or e.get('error')}")
    elif e:
        ratio = e.get("_ratio")
        mem = e.get("_peak_mb")
        lines.append(f"  {e.get('_rows', '?')} rows: rows/s ratio tracker/bare openpyxl, same "
                     f"rows {_fmt(ratio, '.3f')} (target >= {EXPORT_RATIO_TARGET}), whole "
                     f"workbook {_fmt(e.get('_workbook_ratio'), '.3f')}, peak memory "
                     f"{_fmt(mem)} MB (target < {EXPORT_MEMORY_TARGET_MB})")
    c = results.get("certificates") or {}
    if c:
        lines.append("")
        lines.append("Certificates")
        if "error" in c:
            lines.append(f"  {c['error']}")
        else:
            lines.append(
                f"  {c['people']} in one PDF: {c['seconds']:.2f} s, {c['certificates_per_s']}/s "
                f"= {c['ratio']:.3f} of bare WeasyPrint's {c['bare_per_s']}/s (target >= "
                f"{c['targets']['ratio']}), zip {c['ratio_zip']:.3f}, peak {c['peak_mb']} MB "
                f"{'ok' if c['ok'] else 'MISSED'}")
    if results["skipped"]:
        lines.append("")
        lines.append("Skipped")
        for item in results["skipped"]:
            lines.append(f"  - {item}")
    if results["errors"]:
        lines.append("")
        lines.append("Errors")
        for item in results["errors"]:
            lines.append(f"  - {item}")
    lines.append("")
    lines.append(f"All figures: {path}")
    return lines


# --------------------------------------------------------------------------- main


def _parse(argv: list[str] | None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the data and shorter loads (also BENCH_SCALE=small)")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--export-rows", type=int)
    parser.add_argument("--certificates", type=int, default=30,
                        help="people of the session whose certificates are made (default 30)")
    parser.add_argument("--scale", choices=sorted(dataset.SCALES),
                        help="size of the generated data set (default large; --quick: medium)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="where the SQLite files and server logs go")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON file written")
    opts = parser.parse_args(argv)
    opts.quick = opts.quick or os.environ.get("BENCH_SCALE", "").lower() in ("small", "quick")
    opts.scale = dataset.SCALES[opts.scale or ("medium" if opts.quick else "large")]
    opts.duration = opts.duration or (3.0 if opts.quick else 10.0)
    opts.export_rows = opts.export_rows or (20_000 if opts.quick else 200_000)
    return opts


def _on_signal(signum, _frame):
    # Turn SIGTERM/SIGHUP into SystemExit so every `finally` stops its server.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # The in-process steps (SQL counts) enqueue mail too: into the bench's queue, not
    # instance/. Restored afterwards: a caller's later worker must share the caller's queue.
    previous = os.environ.get("QUEUE_FILE")
    try:
        return _main(argv)
    finally:
        if previous is None:
            os.environ.pop("QUEUE_FILE", None)
        else:
            os.environ["QUEUE_FILE"] = previous


def _main(argv: list[str] | None) -> int:
    opts = _parse(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    (opts.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    os.environ["QUEUE_FILE"] = str(opts.data_dir / "queue-inprocess.db")
    for old in opts.data_dir.glob("queue-*.db*"):
        old.unlink()  # an earlier run's tasks would wake the worker for nothing
    scale: Scale = opts.scale
    results: dict = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": "quick" if opts.quick else "full",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "settings": {},
        "targets": {**{f"{name}_ratio": t for name, t in TARGETS.items()},
                    "rush_throughput_share": RUSH_THROUGHPUT_TARGET,
                    "growth_limit": GROWTH_LIMIT, "export_ratio": EXPORT_RATIO_TARGET,
                    "export_peak_mb": EXPORT_MEMORY_TARGET_MB},
        "datasets": {}, "throughput": {}, "sql_counts": {}, "growth": {}, "rush_hour": {},
        "export": {}, "skipped": [], "errors": [],
    }
    failed = False
    if opts.tool == "auto":
        opts.tool = "wrk" if loadgen.wrk_available() else "python"
        if opts.tool == "python":
            results["skipped"].append(
                "wrk: not installed, the Python load generator drives both apps instead")
    elif opts.tool == "wrk" and not loadgen.wrk_available():
        results["errors"].append("--tool wrk given but wrk is not installed")
        opts.tool = "python"
    results["settings"] = {"tool": opts.tool, "connections": opts.connections,
                           "duration": opts.duration, "scale": scale.name,
                           "export_rows": opts.export_rows}

    def step(what: str, fn, *args, **kwargs):
        nonlocal failed
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - one failed step must not hide the others
            failed = True
            results["errors"].append(f"{what}: {type(exc).__name__}: {exc}")
            say(f"  ERROR in {what}: {exc}")
            traceback.print_exc()
            return None

    fixtures: dict[str, Fixtures] = {}
    pg_base = os.environ.get("BENCH_DATABASE_URL") or dataset.DEFAULT_POSTGRES_URL
    pg_name = None
    try:
        say(f"Building data sets ({scale.name}) ...")
        fx = step("demo data set", dataset.build_demo, dataset.fresh_sqlite_url("demo", opts.data_dir),
                  scale)
        if fx:
            fixtures["demo-sqlite"] = fx
        fx = step("large data set", dataset.build_network,
                  dataset.fresh_sqlite_url(scale.name, opts.data_dir), scale)
        if fx:
            fixtures[f"{scale.name}-sqlite"] = fx
        if opts.no_postgres:
            results["skipped"].append("PostgreSQL: --no-postgres given")
        else:
            reason = dataset.postgres_reachable(pg_base)
            if reason:
                results["skipped"].append(
                    f"PostgreSQL: not reachable at {_hide(pg_base)} ({reason}); the rush hour "
                    "and the measurements ran on SQLite only")
            else:
                url, pg_name = dataset.create_postgres_database(pg_base)
                fx = step("PostgreSQL data set", dataset.build_network, url, scale)
                if fx:
                    fixtures[f"{scale.name}-postgresql"] = fx
        for label, fx in fixtures.items():
            fx.save(opts.data_dir / f"{label}.json")  # for profiling by hand afterwards
            results["datasets"][label] = {"counts": fx.counts, "build_seconds": fx.build_seconds,
                                          "database": _hide(fx.database_url)}
            say(f"  {label}: {fx.counts.get('enrolment')} enrolments, built in "
                f"{fx.build_seconds} s")

        say(f"Serving bare Flask and tracker (gunicorn, 2 sync workers), load by {opts.tool} ...")
        bare_log = opts.data_dir / "logs" / "gunicorn-bare.log"
        with loadgen.served("bench.bare_app:app", log=bare_log) as bare, SmtpServer() as sink:
            opts.sink, opts.mail_port = sink, sink.port
            measured = measure_side_by_side(fixtures, bare, opts, step)
        for label, run in measured.items():
            rush = run.pop("rush_hour", None)
            results["throughput"][label] = run
            if rush is not None:
                results["rush_hour"][label] = rush
                failed = failed or not rush["ok"] or not (rush.get("mail") or {}).get("ok")
        for label, fx in fixtures.items():
            counts = step(f"SQL counts on {label}", count_statements, fx)
            if counts:
                results["sql_counts"][label] = counts
            cpu = step(f"CPU per request on {label}", cpu_per_request, fx)
            if cpu:
                results.setdefault("cpu_ms", {})[label] = cpu
        if "postgresql" not in " ".join(results["rush_hour"]):
            results["rush_hour"]["postgresql"] = {"skipped": "skipped: PostgreSQL not available"}
        _growth(results, "demo-sqlite", f"{scale.name}-sqlite")

        say(f"Export bench ({opts.export_rows} rows) ...")
        export = step("export bench", run_export, opts.export_rows) or {}
        if "skipped" in export:
            results["skipped"].append(f"export: skipped: {export['skipped']}")
        elif "error" in export:
            results["errors"].append(f"export: {export['error']}")
            failed = True
        else:
            export["_rows"] = _find(export, "rows", "n", "row_count")
            # The target compares the same rows (tracker's Teilnahmen sheet and bare openpyxl);
            # the whole four-sheet workbook's ratio is reported beside it.
            export["_ratio"] = _find(export, "ratio_same_rows", "ratio")
            export["_workbook_ratio"] = _find(export, "ratio")
            export["_peak_mb"] = _find(export, "peak_mb", "peak_memory_mb", "tracker_peak_mb",
                                       "peak_rss_mb")
        results["export"] = export

        say(f"Certificate bench (a {opts.certificates}-person session) ...")
        certs = step("certificate bench", run_certificates, opts.certificates) or {}
        if "error" in certs:
            results["errors"].append(f"certificates: {certs['error']}")
            failed = True
        results["certificates"] = certs
    finally:
        loadgen.stop_all()
        if pg_name:
            with contextlib.suppress(Exception):
                dataset.drop_postgres_database(pg_base, pg_name)
        results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        opts.results.write_text(json.dumps(results, indent=1, default=str))
    for line in summarise(results, opts.results):
        say(line)
    return 1 if failed else 0


def _growth(results: dict, small: str, large: str) -> None:
    """Cost growth: the demo's ratio over the large data set's, taken round by round (the
    two pairs of a round ran a few seconds apart, see measure_side_by_side) and the median
    of the rounds' quotients reported; the quotient of the two medians is kept beside it."""
    a, b = results["throughput"].get(small), results["throughput"].get(large)
    if not a or not b:
        results["skipped"].append("cost growth: needs both the demo and the large measurements")
        return
    for name in SCENARIOS:
        sa, sb = a["scenarios"].get(name, {}), b["scenarios"].get(name, {})
        ra, rb = sa.get("ratio"), sb.get("ratio")
        pairs_a, pairs_b = sa.get("pair_ratios") or [], sb.get("pair_ratios") or []
        rounds = [x / y for x, y in zip(pairs_a, pairs_b, strict=False) if x and y]
        growth = statistics.median(rounds) if rounds and len(pairs_a) == len(pairs_b) else None
        cpu_a = results.get("cpu_ms", {}).get(small, {}).get(name)
        cpu_b = results.get("cpu_ms", {}).get(large, {}).get(name)
        results["growth"][name] = {
            "cpu_ms_small": cpu_a, "cpu_ms_large": cpu_b,
            "cpu_growth": round(cpu_b / cpu_a, 3) if cpu_a and cpu_b else None,
            "ratio_small": ra, "ratio_large": rb,
            "rounds": [round(g, 3) for g in rounds],
            "of_medians": round(ra / rb, 3) if ra and rb else None,
            "growth": round(growth, 3) if growth else None,
            "ok": growth is not None and growth <= GROWTH_LIMIT,
            "sql_small": results["sql_counts"].get(small, {}).get(name),
            "sql_large": results["sql_counts"].get(large, {}).get(name),
        }


def _hide(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(unparseable URL)"


if __name__ == "__main__":
    sys.exit(main())
