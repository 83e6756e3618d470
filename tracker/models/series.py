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
    UniqueConstraint,
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
    # Default quotas for new sessions: seats reserved per organisation until this many days
    # before the session.
    quota_release_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    owner_organisation: Mapped[Organisation] = relationship()
    open_to: Mapped[list[Organisation]] = relationship(
        secondary=series_open_to, order_by=Organisation.name
    )
    coordinators: Mapped[list[User]] = relationship(secondary=series_coordinator)
    sessions: Mapped[list[TrainingSession]] = relationship(
        back_populates="series", order_by="TrainingSession.starts_at"
    )
    default_quotas: Mapped[list[SeriesQuota]] = relationship(
        cascade="all, delete-orphan", order_by="SeriesQuota.id")

    def __repr__(self) -> str:
        return f"<TrainingSeries {self.id} {self.title!r}>"


class TrainingSession(db.Model):
    __tablename__ = "training_session"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # Seats reserved for partner organisations: those taken from quotas are part of
        # seats_taken, and the free seats (capacity minus reserved) hold the rest.
        CheckConstraint("reserved_taken >= 0 AND reserved_taken <= reserved_seats "
                        "AND reserved_taken <= seats_taken", name="reserved_within_quotas"),
        CheckConstraint("seats_taken + reserved_seats - reserved_taken <= capacity",
                        name="quotas_within_capacity"),
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
    # While quotas hold (until quota_release_at): the seats reserved for partner organisations
    # (the sum of the session's quotas) and how many of them are taken. Changed, like
    # seats_taken, only by conditional UPDATEs in the enrolment service; both 0 without quotas
    # and after the release, when every seat is a free seat again.
    reserved_seats: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quota_release_at: Mapped[datetime | None] = mapped_column(DateTime)
    quotas_released_at: Mapped[datetime | None] = mapped_column(DateTime)
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
    quotas: Mapped[list[SessionQuota]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="SessionQuota.id")

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
        """Seats anybody may take: not taken and not reserved for an organisation."""
        if not self.has_quotas:
            return max(self.capacity - self.seats_taken, 0)
        return max(self.capacity - self.reserved_seats - (self.seats_taken - self.reserved_taken), 0)

    @property
    def quotas_due(self) -> bool:
        """The release time has come but the release has not run yet (the next write does)."""
        return (self.quotas_released_at is None and self.quota_release_at is not None
                and self.quota_release_at <= utcnow())

    @property
    def has_quotas(self) -> bool:
        """Whether seats are reserved for organisations now (until the release)."""
        return self.reserved_seats > 0 and self.quotas_released_at is None and not self.quotas_due

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def __repr__(self) -> str:
        return f"<TrainingSession {self.id} {self.title!r} {self.starts_at:%Y-%m-%d}>"


class SessionQuota(db.Model):
    """Seats of a session reserved for one partner organisation until the release time."""

    __tablename__ = "session_quota"
    __table_args__ = (
        UniqueConstraint("session_id", "organisation_id", name="uq_session_quota"),
        CheckConstraint("seats >= 0 AND seats_taken >= 0 AND seats_taken <= seats",
                        name="quota_seats_within"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("training_session.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    seats: Mapped[int] = mapped_column(Integer)
    # Taken by the organisation's people; changed only by a conditional UPDATE. After the
    # release it stays as it was then (how the quota was used).
    seats_taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    session: Mapped[TrainingSession] = relationship(back_populates="quotas")
    organisation: Mapped[Organisation] = relationship()

    @property
    def seats_left(self) -> int:
        return max(self.seats - self.seats_taken, 0)


class SeriesQuota(db.Model):
    """A series' default quota: copied into each new session of the series."""

    __tablename__ = "series_quota"
    __table_args__ = (
        UniqueConstraint("series_id", "organisation_id", name="uq_series_quota"),
        CheckConstraint("seats >= 0", name="series_quota_seats"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("training_series.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    seats: Mapped[int] = mapped_column(Integer)

    organisation: Mapped[Organisation] = relationship()
