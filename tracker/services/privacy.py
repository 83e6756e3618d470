"""Data protection (DSGVO): a person's own data as a download, anonymisation, retention.

Anonymising keeps enrolments and attendance marks, so every count (participations per
series, per organisation, per year) stays right; only what identifies the person goes:
name, e-mail, password, login, coordinator roles, reset links, and names and e-mail
addresses in the audit log's entries about her.

Retention rule (`flask --app tracker retention --older-than YEARS`): a person is anonymised
when all of these hold
  * the account is deactivated (she has left) and not yet anonymised, and is no admin;
  * her last activity is older than YEARS years, where last activity is the latest of: the
    account's creation, any change to one of her enrolments (enrolled, waitlisted,
    cancelled, walk-in), the start of any session she was enrolled in, and any attendance
    mark of hers.
Active accounts are never anonymised by the rule, however old: an HR department deactivates
people who leave, and the rule follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    AuditEntry,
    Certificate,
    Enrolment,
    EnrolmentState,
    PasswordResetToken,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    series_coordinator,
    utcnow,
)
from tracker.services import (
    Conflict,
    NotAllowed,
    ServiceError,
    accounts,
    audit,
    certificates,
    enrolment,
)
from tracker.timeutil import to_local

ANONYMOUS_NAME = "Anonymisiert"


def _iso(value: datetime | None) -> str | None:
    """Naive UTC from the database as an ISO timestamp in Europe/Berlin."""
    return to_local(value).isoformat() if value is not None else None


# --- The person's own data ------------------------------------------------------------------


def export_user_data(user: User) -> dict:
    """Everything tracker holds about `user`, for her own download (Art. 15 DSGVO)."""
    enrolments = list(db.session.execute(
        select(Enrolment, TrainingSession, TrainingSeries)
        .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        .join(TrainingSeries, TrainingSession.series_id == TrainingSeries.id)
        .where(Enrolment.user_id == user.id)
        .order_by(TrainingSession.starts_at, Enrolment.id)
    ).all())
    ids = [e.id for e, _s, _r in enrolments]
    marks = {m.enrolment_id: m for m in db.session.scalars(
        select(AttendanceMark).where(AttendanceMark.enrolment_id.in_(ids)))} if ids else {}
    changes: dict[int, list[AttendanceChange]] = {}
    if ids:
        for change in db.session.scalars(select(AttendanceChange)
                                         .where(AttendanceChange.enrolment_id.in_(ids))
                                         .order_by(AttendanceChange.changed_at)):
            changes.setdefault(change.enrolment_id, []).append(change)
    org_names = {user.organisation_id: user.organisation.name}
    org_ids = {e.organisation_id for e, _s, _r in enrolments} - set(org_names)
    if org_ids:
        from tracker.models import Organisation

        org_names.update(db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))).all())

    audit_entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "user", AuditEntry.object_id == user.id)
        .order_by(AuditEntry.created_at)
    )
    tokens = db.session.scalars(
        select(PasswordResetToken).where(PasswordResetToken.user_id == user.id)
        .order_by(PasswordResetToken.created_at)
    )
    issued = db.session.scalars(
        select(Certificate).where(Certificate.user_id == user.id).order_by(Certificate.issued_at)
    )
    coordinated = db.session.scalars(
        select(TrainingSeries.title).join(series_coordinator)
        .where(series_coordinator.c.user_id == user.id).order_by(TrainingSeries.title)
    )
    return {
        "erstellt_am": _iso(utcnow()),
        "hinweis": "Alle Daten, die tracker über Sie speichert. Zeiten in Europe/Berlin.",
        "person": {
            "id": user.id,
            "vorname": user.first_name,
            "nachname": user.last_name,
            "email": user.email,
            "organisation": user.organisation.name,
            "rolle": user.role,
            "aktiv": user.active,
            "angelegt_am": _iso(user.created_at),
            "anonymisiert_am": _iso(user.anonymised_at),
            "koordiniert_reihen": list(coordinated),
        },
        "anmeldungen": [
            {
                "id": e.id,
                "reihe": series.title,
                "termin": session.title,
                "beginn": _iso(session.starts_at),
                "ende": _iso(session.ends_at),
                "ort": session.location or session.online_url,
                "status": e.state,
                "organisation_bei_anmeldung": org_names.get(e.organisation_id),
                "angemeldet_am": _iso(e.created_at),
                "geaendert_am": _iso(e.updated_at),
                "platz_erhalten_am": _iso(e.promoted_at),
                "storniert_am": _iso(e.cancelled_at),
                "stornogrund": e.cancel_reason,
                "durch_personalstelle_angemeldet": e.created_by_id is not None,
                "anwesenheit": (
                    {"status": marks[e.id].status, "erfasst_am": _iso(marks[e.id].marked_at)}
                    if e.id in marks else None
                ),
                "anwesenheit_verlauf": [
                    {"von": c.old_status, "zu": c.new_status, "am": _iso(c.changed_at)}
                    for c in changes.get(e.id, [])
                ],
            }
            for e, session, series in enrolments
        ],
        "protokoll": [
            {"aktion": entry.action, "am": _iso(entry.created_at), "einzelheiten": entry.details}
            for entry in audit_entries
        ],
        "passwort_links": [
            {"erstellt_am": _iso(t.created_at), "gueltig_bis": _iso(t.expires_at),
             "benutzt_am": _iso(t.used_at)}
            for t in tokens
        ],
        # What each issued certificate says, as the public check page shows it.
        "bescheinigungen": [
            {"code": c.code, "fassung": c.version, "ausgestellt_am": _iso(c.issued_at),
             "ersetzt_am": _iso(c.replaced_at), "widerrufen_am": _iso(c.revoked_at),
             "termin": c.content.get("session"), "reihe": c.content.get("series"),
             "beginn": _iso(datetime.fromisoformat(c.content["starts"]))
             if c.content.get("starts") else None, "name": c.content.get("name")}
            for c in issued
        ],
    }


# --- Anonymisation --------------------------------------------------------------------------


def anonymise(target: User, *, actor: User | None, reason: str = "manual") -> None:
    """Replace what identifies the person; keep enrolments and marks as anonymous counts.

    `actor` None is the retention command. Live enrolments in sessions that have not started
    are cancelled through the enrolment rules, so a seat of someone who left goes to the
    waiting list."""
    if actor is not None:
        if not actor.is_admin:
            raise NotAllowed(_("Nur die Administration darf Personen anonymisieren."))
        if actor.id == target.id:
            raise ServiceError(_("Sie können sich nicht selbst anonymisieren."))
    if target.anonymised_at is not None:
        raise Conflict(_("Diese Person ist bereits anonymisiert."))
    if target.active:
        raise ServiceError(_("Bitte deaktivieren Sie die Person zuerst: anonymisiert werden nur "
                             "Personen, die ausgeschieden sind."))
    if actor is not None:
        now = utcnow()
        upcoming = db.session.scalars(
            select(Enrolment).join(TrainingSession, Enrolment.session_id == TrainingSession.id)
            .where(Enrolment.user_id == target.id,
                   Enrolment.state.in_([EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED]),
                   TrainingSession.starts_at > now, TrainingSession.cancelled_at.is_(None))
        ).all()
        for live in upcoming:
            enrolment.cancel(live, actor=actor)
    target.first_name = ""
    target.last_name = ANONYMOUS_NAME
    target.email = f"anonym-{target.id}@invalid"
    target.password_hash = ""
    target.active = False
    accounts.rotate_session_token(target)
    target.anonymised_at = utcnow()
    certificates.revoke_for(target)
    db.session.execute(series_coordinator.delete().where(series_coordinator.c.user_id == target.id))
    db.session.execute(PasswordResetToken.__table__.delete()
                       .where(PasswordResetToken.user_id == target.id))
    audit.scrub_personal_details("user", target.id)
    db.session.flush()
    audit.record(actor, "user.anonymise", "user", target.id,
                 organisation_id=target.organisation_id, details={"reason": reason})


# --- Retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionCandidate:
    user: User
    last_activity: datetime


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def retention_candidates(years: int, *, now: datetime | None = None) -> list[RetentionCandidate]:
    """Deactivated, not yet anonymised non-admins whose last activity is older than `years`."""
    if years < 1:
        raise ServiceError("The retention period must be at least one year.")
    cutoff = years_before(now or utcnow(), years)
    enrolment_activity = (
        select(Enrolment.user_id.label("user_id"),
               func.max(Enrolment.updated_at).label("changed"),
               func.max(Enrolment.created_at).label("created"),
               func.max(TrainingSession.starts_at).label("session"))
        .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        .group_by(Enrolment.user_id).subquery()
    )
    mark_activity = (
        select(Enrolment.user_id.label("user_id"), func.max(AttendanceMark.marked_at).label("marked"))
        .join(AttendanceMark, AttendanceMark.enrolment_id == Enrolment.id)
        .group_by(Enrolment.user_id).subquery()
    )
    rows = db.session.execute(
        select(User, enrolment_activity.c.changed, enrolment_activity.c.created,
               enrolment_activity.c.session, mark_activity.c.marked)
        .outerjoin(enrolment_activity, enrolment_activity.c.user_id == User.id)
        .outerjoin(mark_activity, mark_activity.c.user_id == User.id)
        .where(User.active.is_(False), User.anonymised_at.is_(None), User.role != Role.ADMIN)
        .order_by(User.id)
    ).all()
    result = []
    for user, *moments in rows:
        last = max([user.created_at, *(m for m in moments if m is not None)])
        if last < cutoff:
            result.append(RetentionCandidate(user, last))
    return result


def apply_retention(years: int) -> list[RetentionCandidate]:
    candidates = retention_candidates(years)
    for candidate in candidates:
        anonymise(candidate.user, actor=None, reason=f"retention:{years}y")
    return candidates
