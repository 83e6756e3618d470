"""Certificates of participation: issued once as a snapshot, checked by anyone by code.

A person gets a certificate for a session she attended (a mark that counts as a
participation, walk-ins included). What it says is frozen when it is issued; asking again
returns the same certificate while the facts are unchanged, and a new version that replaces
the old one once they changed (a corrected name, a moved session). The verification page
shows only what the certificate itself shows.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

import segno
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import contains_eager, joinedload
from werkzeug.utils import secure_filename

from tracker.caching import memoize_thread
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
from tracker.services import Conflict, ServiceError, access, reports
from tracker.services.mail import link
from tracker.services.participation import is_participation
from tracker.timeutil import local_day_bounds, to_local

_CODE = re.compile(r"[A-Za-z0-9_-]{20,40}")
PDF_VARIANT = "pdf/ua-1"  # tagged, with title and language: read aloud by screen readers


def _not_found() -> ServiceError:
    return ServiceError(_("Diesen Termin gibt es in Ihren Schulungen nicht."), 404)


def _participations(*conditions) -> list[Enrolment]:
    """Enrolments that count as a participation, with what a certificate needs loaded."""
    return list(db.session.scalars(
        select(Enrolment)
        .join(Enrolment.session)
        .join(TrainingSession.series)
        .join(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(is_participation(), *conditions)
        .options(contains_eager(Enrolment.session).contains_eager(TrainingSession.series),
                 joinedload(Enrolment.user), joinedload(Enrolment.organisation))
        .order_by(TrainingSession.starts_at, Enrolment.id)
    ).unique())


def _check_participation(enrolment_id: int, viewer: User, *, own: bool = False) -> None:
    """A German 404 unless the viewer may have this enrolment's certificate (her own; with
    `own` False also one of her organisation's people as their HR), 409 unless attended."""
    row = db.session.execute(
        select(Enrolment.user_id, Enrolment.organisation_id, AttendanceMark.status)
        .outerjoin(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(Enrolment.id == enrolment_id)
    ).first()
    if row is None:
        raise _not_found()
    user_id, organisation_id, status = row
    if user_id != viewer.id and (own or not access.can_certify(viewer, organisation_id)):
        raise _not_found()
    if status is None or not AttendanceStatus(status).counts_as_participation:
        raise Conflict(_("Für diesen Termin ist keine Teilnahme erfasst. Eine "
                         "Teilnahmebescheinigung gibt es nur für besuchte Termine."))


def may_issue(viewer: User, enrolment_id: int) -> bool:
    """Whether the viewer can have this participation's certificate (for links)."""
    try:
        _check_participation(enrolment_id, viewer)
    except ServiceError:
        return False
    return True


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


def _issue(enrolment: Enrolment, previous: Certificate | None, now) -> Certificate:
    content = _snapshot(enrolment)
    if previous is not None and previous.content == content:
        return previous
    certificate = Certificate(
        code=secrets.token_urlsafe(24), enrolment_id=enrolment.id, user_id=enrolment.user_id,
        version=(previous.version + 1) if previous else 1, replaces=previous, issued_at=now,
        content_json=json.dumps(content, ensure_ascii=False, sort_keys=True),
    )
    if previous is not None:
        previous.replaced_at = now
    db.session.add(certificate)
    return certificate


def issue_all(enrolments: list[Enrolment]) -> list[Certificate]:
    """The certificates of these participations: for each the one issued before while what
    it says still holds, else a new version replacing it. The caller commits."""
    ids = [e.id for e in enrolments]
    previous: dict[int, Certificate] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists, whatever the selection
        for certificate in db.session.scalars(
            select(Certificate)
            .where(Certificate.enrolment_id.in_(ids[start:start + 500]),
                   Certificate.replaced_at.is_(None), Certificate.revoked_at.is_(None))
            .order_by(Certificate.version)
        ):
            previous[certificate.enrolment_id] = certificate
    now = utcnow()
    issued = [_issue(e, previous.get(e.id), now) for e in enrolments]
    db.session.flush()
    return issued


def issue(enrolment_id: int, viewer: User, *, own: bool = False) -> Certificate:
    """The certificate of one participation, for the person or (unless `own`) her HR."""
    _check_participation(enrolment_id, viewer, own=own)
    return issue_all(_participations(Enrolment.id == enrolment_id))[0]


def for_session(session: TrainingSession, viewer: User) -> list[Certificate]:
    """The certificates of everyone of the viewer's organisation (admins: everyone) who
    attended the session. A 409 with a German message when there is none."""
    conditions = [Enrolment.session_id == session.id]
    if not viewer.is_admin:
        conditions.append(Enrolment.organisation_id == viewer.organisation_id)
    enrolments = _participations(*conditions)
    if not enrolments:
        raise Conflict(_("Für diesen Termin ist keine Teilnahme Ihrer Beschäftigten erfasst; "
                         "es gibt daher keine Bescheinigungen."))
    return issue_all(enrolments)


def for_selection(filters: reports.ReportFilters, viewer: User) -> list[Certificate]:
    """The certificates of a report selection, for the viewer's own people (admins: the
    selected organisation or everyone). Too large a selection is refused: it would keep the
    person (and an app worker) waiting for minutes."""
    conditions = list(reports.session_conditions(filters))
    organisation_id = filters.organisation_id if viewer.is_admin else viewer.organisation_id
    if organisation_id is not None:
        conditions.append(Enrolment.organisation_id == organisation_id)
    limit = current_app.config["CERTIFICATES_PER_DOWNLOAD"]
    count = db.session.scalar(
        select(func.count()).select_from(Enrolment)
        .join(Enrolment.session)
        .join(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .where(is_participation(), *conditions))
    if not count:
        raise Conflict(_("In dieser Auswahl ist keine Teilnahme Ihrer Beschäftigten erfasst; "
                         "es gibt daher keine Bescheinigungen."))
    if count > limit:
        raise ServiceError(_("Diese Auswahl umfasst %(count)s Teilnahmen, mehr als %(limit)s "
                             "Bescheinigungen auf einmal. Bitte wählen Sie einen kürzeren "
                             "Zeitraum oder eine Reihe.", count=count, limit=limit), 422)
    return issue_all(_participations(*conditions))


def verification_url(certificate: Certificate) -> str:
    return link("certificates.verify", code=certificate.code)


def _qr_data_uri(url: str) -> str:
    return segno.make(url, error="m").svg_data_uri(scale=4, border=2)


def render_html(certificate: Certificate) -> str:
    """The certificate as the HTML page WeasyPrint lays out, in the person's language."""
    content = certificate.content
    url = verification_url(certificate)
    with force_locale(content.get("locale") or "de"):
        return render_template(
            "certificates/certificate.html", certificate=certificate, c=content,
            starts=datetime.fromisoformat(content["starts"]),
            ends=datetime.fromisoformat(content["ends"]),
            verification_url=url, qr=_qr_data_uri(url), replaced=certificate.replaces,
        )


def _weasyprint():
    # Imported here: WeasyPrint loads Pango when imported, and the rest of tracker runs
    # without it.
    import weasyprint  # noqa: PLC0415
    from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

    return weasyprint.HTML, FontConfiguration


def _html(html: str):
    return _weasyprint()[0](string=html, base_url=current_app.static_folder + "/")


def html_to_pdf(html: str) -> bytes:
    """A page of tracker's as a tagged PDF (PDF/UA), its fonts and styles from static/."""
    return _html(html).write_pdf(pdf_variant=PDF_VARIANT, font_config=font_configuration())


def render_pdf(certificate: Certificate) -> bytes:
    """The certificate as a one-page tagged PDF."""
    return html_to_pdf(render_html(certificate))


def font_configuration():
    """The fonts of static/, unpacked once per worker thread and reused by every document."""
    return _font_configuration(current_app.static_folder)


@memoize_thread
def _font_configuration(static_folder: str):
    # Keyed on the folder the @font-face rules point into: each face is unpacked from WOFF2
    # the first time a document uses it, and WeasyPrint skips faces it already holds.
    return _weasyprint()[1]()


def render_combined_pdf(certificates: list[Certificate], title: str) -> bytes:
    """Many certificates as one tagged PDF, one page each (for printing a session's)."""
    fonts = font_configuration()
    documents = [_html(render_html(c)).render(font_config=fonts, pdf_variant=PDF_VARIANT)
                 for c in certificates]
    combined = documents[0].copy([page for d in documents for page in d.pages])
    combined.metadata.title = title
    return combined.write_pdf(pdf_variant=PDF_VARIANT)


def render_zip(certificates: list[Certificate]) -> bytes:
    """Many certificates as a zip of PDFs, one file per person and session."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for certificate in certificates:
            archive.writestr(member_name(certificate), render_pdf(certificate))
    return buffer.getvalue()


def member_name(certificate: Certificate) -> str:
    """Unique within a download: date, name (ASCII, as file systems need) and enrolment."""
    starts = to_local(datetime.fromisoformat(certificate.content["starts"]))
    name = secure_filename(certificate.content.get("name", "")) or "teilnahme"
    return f"{starts.date().isoformat()}_{name}_{certificate.enrolment_id}.pdf"


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


# --- The yearly training record ("Fortbildungsnachweis") ------------------------------------


@dataclass(frozen=True)
class RecordEntry:
    starts: datetime
    ends: datetime
    series: str
    session: str
    hours: float
    organisation: str


@dataclass(frozen=True)
class YearlyRecord:
    person: User
    year: int
    entries: list[RecordEntry]
    issued_at: datetime

    @property
    def total_hours(self) -> float:
        return round(sum(e.hours for e in self.entries), 2)

    @property
    def filename(self) -> str:
        return f"fortbildungsnachweis_{self.year}_{secure_filename(self.person.full_name)}.pdf"


def _record_scope(person: User, viewer: User) -> list:
    """The person's enrolments a yearly record may show to the viewer: all to herself and to
    admins, to HR those in their organisation's name."""
    conditions = [Enrolment.user_id == person.id]
    if person.id != viewer.id and not viewer.is_admin:
        conditions.append(Enrolment.organisation_id == viewer.organisation_id)
    return conditions


def record_years(person: User, viewer: User) -> list[int]:
    """The years, newest first, with a participation of the person the viewer may put into
    a yearly record (HR: in their organisation's name)."""
    query = (select(TrainingSession.starts_at)
             .join(Enrolment, Enrolment.session_id == TrainingSession.id)
             .join(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
             .where(is_participation(), *_record_scope(person, viewer)))
    return sorted({to_local(starts).year for starts in db.session.scalars(query)}, reverse=True)


def yearly_record(person_id: int, year: int, viewer: User) -> YearlyRecord:
    """Every participation of the person in the calendar year with its hours. For the person
    herself; for HR only the participations in their organisation's name (admins: all).
    A German 404 for a person the viewer may not see, 409 for a year without any."""
    person = db.session.get(User, person_id)
    if person is None or person.anonymised_at is not None or not (
            person.id == viewer.id or viewer.is_admin
            or access.can_certify(viewer, person.organisation_id)):
        raise ServiceError(_("Diese Person gibt es nicht oder Sie dürfen ihren "
                             "Fortbildungsnachweis nicht sehen."), 404)
    if not 1900 < year < 3000:
        raise ServiceError(_("Für dieses Jahr gibt es keinen Fortbildungsnachweis."), 404)
    start, end = local_day_bounds(date(year, 1, 1), date(year, 12, 31))
    conditions = [*_record_scope(person, viewer), TrainingSession.starts_at >= start,
                  TrainingSession.starts_at <= end]
    entries = [
        RecordEntry(starts=e.session.starts_at, ends=e.session.ends_at,
                    series=e.session.series.title, session=e.session.title,
                    hours=e.session.hours, organisation=e.organisation.name)
        for e in _participations(*conditions)
    ]
    if not entries:
        raise Conflict(_("Im Jahr %(year)s ist keine Teilnahme erfasst; einen "
                         "Fortbildungsnachweis gibt es erst mit einer Teilnahme.", year=year))
    return YearlyRecord(person=person, year=year, entries=entries, issued_at=utcnow())


def render_record_pdf(record: YearlyRecord) -> bytes:
    with force_locale(record.person.locale or "de"):
        html = render_template("certificates/record.html", record=record,
                               network=current_app.config["MAIL_NETWORK_NAME"],
                               locale=record.person.locale or "de")
    return html_to_pdf(html)
