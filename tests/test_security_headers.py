"""Security headers and a strict CSP on every route of the URL map (new routes are covered
automatically), and no inline script, style or event handler in any page the CSP would block."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from tests import world as w

CSP_REQUIRED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def parse_csp(header: str) -> dict[str, str]:
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name] = value.strip()
    return directives


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts and styles, on* handlers,
    javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.meta_htmx_config: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src"):
            self.found.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> element at line {self.getpos()[0]}")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= handler on <{tag}> at line {self.getpos()[0]}")
            if name == "style":
                self.found.append(f"style= attribute on <{tag}> at line {self.getpos()[0]}")
            if name in ("href", "src", "action", "formaction") and (value or "").strip(
            ).lower().startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}> at line {self.getpos()[0]}")
        if tag == "meta" and attributes.get("name") == "htmx-config":
            self.meta_htmx_config = attributes.get("content")


@pytest.fixture
def world(app):
    return w.build()


def fetch(client, path: str, **kwargs):
    """GET and read the whole body, then close (exports stream from temporary files)."""
    response = client.get(path, **kwargs)
    response.get_data()
    response.close()
    return response


def get_routes(app):
    return [r for r in w.app_rules(app) if "GET" in r.methods]


def assert_headers(path: str, response) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "same-origin", path
    csp_header = headers.get("Content-Security-Policy", "")
    assert "unsafe-inline" not in csp_header and "unsafe-eval" not in csp_header, path
    csp = parse_csp(csp_header)
    for directive, value in CSP_REQUIRED.items():
        assert csp.get(directive) == value, f"{path}: {directive} is {csp.get(directive)!r}"
    assert "no-store" in headers.get("Cache-Control", ""), f"{path} may be cached"


@pytest.mark.parametrize("who", ["admin", "employee_a", "hr_lead_a", None])
def test_every_get_route_sends_the_security_headers(app, client, auth, world, who):
    if who:
        auth.login(world.users[who])
    checked = 0
    for rule in get_routes(app):
        path = app.url_map.bind("localhost").build(rule.endpoint, world.url_values(rule))
        response = fetch(client, path)
        assert response.status_code < 500, f"{path} answered {response.status_code}"
        assert_headers(path, response)
        checked += 1
    assert checked == len(get_routes(app)) > 10


def test_error_and_method_responses_send_the_security_headers_too(client, world):
    for response in (fetch(client, "/gibt-es-nicht"), fetch(client, "/abmelden"),
                     fetch(client, "/", headers={"HX-Request": "true"})):
        assert_headers(response.request.path, response)


def test_static_files_are_not_sniffed(client):
    response = fetch(client, "/static/css/app.css")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_page_contains_code_the_csp_would_block(app, client, auth, world):
    """Every HTML page as every role: no inline script or style, no on*= handler."""
    for who in ("admin", "hr_staff_a", "employee_a", "hr_lead_b"):
        auth.logout()
        auth.login(world.users[who])
        for rule in get_routes(app):
            if rule.endpoint == "static":
                continue
            path = app.url_map.bind("localhost").build(rule.endpoint, world.url_values(rule))
            for headers in ({}, {"HX-Request": "true"}):
                response = fetch(client, path, headers=headers)
                if not response.content_type.startswith("text/html"):
                    continue
                parser = InlineCode()
                parser.feed(response.get_data(as_text=True))
                assert not parser.found, f"{who} {path} {headers}: {parser.found}"


def test_htmx_is_configured_for_the_strict_csp_and_keeps_no_history(client):
    parser = InlineCode()
    parser.feed(client.get("/anmelden").get_data(as_text=True))
    config = json.loads(parser.meta_htmx_config)
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["historyCacheSize"] == 0
    assert ".htmx-indicator" in fetch(client, "/static/css/app.css").get_data(as_text=True)
