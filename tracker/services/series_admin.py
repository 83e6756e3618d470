"""Running series: create and edit series and sessions, cancel sessions, copy a series.

Capacity changes and cancelling a session go through tracker.services.enrolment, which owns
the seat and waiting-list rules; this module only adds the administrative checks and the
audit entries.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from dateutil.rrule import MONTHLY, WEEKLY, rrule, weekday
from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from tracker.extensions import db
from tracker.i18n import format_date, format_datetime
from tracker.models import (
    Enrolment,
    EnrolmentState,
    Organisation,
    SeriesQuota,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import NotAllowed, ServiceError, access, audit, enrolment, notify, quotas
from tracker.timeutil import from_local, to_local

MAX_CAPACITY = 10000
# When a form leaves the enrolment deadline empty: this many days before the start, at the
# same time of day (what the partners agreed for Vielfaltsmontag).
DEFAULT_DEADLINE_DAYS = 2


@dataclass
class SessionData:
    """What a session form gives: times are naive UTC already (converted from Berlin)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    enrolment_deadline: datetime
    capacity: int
    description: str = ""
    location: str = ""
    online_url: str = ""
    trainer: str = ""


# --- Lists ----------------------------------------------------------------------------------


def manageable_series(actor: User, *, q: str = "", organisation_id: int | None = None) -> Select:
    """The series `actor` manages, newest first, narrowed by a search (for db.paginate)."""
    query = (
        select(TrainingSeries).join(TrainingSeries.owner_organisation)
        .options(contains_eager(TrainingSeries.owner_organisation),
                 selectinload(TrainingSeries.open_to))
    )
    if not actor.is_admin:
        query = query.where(TrainingSeries.owner_organisation_id == actor.organisation_id)
    elif organisation_id:
        query = query.where(TrainingSeries.owner_organisation_id == organisation_id)
    if q:
        needle = f"%{q.lower()}%"
        query = query.where(or_(func.lower(TrainingSeries.title).like(needle),
                                func.lower(Organisation.name).like(needle)))
    return query.order_by(TrainingSeries.archived, TrainingSeries.created_at.desc(),
                          TrainingSeries.id.desc())


def session_stats(series_ids: list[int]) -> dict[int, tuple[int, datetime | None, datetime | None]]:
    """{series id: (number of sessions, first start, last start)} in one query."""
    if not series_ids:
        return {}
    rows = db.session.execute(
        select(TrainingSession.series_id, func.count(TrainingSession.id),
               func.min(TrainingSession.starts_at), func.max(TrainingSession.starts_at))
        .where(TrainingSession.series_id.in_(series_ids))
        .group_by(TrainingSession.series_id)
    )
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def series_sessions(series: TrainingSeries) -> Select:
    return (select(TrainingSession).where(TrainingSession.series_id == series.id)
            .order_by(TrainingSession.starts_at.desc(), TrainingSession.id.desc()))


# --- Series ---------------------------------------------------------------------------------


_EMAIL_SPLIT = re.compile(r"[\s,;]+")


def parse_coordinators(text: str, *, actor: User, current: list[User] = ()) -> list[User]:
    """People named by e-mail (one per line, or separated by commas); unknown ones refused.

    An HR lead names people of her own organisation, and keeps those already named: whether
    an address exists in another organisation is not hers to learn, so such an address is
    answered like an unknown one (coordinators of other partners are named by an admin)."""
    emails = []
    for part in _EMAIL_SPLIT.split(text or ""):
        email = part.strip().lower()
        if email and email not in emails:
            emails.append(email)
    if not emails:
        return []
    if len(emails) > 50:
        raise ServiceError(_("Bitte geben Sie höchstens 50 Personen für die Koordination an."))
    query = select(User).where(User.email.in_(emails))
    if not actor.is_admin:
        query = query.where(or_(User.organisation_id == actor.organisation_id,
                                User.id.in_([u.id for u in current])))
    users = list(db.session.scalars(query))
    found = {u.email for u in users}
    unknown = [e for e in emails if e not in found]
    if unknown:
        raise ServiceError(_("Unbekannte E-Mail-Adresse: %(emails)s",
                              emails=", ".join(unknown[:5])))
    inactive = [u.email for u in users if not u.active]
    if inactive:
        raise ServiceError(_("Diese Person ist deaktiviert: %(emails)s",
                              emails=", ".join(inactive[:5])))
    return sorted(users, key=lambda u: emails.index(u.email))


