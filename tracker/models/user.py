"""People who use tracker: employees, HR staff, HR leads and administrators."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_babel import lazy_gettext
from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from tracker.extensions import db
from tracker.models.base import utcnow
from tracker.models.organisation import Organisation


class Role(enum.StrEnum):
    EMPLOYEE = "employee"
    HR_STAFF = "hr_staff"
    HR_LEAD = "hr_lead"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {
            Role.EMPLOYEE: lazy_gettext("Beschäftigte"),
            Role.HR_STAFF: lazy_gettext("Personalsachbearbeitung"),
            Role.HR_LEAD: lazy_gettext("Personalleitung"),
            Role.ADMIN: lazy_gettext("Administration"),
        }[self]


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    # One tracker account per directory identity (see tracker/sign_in.py).
    # A unique index rather than a constraint: SQLite adds it without rebuilding the table.
    __table_args__ = (
        Index("ix_user_account_auth_identity", "auth_provider", "auth_identifier", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see validate_email), so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default=Role.EMPLOYEE.value, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    # Changed by logout, password change and deactivation: a copied cookie stops working.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    # The language the person chose ("de", "en"); mails are written in it. None: German.
    locale: Mapped[str | None] = mapped_column(String(5))
    # Reminders before a session can be turned off; confirmations and changes always go.
    wants_reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The partner directory this account signs in with (the provider's `name` in
    # AUTH_CONFIG) and the person's identifier there; None for local passwords only.
    auth_provider: Mapped[str | None] = mapped_column(String(60))
    auth_identifier: Mapped[str | None] = mapped_column(String(254))

    organisation: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)

    @validates("email")
    def validate_email(self, _key: str, value: str) -> str:
        return value.strip().lower()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def sort_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        # The token is part of the id Flask-Login keeps in the session cookie, so a cookie
        # minted before a logout or password change no longer loads the user.
        return f"{self.id}:{self.session_token}"

    def has_role(self, *roles: Role | str) -> bool:
        return self.role in {str(r) for r in roles}

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r} {self.role}>"
