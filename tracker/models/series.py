"""Training series (Reihe) and their sessions (Termine)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.base import utcnow
from tracker.models.organisation import Organisation
from tracker.models.user import User

# Which partner organisations' staff may enrol in a series.
series_open_to = Table(
    "series_open_to",
    db.metadata,
    Column("series_id", ForeignKey("training_series.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "organisation_id",
        ForeignKey("organisation.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# People who coordinate a series across partners: they may mark attendance and see names.
series_coordinator = Table(
    "series_coordinator",
    db.metadata,
    Column("series_id", ForeignKey("training_series.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class TrainingSeries(db.Model):
    __tablename__ = "training_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # The organisation that runs the series; its HR manages it and marks attendance.
    owner_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days before a session its people get a reminder by mail; 0 sends none.
    reminder_days: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    owner_organisation: Mapped[Organisation] = relationship()
    open_to: Mapped[list[Organisation]] = relationship(
        secondary=series_open_to, order_by=Organisation.name
    )
    coordinators: Mapped[list[User]] = relationship(secondary=series_coordinator)
    sessions: Mapped[list[TrainingSession]] = relationship(
        back_populates="series", order_by="TrainingSession.starts_at"
    )

    def __repr__(self) -> str:
        return f"<TrainingSeries {self.id} {self.title!r}>"


class TrainingSession(db.Model):
    __tablename__ = "training_session"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_training_session_series_starts", "series_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("training_series.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Naive UTC; shown in Europe/Berlin.
    starts_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    enrolment_deadline: Mapped[datetime] = mapped_column(DateTime)
    location: Mapped[str] = mapped_column(String(200), default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    trainer: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int] = mapped_column(Integer)
    # Seats held by enrolled people; changed only by a conditional UPDATE in the enrolment
    # service, so capacity holds under concurrency (the CHECK is the last line of defence).
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    # Next waiting-list ticket; the order of the queue, never reused.
    waitlist_seq: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Attendance closed ("abgeschlossen"): afterwards only an HR lead or admin changes marks.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # Raised whenever time or place change: calendar programs replace an entry only when a
    # newer SEQUENCE arrives with the same UID.
    ics_sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    series: Mapped[TrainingSeries] = relationship(back_populates="sessions")

    # The deadlines of a session, in one place. Employees enrol and cancel until the
    # enrolment deadline (HR staff until the start); attendance can be marked from the start.
    # Hybrid, so that a query filters by the same rule: TrainingSession.enrol_until > now.
    @hybrid_property
    def enrol_until(self) -> datetime:
        return self.enrolment_deadline

    @hybrid_property
    def cancel_until(self) -> datetime:
        return self.enrolment_deadline

    @hybrid_property
    def marking_opens_at(self) -> datetime:
        return self.starts_at

    @property
    def hours(self) -> float:
        return round((self.ends_at - self.starts_at).total_seconds() / 3600, 2)

    @property
    def free_seats(self) -> int:
        return max(self.capacity - self.seats_taken, 0)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def __repr__(self) -> str:
        return f"<TrainingSession {self.id} {self.title!r} {self.starts_at:%Y-%m-%d}>"
