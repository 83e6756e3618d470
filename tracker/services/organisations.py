"""Partner organisations: create, rename, deactivate (never delete one with history)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import Organisation, User
from tracker.services import Conflict, ServiceError, audit


def _check_name_free(name: str, *, except_id: int | None = None) -> None:
    query = select(Organisation.id).where(func.lower(Organisation.name) == name.lower())
    if except_id is not None:
        query = query.where(Organisation.id != except_id)
    if db.session.scalar(query) is not None:
        raise Conflict(_("Eine Organisation mit diesem Namen gibt es bereits."))


def _clean(name: str, short_name: str) -> tuple[str, str]:
    name = (name or "").strip()
    short_name = (short_name or "").strip()
    if not name:
        raise ServiceError(_("Bitte geben Sie den Namen der Organisation ein."))
    if len(name) > 200 or len(short_name) > 40:
        raise ServiceError(_("Der Name ist zu lang (höchstens 200, Kurzname höchstens 40 Zeichen)."))
    return name, short_name or name[:40]


def create_organisation(name: str, short_name: str, *, actor: User) -> Organisation:
    name, short_name = _clean(name, short_name)
    _check_name_free(name)
    org = Organisation(name=name, short_name=short_name, active=True)
    db.session.add(org)
    db.session.flush()
    audit.record(actor, "organisation.create", "organisation", org.id, organisation_id=org.id,
                 details={"name": name, "short_name": short_name})
    return org


def update_organisation(org: Organisation, name: str, short_name: str, *, actor: User) -> None:
    name, short_name = _clean(name, short_name)
    _check_name_free(name, except_id=org.id)
    diff = audit.changes(org, {"name": name, "short_name": short_name})
    if not diff:
        return
    org.name, org.short_name = name, short_name
    db.session.flush()
    audit.record(actor, "organisation.update", "organisation", org.id, organisation_id=org.id,
                 details=diff)


def set_organisation_active(org: Organisation, active: bool, *, actor: User) -> None:
    """Deactivated organisations keep their people and history; they are just not offered
    for new series, people or imports. There is no delete: history must stay true."""
    if org.active == active:
        return
    if not active and actor.organisation_id == org.id:
        raise ServiceError(_("Sie können Ihre eigene Organisation nicht deaktivieren."))
    org.active = active
    db.session.flush()
    audit.record(actor, "organisation.activate" if active else "organisation.deactivate",
                 "organisation", org.id, organisation_id=org.id)


def list_organisations(q: str = ""):
    """Organisations by name, narrowed by a search (a select for db.paginate)."""
    query = select(Organisation).order_by(Organisation.name)
    if q.strip():
        needle = f"%{q.strip().lower()}%"
        query = query.where(
            db.or_(func.lower(Organisation.name).like(needle),
                   func.lower(Organisation.short_name).like(needle))
        )
    return query


def people_counts(org_ids: list[int]) -> dict[int, int]:
    """Number of people per organisation, in one query for a page of organisations."""
    if not org_ids:
        return {}
    rows = db.session.execute(
        select(User.organisation_id, func.count(User.id))
        .where(User.organisation_id.in_(org_ids)).group_by(User.organisation_id)
    )
    return dict(rows.all())


def active_organisations() -> list[Organisation]:
    return list(db.session.scalars(
        select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.name)
    ))


def all_organisations() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))