def _check_owner(actor: User, owner: Organisation) -> None:
    if not actor.is_admin and owner.id != actor.organisation_id:
        raise NotAllowed(_("Sie dürfen nur Reihen Ihrer eigenen Organisation verwalten."))
    if not owner.active:
        raise ServiceError(_("Diese Organisation ist deaktiviert."))


def _clean_series(title: str, open_to: list[Organisation]) -> str:
    title = (title or "").strip()
    if not title:
        raise ServiceError(_("Bitte geben Sie einen Titel ein."))
    if len(title) > 200:
        raise ServiceError(_("Der Titel ist zu lang (höchstens 200 Zeichen)."))
    if not open_to:
        raise ServiceError(_("Bitte wählen Sie mindestens eine Organisation, die sich anmelden darf."))
    return title


def create_series(
    *, actor: User, title: str, description: str, owner: Organisation,
    open_to: list[Organisation], coordinators: list[User], reminder_days: int | None = None,
) -> TrainingSeries:
    _check_owner(actor, owner)
    title = _clean_series(title, open_to)
    series = TrainingSeries(title=title, description=(description or "").strip(),
                            owner_organisation=owner, open_to=list(open_to),
                            coordinators=list(coordinators), archived=False,
                            reminder_days=2 if reminder_days is None else reminder_days)
    db.session.add(series)
    db.session.flush()
    audit.record(actor, "series.create", "series", series.id, organisation_id=owner.id,
                 details={"title": title, "open_to": [o.id for o in open_to],
                          "coordinators": [u.id for u in coordinators]})
    return series


def update_series(
    series: TrainingSeries, *, actor: User, title: str, description: str, owner: Organisation,
    open_to: list[Organisation], coordinators: list[User], archived: bool,
    reminder_days: int | None = None,
) -> None:
    if not access.can_manage_series(actor, series):
        raise NotAllowed(_("Sie dürfen diese Reihe nicht bearbeiten."))
    if owner.id != series.owner_organisation_id:
        _check_owner(actor, owner)
    title = _clean_series(title, open_to)
    details = audit.changes(series, {"title": title, "description": (description or "").strip(),
                                     "owner_organisation_id": owner.id, "archived": archived,
                                     "reminder_days": (series.reminder_days
                                                       if reminder_days is None
                                                       else reminder_days)})
    old_open = sorted(o.id for o in series.open_to)
    new_open = sorted(o.id for o in open_to)
    if old_open != new_open:
        details["open_to"] = [old_open, new_open]
    old_coord = sorted(u.id for u in series.coordinators)
    new_coord = sorted(u.id for u in coordinators)
    if old_coord != new_coord:
        details["coordinators"] = [old_coord, new_coord]
    if not details:
        return
    series.title = title
    series.description = (description or "").strip()
    series.owner_organisation = owner
    series.archived = archived
    if reminder_days is not None:
        series.reminder_days = reminder_days
    series.open_to = list(open_to)
    series.coordinators = list(coordinators)
    db.session.flush()
    audit.record(actor, "series.update", "series", series.id, organisation_id=owner.id,
                 details=details)


# --- Sessions -------------------------------------------------------------------------------


