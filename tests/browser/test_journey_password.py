"""A person who forgot her password, in a real browser, with and without JavaScript: she asks
for a link on the login page, the server's worker mails it to the SMTP server of the tests,
she opens the link from the mail, sets a new password and signs in with it. The spent link
then tells her in German that it no longer works."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

_people = itertools.count(1)


def _new_person(live_server) -> str:
    """Her own account: the demo people's passwords stay as the other journeys know them."""
    from tests import factories
    from tracker.extensions import db

    email = f"vergesslich{next(_people)}@example.org"
    with live_server.app_context():
        factories.user(email=email, first_name="Frieda", last_name="Vergesslich")
        db.session.commit()
    return email


def test_forgot_password_mail_new_password_login(web_any, live_server):
    web, page = web_any, web_any.page
    email = _new_person(live_server)

    web.goto("/anmelden")
    page.get_by_role("link", name="Passwort vergessen?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passwort vergessen")
    web.check("forgot password")
    page.get_by_label("E-Mail-Adresse").fill(email.upper())
    page.get_by_role("button", name="Link anfordern").click()
    expect(page.locator("main")).to_contain_text("Wenn zu dieser Adresse ein Konto besteht")
    web.check("link requested")

    received = live_server.inbox.wait_for_mail_to(email, timeout=30)
    assert len(received) == 1, f"expected one mail to {email}, got {len(received)}"
    [message] = received
    assert message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/passwort/neu/\S+", text)
    assert link.startswith(live_server.url), "the link is built from BASE_URL"

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Passwort setzen")
    expect(page.locator("main")).to_contain_text("Guten Tag, Frieda.")
    web.check("set a new password")
    new = "Vergissmeinnicht-2026"
    page.get_by_label("Neues Passwort").fill(new)
    page.get_by_label("Passwort wiederholen").fill(new)
    page.get_by_role("button", name="Passwort speichern").click()
    expect(page.locator("main")).to_contain_text("Ihr Passwort wurde gesetzt")
    web.check("password set")

    web.login(email, new)
    web.check("signed in with the new password")
    web.logout()

    # The link from the mail works once: a second visit explains itself in German.
    web.problems.allow(r"404")
    response = page.goto(link)
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text("ungültig, abgelaufen oder wurde bereits benutzt")
    web.check("spent link")
