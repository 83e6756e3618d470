"""An employee's story in a real browser, with and without JavaScript: she logs in, finds
Vielfaltsmontag, enrols in a session with free seats, lands on the waiting list of the full one
and cancels both. axe runs on every page and after every swap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def session_row(web, session_id: int):
    """The table row of a session, found by its enrol widget (titles repeat across years)."""
    return web.page.get_by_role("row").filter(has=web.page.locator(f"#enrol-{session_id}"))


def test_employee_enrols_waits_in_line_and_cancels(web_any, scene):
    web = web_any
    page = web.page
    web.login(scene.employee())
    web.check("start page")

    web.nav("Schulungen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Schulungen")
    web.check("trainings list")

    page.get_by_role("link", name=scene.vielfalt_title).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(scene.vielfalt_title)
    web.settle()
    web.check("series page")

    # A session with free seats: one click, and the widget says she has a seat.
    row = session_row(web, scene.open_session)
    row.get_by_role("button", name=re.compile(r"^Anmelden")).click()
    expect(row.get_by_text("Angemeldet", exact=True)).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("angemeldet")
    web.check("enrolled")

    # The full session: she joins the waiting list and sees her place.
    row = session_row(web, scene.full_session)
    expect(row).to_contain_text("Ausgebucht")
    row.get_by_role("button", name=re.compile(r"^Auf die Warteliste")).click()
    badge = row.get_by_text(re.compile(r"Auf der Warteliste \(Platz \d+\)"))
    expect(badge).to_be_visible()
    web.check("waiting list")

    # "Meine Schulungen" lists both.
    web.nav("Meine Schulungen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Schulungen")
    main = page.locator("main")
    expect(main).to_contain_text(scene.titles[scene.open_session])
    expect(main).to_contain_text(scene.titles[scene.full_session])
    web.check("my trainings")

    # Back on the series page she cancels both.
    web.nav("Schulungen")
    page.get_by_role("link", name=scene.vielfalt_title).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(scene.vielfalt_title)
    web.settle()
    row = session_row(web, scene.full_session)
    row.get_by_role("button", name=re.compile(r"^Von der Warteliste abmelden")).click()
    expect(row.get_by_role("button", name=re.compile(r"^Auf die Warteliste"))).to_be_visible()
    web.check("left the waiting list")

    row = session_row(web, scene.open_session)
    row.get_by_role("button", name=re.compile(r"^Abmelden")).click()
    expect(row.get_by_role("button", name=re.compile(r"^Anmelden"))).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("abgemeldet")
    web.check("cancelled")