def _validate_session(data: SessionData) -> SessionData:
    data.title = (data.title or "").strip()
    data.location = (data.location or "").strip()
    data.online_url = (data.online_url or "").strip()
    data.trainer = (data.trainer or "").strip()
    data.description = (data.description or "").strip()
    if not data.title:
        raise ServiceError(_("Bitte geben Sie einen Titel ein."))
    if data.ends_at <= data.starts_at:
        raise ServiceError(_("Das Ende muss nach dem Beginn liegen."))
    if data.enrolment_deadline > data.starts_at:
        raise ServiceError(_("Der Anmeldeschluss darf nicht nach dem Beginn liegen."))
    if isinstance(data.capacity, bool) or not isinstance(data.capacity, int) or data.capacity < 1:
        raise ServiceError(_("Die Zahl der Plätze muss mindestens 1 sein."))
    if data.capacity > MAX_CAPACITY:
        raise ServiceError(_("Die Zahl der Plätze darf höchstens %(n)s betragen.", n=MAX_CAPACITY))
    if not data.location and not data.online_url:
        raise ServiceError(_("Bitte geben Sie einen Ort oder einen Online-Link an."))
    if data.online_url and not data.online_url.lower().startswith(("https://", "http://")):
        raise ServiceError(_("Der Online-Link muss mit https:// beginnen."))
    return data


def create_session(series: TrainingSeries, data: SessionData, *, actor: User) -> TrainingSession:
    if not access.can_manage_series(actor, series):
        raise NotAllowed(_("Sie dürfen in dieser Reihe keine Termine anlegen."))
    data = _validate_session(data)
    if data.starts_at <= utcnow():
        raise ServiceError(_("Ein neuer Termin muss in der Zukunft liegen."))
    session = TrainingSession(series=series, seats_taken=0, waitlist_seq=0, **asdict(data))
    db.session.add(session)
    quotas.apply_series_defaults(session)
    db.session.flush()
    audit.record(actor, "session.create", "session", session.id,
                 organisation_id=series.owner_organisation_id,
                 details={"series_id": series.id, **asdict(data)})
    return session


# What people have in their calendars: a change of these is mailed to everyone concerned.
CALENDAR_FIELDS = {"starts_at", "ends_at", "location", "online_url"}


def update_session(session: TrainingSession, data: SessionData, *, actor: User) -> list[Enrolment]:
    """Change a session; a new capacity goes through the enrolment rules (promotions)."""
    if not access.can_manage_series(actor, session.series):
        raise NotAllowed(_("Sie dürfen diesen Termin nicht bearbeiten."))
    if session.cancelled_at is not None:
        raise ServiceError(_("Dieser Termin wurde abgesagt und kann nicht mehr bearbeitet werden."))
    data = _validate_session(data)
    if session.has_quotas and session.quota_release_at >= data.starts_at:
        raise ServiceError(_("Die Kontingente werden erst am %(when)s freigegeben, nach dem neuen "
                             "Beginn. Bitte ändern Sie zuerst die Freigabe der Kontingente.",
                             when=format_datetime(session.quota_release_at, "short")))
    fields = asdict(data)
    new_capacity = fields.pop("capacity")
    old_capacity = session.capacity
    details = audit.changes(session, fields)
    if details:
        for key, value in fields.items():
            setattr(session, key, value)
        if details.keys() & CALENDAR_FIELDS:
            # Calendars replace the entry only for a higher SEQUENCE with the same UID.
            session.ics_sequence = (session.ics_sequence or 0) + 1
        db.session.flush()
        audit.record(actor, "session.update", "session", session.id,
                     organisation_id=session.series.owner_organisation_id, details=details)
        if details.keys() & CALENDAR_FIELDS:
            notify.session_changed(session)
    promoted: list[Enrolment] = []
    if new_capacity != old_capacity:
        promoted = enrolment.change_capacity(session, new_capacity, actor=actor)
        audit.record(actor, "session.capacity", "session", session.id,
                     organisation_id=session.series.owner_organisation_id,
                     details={"capacity": [old_capacity, new_capacity],
                              "promoted": [e.id for e in promoted]})
    return promoted


