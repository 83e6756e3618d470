"""hx-boost swaps only the body: a page reached by boosted navigation must look exactly like
the same page loaded directly (its area's stylesheet included)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

STYLESHEETS = """() => Array.from(document.querySelectorAll('link[rel=stylesheet]'))
  .map(l => new URL(l.href).pathname).sort()"""


@pytest.mark.parametrize("email", ["personalleitung@stadt-dessau.example", "admin@tracker.example"])
def test_every_area_has_its_stylesheet_after_boosted_navigation(web, email):
    web.login(email)
    page = web.page
    nav = page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link")
    names = nav.all_inner_texts()
    assert len(names) >= 4
    for name in names:
        web.nav(name)
        expect(page.locator("html")).to_have_attribute("lang", "de")
        boosted = page.evaluate(STYLESHEETS)
        loaded_css = page.evaluate(
            "() => Array.from(document.styleSheets).filter(s => s.href).map(s => new URL(s.href).pathname).sort()"
        )
        url = page.url
        page.reload()
        direct = page.evaluate(STYLESHEETS)
        assert boosted == direct, f"{name} ({url}): boosted {boosted} != direct {direct}"
        assert set(direct) <= set(loaded_css) | set(direct), name
    web.assert_no_problems("navigation")
