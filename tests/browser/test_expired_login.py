"""A login that ends while the page is open: the next htmx click opens the login page (it is
never swapped into the sheet) and after logging in the person is back where she was."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def end_login(live_server, email: str) -> None:
    """What logging out in another tab or an administrator's password reset does."""
    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import User
    from tracker.services import accounts

    with live_server.app_context():
        accounts.rotate_session_token(db.session.scalar(select(User).where(User.email == email)))
        db.session.commit()


def test_htmx_click_after_the_login_ended_leads_to_login_and_back(web, scene, live_server):
    page = web.page
    session_id = scene.running["js"]
    web.login("personal@stadt-dessau.example")
    web.goto(f"/anwesenheit/termine/{session_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anwesenheit:")

    end_login(live_server, "personal@stadt-dessau.example")
    web.problems.allow(r"status of 401")
    page.locator("#sheet-rows tr").first.get_by_role("button", name="anwesend", exact=True).click()

    page.wait_for_url(re.compile(r"/anmelden\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    assert page.locator("#sheet-rows").count() == 0, "the login page was swapped into the sheet"
    web.check("login after expiry")

    page.get_by_label("E-Mail-Adresse").fill("personal@stadt-dessau.example")
    page.get_by_label("Passwort").fill("tracker-demo")
    page.locator("main form").get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(rf"/anwesenheit/termine/{session_id}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anwesenheit:")
    web.check("back on the sheet")
