"""Accounts: creating people, passwords, login checks and session tokens."""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from tracker.extensions import db
from tracker.models import Organisation, Role, User
from tracker.models.user import new_session_token
from tracker.services import Conflict, ServiceError

MIN_PASSWORD_LENGTH = 10
# Compared against when the e-mail is unknown, so that both cases take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


# What never belongs in a name: control characters, and every character XML 1.0 forbids
# (U+FFFE, U+FFFF, lone surrogates), which would leave an exported workbook ill-formed: one
# such cell made LibreOffice drop every row from it on, without a warning.
_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def name_is_clean(text: str) -> bool:
    return not _NOT_IN_NAMES.search(text or "")


def clean_name(text: str) -> str:
    """The name without the characters `name_is_clean` refuses (for lists read from files)."""
    return _NOT_IN_NAMES.sub("", text or "").strip()


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (never says which failed)."""
    user = find_user_by_email(email)
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    if not user.active:
        return None
    return user


def set_password(user: User, password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ServiceError(_(
            "Das Passwort muss mindestens %(n)s Zeichen lang sein.", n=MIN_PASSWORD_LENGTH
        ))
    # Tests set a cheap method; production keeps werkzeug's default (scrypt).
    method = current_app.config.get("PASSWORD_HASH_METHOD") or "scrypt"
    user.password_hash = generate_password_hash(password, method=method)
    rotate_session_token(user)


def rotate_session_token(user: User) -> None:
    """Invalidate every login cookie issued so far for this user."""
    user.session_token = new_session_token()


def create_user(
    *,
    email: str,
    first_name: str,
    last_name: str,
    organisation: Organisation,
    role: Role | str = Role.EMPLOYEE,
    password: str | None = None,
) -> User:
    email = normalise_email(email)
    if find_user_by_email(email) is not None:
        raise Conflict(_("Diese E-Mail-Adresse ist bereits vergeben."))
    user = User(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        organisation=organisation,
        role=str(role),
    )
    if password:
        set_password(user, password)
    db.session.add(user)
    db.session.flush()
    return user


def deactivate_user(user: User) -> None:
    user.active = False
    rotate_session_token(user)


def set_locale(user: User, lang: str) -> None:
    """The language of the person's mails."""
    if user.locale != lang:
        user.locale = lang


def set_reminders(user: User, wanted: bool) -> None:
    """Reminders before a session can be turned off; every other mail still goes."""
    user.wants_reminders = bool(wanted)
