"""Accounts that follow the partners' directories: sign-in, linking and deactivation.

Rules, from the partners' data protection officers and HR:
- a directory identity belongs to the organisation of its provider. It creates a person
  there (role employee) or links the person of that organisation with the same e-mail
  address; it never signs into an account of another organisation, even with the same
  address;
- name and e-mail follow the directory at every sign-in;
- a person the directory no longer finds (left, disabled) cannot sign in, and the sync
  deactivates her account; a directory that cannot be asked deactivates no one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_multipass import IdentityInfo
from flask_multipass.exceptions import AuthenticationFailed, MultipassException
from sqlalchemy import select

from tracker.extensions import db, multipass
from tracker.models import Organisation, Role, User
from tracker.services import Conflict, NotAllowed, ServiceError, accounts, audit
from tracker.sign_in import Provider, provider, providers

log = logging.getLogger("tracker.sign_in")


class DirectoryUnavailable(ServiceError):
    """A directory could not be asked (down, misconfigured, certificate refused)."""

    status_code = 503


@dataclass
class Attempt:
    """What asking the directories gave: signed in, or the directories that failed."""

    signed_in: bool = False
    unavailable: tuple[Provider, ...] = ()


def _first(info: IdentityInfo, key: str) -> str:
    value = info.data.get(key)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return accounts.clean_name(str(value or ""))


def local_password_allowed(user: User) -> bool:
    """False for people of an organisation whose provider switched local passwords off."""
    if user.role == Role.ADMIN:
        return True
    return not any(
        not p.local_passwords and p.organisation == user.organisation.short_name
        for p in providers()
    )


def sign_in(login: str, password: str) -> Attempt:
    """Ask each directory in turn for this login and password.

    Flask-Multipass checks the password with a bind as the person and hands her entry to
    the identity handler (tracker/views/auth.py), which calls `account_for_identity` and
    signs her in. A refusal of tracker's rules (another organisation's account, a
    deactivated one) comes back as a ServiceError.
    """
    if not login or not password or not providers():
        return Attempt()
    import ldap  # python-ldap: only configured providers get here

    unavailable: list[Provider] = []
    for entry in providers():
        auth_provider = multipass.auth_providers[entry.name]
        try:
            auth_provider.process_local_login({"username": login, "password": password})
        except AuthenticationFailed:  # unknown in this directory, or a wrong password
            continue
        except (MultipassException, ValueError, OSError, ldap.LDAPError) as exc:
            # Down, a wrong bind password, a refused certificate: the others still work.
            _log_broken(entry, exc)
            unavailable.append(entry)
            continue
        return Attempt(signed_in=True)
    return Attempt(unavailable=tuple(unavailable))


def _log_broken(entry: Provider, exc: BaseException) -> None:
    # The reason goes to the log for the administrator; never the bind password.
    log.error("sign-in provider %s (%s) failed: %s: %s", entry.name, entry.ldap["uri"],
              type(exc).__name__, exc)


def _organisation(entry: Provider) -> Organisation:
    organisation = db.session.scalar(
        select(Organisation).where(Organisation.short_name == entry.organisation)
    )
    if organisation is None or not organisation.active:
        log.error("sign-in provider %s names organisation %r, which tracker does not have",
                  entry.name, entry.organisation)
        raise DirectoryUnavailable(_(
            "Die Anmeldung mit diesem Konto ist in tracker noch nicht eingerichtet. Bitte "
            "wenden Sie sich an die Personalabteilung."
        ))
    return organisation


def account_for_identity(info: IdentityInfo) -> User:
    """The tracker account of this directory identity: found, linked or created."""
    entry = provider(info.provider.name)
    if entry is None:
        raise NotAllowed(_("Dieser Anmeldedienst ist nicht eingerichtet."))
    organisation = _organisation(entry)
    email = accounts.normalise_email(_first(info, "email"))
    user = db.session.scalar(
        select(User).where(User.auth_provider == entry.name,
                           User.auth_identifier == info.identifier)
    )
    if user is None and email:
        user = accounts.find_user_by_email(email)
        if user is not None and (
            user.organisation_id != organisation.id
            or user.auth_provider not in (None, entry.name)
        ):
            log.warning("sign-in provider %s: %r belongs to another organisation's account",
                        entry.name, info.identifier)
            raise Conflict(_(
                "Zu dieser E-Mail-Adresse gibt es in tracker ein Konto einer anderen "
                "Organisation. Bitte wenden Sie sich an die Personalabteilung."
            ))
    if user is None:
        if not email:
            raise ServiceError(_(
                "Ihr Verzeichniseintrag enthält keine E-Mail-Adresse. Bitte wenden Sie sich an "
                "die Personalabteilung."
            ))
        user = accounts.create_user(
            email=email,
            first_name=_first(info, "first_name") or email.split("@")[0],
            last_name=_first(info, "last_name") or "-",
            organisation=organisation,
        )
        user.auth_provider, user.auth_identifier = entry.name, info.identifier
        audit.record(None, "user.created_from_directory", "user", user.id,
                     organisation_id=organisation.id, details={"provider": entry.name})
    elif user.auth_provider is None:
        user.auth_provider, user.auth_identifier = entry.name, info.identifier
        audit.record(None, "user.linked_to_directory", "user", user.id,
                     organisation_id=organisation.id, details={"provider": entry.name})
    if user.organisation_id != organisation.id:
        raise Conflict(_(
            "Ihr tracker-Konto gehört zu einer anderen Organisation. Bitte wenden Sie sich an "
            "die Personalabteilung."
        ))
    if not user.active:
        raise NotAllowed(_(
            "Ihr tracker-Konto ist deaktiviert. Bitte wenden Sie sich an die Personalabteilung."
        ))
    _follow_directory(user, info, email)
    return user


def _follow_directory(user: User, info: IdentityInfo, email: str) -> None:
    first, last = _first(info, "first_name"), _first(info, "last_name")
    if first and first != user.first_name:
        user.first_name = first[:100]
    if last and last != user.last_name:
        user.last_name = last[:100]
    if email and email != user.email:
        other = accounts.find_user_by_email(email)
        if other is None:
            user.email = email
        else:
            log.warning("sign-in provider %s: new e-mail of user %s is taken by user %s",
                        user.auth_provider, user.id, other.id)


def sync_deactivations() -> dict[str, int]:
    """Deactivate the accounts whose directory no longer finds them; per provider, the
    number deactivated. A directory that cannot be asked is skipped, never emptied."""
    result: dict[str, int] = {}
    for entry in providers():
        identity_provider = multipass.identity_providers[entry.name]
        users = db.session.scalars(
            select(User).where(User.auth_provider == entry.name, User.active.is_(True))
        ).all()
        gone: list[User] = []
        try:
            for user in users:
                if identity_provider.get_identity(user.auth_identifier) is None:
                    gone.append(user)
        except Exception as exc:  # noqa: BLE001 - any failure: keep everyone as they are
            _log_broken(entry, exc)
            continue
        for user in gone:
            accounts.deactivate_user(user)
            audit.record(None, "user.deactivated_by_directory", "user", user.id,
                         organisation_id=user.organisation_id, details={"provider": entry.name})
        result[entry.name] = len(gone)
    return result
