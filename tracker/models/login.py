"""Failed logins, recorded in the database so that every worker and server counts the same."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.base import utcnow


class FailedLogin(db.Model):
    """One wrong password (or unknown e-mail) from one address, as django-axes records it."""

    __tablename__ = "failed_login"
    __table_args__ = (
        Index("ix_failed_login_login_address", "login", "address", "attempted_at"),
        Index("ix_failed_login_address", "address", "attempted_at"),
        Index("ix_failed_login_attempted_at", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(254))  # the e-mail as typed, lower-cased
    address: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
