"""The browser checks themselves: a check that never fires proves nothing, so each one is
shown to catch what it is there for."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_axe_reports_an_image_without_text_alternative(web_any):
    web_any.goto("/barrierefreiheit")
    # Inserted through DevTools, like axe itself; the page's own scripts cannot do this.
    web_any.page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', "
        "'<img src=\"/static/favicon.svg\">')"
    )
    ids = {v["id"] for v in web_any.axe_violations()}
    assert "image-alt" in ids


def test_a_csp_violation_fails_the_test(web):
    web.goto("/barrierefreiheit")
    # Resolves once the browser has reported the violation (it is delivered asynchronously).
    web.page.evaluate(
        """() => new Promise((resolve) => {
             document.addEventListener("securitypolicyviolation", resolve, { once: true });
             document.querySelector("main").setAttribute("style", "color: red");
           }).then(() => true)"""
    )
    found = web.problems.take()
    assert any("style-src" in item for item in found), found


def test_an_htmx_error_event_fails_the_test(web):
    web.login("beschaeftigte@stadt-dessau.example")
    web.problems.allow(r"status of 404")
    web.page.evaluate("htmx.ajax('GET', '/gibt-es-nicht', '#messages')")
    web.page.wait_for_function("document.getElementById('messages').textContent.trim() !== ''")
    found = web.problems.take()
    assert any("htmx:responseError" in item and "404" in item for item in found), found
    # The app shows the German message in place of failing silently.
    assert "Seite nicht gefunden" in web.page.locator("#messages").inner_text()
