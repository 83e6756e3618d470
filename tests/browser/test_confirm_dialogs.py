"""A wrong click is undone by "Abbrechen": a button that asks before it acts sends nothing
when the person says no, and acts when she says yes (htmx and boosted forms included)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ADMIN = "admin@tracker.example"


def test_dismissed_confirmation_sends_nothing_and_accepted_one_acts(web):
    page = web.page
    web.login(ADMIN)
    web.goto("/verwaltung/organisationen")
    row = page.locator("tr", has_text="Hochschule Anhalt")
    expect(row).to_contain_text("aktiv")

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.remove_listener("dialog", web.accept_dialog)
    asked: list[str] = []

    def say_no(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", say_no)
    row.get_by_role("button", name="Deaktivieren").click()
    page.wait_for_timeout(500)
    assert asked and "deaktivieren" in asked[0]
    assert posts == []
    expect(row).to_contain_text("aktiv")
    expect(row).not_to_contain_text("deaktiviert")

    page.remove_listener("dialog", say_no)
    page.on("dialog", web.accept_dialog)  # says yes
    row.get_by_role("button", name="Deaktivieren").click()
    expect(row).to_contain_text("deaktiviert")
    assert len(posts) == 1
    row.get_by_role("button", name="Aktivieren").click()  # leave the scene as it was
    expect(row).not_to_contain_text("deaktiviert")
    web.assert_no_problems("confirm dialogs")
