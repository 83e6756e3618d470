"""Browser tests: tracker served by gunicorn against a fresh database, driven by Debian's
Chromium through Playwright. Every step can be checked with axe-core (WCAG 2.0/2.1 A and AA),
and a test fails on any console error, CSP violation, page error, htmx error event or server
traceback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import fresh_database
from tests.mailserver import Inbox, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# The machine's Chromium (Debian's package); `make test` passes the same CHROMIUM.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
MISSING_CHROMIUM = (
    f"Browser tests need Chromium ({CHROMIUM} is missing): run "
    "`sudo apt-get install chromium fonts-dejavu-core` (or `sudo bash .ci/run`), "
    "or `pytest -m \"not browser\"` to skip them"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_JS = ROOT / "static" / "vendor" / "axe" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO_PASSWORD = "tracker-demo"  # noqa: S105 - the demo data's published password
SECRET_KEY = "browser-tests-secret-key-0123456789"  # noqa: S105
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
HTMX_ERROR_EVENTS = [
    "htmx:responseError",
    "htmx:sendError",
    "htmx:swapError",
    "htmx:targetError",
    "htmx:onLoadError",
]

# Runs in every page before its own scripts (through CDP, so the CSP does not apply to it):
# CSP violations and htmx error events become console errors, which fail the test.
WATCH_SCRIPT = """
(() => {
  const report = (kind, detail) => console.error("[tracker-test] " + kind + ": " + detail);
  document.addEventListener("securitypolicyviolation", (e) => report(
    "CSP violation", e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber));
  for (const name of __EVENTS__) {
    document.addEventListener(name, (e) => {
      const d = e.detail || {};
      const req = d.requestConfig ? d.requestConfig.verb + " " + d.requestConfig.path : "";
      report(name, req + (d.xhr ? " -> " + d.xhr.status : ""));
    });
  }
})();
""".replace("__EVENTS__", json.dumps(HTMX_ERROR_EVENTS))

AXE_RUN = """
async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
  }));
}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- The live server -----------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    database_url: str
    log_path: Path
    inbox: Inbox  # what the server's worker delivered to the SMTP server of the tests
    directory: object = None  # the UBA's slapd (tests/directory.py), or None without LDAP

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")

    @contextlib.contextmanager
    def app_context(self) -> Iterator[None]:
        """An app on the server's database, for setting up a scene in the test process."""
        from tracker import create_app
        from tracker.extensions import db

        app = create_app(
            {"TESTING": True, "SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": self.database_url}
        )
        with app.app_context():
            try:
                yield
            finally:
                db.session.remove()
                db.engine.dispose()


