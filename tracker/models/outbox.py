"""The outbox: every mail tracker sends, recorded with the change that causes it.

A mail row is added in the same transaction as the enrolment, cancellation or password link
it tells of (a transactional outbox): a change that rolls back sends nothing, one that
commits is delivered by the background worker even if the app server dies right after.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.base import utcnow
from tracker.models.user import User


class MailState(enum.StrEnum):
    PENDING = "pending"  # waits for the worker (or for its next attempt)
    SENDING = "sending"  # claimed by one worker until `claimed_until`
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # given up after the retry window; `last_error` says why
    HELD = "held"  # no mail server configured: kept for admins to read

    @property
    def label(self) -> str:
        return {
            MailState.PENDING: lazy_gettext("wartet auf Versand"),
            MailState.SENDING: lazy_gettext("wird versendet"),
            MailState.SENT: lazy_gettext("versendet"),
            MailState.FAILED: lazy_gettext("fehlgeschlagen"),
            MailState.HELD: lazy_gettext("nicht versendet (kein Mailserver)"),
        }[self]

    @property
    def badge(self) -> str:
        return {
            MailState.PENDING: "info",
            MailState.SENDING: "info",
            MailState.SENT: "success",
            MailState.FAILED: "danger",
            MailState.HELD: "warning",
        }[self]


class OutboxMail(db.Model):
    __tablename__ = "outbox_mail"
    __table_args__ = (
        # The worker's question: what is due now?
        Index("ix_outbox_mail_state_due", "state", "next_attempt_at"),
        Index("ix_outbox_mail_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # An iCalendar attachment (METHOD:REQUEST or CANCEL), if the mail carries one.
    ics: Mapped[str | None] = mapped_column(Text)
    ics_method: Mapped[str | None] = mapped_column(String(10))
    # Mails that must go once however often a scheduler asks (reminders): unique when set.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    state: Mapped[str] = mapped_column(String(10), default=MailState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User | None] = relationship()

    @property
    def state_enum(self) -> MailState:
        return MailState(self.state)

    def __repr__(self) -> str:
        return f"<OutboxMail {self.id} {self.kind} to={self.to_address!r} {self.state}>"
