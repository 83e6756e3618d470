"""axe on every page of the URL map: each GET route that answers HTML, as an administrator
(who reaches every page), with ids from the demo data. A new page is checked the moment it
exists."""

from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser

NOT_HTML = {"reports.export", "privacy.export_my_data", "privacy.export_my_data_workbook",
            "trainings.calendar", "static",
            # inline validation for htmx: answers a field fragment, never a page
            "admin.check_email",
            # the exports list the reports page polls: a fragment, checked inside that page
            "reports.export_jobs",
            # PDFs and zips of PDFs (tests/test_certificates.py reads them back, tags included)
            "certificates.download", "certificates.my_record", "certificates.one",
            "certificates.session_pdf", "certificates.session_zip", "certificates.record",
            "certificates.selection_zip"}


@pytest.fixture(scope="module")
def pages(live_server, scene) -> list[tuple[str, str]]:
    from flask import current_app

    from tracker.extensions import db
    from tracker.models import Enrolment, Organisation, OutboxMail, TrainingSession, User

    with live_server.app_context():
        session = db.session.get(TrainingSession, scene.running["js"])
        mail_id = db.session.scalar(select(OutboxMail.id).order_by(OutboxMail.id))
        if mail_id is None:
            mail = OutboxMail(kind="enrolled", to_address="beschaeftigte@stadt-dessau.example",
                              subject="Anmeldung bestätigt: Vielfaltsmontag",
                              body_text="Guten Tag,\n\nSie sind angemeldet.",
                              body_html="<p>Guten Tag,</p>")
            db.session.add(mail)
            db.session.commit()
            mail_id = mail.id
        ids = {
            "mail_id": mail_id,
            "org_id": db.session.scalar(select(Organisation.id).order_by(Organisation.id)),
            "user_id": db.session.scalar(
                select(User.id).where(User.email == "beschaeftigte@stadt-dessau.example")),
            "series_id": session.series_id,
            "session_id": session.id,
            "enrolment_id": db.session.scalar(
                select(Enrolment.id).where(Enrolment.session_id == session.id)
                .order_by(Enrolment.id)),
            "token": "kein-gueltiger-link",
            "code": "kein-gueltiger-code-0123456789",
        }
        adapter = current_app.url_map.bind("localhost")
        result = []
        for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or rule.endpoint in NOT_HTML:
                continue
            path = adapter.build(rule.endpoint, {name: ids[name] for name in rule.arguments})
            result.append((rule.endpoint, path))
    return result


def test_every_page_passes_axe(web, pages):
    web.problems.allow(r"status of 404")  # the unknown password link
    web.login("admin@tracker.example")
    failures = []
    for endpoint, path in pages:
        web.goto(path)
        web.settle()
        violations = web.axe_violations()
        if violations:
            failures.append(f"{endpoint} {path}: " + ", ".join(
                f"{v['id']} at {v['nodes'][0]['target']}" for v in violations))
            web.screenshot(endpoint)
    web.assert_no_problems("every page")
    assert len(pages) >= 30
    assert not failures, "\n".join(failures)