def _flask(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "tracker", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _wait_until_serving(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/anmelden", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer within 30 s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def browser_database_url(tmp_path_factory) -> Iterator[str]:
    """A database of its own, apart from the one the in-process tests empty after each test."""
    with fresh_database(tmp_path_factory, "browser-db") as url:
        yield url


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_directory():
    """The Umweltbundesamt's directory (a real slapd), or None where python-ldap or slapd
    is missing outside CI: then the other journeys still run and the directory one skips."""
    from tests.directory import start_slapd

    try:
        server = start_slapd()
    except pytest.skip.Exception:
        yield None
        return
    server.add_person("jonas", mail="jonas.neumann@uba.example", given="Jonas", sn="Neumann")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server(browser_database_url: str, tmp_path_factory,
                browser_directory) -> Iterator[LiveServer]:
    """gunicorn (2 workers) on a free loopback port, migrated and loaded with demo data, with
    its background worker delivering mail to a real SMTP server (aiosmtpd) of the tests, and
    the Umweltbundesamt's people signing in through its directory."""
    from tests.directory import SERVICE_PASSWORD_ENV, provider_toml

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("gunicorn")
    log_path = logs / "server.log"
    directory_env = {}
    if browser_directory is not None:
        auth_config = logs / "auth.toml"
        auth_config.write_text(provider_toml(browser_directory), encoding="utf-8")
        directory_env = {"AUTH_CONFIG": str(auth_config),
                         SERVICE_PASSWORD_ENV: browser_directory.root_pw}
    with contextlib.ExitStack() as stack:
        smtp = stack.enter_context(SmtpServer())
        env = {
            **os.environ,
            "DATABASE_URL": browser_database_url,
            "SECRET_KEY": SECRET_KEY,
            "RATELIMIT_ENABLED": "false",
            "TRACKER_ENV": "development",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "BASE_URL": url,
            "QUEUE_FILE": str(logs / "queue.db"),
            # Her organisation's marks of all time (164 in the demo data) are made by the
            # worker; one series of one year (at most 48) is written while she waits.
            "EXPORT_BACKGROUND_ROWS": "100",
            **directory_env,
        }
        env.pop("REDIS_URL", None)
        _flask(["db", "upgrade"], env)
        _flask(["demo-data"], env)
        with log_path.open("wb") as log, (logs / "worker.log").open("wb") as worker_log:
            proc = subprocess.Popen(  # noqa: S603
                [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--error-logfile", "-", "wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            worker = subprocess.Popen(  # noqa: S603
                [str(VENV_BIN / "flask"), "--app", "tracker", "worker"],
                cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, worker)
        _wait_until_serving(url, proc, log_path)
        yield LiveServer(url=url, database_url=browser_database_url, log_path=log_path,
                         inbox=smtp.inbox, directory=browser_directory)


# --- The browser ---------------------------------------------------------------------------


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without Chromium, stop before the first test with what to install, instead of one
    error per browser test."""
    wanted = any(item.get_closest_marker("browser") for item in session.items)
    if wanted and shutil.which(CHROMIUM) is None:
        pytest.exit(MISSING_CHROMIUM, returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _new_context(browser: Browser, *, javascript: bool) -> BrowserContext:
    return browser.new_context(
        java_script_enabled=javascript,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )


@pytest.fixture(scope="session")
def axe_page(browser: Browser) -> Iterator[Page]:
    """A JavaScript page that re-renders snapshots of no-JavaScript pages for axe (timers,
    and so axe itself, do not run in a document loaded with JavaScript disabled)."""
    context = _new_context(browser, javascript=True)
    page = context.new_page()
    yield page
    context.close()


@dataclass
class Problems:
    """Console errors, CSP violations, page errors and htmx error events of one test."""

    found: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """A test that provokes an error on purpose (a 404 page, a refused action) says so."""
        self.allowed.append(re.compile(pattern))

    def add(self, kind: str, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.found.append(f"{kind}: {text}")

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


def _format_violations(label: str, url: str, violations: list[dict]) -> str:
    lines = [f"axe found {len(violations)} WCAG 2.x A/AA violation(s) on {label!r} ({url}):"]
    for v in violations:
        lines.append(f"- {v['id']} [{v['impact']}]: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    at {node['target']}: {summary}")
        if len(v["nodes"]) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


class Web:
    """One test's browser tab with the checks every step of a journey runs."""

    def __init__(self, page: Page, *, server: LiveServer, javascript: bool, artifacts: Path,
                 axe_page: Page):
        self.page = page
        self.server = server
        self.javascript = javascript
        self.artifacts = artifacts
        self.problems = Problems()
        self._axe_page = axe_page
        self._shots = 0
        self._log_offset = server.log_size()
        page.set_default_timeout(10_000)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.problems.add("page error", str(exc)))
        # Confirmation dialogs (data-confirm, hx-confirm) are answered "OK" and remembered.
        self.dialogs: list[str] = []
        page.on("dialog", self.accept_dialog)
        page.add_init_script(WATCH_SCRIPT)

    def _on_console(self, message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.problems.add("console error", f"{message.text} ({where})")

    def accept_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    # navigation

    def url(self, path: str) -> str:
        return self.server.url + path

    def goto(self, path: str):
        return self.page.goto(self.url(path))

    def login(self, email: str, password: str = DEMO_PASSWORD) -> None:
        """Log in through the real form, as a person would."""
        page = self.page
        self.goto("/anmelden")
        page.get_by_label("E-Mail-Adresse").fill(email)
        page.get_by_label("Passwort").fill(password)
        page.locator("main form").get_by_role("button", name="Anmelden").click()
        expect(page.get_by_role("button", name="Abmelden")).to_be_visible()

    def nav(self, name: str) -> None:
        """Follow a link of the main navigation."""
        link = self.page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
            "link", name=name, exact=True)
        href = link.get_attribute("href")
        link.click()
        self.page.wait_for_url(lambda url: url.split("#")[0].endswith(href))
        self.settle()
        expect(self.page.locator("main h1")).to_be_visible()

    def settle(self) -> None:
        """Wait until htmx has no request, swap or settle in flight."""
        if self.javascript:
            self.page.wait_for_function(
                "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
            )

    def logout(self) -> None:
        self.page.get_by_role("button", name="Abmelden").click()
        expect(self.page.get_by_label("E-Mail-Adresse")).to_be_visible()

    # checks

    def screenshot(self, label: str) -> Path:
        self._shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        path = self.artifacts / f"{self._shots:02d}-{slug}.png"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe_violations(self) -> list[dict]:
        if self.javascript:
            target = self.page
        else:
            # Same DOM, same stylesheets, same viewport: a snapshot of the page served again
            # to a page where axe can run.
            target = self._axe_page
            url, html = self.page.url, self.page.content()
            def serve(route):
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            def is_page(u: str) -> bool:
                return u == url
            target.route(is_page, serve)
            try:
                target.goto(url)
            finally:
                target.unroute(is_page, serve)
        if not target.evaluate("typeof window.axe === 'object'"):
            # Evaluated through the DevTools protocol: not subject to the page's CSP.
            target.evaluate(AXE_JS.read_text(encoding="utf-8"))
        return target.evaluate(AXE_RUN, WCAG_TAGS)

    def assert_accessible(self, label: str) -> None:
        violations = self.axe_violations()
        if violations:
            pytest.fail(_format_violations(label, self.page.url, violations), pytrace=False)

    def assert_no_problems(self, label: str = "") -> None:
        found = self.problems.take()
        log = self.server.log_since(self._log_offset)
        self._log_offset += len(log.encode("utf-8"))
        if "Traceback" in log:
            found.append("server traceback:\n" + log)
        if found:
            pytest.fail(f"Problems in the browser ({label}):\n" + "\n".join(found), pytrace=False)

    def check(self, label: str) -> None:
        """After every page and every htmx swap: screenshot, axe, console and server log."""
        self.settle()
        self.screenshot(label)
        self.assert_no_problems(label)
        self.assert_accessible(label)

    # keyboard

    def focused(self) -> dict:
        return self.page.evaluate(
            """() => { const e = document.activeElement; return {
              tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute("name"),
              text: (e.innerText || e.value || "").trim().slice(0, 80),
              type: e.getAttribute("type") }; }"""
        )

    def focus_outline(self) -> dict:
        """Computed focus indicator of the focused element (outline or box shadow)."""
        return self.page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
              return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) || 0,
                       shadow: s.boxShadow, visible: e.matches(":focus-visible") }; }"""
        )

    def tab_to(self, predicate_js: str, *, limit: int = 40, shift: bool = False) -> dict:
        """Press Tab until the focused element matches `predicate_js` (a JS function of the
        element); fails if it is not reached within `limit` presses."""
        key = "Shift+Tab" if shift else "Tab"
        for _ in range(limit):
            self.page.keyboard.press(key)
            if self.page.evaluate(f"({predicate_js})(document.activeElement)"):
                return self.focused()
        pytest.fail(f"Tab never reached the element {predicate_js} within {limit} presses")


def _artifact_dir(request) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    return ARTIFACTS / name


def _web(browser, live_server, axe_page, request, *, javascript: bool) -> Iterator[Web]:
    context = _new_context(browser, javascript=javascript)
    page = context.new_page()
    web = Web(page, server=live_server, javascript=javascript, artifacts=_artifact_dir(request),
              axe_page=axe_page)
    try:
        yield web
        web.assert_no_problems("end of test")
    finally:
        context.close()


@pytest.fixture
def web(browser, live_server, axe_page, request) -> Iterator[Web]:
    """A tab with JavaScript."""
    yield from _web(browser, live_server, axe_page, request, javascript=True)


@pytest.fixture
def web_nojs(browser, live_server, axe_page, request) -> Iterator[Web]:
    """A tab with JavaScript disabled: every action must work as plain forms and links."""
    yield from _web(browser, live_server, axe_page, request, javascript=False)


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def web_any(browser, live_server, axe_page, request) -> Iterator[Web]:
    """The journey runs twice: with JavaScript and with JavaScript disabled."""
    yield from _web(browser, live_server, axe_page, request, javascript=request.param)


# --- The scene the journeys play in --------------------------------------------------------


@dataclass
class Scene:
    """What the journeys need beyond the demo data, made once per run."""

    vielfalt_title: str  # the current "Vielfaltsmontag <year>"
    open_session: int  # a Vielfaltsmontag session with free seats
    full_session: int  # the next Vielfaltsmontag, full with a waiting list
    titles: dict[int, str]  # session titles (they repeat from year to year)
    running: dict[str, int]  # sessions that started an hour ago, by journey variant
    walk_ins: dict[str, tuple[str, str, str]]  # (e-mail, full name, sort name), not enrolled
    employees: list[str]  # e-mails of employees in neither of the two sessions above
    _handed_out: int = 0

    def employee(self) -> str:
        """A fresh employee for each journey, so runs never meet."""
        email = self.employees[self._handed_out]
        self._handed_out += 1
        return email


@pytest.fixture(scope="session")
def scene(live_server: LiveServer) -> Scene:
    from datetime import timedelta

    from sqlalchemy import select

    from tests import factories
    from tracker.extensions import db
    from tracker.models import EnrolmentState, Role, TrainingSeries, User, utcnow
    from tracker.timeutil import to_local

    with live_server.app_context():
        now = utcnow().replace(microsecond=0)
        # This year's series: from October the demo plans next year's too.
        vielfalt = db.session.scalars(
            select(TrainingSeries)
            .where(TrainingSeries.title == f"Vielfaltsmontag {to_local(now).year}")
        ).one()
        # The scene makes its own full session: the demo's next full one closes its enrolment
        # on the day before it, and the journeys must not depend on the day they run.
        open_session = factories.session(
            vielfalt, starts_in=timedelta(days=9), capacity=15,
            title="Sondertermin: Vielfalt im Gespräch",
        )
        full = factories.session(
            vielfalt, starts_in=timedelta(days=16), capacity=3,
            title="Religiöse Vielfalt im Arbeitsalltag",
        )
        employees = list(db.session.scalars(
            select(User).where(User.role == Role.EMPLOYEE.value)
            .order_by(User.organisation_id, User.email)
        ))
        assert len(employees) >= 40, "the demo data has fewer employees than the scene needs"
        for person in employees[12:15]:
            factories.enrolment(full, person)
        for person in employees[15:18]:
            factories.enrolment(full, person, EnrolmentState.WAITLISTED)
        running, walk_ins = {}, {}
        for n, variant in enumerate(("js", "nojs", "keyboard")):
            session = factories.session(
                vielfalt, starts_at=now - timedelta(hours=1), hours=2, capacity=15,
                title=f"Vielfalt im Alltag (Gruppe {n + 1})",
            )
            # Six people from all three partners, taken from the end of the list.
            for person in employees[-6 * (n + 1):][:6]:
                factories.enrolment(session, person)
            running[variant] = session.id
            walk_in = employees[20 + n]
            walk_ins[variant] = (walk_in.email, walk_in.full_name, walk_in.sort_name)
        scene = Scene(
            vielfalt_title=vielfalt.title, open_session=open_session.id,
            full_session=full.id, titles={open_session.id: open_session.title, full.id: full.title},
            running=running, walk_ins=walk_ins,
            employees=[u.email for u in employees[:12]],
        )
    return scene
