"""An issued certificate of participation ("Teilnahmebescheinigung").

What a certificate said is stored when it is issued and never changed afterwards: a later
change of the person's name or of the session leaves the issued text as it was. Issuing
again after such a change makes a new version that names the one it replaces. The random
code is what the printed verification address and its QR code carry.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.base import utcnow


class Certificate(db.Model):
    __tablename__ = "certificate"
    __table_args__ = (UniqueConstraint("enrolment_id", "version", name="uq_certificate_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when a newer version replaces this one, or when the person is anonymised.
    replaced_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The snapshot of what the certificate says (JSON); emptied when it is revoked.
    content_json: Mapped[str] = mapped_column(Text, default="{}")

    replaces: Mapped[Certificate | None] = relationship(remote_side=[id])

    @property
    def content(self) -> dict:
        return json.loads(self.content_json or "{}")

    def __repr__(self) -> str:
        return f"<Certificate {self.id} v{self.version} enrolment={self.enrolment_id}>"
