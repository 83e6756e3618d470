"""Calendar entries (iCalendar, RFC 5545) for a session: the download and the mails' `.ics`.

A seat's entry has a stable UID, so that a later mail with METHOD:CANCEL, or a REQUEST with a
higher SEQUENCE after a change of time or place, makes Outlook and Thunderbird remove or
update the entry themselves (RFC 5546, iTIP).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from icalendar import Calendar, Event, vCalAddress

from tracker.models import Enrolment, TrainingSession, utcnow
from tracker.timeutil import to_local

PRODID = "-//tracker//Gemeinsame Fortbildungen//DE"


def _host() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "tracker"


def session_uid(session: TrainingSession) -> str:
    return f"termin-{session.id}@{_host()}"


def seat_uid(enrolment: Enrolment) -> str:
    """One UID per enrolment: the entry of this person's seat in this session."""
    return f"anmeldung-{enrolment.id}@{_host()}"


def _event(session: TrainingSession, uid: str, link: str, *, cancelled: bool) -> Event:
    start, end = to_local(session.starts_at), to_local(session.ends_at)
    event = Event()
    event.add("uid", uid)
    event.add("sequence", session.ics_sequence)
    event.add("dtstamp", to_local(utcnow()))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"{session.series.title}: {session.title}")
    details = [session.description or session.series.description]
    if session.trainer:
        details.append(_("Referent/in: %(name)s", name=session.trainer))
    if session.online_url:
        details.append(_("Online: %(url)s", url=session.online_url))
    event.add("description", "\n\n".join(d for d in details if d))
    if session.location:
        event.add("location", session.location)
    event.add("url", link)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _calendar(method: str, event: Event, session: TrainingSession) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add_component(event)
    # Outlook needs the VTIMEZONE; a few years around the session keep it short.
    start = to_local(session.starts_at)
    cal.add_missing_timezones(
        first_date=date(start.year - 1, 1, 1), last_date=date(start.year + 2, 1, 1)
    )
    return cal.to_ical()


def session_download(session: TrainingSession, link: str) -> bytes:
    """The entry a person downloads from the session page (METHOD:PUBLISH)."""
    return _calendar("PUBLISH", _event(session, session_uid(session), link,
                                       cancelled=session.is_cancelled), session)


def seat_invitation(enrolment: Enrolment, link: str, *, cancel: bool = False) -> bytes:
    """The entry sent with a seat's mails: REQUEST adds or updates it, CANCEL removes it."""
    session = enrolment.session
    event = _event(session, seat_uid(enrolment), link, cancelled=cancel)
    sender = current_app.config.get("MAIL_DEFAULT_SENDER") or f"tracker@{_host()}"
    organizer = vCalAddress(f"mailto:{sender}")
    organizer.params["cn"] = current_app.config["MAIL_NETWORK_NAME"]
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{enrolment.user.email}")
    attendee.params["cn"] = enrolment.user.full_name
    attendee.params["role"] = "REQ-PARTICIPANT"
    attendee.params["partstat"] = "DECLINED" if cancel else "ACCEPTED"
    event.add("attendee", attendee)
    return _calendar("CANCEL" if cancel else "REQUEST", event, session)
