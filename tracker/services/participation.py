"""What counts as a participation (Teilnahme): defined once, used by every page and report."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from tracker.models import AttendanceMark, AttendanceStatus

# A participation is an attended session: an attendance mark "present" (anwesend), whether the
# person was enrolled or came as a walk-in. Excused and absent marks are not participations.
PARTICIPATION_STATUS = AttendanceStatus.PRESENT


def is_participation() -> ColumnElement[bool]:
    """SQL condition on AttendanceMark selecting participations."""
    return AttendanceMark.status == PARTICIPATION_STATUS
