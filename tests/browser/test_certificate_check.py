"""The public page that checks a certificate, in a real browser with and without JavaScript:
whoever scans the QR code of a printed certificate reads, without logging in, that it is
valid and for whom, and a mistyped code is explained. axe checks both answers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _issued_certificate(live_server) -> tuple[str, str]:
    """A certificate for one of the demo data's participations: (code, the person's name)."""
    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import AttendanceMark, Enrolment
    from tracker.services import certificates

    with live_server.app_context():
        enrolment = db.session.scalars(
            select(Enrolment).join(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
            .where(AttendanceMark.status == "present").order_by(Enrolment.id)
        ).first()
        certificate = certificates.issue(enrolment.id, enrolment.user)
        db.session.commit()
        return certificate.code, f"{enrolment.user.first_name} {enrolment.user.last_name}"


def test_a_scanned_certificate_is_confirmed_without_login(web_any, live_server):
    web, page = web_any, web_any.page
    code, name = _issued_certificate(live_server)

    web.goto(f"/nachweis/{code}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Teilnahmebescheinigung prüfen")
    expect(page.locator("main .kern-alert")).to_contain_text("Diese Bescheinigung ist gültig.")
    expect(page.locator("main")).to_contain_text(name)
    web.check("valid certificate")

    web.problems.allow(r"404")
    response = page.goto(web.url(f"/nachweis/{code[:-1]}{'B' if code.endswith('A') else 'A'}"))
    assert response is not None and response.status == 404
    expect(page.locator("main .kern-alert")).to_contain_text("keine Bescheinigung bekannt")
    web.check("unknown code")
