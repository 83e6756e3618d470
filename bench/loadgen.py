"""Load generation and the servers under load: gunicorn processes, logins, wrk or Python.

The same generator drives tracker and the bare reference app in one run: `wrk` when it is
installed (a Lua script feeds it the prepared requests), else a Python generator with a fixed
number of concurrent connections (one thread and one http.client connection each).
Servers run in their own process group, die with the bench (PR_SET_PDEATHSIG on Linux) and are
stopped by `stop_all()` in `finally` blocks and at exit, so none is ever left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PORTS = range(5106, 5116)  # this bench's own ports; a free one is picked when all are taken


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    statuses: dict[str, int]
    errors: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None
    connections: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> int:
        bad = sum(n for code, n in self.statuses.items() if not code.startswith(("2", "3")))
        return bad + sum(self.errors.values())

    def as_dict(self) -> dict:
        return {"tool": self.tool, "requests": self.requests, "seconds": round(self.seconds, 3),
                "rps": round(self.rps, 1), "statuses": self.statuses, "errors": self.errors,
                "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "connections": self.connections,
                "failed": self.failed}


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def wrk_available() -> str | None:
    return shutil.which("wrk")


def python_load(port: int, requests: list[Request], *, connections: int = 8,
                duration: float | None = None, count: int | None = None,
                host: str = HOST, timeout: float = 120) -> LoadResult:
    """Each connection sends request after request until `duration` is over or `count`
    requests are taken (request i is requests[i % len(requests)])."""
    if duration is None and count is None:
        raise ValueError("give a duration or a request count")
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    start = time.perf_counter()
    stop_at = start + duration if duration else None
    finished = [start]

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        mine: list[float] = []
        codes: Counter = Counter()
        fails: Counter = Counter()
        while True:
            i = next(counter)
            if count is not None and i >= count:
                break
            if stop_at is not None and time.perf_counter() >= stop_at:
                break
            req = requests[i % len(requests)]
            t0 = time.perf_counter()
            try:
                conn.request(req.method, req.path, body=req.body.encode() or None,
                             headers=req.headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                fails[type(exc).__name__] += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - t0)
            codes[str(response.status)] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(codes)
            errors.update(fails)
            finished[0] = max(finished[0], time.perf_counter())

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = finished[0] - start
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return LoadResult("python", len(latencies), seconds, dict(statuses), dict(errors),
                      round(p50 * 1000, 2) if p50 is not None else None,
                      round(p99 * 1000, 2) if p99 is not None else None, connections)


_WRK_SCRIPT = r"""
-- Feeds wrk the prepared requests: one per line, fields separated by tabs:
-- method, path, body, then header name and value pairs. With "once", thread t takes every
-- n-th line starting at line t, so no request is sent twice; else every thread cycles
-- through all lines, starting at a different one.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local requests = {}
local index = 0
local once = false

function init(args)
  once = args[2] == "once"
  local threads = tonumber(args[3])
  local n = 0
  for line in io.lines(args[1]) do
    if not once or n % threads == tid then
      local f = {}
      for value in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = value end
      local headers = {}
      for i = 4, #f - 1, 2 do headers[f[i]] = f[i + 1] end
      local body = nil
      if f[3] ~= "" then body = f[3] end
      requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
    end
    n = n + 1
  end
  if not once then index = tid % #requests end
end

