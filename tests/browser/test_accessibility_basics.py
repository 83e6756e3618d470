"""The pages everyone meets first, in a real browser: axe (WCAG 2.1 A/AA), keyboard only,
visible focus, skip link, language switch, the accessibility statement and Leichte Sprache."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PUBLIC_PAGES = [
    ("/anmelden", "Anmelden"),
    ("/", "Gemeinsame Fortbildungen"),
    ("/barrierefreiheit", "Erklärung zur Barrierefreiheit"),
    ("/leichte-sprache", "tracker in Leichter Sprache"),
]


@pytest.mark.parametrize(("path", "heading"), PUBLIC_PAGES)
def test_public_page_passes_axe_with_and_without_javascript(web_any, path, heading):
    web_any.goto(path)
    expect(web_any.page.get_by_role("heading", level=1)).to_have_text(heading)
    web_any.check(f"{path} logged out")


@pytest.mark.parametrize(("path", "heading"), PUBLIC_PAGES[1:])
def test_pages_pass_axe_when_logged_in(web, path, heading):
    web.login("beschaeftigte@stadt-dessau.example")
    web.goto(path)
    expect(web.page.get_by_role("heading", level=1)).to_contain_text(heading.split()[0])
    web.check(f"{path} logged in")


def test_not_found_page_is_german_and_accessible(web):
    web.problems.allow(r"status of 404")
    response = web.goto("/gibt-es-nicht")
    assert response.status == 404
    expect(web.page.get_by_role("heading", level=1)).to_have_text("Seite nicht gefunden")
    web.check("404")


def test_every_page_links_the_statement_and_easy_language_from_the_footer(web):
    web.goto("/anmelden")
    footer = web.page.locator("footer")
    footer.get_by_role("link", name="Erklärung zur Barrierefreiheit").click()
    heading = web.page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Erklärung zur Barrierefreiheit")
    page = web.page
    expect(page.get_by_role("link", name="barrierefreiheit@example.org")).to_be_visible()
    expect(page.get_by_role("link", name="Schlichtungsstelle nach dem Behindertengleichstellungsgesetz")
           ).to_have_attribute("href", "https://www.schlichtungsstelle-bgg.de")
    web.goto("/")
    page.get_by_role("link", name="Informationen in Leichter Sprache").click()
    expect(heading).to_have_text("tracker in Leichter Sprache")
    web.check("leichte sprache from start page")


def test_employee_logs_in_with_the_keyboard_alone(web):
    page = web.page
    web.goto("/anmelden")
    web.tab_to("e => e.id === 'email'")
    page.keyboard.type("beschaeftigte@stadt-dessau.example")
    page.keyboard.press("Tab")
    assert web.focused()["id"] == "password"
    page.keyboard.type("tracker-demo")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_contain_text("Guten Tag")
    web.check("logged in by keyboard")


def test_wrong_password_by_keyboard_shows_the_error_next_to_the_form(web_any):
    page = web_any.page
    web_any.problems.allow(r"status of 422")
    web_any.goto("/anmelden")
    page.get_by_label("E-Mail-Adresse").fill("beschaeftigte@stadt-dessau.example")
    page.get_by_label("Passwort").fill("falsch")
    page.get_by_label("Passwort").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("E-Mail-Adresse oder Passwort ist falsch")
    web_any.check("wrong password")


def test_every_tab_stop_has_a_visible_focus_indicator(web):
    web.login("personalleitung@stadt-dessau.example")
    web.goto("/")
    page = web.page
    seen = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = web.focused()
        if focused["tag"] == "body":
            break
        outline = web.focus_outline()
        visible = (outline["style"] != "none" and outline["width"] >= 2) or (
            outline["shadow"] not in ("", "none")
        )
        assert visible, f"no visible focus on {focused}: {outline}"
        seen.append(focused["text"] or focused["tag"])
        if focused["text"] in ("English", "Deutsch"):
            break  # the last control of the page
    assert "Zum Inhalt springen" in seen[0]
    assert "Abmelden" in seen and "Erklärung zur Barrierefreiheit" in seen
    web.screenshot("focus walk")


def test_skip_link_is_first_visible_on_focus_and_moves_to_the_content(web_any):
    page = web_any.page
    web_any.goto("/barrierefreiheit")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Zum Inhalt springen")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "skip link off screen on focus"
    web_any.screenshot("skip link focused")
    page.keyboard.press("Enter")
    if web_any.javascript:
        # The link leads to <main tabindex="-1">, which takes the focus.
        assert web_any.focused()["id"] == "main"
    assert page.url.endswith("#main")
    # The next Tab continues inside the content, not in the header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_language_switch_to_english_and_back(web_any):
    page = web_any.page
    web_any.goto("/barrierefreiheit")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Deutsch")).to_be_visible()
    assert page.url.endswith("/barrierefreiheit")
    web_any.check("english statement")
    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Erklärung zur Barrierefreiheit")
