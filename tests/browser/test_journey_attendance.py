"""HR staff in the seminar room, in a real browser, with and without JavaScript: open the sheet
of a session that has started, mark everyone present in one action, one person excused, add a
walk-in through the search. axe runs on every page and after every swap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HR_STAFF = "personal@stadt-dessau.example"


def counts(web) -> str:
    return " ".join(web.page.locator("#attendance-counts").inner_text().split())


def test_hr_staff_mark_the_whole_sheet_with_a_walk_in(web_any, scene):
    web = web_any
    page = web.page
    variant = "js" if web.javascript else "nojs"
    session_id = scene.running[variant]
    walk_in_email, walk_in_name, walk_in_sort = scene.walk_ins[variant]

    web.login(HR_STAFF)
    web.nav("Anwesenheit")
    web.check("attendance overview")

    page.locator(f"main a[href='/anwesenheit/termine/{session_id}']").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anwesenheit:")
    web.check("sheet")
    live = page.locator("#attendance-counts")
    expect(live).to_have_attribute("aria-live", "polite")
    assert re.search(r"0 anwesend .* 6 offen von 6", counts(web)), counts(web)

    # Everyone present with one action.
    page.get_by_role("button", name="Alle offenen als anwesend").click()
    expect(live).to_contain_text("0 offen von 6")
    assert re.search(r"6 anwesend", counts(web)), counts(web)
    rows = page.locator("#sheet-rows tr")
    expect(rows).to_have_count(6)
    web.check("all present")

    # One person excused: one click in her row.
    first = rows.first
    name = first.locator("th").inner_text().strip()
    first.get_by_role("button", name="entschuldigt", exact=True).click()
    row = page.locator("#sheet-rows tr").filter(has_text=name)
    expect(row.get_by_role("button", name="entschuldigt", exact=True)).to_have_attribute(
        "aria-pressed", "true")
    expect(live).to_contain_text("1 entschuldigt")
    assert re.search(r"5 anwesend 1 entschuldigt 0 unentschuldigt 0 offen von 6", counts(web))
    web.check("one excused")

    # A walk-in, found by the search.
    search = page.get_by_label("Name oder E-Mail-Adresse")
    if web.javascript:
        search.press_sequentially(walk_in_email[:12])
        expect(page.locator("#walk-in-results")).to_contain_text(walk_in_sort)
        search.fill(walk_in_email)  # debounced; narrows the hits to one
    else:
        search.fill(walk_in_email)
        page.get_by_role("button", name="Suchen").click()
    add = page.get_by_role(
        "button", name=re.compile(rf"^Als anwesend hinzufügen\s*:\s*{walk_in_name}$"))
    expect(add).to_be_visible()
    web.check("walk-in search")
    add.click()
    new_row = page.locator("#sheet-rows tr").filter(has_text=walk_in_sort)
    expect(new_row).to_contain_text("spontan")
    expect(new_row).to_contain_text("anwesend")
    expect(live).to_contain_text("0 offen von 7")
    assert re.search(r"6 anwesend 1 entschuldigt", counts(web)), counts(web)
    web.check("walk-in added")

    # The history of the excused person shows both changes and who made them.
    row.get_by_role("link", name=re.compile("^Verlauf")).click()
    expect(page.locator("main")).to_contain_text("entschuldigt")
    web.check("history")
