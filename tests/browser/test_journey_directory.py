"""An Umweltbundesamt employee who has never used tracker signs in with her work account
(the agency's directory, a real slapd) and enrols: tracker creates her account on the way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.directory import PASSWORD

pytestmark = pytest.mark.browser


def test_sign_in_with_the_work_account_then_enrol(web, live_server, scene):
    if live_server.directory is None:
        pytest.skip("python-ldap or slapd is not installed (CI installs both)")
    page = web.page
    web.goto("/anmelden")
    expect(page.locator("main")).to_contain_text("Beschäftigte von Umweltbundesamt")
    web.check("login with directories")
    page.get_by_label("E-Mail-Adresse oder Benutzername").fill("jonas")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
    web.check("signed in with the work account")

    web.nav("Schulungen")
    page.get_by_role("link", name=scene.vielfalt_title).click()
    web.settle()
    row = page.get_by_role("row").filter(has=page.locator(f"#enrol-{scene.open_session}"))
    row.get_by_role("button", name=re.compile(r"^Anmelden")).click()
    expect(row.get_by_text("Angemeldet", exact=True)).to_be_visible()
    web.check("enrolled")

    web.nav("Meine Schulungen")
    expect(page.locator("main")).to_contain_text(scene.titles[scene.open_session])
    web.check("my trainings")

    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import User

    with live_server.app_context():
        jonas = db.session.scalars(select(User).where(User.auth_identifier == "jonas")).one()
        assert (jonas.email, jonas.organisation.short_name) == ("jonas.neumann@uba.example", "UBA")
