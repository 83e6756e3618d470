"""Time zone helpers: the database keeps naive UTC, people see Europe/Berlin."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from tracker.models.base import utcnow

BERLIN = ZoneInfo("Europe/Berlin")

__all__ = ["BERLIN", "from_local", "local_day_bounds", "to_local", "utcnow"]


def to_local(value: datetime) -> datetime:
    """Naive UTC from the database to an aware Europe/Berlin datetime."""
    return value.replace(tzinfo=UTC).astimezone(BERLIN)


def from_local(value: datetime) -> datetime:
    """A wall-clock time in Berlin (naive or aware) to naive UTC for the database."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=BERLIN)
    return value.astimezone(UTC).replace(tzinfo=None)


def local_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """Naive UTC [start, end) covering the Berlin calendar days first..last."""
    start = from_local(datetime.combine(first, time.min))
    end = from_local(datetime.combine(last, time.max))
    return start, end