def cancel_session(session: TrainingSession, *, actor: User) -> int:
    """Cancel through the enrolment rules (enrolments kept, cancelled by the organiser);
    returns how many people were affected."""
    affected = db.session.scalar(
        select(func.count(Enrolment.id)).where(
            Enrolment.session_id == session.id,
            Enrolment.state.in_([EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED]),
        )
    ) or 0
    org_id = session.series.owner_organisation_id
    enrolment.cancel_session(session, actor=actor)
    audit.record(actor, "session.cancel", "session", session.id, organisation_id=org_id,
                 details={"affected": affected})
    return affected


# --- Copy a series to a new period ----------------------------------------------------------


def _shift(value: datetime, days: int) -> datetime:
    """Shift by whole days on the Berlin wall clock, so 14:00 stays 14:00 across DST."""
    local = to_local(value).replace(tzinfo=None) + timedelta(days=days)
    return from_local(local)


def copy_plan(series: TrainingSeries, days: int) -> list[tuple[TrainingSession, datetime, datetime]]:
    """Every session of `series` that was not cancelled, with its start and end shifted by
    `days` (what the copy form shows before saving)."""
    return [(s, _shift(s.starts_at, days), _shift(s.ends_at, days))
            for s in series.sessions if s.cancelled_at is None]


def copy_offset(series: TrainingSeries, *, offset_days: int | None, first_day: date | None) -> int:
    if offset_days is not None:
        return offset_days
    first = next((s for s in series.sessions if s.cancelled_at is None), None)
    if first is None or first_day is None:
        raise ServiceError(_("Die Reihe hat keine Termine; bitte geben Sie eine Verschiebung an."))
    return (first_day - to_local(first.starts_at).date()).days


def copy_series(
    series: TrainingSeries, *, actor: User, title: str, offset_days: int | None = None,
    first_day: date | None = None, session_ids: set[int] | None = None,
) -> TrainingSeries:
    """A new series with the same partners and coordinators and the sessions that were not
    cancelled (those in `session_ids`, or all), shifted by whole days; the new sessions start
    empty (no seats, no enrolments)."""
    if not access.can_manage_series(actor, series):
        raise NotAllowed(_("Sie dürfen diese Reihe nicht kopieren."))
    days = copy_offset(series, offset_days=offset_days, first_day=first_day)
    if days == 0:
        raise ServiceError(_("Die Verschiebung darf nicht 0 Tage sein."))
    sessions = [s for s in series.sessions if s.cancelled_at is None
                and (session_ids is None or s.id in session_ids)]
    if session_ids is not None and not sessions:
        raise ServiceError(_("Bitte wählen Sie mindestens einen Termin, der kopiert wird."))
    now = utcnow()
    shifted = [(s, _shift(s.starts_at, days)) for s in sessions]
    if any(start <= now for _s, start in shifted):
        raise ServiceError(
            _("Nach der Verschiebung lägen Termine in der Vergangenheit. Bitte wählen Sie ein "
              "späteres Datum.")
        )
    title = _clean_series(title, series.open_to)
    copy = TrainingSeries(
        title=title, description=series.description, owner_organisation_id=series.owner_organisation_id,
        open_to=list(series.open_to), coordinators=list(series.coordinators), archived=False,
        reminder_days=series.reminder_days, quota_release_days=series.quota_release_days,
        default_quotas=[SeriesQuota(organisation_id=q.organisation_id, seats=q.seats)
                        for q in series.default_quotas],
    )
    db.session.add(copy)
    for source, start in shifted:
        copy.sessions.append(TrainingSession(
            title=source.title, description=source.description, starts_at=start,
            ends_at=_shift(source.ends_at, days),
            enrolment_deadline=_shift(source.enrolment_deadline, days),
            location=source.location, online_url=source.online_url, trainer=source.trainer,
            capacity=source.capacity, seats_taken=0, waitlist_seq=0,
        ))
    for session in copy.sessions:
        quotas.apply_series_defaults(session)
    db.session.flush()
    audit.record(actor, "series.copy", "series", copy.id,
                 organisation_id=series.owner_organisation_id,
                 details={"from_series": series.id, "offset_days": days,
                          "sessions": len(shifted), "title": title})
    return copy


