"""All models, imported here so Alembic's autogenerate sees every table."""

from tracker.models.attendance import AttendanceChange, AttendanceMark, AttendanceStatus
from tracker.models.audit import AuditEntry, PasswordResetToken
from tracker.models.base import utcnow
from tracker.models.certificate import Certificate
from tracker.models.enrolment import CancelReason, Enrolment, EnrolmentState
from tracker.models.job import JobKind, JobState, StoredJob
from tracker.models.login import FailedLogin
from tracker.models.organisation import Organisation
from tracker.models.outbox import MailState, OutboxMail
from tracker.models.series import (
    SeriesQuota,
    SessionQuota,
    TrainingSeries,
    TrainingSession,
    series_coordinator,
    series_open_to,
)
from tracker.models.user import Role, User

__all__ = [
    "AttendanceChange",
    "AttendanceMark",
    "AttendanceStatus",
    "FailedLogin",
    "JobKind",
    "JobState",
    "AuditEntry",
    "CancelReason",
    "Certificate",
    "Enrolment",
    "EnrolmentState",
    "MailState",
    "Organisation",
    "OutboxMail",
    "PasswordResetToken",
    "Role",
    "SeriesQuota",
    "SessionQuota",
    "StoredJob",
    "TrainingSeries",
    "TrainingSession",
    "User",
    "series_coordinator",
    "series_open_to",
    "utcnow",
]
