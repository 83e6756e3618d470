"""People and roles: create, edit, (de)activate, and one-time links to set a password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, delete, func, or_, select, update

from tracker.extensions import db
from tracker.models import Organisation, OutboxMail, PasswordResetToken, Role, User, utcnow
from tracker.services import Conflict, NotAllowed, ServiceError, access, accounts, audit, notify
from tracker.services.collation import german
from tracker.services.mail import link

RESET_LINK_HOURS = 72


def manageable_people(
    actor: User, *, q: str = "", organisation_id: int | None = None, role: str | None = None,
    status: str | None = None,
) -> Select:
    """The people `actor` manages, by name, narrowed by search and filters (for db.paginate)."""
    query = select(User).join(User.organisation)
    if not actor.is_admin:
        query = query.where(User.organisation_id == actor.organisation_id, User.role != Role.ADMIN)
    elif organisation_id:
        query = query.where(User.organisation_id == organisation_id)
    if role in {r.value for r in Role}:
        query = query.where(User.role == role)
    if status == "active":
        query = query.where(User.active.is_(True))
    elif status == "inactive":
        query = query.where(User.active.is_(False), User.anonymised_at.is_(None))
    elif status == "anonymised":
        query = query.where(User.anonymised_at.is_not(None))
    if q:
        needle = f"%{q.lower()}%"
        query = query.where(or_(
            func.lower(User.first_name + " " + User.last_name).like(needle),
            func.lower(User.last_name + ", " + User.first_name).like(needle),
            User.email.like(needle),
            func.lower(Organisation.name).like(needle),
            func.lower(Organisation.short_name).like(needle),
        ))
    return query.order_by(german(User.last_name), german(User.first_name), User.id)


def _check_role(actor: User, role: str) -> None:
    if role not in {r.value for r in access.assignable_roles(actor)}:
        raise NotAllowed(_("Diese Rolle dürfen Sie nicht vergeben."))


def _check_organisation(actor: User, org: Organisation | None) -> Organisation:
    if org is None:
        raise ServiceError(_("Bitte wählen Sie eine Organisation."))
    if not actor.is_admin and org.id != actor.organisation_id:
        raise NotAllowed(_("Sie dürfen nur Personen Ihrer eigenen Organisation verwalten."))
    return org


def email_taken(email: str, *, actor: User, except_id: int | None = None) -> bool:
    """Whether `actor` may learn that the address is in use. HR leads learn it only for their
    own organisation: an address of another organisation is answered like a free one (the
    inline check must not tell who works where)."""
    query = select(User.id).where(User.email == accounts.normalise_email(email))
    if except_id is not None:
        query = query.where(User.id != except_id)
    if not actor.is_admin:
        query = query.where(User.organisation_id == actor.organisation_id)
    return db.session.scalar(query) is not None


# Said to an HR lead when a save collides with an address of another organisation: it tells
# that the address cannot be used, not whose it is.
def address_unusable() -> Conflict:
    return Conflict(_("Diese E-Mail-Adresse kann nicht verwendet werden."))


def _check_email_free(email: str, *, actor: User, except_id: int | None = None) -> None:
    query = select(User.organisation_id).where(User.email == accounts.normalise_email(email))
    if except_id is not None:
        query = query.where(User.id != except_id)
    owners = list(db.session.scalars(query))
    if not owners:
        return
    if actor.is_admin or owners[0] == actor.organisation_id:
        raise Conflict(_("Diese E-Mail-Adresse ist bereits vergeben."))
    raise address_unusable()


def create_person(
    *, actor: User, first_name: str, last_name: str, email: str, organisation: Organisation | None,
    role: str,
) -> User:
    org = _check_organisation(actor, organisation)
    if not org.active:
        raise ServiceError(_("Diese Organisation ist deaktiviert."))
    _check_role(actor, role)
    _check_email_free(email, actor=actor)
    user = accounts.create_user(email=email, first_name=first_name, last_name=last_name,
                                organisation=org, role=role)
    audit.record(actor, "user.create", "user", user.id, organisation_id=org.id,
                 details={"email": user.email, "first_name": user.first_name,
                          "last_name": user.last_name, "role": role})
    return user


def update_person(
    target: User, *, actor: User, first_name: str, last_name: str, email: str,
    organisation: Organisation | None, role: str,
) -> None:
    if not access.can_manage_user(actor, target):
        raise NotAllowed(_("Sie dürfen diese Person nicht bearbeiten."))
    if target.anonymised_at is not None:
        raise ServiceError(_("Diese Person wurde anonymisiert und kann nicht mehr bearbeitet werden."))
    org = _check_organisation(actor, organisation)
    if role != target.role:
        if target.id == actor.id:
            raise ServiceError(_("Ihre eigene Rolle können Sie nicht ändern."))
        _check_role(actor, role)
    email = accounts.normalise_email(email)
    _check_email_free(email, actor=actor, except_id=target.id)
    values = {"first_name": first_name.strip(), "last_name": last_name.strip(), "email": email,
              "organisation_id": org.id, "role": role}
    diff = audit.changes(target, values)
    if not diff:
        return
    for key, value in values.items():
        setattr(target, key, value)
    target.organisation = org
    if "role" in diff or "organisation_id" in diff:
        # A changed role or employer takes effect at once: old login cookies stop working.
        accounts.rotate_session_token(target)
    db.session.flush()
    audit.record(actor, "user.update", "user", target.id, organisation_id=org.id, details=diff)


def set_active(target: User, active: bool, *, actor: User) -> None:
    if not access.can_manage_user(actor, target):
        raise NotAllowed(_("Sie dürfen diese Person nicht bearbeiten."))
    if target.active == active:
        return
    if target.id == actor.id:
        raise ServiceError(_("Sie können sich nicht selbst deaktivieren."))
    if active and target.anonymised_at is not None:
        raise ServiceError(_("Eine anonymisierte Person kann nicht wieder aktiviert werden."))
    if active:
        target.active = True
    else:
        accounts.deactivate_user(target)
    db.session.flush()
    audit.record(actor, "user.activate" if active else "user.deactivate", "user", target.id,
                 organisation_id=target.organisation_id)


# --- One-time password links ----------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link_signature(secret: str, user: User) -> str:
    """Binds a link to the account as it was when the link was issued: deactivation (and so
    a later reactivation), a new password, a changed role, e-mail or organisation all give
    another signature, and every open link of the person stops working."""
    state = "|".join(str(part) for part in (
        secret, user.id, user.session_token, user.email, user.role, user.organisation_id,
        user.active, user.password_hash or "",
    ))
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) \
        else current_app.secret_key
    digest = hmac.new(key, state.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def issue_reset_link(target: User, *, actor: User) -> tuple[str, PasswordResetToken]:
    """A new one-time token for `target` (returned once, stored only as a hash); earlier
    unused links of the person stop working."""
    if not access.can_manage_user(actor, target):
        raise NotAllowed(_("Sie dürfen diese Person nicht bearbeiten."))
    if not target.active or target.anonymised_at is not None:
        raise ServiceError(_("Für eine deaktivierte Person kann kein Link erstellt werden."))
    return _new_token(target, created_by=actor)


def _new_token(target: User, *, created_by: User) -> tuple[str, PasswordResetToken]:
    db.session.execute(delete(PasswordResetToken).where(
        PasswordResetToken.user_id == target.id, PasswordResetToken.used_at.is_(None)))
    secret = secrets.token_urlsafe(32)
    token = f"{secret}.{_link_signature(secret, target)}"
    row = PasswordResetToken(user_id=target.id, token_hash=_hash(secret),
                             created_by_id=created_by.id,
                             expires_at=utcnow() + timedelta(hours=_link_hours()))
    db.session.add(row)
    db.session.flush()
    audit.record(created_by, "user.reset_link", "user", target.id,
                 organisation_id=target.organisation_id,
                 details={"expires_at": row.expires_at})
    return token, row


RESET_REQUESTS_PER_HOUR = 3


def _link_hours() -> int:
    return current_app.config.get("PASSWORD_RESET_HOURS", RESET_LINK_HOURS)


def invite(target: User, *, actor: User) -> str:
    """Mail a new person a one-time link to set her password; returns the link, which the
    HR lead sees only as a fallback (for someone without mail, say)."""
    token, _row = issue_reset_link(target, actor=actor)
    url = link("password.reset", token=token)
    notify.password_link(target, url, invitation=True, hours=_link_hours())
    return url


def request_reset(email: str) -> None:
    """"Passwort vergessen": mail a one-time link if an active account has this address.
    Unknown addresses change nothing, and the caller answers the same for both."""
    address = (email or "").strip().lower()
    if not address or len(address) > 254:
        return
    person = db.session.scalar(select(User).where(User.email == address))
    if person is None or not person.active or person.anonymised_at is not None:
        return
    # No mail bombing: a few links an hour per account, counted in the outbox every worker
    # and server shares.
    recent = db.session.scalar(select(func.count(OutboxMail.id)).where(
        OutboxMail.user_id == person.id, OutboxMail.kind == "password_reset",
        OutboxMail.created_at > utcnow() - timedelta(hours=1)))
    if recent >= RESET_REQUESTS_PER_HOUR:
        return
    token, _row = _new_token(person, created_by=person)
    notify.password_link(person, link("password.reset", token=token), invitation=False,
                         hours=_link_hours())


def find_reset_token(token: str) -> PasswordResetToken | None:
    """The unused, unexpired token for this link text, of an active person; else None."""
    if not token or len(token) > 200:
        return None
    secret, _dot, signature = token.partition(".")
    if not signature:
        return None
    row = db.session.scalar(select(PasswordResetToken).where(PasswordResetToken.token_hash == _hash(secret)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    if not row.user.active or row.user.anonymised_at is not None:
        return None
    if not hmac.compare_digest(signature, _link_signature(secret, row.user)):
        return None
    return row


def use_reset_token(row: PasswordResetToken, password: str) -> User:
    """Set the password and spend the token; also ends every login of the person."""
    user = row.user
    accounts.set_password(user, password)
    # Conditional UPDATE: of two simultaneous uses of one link, only one succeeds.
    spent = db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise Conflict(_("Dieser Link wurde bereits benutzt."))
    db.session.flush()
    audit.record(user, "user.password_reset", "user", user.id, organisation_id=user.organisation_id)
    return user
