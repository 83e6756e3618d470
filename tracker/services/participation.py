"""What counts as a participation (Teilnahme): defined once, used by every page and report."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from tracker.models import AttendanceMark, AttendanceStatus


def is_participation() -> ColumnElement[bool]:
    """SQL condition on AttendanceMark selecting participations (see
    AttendanceStatus.counts_as_participation)."""
    return or_(*(AttendanceMark.status == status for status in AttendanceStatus.participations()))
