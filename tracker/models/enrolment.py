"""A person's place in a session: enrolled, on the waiting list, cancelled, or walk-in."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.base import utcnow
from tracker.models.organisation import Organisation
from tracker.models.series import TrainingSession
from tracker.models.user import User


class EnrolmentState(enum.StrEnum):
    ENROLLED = "enrolled"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    # Came without enrolling; added by HR on the attendance sheet, holds no seat.
    WALK_IN = "walk_in"

    @property
    def label(self) -> str:
        """The word pages, the audit log and the person's own data download use."""
        return {
            EnrolmentState.ENROLLED: lazy_gettext("angemeldet"),
            EnrolmentState.WAITLISTED: lazy_gettext("auf der Warteliste"),
            EnrolmentState.CANCELLED: lazy_gettext("storniert"),
            EnrolmentState.WALK_IN: lazy_gettext("ohne Anmeldung teilgenommen"),
        }[self]


class CancelReason(enum.StrEnum):
    SELF = "self"  # the person cancelled
    STAFF = "staff"  # HR removed the person
    SESSION_CANCELLED = "session_cancelled"  # the organiser cancelled the session

    @property
    def label(self) -> str:
        return {
            CancelReason.SELF: lazy_gettext("selbst abgemeldet"),
            CancelReason.STAFF: lazy_gettext("von der Personalstelle abgemeldet"),
            CancelReason.SESSION_CANCELLED: lazy_gettext("Termin abgesagt"),
        }[self]


class Enrolment(db.Model):
    __tablename__ = "enrolment"
    __table_args__ = (
        # One live enrolment per person and session, enforced by the database.
        Index(
            "uq_enrolment_live",
            "user_id",
            "session_id",
            unique=True,
            sqlite_where=text("state != 'cancelled'"),
            postgresql_where=text("state != 'cancelled'"),
        ),
        Index("ix_enrolment_session_state", "session_id", "state", "waitlist_seq"),
        Index("ix_enrolment_user_state", "user_id", "state"),
        Index("ix_enrolment_organisation", "organisation_id"),
        Index("ix_enrolment_quota_organisation", "quota_organisation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("training_session.id"))
    # The person's organisation when they enrolled: history stays true after a job change.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    state: Mapped[str] = mapped_column(String(20))
    # The organisation whose quota gave the person her seat; None for a free seat.
    quota_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    # Ticket on the waiting list (from TrainingSession.waitlist_seq); the queue's order.
    waitlist_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Set when the person has seen the news of a promotion ("Sie haben einen Platz erhalten").
    promotion_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(30))
    # HR staff who enrolled the person on their behalf, if any.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    session: Mapped[TrainingSession] = relationship()
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def is_walk_in(self) -> bool:
        return self.state == EnrolmentState.WALK_IN

    def __repr__(self) -> str:
        return f"<Enrolment {self.id} user={self.user_id} session={self.session_id} {self.state}>"
