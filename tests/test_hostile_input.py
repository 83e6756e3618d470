"""Bad input, systematically: hypothesis posts random and hostile values (empty, huge, Unicode,
HTML and script, SQL fragments, negative numbers, wrong types, lists for single values) to every
form and htmx endpoint of the URL map. Never a 5xx; a rejected request changes no data; and no
page ever renders a stored or reflected script unescaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter

from tests import factories
from tests import world as w

MARKER = "xss7"
HOSTILE = [
    "",
    " ",
    "\r\n\t",
    "0",
    "-1",
    "-999999999999",
    "99999999999999999999999",
    "1.5",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "ä" * 300,
    "x" * 5000,
    "🙂" * 80,
    "\u202eevil",
    "Zoë O'Brien-Müller",
    f"<script>{MARKER}()</script>",
    f'"><img src=x onerror={MARKER}()>',
    f"javascript:{MARKER}()",
    "'; DROP TABLE user_account; --",
    "1 OR 1=1",
    "' OR '1'='1",
    "%00",
    "../../etc/passwd",
    "=HYPERLINK(\"http://evil.example\")",
    "2026-02-30",
    "9999-12-31",
    "00:00",
    "admin",
    "present",
    "lead@example.org",
    "//evil.example/",
]

value = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3),  # a list where one value belongs
)
EXAMPLES = 6  # per route: bounded, the suite stays fast
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Forms(HTMLParser):
    """The forms of a page: action path -> field names (and GET forms apart)."""

    def __init__(self, page_path: str):
        super().__init__()
        self.page_path = page_path
        self.forms: list[tuple[str, str, set[str]]] = []
        self._current: tuple[str, str, set[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            action = a.get("action") or a.get("hx-post") or self.page_path
            self._current = ((a.get("method") or "get").upper(), urlsplit(action).path, set())
            self.forms.append(self._current)
        elif (tag in ("input", "select", "textarea", "button") and a.get("name")
              and a["name"] != "csrf_token" and self._current is not None):
            self._current[2].add(a["name"])
        if tag == "a" and a.get("href") and "?" in a["href"]:
            # Query parameters of links (pages, filters) are input too.
            url = urlsplit(a["href"])
            if not url.netloc:
                names = {kv.split("=")[0] for kv in url.query.split("&") if kv}
                self.forms.append(("GET", url.path or self.page_path, names))
        for attr in ("hx-post", "hx-get"):
            if a.get(attr) and tag != "form" and a.get("name"):
                self.forms.append((attr[3:].upper(), urlsplit(a[attr]).path, {a["name"]}))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


class RawScript(HTMLParser):
    """Elements or attributes our hostile values would create if rendered unescaped."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, val in attrs:
            if name.startswith("on") and MARKER in (val or ""):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (val or "").lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_data(self, data):
        if self.lasttag == "script" and MARKER in data:
            self.found.append("<script> with the marker")


def assert_no_raw_script(html: str, where: str) -> None:
    parser = RawScript()
    parser.feed(html)
    assert not parser.found, f"{where} renders hostile input unescaped: {parser.found}"
    assert f"<script>{MARKER}" not in html, where


def read(response):
    body = response.get_data()
    response.close()
    return body


@pytest.fixture
def world(app):
    return w.build()


def build_path(app, rule, world) -> str:
    return app.url_map.bind("localhost").build(rule.endpoint, world.url_values(rule))


def crawl_forms(app, client, world) -> dict[tuple[str, str], set[str]]:
    """Log in as each role and read every page: which fields each form sends where."""
    fields: dict[tuple[str, str], set[str]] = {}
    for who in ("admin", "hr_staff_a", "employee_a"):
        client.post("/abmelden")
        client.post("/anmelden", data={"email": world.users[who].email,
                                       "password": factories.PASSWORD})
        for rule in w.app_rules(app):
            if "GET" not in rule.methods:
                continue
            path = build_path(app, rule, world)
            response = client.get(path)
            if not response.content_type.startswith("text/html"):
                read(response)
                continue
            parser = Forms(path)
            parser.feed(read(response).decode())
            for method, action, names in parser.forms:
                fields.setdefault((method, action), set()).update(names)
    return fields


def login(client, user) -> None:
    """Log out whoever is logged in (an example may have changed that), then log in `user`."""
    client.post("/abmelden")
    response = client.post("/anmelden", data={"email": user.email,
                                              "password": factories.PASSWORD})
    assert response.status_code == 303, f"{user.email} can no longer log in"


def attack(client, user, method: str, path: str, names: list[str]) -> None:
    """Hypothesis throws hostile form data at one endpoint."""

    @SETTINGS
    @given(data=st.fixed_dictionaries({}, optional={n: value for n in names}))
    def one_request(data):
        login(client, user)
        before = w.table_fingerprint()
        if method == "GET":
            response = client.get(path, query_string=data)
        else:
            headers = {"HX-Request": "true"} if len(data) % 2 else {}
            response = client.open(path, method=method, data=data, headers=headers)
        body = read(response)
        status = response.status_code
        assert status < 500, f"{method} {path} {data!r} -> {status}"
        if response.content_type.startswith("text/html"):
            assert_no_raw_script(body.decode(), f"{method} {path} {data!r}")
        if 400 <= status < 500 and method != "GET":
            assert w.table_fingerprint() == before, (
                f"{method} {path} was refused with {status} but changed data: {data!r}")

    one_request()