# --- Regular sessions: "every first Monday, 14:00-16:00, February to November" ---------------

RHYTHMS = ("weekly", "1", "2", "3", "4", "last")
MAX_REGULAR_SESSIONS = 100
MAX_REGULAR_RANGE_DAYS = 731


def regular_dates(*, day_of_week: int, rhythm: str, first_day: date, last_day: date) -> list[date]:
    """The days from `first_day` to `last_day` that fall on `day_of_week` (0 = Monday), every
    week or on its n-th (or last) occurrence in each month."""
    if rhythm not in RHYTHMS or not 0 <= day_of_week <= 6:
        raise ServiceError(_("Bitte wählen Sie einen Wochentag und einen Rhythmus aus der Liste."))
    if last_day < first_day:
        raise ServiceError(_("Das Ende des Zeitraums liegt vor seinem Anfang."))
    if (last_day - first_day).days > MAX_REGULAR_RANGE_DAYS:
        raise ServiceError(_("Der Zeitraum darf höchstens zwei Jahre umfassen."))
    day = weekday(day_of_week)
    if rhythm == "weekly":
        rule = rrule(WEEKLY, byweekday=day, dtstart=first_day, until=last_day)
    else:
        rule = rrule(MONTHLY, byweekday=day(-1 if rhythm == "last" else int(rhythm)),
                     dtstart=first_day, until=last_day)
    dates = [moment.date() for moment in rule]
    if not dates:
        raise ServiceError(_("In diesem Zeitraum liegt kein solcher Termin."))
    if len(dates) > MAX_REGULAR_SESSIONS:
        raise ServiceError(_("Das wären %(n)s Termine; in einem Schritt sind höchstens %(max)s "
                             "möglich.", n=len(dates), max=MAX_REGULAR_SESSIONS))
    return dates


@dataclass
class RegularSessions:
    """What the form for regular sessions gives; times are Berlin wall-clock times."""

    title: str
    start_time: time
    end_time: time
    deadline_days: int
    capacity: int
    location: str = ""
    online_url: str = ""
    trainer: str = ""
    description: str = ""

    def session_on(self, day: date) -> SessionData:
        starts = datetime.combine(day, self.start_time)
        return SessionData(
            title=self.title, starts_at=from_local(starts),
            ends_at=from_local(datetime.combine(day, self.end_time)),
            # The same wall-clock time N days before, also across a change to summer time.
            enrolment_deadline=from_local(starts - timedelta(days=self.deadline_days)),
            capacity=self.capacity, description=self.description, location=self.location,
            online_url=self.online_url, trainer=self.trainer,
        )


def create_regular_sessions(series: TrainingSeries, plan: RegularSessions, dates: list[date], *,
                            actor: User) -> list[TrainingSession]:
    """One session per day in `dates`, all or none (each through create_session's checks)."""
    if not dates:
        raise ServiceError(_("Bitte wählen Sie mindestens einen Termin aus."))
    if len(dates) > MAX_REGULAR_SESSIONS:
        raise ServiceError(_("In einem Schritt sind höchstens %(max)s Termine möglich.",
                             max=MAX_REGULAR_SESSIONS))
    now = utcnow()
    for day in dates:
        if plan.session_on(day).starts_at <= now:
            raise ServiceError(_("Der Termin am %(day)s läge in der Vergangenheit. Bitte "
                                 "entfernen Sie ihn.", day=format_date(day)))
    return [create_session(series, plan.session_on(day), actor=actor) for day in sorted(dates)]
