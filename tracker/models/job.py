"""Files made for one person and kept in the database for a while: a large export built
by the worker, a staff-import preview between upload and confirmation.

They live in the database, not on one server's disk, so that every app server can show the
progress and hand out the file, whichever server took the request and whichever worker ran.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.base import utcnow


class JobKind(enum.StrEnum):
    EXPORT = "export"  # the participation workbook of a report selection
    IMPORT_PREVIEW = "import_preview"  # parsed rows of a staff list awaiting confirmation


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {
            JobState.QUEUED: lazy_gettext("wartet"),
            JobState.RUNNING: lazy_gettext("wird erstellt"),
            JobState.DONE: lazy_gettext("fertig"),
            JobState.FAILED: lazy_gettext("fehlgeschlagen"),
        }[self]

    @property
    def badge(self) -> str:
        return {JobState.QUEUED: "info", JobState.RUNNING: "info", JobState.DONE: "success",
                JobState.FAILED: "danger"}[self]


class StoredJob(db.Model):
    __tablename__ = "stored_job"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What names the job in URLs and sessions: random, so one person cannot guess another's.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default=JobState.QUEUED.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    # What the job was asked for (the report's filters, the parsed import rows) as JSON.
    request_json: Mapped[str] = mapped_column(Text, default="{}", deferred=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    filename: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The worker touches this while it writes: a running job that stops being touched died.
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)

    @property
    def state_enum(self) -> JobState:
        return JobState(self.state)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    def __repr__(self) -> str:
        return f"<StoredJob {self.id} {self.kind} {self.state} {self.progress}%>"
