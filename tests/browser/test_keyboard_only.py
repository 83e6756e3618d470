"""Keyboard only: enrolment and the attendance sheet are completed with Tab, Enter and Space;
focus stays visible and lands sensibly after every swap, and live regions announce changes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def assert_focus_visible(web) -> None:
    outline = web.focus_outline()
    assert outline["visible"], f"focus not :focus-visible on {web.focused()}"
    assert (outline["style"] != "none" and outline["width"] >= 2) or outline["shadow"] != "none", (
        f"no visible focus indicator on {web.focused()}: {outline}")


def test_employee_enrols_and_cancels_with_the_keyboard_alone(web_any, scene):
    web = web_any
    page = web.page
    widget_id = f"enrol-{scene.open_session}"
    web.login(scene.employee())
    web.goto(f"/reihen/termine/{scene.open_session}")

    focused = web.tab_to(
        f"e => e.tagName === 'BUTTON' && e.closest('#{widget_id}') !== null")
    assert focused["text"].startswith("Anmelden")
    assert_focus_visible(web)
    page.keyboard.press("Enter")
    widget = page.locator(f"#{widget_id}")
    expect(widget).to_contain_text("Angemeldet")
    messages = page.locator("#messages")
    expect(messages).to_have_attribute("aria-live", "polite")
    expect(messages).to_contain_text("angemeldet")
    web.check("enrolled by keyboard")

    if web.javascript:
        # The swapped widget keeps the focus: on its new button, ready for the next step.
        assert web.focused()["text"].startswith("Abmelden"), web.focused()
    else:
        web.tab_to(f"e => e.tagName === 'BUTTON' && e.closest('#{widget_id}') !== null")
    assert_focus_visible(web)
    page.keyboard.press("Space")
    expect(widget.get_by_role("button", name=re.compile("^Anmelden"))).to_be_visible()
    expect(messages).to_contain_text("abgemeldet")
    if web.javascript:
        assert web.focused()["text"].startswith("Anmelden"), web.focused()
    web.check("cancelled by keyboard")


def test_hr_staff_complete_the_attendance_sheet_with_the_keyboard_alone(web, scene):
    page = web.page
    session_id = scene.running["keyboard"]
    walk_in_email, walk_in_name, walk_in_sort = scene.walk_ins["keyboard"]
    web.login("personal@stadt-dessau.example")
    web.goto(f"/anwesenheit/termine/{session_id}")
    counts = page.locator("#attendance-counts")
    expect(counts).to_have_attribute("role", "status")
    expect(counts).to_have_attribute("aria-live", "polite")

    # Everyone present: Tab to the bulk button, Space.
    web.tab_to("e => e.id === 'mark-all-present'")
    assert_focus_visible(web)
    page.keyboard.press("Space")
    expect(counts).to_contain_text("0 offen von 6")
    assert web.focused()["id"] == "mark-all-present", "focus lost after the bulk action"
    web.check("all present by keyboard")

    # One person excused: Tab into the first row, to its "entschuldigt" button, Enter.
    first_row = page.locator("#sheet-rows tr").first
    row_id = first_row.get_attribute("id")
    name = first_row.locator("th").inner_text().strip()
    button_id = f"mark-{row_id.removeprefix('row-')}-excused"
    web.tab_to(f"e => e.id === '{button_id}'")
    page.keyboard.press("Enter")
    expect(page.locator(f"#{button_id}")).to_have_attribute("aria-pressed", "true")
    # The row was swapped; focus is back on the same button of the new row.
    web.settle()
    assert web.focused()["id"] == button_id, web.focused()
    assert_focus_visible(web)
    # The live region says what happened, in words.
    expect(counts).to_contain_text("entschuldigt")
    first, last = name.split(", ")[1], name.split(", ")[0]
    expect(counts).to_contain_text(f"{first} {last}: entschuldigt.")
    web.check("excused by keyboard")

    # A walk-in: Tab to the search, type, Tab to the hit, Enter.
    web.tab_to("e => e.id === 'walk-in-q'")
    page.keyboard.type(walk_in_email)
    results = page.locator("#walk-in-results")
    expect(results).to_have_attribute("aria-live", "polite")
    expect(results).to_contain_text(walk_in_sort)
    web.tab_to("e => e.tagName === 'BUTTON' && e.closest('#walk-in-results') !== null")
    assert_focus_visible(web)
    page.keyboard.press("Enter")
    expect(page.locator("#sheet-rows")).to_contain_text(walk_in_sort)
    expect(counts).to_contain_text("0 offen von 7")
    web.settle()
    # Focus returns to the search field for the next person.
    assert web.focused()["id"] == "walk-in-q", web.focused()
    expect(page.locator("#walk-in")).to_contain_text(walk_in_name)
    web.check("walk-in by keyboard")