def test_hostile_values_to_every_form_and_endpoint_never_break_anything(app, client, world):
    forms = crawl_forms(app, client, world)
    every_field = sorted(set().union(*forms.values()) | {"q", "status", "user_id", "version"})
    admin = world.users["admin"]
    checked = []

    for rule in w.app_rules(app):
        methods = sorted(rule.methods & (w.MUTATING | {"GET"}))
        path = build_path(app, rule, world)
        for method in methods:
            names = sorted(forms.get((method, path), set()))
            if method == "GET" and not names:
                continue  # a page without a form: nothing to send
            names = names or every_field
            checked.append((method, path))

            attack(client, admin, method, path, names)

    assert len(checked) >= 25, checked

    # Whatever was stored on the way: no page renders it as markup, for any role (employee_a
    # was the target of the person forms and may be anonymised by now: her colleague looks).
    for who in ("admin", "hr_lead_a", "hr_staff_b", "colleague_a"):
        client.post("/abmelden")
        login(client, world.users[who])
        for rule in w.app_rules(app):
            if "GET" not in rule.methods:
                continue
            for url_values in (world.url_values(rule, of="a"), world.url_values(rule, of="b")):
                path = app.url_map.bind("localhost").build(rule.endpoint, url_values)
                response = client.get(path)
                body = read(response)
                assert response.status_code < 500, f"{who} GET {path} -> {response.status_code}"
                if response.content_type.startswith("text/html"):
                    assert_no_raw_script(body.decode(), f"{who} GET {path}")


def test_stored_markup_in_names_and_titles_is_shown_as_text(app, client, world, db):
    """The hostile values that do get stored (names, titles) appear escaped everywhere."""
    hostile = f"<script>{MARKER}()</script>"
    world.users["employee_a"].last_name = hostile
    world.series_a.title = f'"><img src=x onerror={MARKER}()>'
    world.session_a.title = hostile
    world.org_a.name = hostile
    db.session.commit()
    for who in ("admin", "hr_staff_a", "employee_a"):
        client.post("/abmelden")
        login(client, world.users[who])
        shown = 0
        for rule in w.app_rules(app):
            if "GET" not in rule.methods:
                continue
            path = build_path(app, rule, world)
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(path, headers=headers)
                body = read(response)
                if response.content_type.startswith("text/html"):
                    html = body.decode()
                    assert_no_raw_script(html, f"{who} GET {path}")
                    shown += html.count("&lt;script&gt;" + MARKER)
        assert shown > 0, f"{who} never saw the stored names: the test would prove nothing"


def test_a_field_with_a_nul_byte_is_refused_not_stored(app, client, world):
    login(client, world.users["admin"])
    before = w.table_fingerprint()
    response = client.post(
        f"/verwaltung/organisationen/{world.org_b.id}",
        data={"name": "Behörde\x00B", "short_name": "B"},
    )
    assert 400 <= response.status_code < 500
    assert w.table_fingerprint() == before
    assert re.search("Ungültig|nicht|Eingabe", response.get_data(as_text=True))


NUMBERS = ["-1", "0", "-2147483649", "-99999999999999", "2147483648", "9223372036854775808", "99999999999999999999999", "-0", "1e3"]


def test_out_of_range_numbers_in_every_query_parameter_never_break_a_page(app, client, world):
    """Page numbers and filter ids beyond what the database's integers hold: a message or an
    empty list, never a 500 (PostgreSQL refuses such values where SQLite shrugs)."""
    forms = crawl_forms(app, client, world)
    login(client, world.users["admin"])
    findings = []
    for (method, path), names in sorted(forms.items()):
        if method != "GET":
            continue
        for name in sorted(names):
            for number in NUMBERS:
                response = client.get(path, query_string={name: number})
                read(response)
                if response.status_code >= 500:
                    findings.append(f"GET {path}?{name}={number} -> {response.status_code}")
    assert not findings, "\n".join(findings)


def test_out_of_range_numbers_in_every_form_field_never_break_a_request(app, client, world):
    """The same for every field of every form that changes something (ids in hidden fields,
    capacities, versions): a German refusal, never a database error."""
    forms = crawl_forms(app, client, world)
    every_field = set().union(*forms.values()) | {"user_id", "version", "status", "capacity"}
    findings = []
    for rule in w.app_rules(app):
        path = build_path(app, rule, world)
        for method in sorted(rule.methods & w.MUTATING):
            if path in ("/abmelden", "/anmelden"):
                continue
            login(client, world.users["admin"])
            for name in sorted(forms.get((method, path)) or every_field):
                for number in ("-2147483649", "2147483648", "99999999999999999999999"):
                    response = client.open(path, method=method, data={name: number})
                    read(response)
                    if response.status_code >= 500:
                        findings.append(
                            f"{method} {path} {name}={number} -> {response.status_code}")
    assert not findings, "\n".join(findings)


def _integer_arguments(app, rule) -> list[str]:
    """The names of a route's arguments whose converter takes integers (<int:...>, <id:...>)."""
    names = []
    for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
        if issubclass(app.url_map.converters.get(converter or "default"), IntegerConverter):
            names.append(name)
    return names


def test_out_of_range_ids_in_urls_answer_404(app, client, world):
    login(client, world.users["admin"])
    findings = []
    for rule in w.app_rules(app):
        int_args = _integer_arguments(app, rule)
        if not int_args:
            continue
        values = world.url_values(rule)
        for name in int_args:
            for number in (2**31, 2**63, 10**30):
                path = app.url_map.bind("localhost").build(
                    rule.endpoint, {**values, name: number})
                for method in sorted(rule.methods & (w.MUTATING | {"GET"})):
                    response = client.open(path, method=method, data={})
                    read(response)
                    if response.status_code != 404:
                        findings.append(f"{method} {path} -> {response.status_code}")
    assert not findings, "\n".join(findings)
