"""Attendance marks per enrolment, with the audit trail of every change."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.base import utcnow
from tracker.models.enrolment import Enrolment
from tracker.models.user import User


class AttendanceStatus(enum.StrEnum):
    """What HR staff can mark, with everything that belongs to a status.

    Pages, counts, reports and the export loop over the members, so a new status is added
    here (with its translation, a migration if stored values change, and its tests)."""

    PRESENT = "present"
    EXCUSED = "excused"
    ABSENT = "absent"

    @property
    def label(self) -> str:
        """The word the buttons, badges, reports and exports use, in the current language."""
        return {
            AttendanceStatus.PRESENT: lazy_gettext("anwesend"),
            AttendanceStatus.EXCUSED: lazy_gettext("entschuldigt"),
            AttendanceStatus.ABSENT: lazy_gettext("unentschuldigt"),
        }[self]

    @property
    def badge(self) -> str:
        """KERN's badge kind (kern-badge--<badge>); the colour only repeats the label."""
        return {
            AttendanceStatus.PRESENT: "success",
            AttendanceStatus.EXCUSED: "warning",
            AttendanceStatus.ABSENT: "danger",
        }[self]

    @property
    def keys(self) -> tuple[str, str]:
        """Keyboard keys that press the status's button on the sheet: a letter, a digit."""
        return {
            AttendanceStatus.PRESENT: ("a", "1"),
            AttendanceStatus.EXCUSED: ("e", "2"),
            AttendanceStatus.ABSENT: ("u", "3"),
        }[self]

    @property
    def counts_as_participation(self) -> bool:
        """A participation (Teilnahme) is an attended session, walk-ins included; excused
        and absent marks are not participations."""
        return self is AttendanceStatus.PRESENT

    @classmethod
    def participations(cls) -> tuple[AttendanceStatus, ...]:
        return tuple(status for status in cls if status.counts_as_participation)


class AttendanceMark(db.Model):
    """The current status of one enrolment; its history is in AttendanceChange."""

    __tablename__ = "attendance_mark"
    __table_args__ = (Index("ix_attendance_mark_session_status", "session_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), unique=True)
    # Denormalised from the enrolment so that counts per session need no join.
    session_id: Mapped[int] = mapped_column(ForeignKey("training_session.id"))
    status: Mapped[str] = mapped_column(String(20))
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    marked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Bumped on every change; lets concurrent clicks be ordered and detected.
    version: Mapped[int] = mapped_column(Integer, default=1)

    enrolment: Mapped[Enrolment] = relationship(backref=db.backref("mark", uselist=False))
    marked_by: Mapped[User | None] = relationship()


class AttendanceChange(db.Model):
    """One change of an attendance mark: who, when, from what to what."""

    __tablename__ = "attendance_change"
    __table_args__ = (Index("ix_attendance_change_enrolment", "enrolment_id", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"))
    old_status: Mapped[str | None] = mapped_column(String(20))
    new_status: Mapped[str | None] = mapped_column(String(20))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    enrolment: Mapped[Enrolment] = relationship()
    changed_by: Mapped[User | None] = relationship()
