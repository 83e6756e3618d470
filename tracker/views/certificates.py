"""Certificates of participation: the PDF for the person who attended, and the public page
that confirms a certificate by the code printed on it (no login needed)."""

from __future__ import annotations

import io
from datetime import datetime

from flask import Blueprint, current_app, render_template, send_file
from flask_login import current_user, login_required

from tracker.database import write_transactions
from tracker.extensions import db, limiter
from tracker.services import certificates

bp = Blueprint("certificates", __name__)


def _verify_limit() -> str:
    return current_app.config["CERTIFICATE_VERIFY_RATE_LIMIT"]


@bp.get("/meine-schulungen/bescheinigungen/<int:enrolment_id>")
@login_required
def download(enrolment_id: int):
    # Issuing is idempotent: the same facts give back the certificate issued before.
    db.session.rollback()  # ends the login's reading transaction; the issue writes
    with write_transactions():
        certificate = certificates.issue(enrolment_id, current_user)
        db.session.commit()
    pdf = certificates.render_pdf(certificate)
    return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                     download_name=certificates.filename(certificate), max_age=0)


@bp.get("/nachweis/<code>")
@limiter.limit(_verify_limit)
def verify(code: str):
    found = certificates.verify(code)
    content = found.certificate.content if found.certificate else {}
    starts = datetime.fromisoformat(content["starts"]) if content.get("starts") else None
    status = 404 if found.state == "unknown" else 200
    return render_template("certificates/verify.html", found=found, c=content,
                           starts=starts), status
