"""Certificates of participation: issued once as a snapshot, checked by anyone by code.

A person gets a certificate for a session she attended (a mark that counts as a
participation, walk-ins included). What it says is frozen when it is issued; asking again
returns the same certificate while the facts are unchanged, and a new version that replaces
the old one once they changed (a corrected name, a moved session). The verification page
shows only what the certificate itself shows.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import segno
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import contains_eager

from tracker.extensions import db
from tracker.models import (
    AttendanceMark,
    AttendanceStatus,
    Certificate,
    Enrolment,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import Conflict, ServiceError
from tracker.services.mail import link
from tracker.timeutil import to_local

_CODE = re.compile(r"[A-Za-z0-9_-]{20,40}")
PDF_VARIANT = "pdf/ua-1"  # tagged, with title and language: read aloud by screen readers


def _not_found() -> ServiceError:
    return ServiceError(_("Diesen Termin gibt es in Ihren Schulungen nicht."), 404)


def _participation(enrolment_id: int, user: User) -> Enrolment:
    """The person's own enrolment with its session, series and organisation, if she
    attended it; else a German 404 (not hers) or 409 (not attended)."""
    row = db.session.execute(
        select(Enrolment, AttendanceMark.status)
        .join(Enrolment.session)
        .join(TrainingSession.series)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.id == enrolment_id, Enrolment.user_id == user.id)
        .options(contains_eager(Enrolment.session).contains_eager(TrainingSession.series))
    ).first()
    if row is None:
        raise _not_found()
    enrolment, status = row
    if status is None or not AttendanceStatus(status).counts_as_participation:
        raise Conflict(_("Für diesen Termin ist keine Teilnahme erfasst. Eine "
                         "Teilnahmebescheinigung gibt es nur für besuchte Termine."))
    return enrolment


def _snapshot(enrolment: Enrolment) -> dict:
    """What the certificate says, in plain values (formatted when it is rendered)."""
    session, person = enrolment.session, enrolment.user
    return {
        "name": f"{person.first_name} {person.last_name}".strip(),
        "organisation": enrolment.organisation.name,
        "series": session.series.title,
        "session": session.title,
        # UTC as stored, like every time in tracker; shown in Europe/Berlin.
        "starts": session.starts_at.isoformat(),
        "ends": session.ends_at.isoformat(),
        "hours": session.hours,
        "place": session.location or (_("online") if session.online_url else ""),
        "trainer": session.trainer,
        "content": session.series.description,
        "network": current_app.config["MAIL_NETWORK_NAME"],
        "locale": person.locale or "de",
    }


def current(enrolment_id: int) -> Certificate | None:
    return db.session.scalars(
        select(Certificate)
        .where(Certificate.enrolment_id == enrolment_id, Certificate.replaced_at.is_(None),
               Certificate.revoked_at.is_(None))
        .order_by(Certificate.version.desc())
    ).first()


def issue(enrolment_id: int, user: User) -> Certificate:
    """The person's certificate for this participation: the one issued before while what it
    says still holds, else a new version replacing it. The caller commits."""
    enrolment = _participation(enrolment_id, user)
    content = _snapshot(enrolment)
    previous = current(enrolment.id)
    if previous is not None and previous.content == content:
        return previous
    now = utcnow()
    certificate = Certificate(
        code=secrets.token_urlsafe(24), enrolment_id=enrolment.id, user_id=user.id,
        version=(previous.version + 1) if previous else 1, replaces=previous, issued_at=now,
        content_json=json.dumps(content, ensure_ascii=False, sort_keys=True),
    )
    if previous is not None:
        previous.replaced_at = now
    db.session.add(certificate)
    db.session.flush()
    return certificate


def verification_url(certificate: Certificate) -> str:
    return link("certificates.verify", code=certificate.code)


def _qr_data_uri(url: str) -> str:
    return segno.make(url, error="m").svg_data_uri(scale=4, border=2)


def render_pdf(certificate: Certificate) -> bytes:
    """The certificate as a one-page tagged PDF (PDF/UA), in the person's language."""
    content = certificate.content
    url = verification_url(certificate)
    with force_locale(content.get("locale") or "de"):
        html = render_template(
            "certificates/certificate.html", certificate=certificate, c=content,
            starts=datetime.fromisoformat(content["starts"]),
            ends=datetime.fromisoformat(content["ends"]),
            verification_url=url, qr=_qr_data_uri(url), replaced=certificate.replaces,
        )
    # Imported here: WeasyPrint loads Pango when imported, and the rest of tracker runs
    # without it.
    from weasyprint import HTML  # noqa: PLC0415

    return HTML(string=html, base_url=current_app.static_folder + "/").write_pdf(
        pdf_variant=PDF_VARIANT)


def filename(certificate: Certificate) -> str:
    starts = to_local(datetime.fromisoformat(certificate.content["starts"]))
    return f"teilnahmebescheinigung_{starts.date().isoformat()}.pdf"


@dataclass(frozen=True)
class Verification:
    state: str  # "valid", "replaced", "revoked" or "unknown"
    certificate: Certificate | None = None


def verify(code: str) -> Verification:
    """What the public page says about a code; a malformed code is simply unknown."""
    if not _CODE.fullmatch(code or ""):
        return Verification("unknown")
    certificate = db.session.scalars(select(Certificate).where(Certificate.code == code)).first()
    if certificate is None:
        return Verification("unknown")
    if certificate.revoked_at is not None:
        return Verification("revoked", certificate)
    if certificate.replaced_at is not None:
        return Verification("replaced", certificate)
    return Verification("valid", certificate)


def revoke_for(person: User) -> int:
    """Anonymisation: every certificate of the person stops being valid and forgets what it
    said, so that the public page holds no personal data any more."""
    return db.session.execute(
        update(Certificate)
        .where(Certificate.user_id == person.id, Certificate.revoked_at.is_(None))
        .values(revoked_at=utcnow(), content_json="{}")
        .execution_options(synchronize_session=False)
    ).rowcount