function request()
  index = index + 1
  if index > #requests then
    if once then
      wrk.thread:stop()
      index = #requests
    else
      index = 1
    end
  end
  return requests[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_load(port: int, requests: list[Request], *, connections: int = 8,
             duration: float = 10, once: bool = False, threads: int = 2,
             host: str = HOST) -> LoadResult:
    """wrk for `duration` seconds; with `once`, each prepared request is sent at most once
    and wrk stops when they are used up (for POSTs that may happen only once, e.g. enrolling)."""
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory(prefix="tracker-bench-wrk-") as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(_WRK_SCRIPT)
        lines = Path(tmp) / "requests.tsv"
        with lines.open("w") as out:
            for req in requests:
                fields = [req.method, req.path, req.body]
                for name, value in req.headers.items():
                    fields += [name, value]
                if any("\t" in f or "\n" in f for f in fields):
                    raise ValueError("a request field contains a tab or newline")
                out.write("\t".join(fields) + "\n")
        # wrk takes whole seconds only ("6.7s" is a usage error).
        seconds = max(1, round(duration))
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--timeout", "60s", "-s", str(script), f"http://{host}:{port}/", "--",
               str(lines), "once" if once else "cycle", str(threads)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    match = re.search(r"^WRKJSON (.*)$", result.stdout, re.M)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    non_ok = data["status"]
    statuses = {"2xx/3xx": data["requests"] - non_ok}
    if non_ok:
        statuses["4xx/5xx"] = non_ok
    errors = {k: data[k] for k in ("connect", "read", "write", "timeout") if data[k]}
    return LoadResult("wrk", data["requests"], data["duration_us"] / 1e6, statuses, errors,
                      round(data["p50_us"] / 1000, 2), round(data["p99_us"] / 1000, 2),
                      connections)


ONCE_SECONDS = 1  # wrk's run on a pool sent once (see load)


def load(port: int, requests: list[Request], *, tool: str, connections: int,
         duration: float, once: bool = False) -> LoadResult:
    """The chosen tool; `once` sends each prepared request at most once.

    wrk always runs for its whole duration, even when a `once` pool is used up (its threads
    stop, its clock does not), so with `once` wrk runs for one second, its shortest run, on
    the first half of the pool. If it used that up, its run is thrown away and the Python
    generator sends the other half, each request once (a request sent is never sent again:
    enrolling twice would only measure the refusal). Before stop 15 wrk ran for `duration`
    and used up the half whenever the enrolment ran faster than ~400 a second; the Python
    generator's own ceiling (~2,000 requests a second) then made the bare app look slow, and
    pairs measured by the two tools gave ratios 2-3 times apart (cost growth 2.36)."""
    if tool == "wrk":
        if not once:
            return wrk_load(port, requests, connections=connections, duration=duration)
        half = len(requests) // 2
        result = wrk_load(port, requests[:half], connections=connections, duration=ONCE_SECONDS,
                          once=True)
        if result.requests < half - 2 * connections and result.failed == 0:
            return result
        requests = requests[half:]
    if once:
        return python_load(port, requests, connections=connections, count=len(requests))
    return python_load(port, requests, connections=connections, duration=duration)


# --------------------------------------------------------------------------- servers

_running: list[subprocess.Popen] = []


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def listening_socket(preferred: range | None = PORTS) -> socket.socket:
    """A socket already listening on 127.0.0.1, on the first free port of `preferred`, else on
    any free port. gunicorn inherits it (`--bind fd://N`), so no other process can take the
    port between choosing it and serving on it (two benches or test runs at once)."""
    for port in [*(preferred or ()), 0]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            sock.close()
            continue
        sock.listen(2048)
        return sock
    raise RuntimeError("no free port on 127.0.0.1")


def start_gunicorn(app_spec: str, port: int | None = None, env: dict[str, str] | None = None,
                   workers: int = 2, log: Path | None = None) -> subprocess.Popen:
    """gunicorn with `workers` sync workers on 127.0.0.1 (`port`, else one of PORTS, else any
    free port; the chosen one is `process.bench_port`); waits until it answers."""
    sock = listening_socket(PORTS if port is None else range(port, port + 1))
    if port is not None and sock.getsockname()[1] != port:
        sock.close()
        raise RuntimeError(f"port {port} on {HOST} is taken")
    port = sock.getsockname()[1]
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - child owns it
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync",
           "--bind", f"fd://{sock.fileno()}", "--timeout", "120", "--graceful-timeout", "5",
           "--log-level", "warning", app_spec]
    try:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
            pass_fds=(sock.fileno(),),
        )
    finally:
        sock.close()
        if log:
            log_file.close()
    process.bench_port = port  # type: ignore[attr-defined]
    _running.append(process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _running.remove(process)
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"gunicorn {app_spec} exited with {process.returncode}\n{tail}")
        try:
            with contextlib.closing(http.client.HTTPConnection(HOST, port, timeout=2)) as conn:
                conn.request("GET", "/")
                conn.getresponse().read()
            return process
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"gunicorn {app_spec} did not answer on port {port} within 60 s")


def stop(process: subprocess.Popen) -> None:
    """Stop the server's whole process group: master and workers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Workers left orphaned by a dead master still carry the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process in _running:
        _running.remove(process)


def stop_all() -> None:
    for process in list(_running):
        stop(process)


def running() -> list[int]:
    return [p.pid for p in _running if p.poll() is None]


atexit.register(stop_all)


@contextlib.contextmanager
def served(app_spec: str, env: dict[str, str] | None = None, log: Path | None = None,
           port: int | None = None):
    """A gunicorn for the duration of the block; yields its port."""
    process = start_gunicorn(app_spec, port, env=env, log=log)
    try:
        yield process.bench_port
    finally:
        stop(process)


# --------------------------------------------------------------------------- logins


@dataclass
class Login:
    cookie: str  # the Cookie header
    csrf: str  # the X-CSRFToken header value


class _Browser:
    """Just enough of a browser: one connection, a cookie jar, no redirects followed."""

    def __init__(self, port: int, host: str = HOST):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict | None = None,
             headers: dict | None = None) -> tuple[int, str]:
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=hdrs)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
        if response.will_close:
            self.conn.close()
        return response.status, text

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


_FORM_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_HX_TOKEN = re.compile(r'"X-CSRFToken":\s*"([^"]+)"')


def login(port: int, email: str, password: str) -> Login:
    """Log in through the real form and return the cookie and the page's CSRF token."""
    browser = _Browser(port)
    try:
        return _login(browser, email, password)
    finally:
        browser.conn.close()


def _login(browser: _Browser, email: str, password: str) -> Login:
    status, page = browser.send("GET", "/anmelden")
    token = _FORM_TOKEN.search(page)
    if status != 200 or not token:
        raise RuntimeError(f"login page answered {status} without a CSRF token")
    status, page = browser.send("POST", "/anmelden", form={
        "email": email, "password": password, "csrf_token": token.group(1)})
    if status != 303:
        raise RuntimeError(f"login of {email} answered {status}, not 303")
    # The session is new after login: the token for later requests comes from a page.
    status, page = browser.send("GET", "/")
    token = _HX_TOKEN.search(page)
    if status != 200 or not token:
        raise RuntimeError(f"start page after login answered {status} without a CSRF token")
    return Login(browser.cookie_header, token.group(1))


def login_pool(port: int, emails: list[str], password: str, workers: int = 8) -> list[Login]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda e: login(port, e, password), emails))


def fetch(port: int, path: str, cookie: str = "") -> tuple[int, bytes]:
    with contextlib.closing(http.client.HTTPConnection(HOST, port, timeout=60)) as conn:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read()
