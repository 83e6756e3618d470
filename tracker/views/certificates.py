"""Certificates of participation and yearly training records as PDF: for the person who
attended, for the HR of her organisation (one, all of a session, all of a report period),
and the public page that confirms a certificate by the code printed on it (no login)."""

from __future__ import annotations

import io
from datetime import datetime

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required

from tracker.database import write_transactions
from tracker.extensions import db, limiter
from tracker.models import Role
from tracker.services import ServiceError, access, certificates, reports
from tracker.services.access import role_required
from tracker.timeutil import to_local
from tracker.views.reports import FILTER_KEYS

bp = Blueprint("certificates", __name__)

HR = (Role.HR_STAFF, Role.HR_LEAD)
ZIP_MIMETYPE = "application/zip"


def _verify_limit() -> str:
    return current_app.config["CERTIFICATE_VERIFY_RATE_LIMIT"]


def _attachment(content: bytes, filename: str, mimetype: str = "application/pdf"):
    response = send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                         download_name=filename, max_age=0)
    response.headers["Cache-Control"] = "no-store"  # personal data: no copies in caches
    return response


def _issued(issue):
    """Issue inside a writing transaction and commit before rendering: issuing is
    idempotent, the same facts give back the certificates issued before."""
    db.session.rollback()  # ends the login's reading transaction; the issue writes
    with write_transactions():
        issued = issue()
        db.session.commit()
    return issued


def _one(enrolment_id: int, *, own: bool):
    certificate = _issued(lambda: certificates.issue(enrolment_id, current_user, own=own))
    return _attachment(certificates.render_pdf(certificate), certificates.filename(certificate))


@bp.get("/meine-schulungen/bescheinigungen/<int:enrolment_id>")
@login_required
def download(enrolment_id: int):
    return _one(enrolment_id, own=True)


@bp.get("/meine-schulungen/fortbildungsnachweis/<int:year>")
@login_required
def my_record(year: int):
    record = certificates.yearly_record(current_user.id, year, current_user)
    return _attachment(certificates.render_record_pdf(record), record.filename)


@bp.get("/anwesenheit/bescheinigungen/<int:enrolment_id>")
@role_required(*HR)
def one(enrolment_id: int):
    return _one(enrolment_id, own=False)


def _session_certificates(session_id: int):
    session = access.get_session_or_404(session_id)
    if not access.can_see_series(current_user, session.series):
        abort(404)
    issued = _issued(lambda: certificates.for_session(session, current_user))
    day = to_local(session.starts_at).date().isoformat()
    return session, issued, f"teilnahmebescheinigungen_{day}_{session.id}"


@bp.get("/anwesenheit/termine/<int:session_id>/bescheinigungen.pdf")
@role_required(*HR)
def session_pdf(session_id: int):
    session, issued, name = _session_certificates(session_id)
    title = _("Teilnahmebescheinigungen: %(title)s", title=session.title)
    return _attachment(certificates.render_combined_pdf(issued, title), f"{name}.pdf")


@bp.get("/anwesenheit/termine/<int:session_id>/bescheinigungen.zip")
@role_required(*HR)
def session_zip(session_id: int):
    _session, issued, name = _session_certificates(session_id)
    return _attachment(certificates.render_zip(issued), f"{name}.zip", ZIP_MIMETYPE)


@bp.get("/auswertung/bescheinigungen.zip")
@role_required(Role.HR_LEAD)
def selection_zip():
    raw = {key: request.args[key] for key in FILTER_KEYS if key in request.args}
    try:
        filters = reports.parse_filters(raw, current_user)
    except reports.FilterErrors as exc:
        raise ServiceError(" ".join(exc.errors.values()), 422) from exc
    issued = _issued(lambda: certificates.for_selection(filters, current_user))
    return _attachment(certificates.render_zip(issued),
                       f"teilnahmebescheinigungen_{reports.to_local_today().isoformat()}.zip",
                       ZIP_MIMETYPE)


@bp.get("/verwaltung/personen/<int:user_id>/fortbildungsnachweis/<int:year>")
@role_required(*HR)
def record(user_id: int, year: int):
    found = certificates.yearly_record(user_id, year, current_user)
    return _attachment(certificates.render_record_pdf(found), found.filename)


@bp.get("/nachweis/<code>")
@limiter.limit(_verify_limit)
def verify(code: str):
    found = certificates.verify(code)
    content = found.certificate.content if found.certificate else {}
    starts = datetime.fromisoformat(content["starts"]) if content.get("starts") else None
    status = 404 if found.state == "unknown" else 200
    return render_template("certificates/verify.html", found=found, c=content,
                           starts=starts), status
