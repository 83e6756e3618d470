"""The administrative audit log: every change by an admin or HR lead goes through `record`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from tracker.extensions import db
from tracker.models import AuditEntry, User
from tracker.timeutil import from_local, to_local

# German labels for the actions the app records (shown in the audit page's filter).
ACTION_LABELS: dict[str, Any] = {
    "organisation.create": _l("Organisation angelegt"),
    "organisation.update": _l("Organisation geändert"),
    "organisation.deactivate": _l("Organisation deaktiviert"),
    "organisation.activate": _l("Organisation aktiviert"),
    "series.create": _l("Reihe angelegt"),
    "series.update": _l("Reihe geändert"),
    "series.copy": _l("Reihe kopiert"),
    "session.create": _l("Termin angelegt"),
    "session.update": _l("Termin geändert"),
    "session.capacity": _l("Kapazität geändert"),
    "session.cancel": _l("Termin abgesagt"),
    "user.create": _l("Person angelegt"),
    "user.update": _l("Person geändert"),
    "user.deactivate": _l("Person deaktiviert"),
    "user.activate": _l("Person aktiviert"),
    "user.reset_link": _l("Link zum Zurücksetzen des Passworts erstellt"),
    "user.password_reset": _l("Passwort über Link neu gesetzt"),
    "user.anonymise": _l("Person anonymisiert"),
    "import.apply": _l("Personalliste importiert"),
}


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    return value


def record(
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int | None,
    *,
    organisation_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit entry (actor None = a CLI command). Flushes, never commits."""
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        organisation_id=organisation_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=_json_safe(details or {}),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def changes(obj: Any, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value differs; the audit's details."""
    diff = {}
    for key, new in new_values.items():
        old = getattr(obj, key)
        if old != new:
            diff[key] = [_json_safe(old), _json_safe(new)]
    return diff


def filtered_entries(
    *,
    action: str | None = None,
    actor: str | None = None,
    organisation_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Select:
    """The audit log, newest first, narrowed by the audit page's filters."""
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        needle = f"%{actor.strip().lower()}%"
        actor_ids = select(User.id).where(
            db.or_(
                db.func.lower(User.email).like(needle),
                db.func.lower(User.first_name + " " + User.last_name).like(needle),
            )
        )
        query = query.where(AuditEntry.actor_id.in_(actor_ids))
    if organisation_id:
        query = query.where(AuditEntry.organisation_id == organisation_id)
    if date_from:
        query = query.where(AuditEntry.created_at >= from_local(datetime.combine(date_from, time.min)))
    if date_to:
        end = from_local(datetime.combine(date_to + timedelta(days=1), time.min))
        query = query.where(AuditEntry.created_at < end)
    return query


def scrub_personal_details(object_type: str, object_id: int) -> None:
    """Remove names and e-mail addresses from the entries about one person (anonymisation)."""
    personal = {"email", "first_name", "last_name", "name"}
    entries = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == object_type, AuditEntry.object_id == object_id
        )
    )
    for entry in entries:
        details = dict(entry.details or {})
        if personal & details.keys():
            entry.details = {
                k: ("(anonymisiert)" if k in personal else v) for k, v in details.items()
            }


def object_labels(entries: list[AuditEntry]) -> dict[tuple[str, int], str]:
    """A readable name per (object type, id) for a page of entries: one query per type."""
    from tracker.models import Organisation, TrainingSeries, TrainingSession

    wanted: dict[str, set[int]] = {}
    for entry in entries:
        if entry.object_id is not None:
            wanted.setdefault(entry.object_type, set()).add(entry.object_id)
    labels: dict[tuple[str, int], str] = {}
    sources = {
        "user": (User, lambda u: f"{u.full_name} ({u.email})"),
        "organisation": (Organisation, lambda o: o.name),
        "series": (TrainingSeries, lambda s: s.title),
        "session": (TrainingSession, lambda s: f"{s.title}, {to_local(s.starts_at):%d.%m.%Y %H:%M}"),
    }
    for object_type, ids in wanted.items():
        if object_type not in sources:
            continue
        model, label = sources[object_type]
        for obj in db.session.scalars(select(model).where(model.id.in_(ids))):
            labels[(object_type, obj.id)] = label(obj)
    return labels
