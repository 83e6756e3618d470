"""The administrative audit log: every change by an admin or HR lead goes through `record`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import Select, select

from tracker.extensions import db
from tracker.i18n import format_datetime
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


# --- Reading the log --------------------------------------------------------------------------
# Entries keep what changed as stored values (ids, codes, UTC times), so that they stay exact;
# the page shows them as a reader expects: names, German words, local times.

DETAIL_LABELS: dict[str, Any] = {
    "name": _l("Name"), "short_name": _l("Kurzname"), "first_name": _l("Vorname"),
    "last_name": _l("Nachname"), "email": _l("E-Mail"), "role": _l("Rolle"),
    "organisation_id": _l("Organisation"), "organisation": _l("Organisation"),
    "title": _l("Titel"), "description": _l("Beschreibung"), "open_to": _l("Offen für"),
    "coordinators": _l("Koordination"), "archived": _l("Archiviert"),
    "owner_organisation_id": _l("Verantwortlich"), "starts_at": _l("Beginn"),
    "ends_at": _l("Ende"), "enrolment_deadline": _l("Anmeldeschluss"), "location": _l("Ort"),
    "online_url": _l("Online-Link"), "trainer": _l("Referent/in"), "capacity": _l("Plätze"),
    "promoted": _l("Nachgerückt"), "affected": _l("Betroffene Anmeldungen"), "via": _l("über"),
    "reason": _l("Grund"), "expires_at": _l("gültig bis"), "file": _l("Datei"),
    "sha256": _l("Prüfsumme"), "new": _l("neu"), "changed": _l("geändert"),
    "unchanged": _l("unverändert"), "error": _l("Fehler"), "series_id": _l("Reihe"),
    "from_series": _l("aus Reihe"), "offset_days": _l("Verschiebung (Tage)"),
    "sessions": _l("Termine"), "active": _l("Aktiv"),
}
_TIMES = {"starts_at", "ends_at", "enrolment_deadline", "expires_at"}
_ORGANISATIONS = {"organisation_id", "owner_organisation_id", "open_to"}
_PEOPLE = {"coordinators"}
_SERIES = {"series_id", "from_series"}
# Actions whose details are {field: [old, new]} (see `changes`).
_CHANGES = {"organisation.update", "series.update", "session.update", "session.capacity",
            "user.update"}


def _word(key: str, value: Any, names: dict[str, dict[int, str]]) -> str:
    from tracker.models import Role

    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, list):
        return ", ".join(_word(key, v, names) for v in value)
    if isinstance(value, bool):
        return _("ja") if value else _("nein")
    if key in _TIMES and isinstance(value, str):
        try:
            return format_datetime(datetime.fromisoformat(value), "short")
        except ValueError:
            return value
    for kind, keys in (("organisation", _ORGANISATIONS), ("user", _PEOPLE), ("series", _SERIES)):
        if key in keys and isinstance(value, int):
            return names[kind].get(value, _("(gelöscht)"))
    if key == "role" and value in set(Role):
        return str(Role(value).label)
    if key == "via" and value == "import":
        return _("Import einer Personalliste")
    if key == "reason":
        return {"manual": _("von Hand"), "retention": _("Aufbewahrungsfrist abgelaufen")}.get(
            value, str(value))
    return str(value)


def readable_details(entries: list[AuditEntry]) -> dict[int, list[tuple[str, str]]]:
    """Per entry id: (label, text) for each detail, in the current language; the names the
    details refer to by id are read in one query per kind for the whole page."""
    from tracker.models import Organisation, TrainingSeries

    wanted: dict[str, set[int]] = {"organisation": set(), "user": set(), "series": set()}

    def collect(kind: str, value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                collect(kind, v)
        elif isinstance(value, int) and not isinstance(value, bool):
            wanted[kind].add(value)

    for entry in entries:
        for key, value in (entry.details or {}).items():
            for kind, keys in (("organisation", _ORGANISATIONS), ("user", _PEOPLE),
                               ("series", _SERIES)):
                if key in keys:
                    collect(kind, value)
    sources = {"organisation": (Organisation.id, Organisation.name),
               "user": (User.id, User.first_name + " " + User.last_name),
               "series": (TrainingSeries.id, TrainingSeries.title)}
    names: dict[str, dict[int, str]] = {}
    for kind, (id_column, name_column) in sources.items():
        ids = wanted[kind]
        rows = db.session.execute(select(id_column, name_column).where(id_column.in_(ids))) \
            if ids else []
        names[kind] = {row_id: name for row_id, name in rows}

    result: dict[int, list[tuple[str, str]]] = {}
    for entry in entries:
        lines = []
        for key, value in (entry.details or {}).items():
            label = str(DETAIL_LABELS.get(key, key))
            if key == "promoted" and isinstance(value, list):
                text = ngettext("%(num)s Person", "%(num)s Personen", len(value))
            elif (entry.action in _CHANGES and isinstance(value, list) and len(value) == 2):
                text = f"{_word(key, value[0], names)} → {_word(key, value[1], names)}"
            else:
                text = _word(key, value, names)
            lines.append((label, text))
        result[entry.id] = lines
    return result
