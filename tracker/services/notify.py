"""Who is told what: the mails of tracker, composed into the outbox (see services/mail.py).

Every function here runs inside the transaction of the change it tells of, and adds mails
only; it never sends. Texts are German first, English for people who chose English.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import contains_eager

from tracker.extensions import db
from tracker.i18n import format_datetime, format_time
from tracker.models import (
    Enrolment,
    EnrolmentState,
    MailState,
    OutboxMail,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import calendar
from tracker.services.mail import Content, compose, link

# Delivered and failed mails are kept this long for the Postausgang, then deleted.
KEEP_OUTBOX = timedelta(days=90)


def _session_link(session: TrainingSession) -> str:
    return link("trainings.session", session_id=session.id)


def _facts(session: TrainingSession) -> list[tuple[str, str]]:
    facts = [
        (_("Reihe"), session.series.title),
        (_("Termin"), session.title),
        (_("Wann"), f"{format_datetime(session.starts_at)} – {format_time(session.ends_at)}"),
    ]
    if session.location:
        facts.append((_("Ort"), session.location))
    if session.online_url:
        facts.append((_("Online"), session.online_url))
    if session.trainer:
        facts.append((_("Referent/in"), session.trainer))
    return facts


def _greeting(person: User) -> str:
    return _("Guten Tag %(name)s,", name=person.full_name)


def _open(session: TrainingSession) -> tuple[str, str]:
    return _("Termin in tracker öffnen"), _session_link(session)


def _seat_mail(enrolment: Enrolment, kind: str, subject, paragraphs, *, cancel: bool) -> None:
    person, session = enrolment.user, enrolment.session

    def content():
        return Content(subject=subject(), greeting=_greeting(person), paragraphs=paragraphs(),
                       facts=_facts(session), action=_open(session))

    ics = calendar.seat_invitation(enrolment, _session_link(session), cancel=cancel)
    compose(person, kind, content, ics=ics, ics_method="CANCEL" if cancel else "REQUEST")


def _plain_mail(person: User, kind: str, session: TrainingSession, subject, paragraphs) -> None:
    compose(person, kind, lambda: Content(
        subject=subject(), greeting=_greeting(person), paragraphs=paragraphs(),
        facts=_facts(session), action=_open(session)))


# --- Seats and the waiting list ------------------------------------------------------------


def enrolled(enrolment: Enrolment, *, position: int | None = None) -> None:
    """Confirm an enrolment: a seat (with the calendar entry) or a place on the waiting list."""
    session = enrolment.session
    if enrolment.state == EnrolmentState.ENROLLED:
        _seat_mail(
            enrolment, "enrolled",
            lambda: _("Anmeldung bestätigt: %(title)s", title=session.series.title),
            lambda: [_("Sie sind für diesen Termin angemeldet. Der Kalendereintrag ist "
                       "angehängt."),
                     _("Wenn Sie nicht teilnehmen können, melden Sie sich bitte in tracker "
                       "ab, damit jemand von der Warteliste nachrücken kann.")],
            cancel=False,
        )
    else:
        _plain_mail(
            enrolment.user, "waitlisted", session,
            lambda: _("Warteliste: %(title)s", title=session.series.title),
            lambda: [_("der Termin ist ausgebucht. Sie stehen auf der Warteliste, auf Platz "
                       "%(n)s.", n=position or "?"),
                     _("Wird ein Platz frei, rücken Sie automatisch nach und erhalten eine "
                       "E-Mail.")],
        )


def promoted(enrolment: Enrolment) -> None:
    session = enrolment.session
    _seat_mail(
        enrolment, "promoted",
        lambda: _("Sie haben einen Platz erhalten: %(title)s", title=session.series.title),
        lambda: [_("ein Platz ist frei geworden: Sie sind von der Warteliste nachgerückt und "
                   "jetzt für diesen Termin angemeldet. Der Kalendereintrag ist angehängt.")],
        cancel=False,
    )


def cancelled(enrolment: Enrolment, *, by_staff: bool, held_seat: bool) -> None:
    """The person cancelled, or HR removed her; a seat's calendar entry is withdrawn."""
    session = enrolment.session

    def paragraphs():
        first = (_("die Personalstelle hat Ihre Anmeldung zu diesem Termin storniert.")
                 if by_staff else _("Ihre Anmeldung zu diesem Termin ist storniert."))
        return [first, _("Der Kalendereintrag wird mit dieser E-Mail entfernt.")] if held_seat \
            else [first]

    def subject():
        return _("Anmeldung storniert: %(title)s", title=session.series.title)

    if held_seat:
        _seat_mail(enrolment, "cancelled", subject, paragraphs, cancel=True)
    else:
        _plain_mail(enrolment.user, "cancelled", session, subject, paragraphs)


def live_enrolments_with_people(session_id: int) -> list[Enrolment]:
    """Everyone enrolled or waiting for a session, with their accounts, in one query."""
    return list(db.session.scalars(
        select(Enrolment).join(Enrolment.user)
        .where(Enrolment.session_id == session_id,
               Enrolment.state.in_((EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED)))
        .options(contains_eager(Enrolment.user))
        .order_by(Enrolment.id)
    ))


def session_cancelled(session: TrainingSession, affected: Iterable[tuple[Enrolment, bool]]) -> None:
    """The organiser cancelled the session: everyone enrolled or waiting is told; a seat's
    entry is withdrawn. `affected`: (enrolment, held a seat)."""
    def subject():
        return _("Termin abgesagt: %(title)s", title=session.series.title)

    def paragraphs():
        return [_("dieser Termin wurde vom Veranstalter abgesagt. Ihre Anmeldung ist damit "
                  "storniert.")]

    for enrolment, held_seat in affected:
        if held_seat:
            _seat_mail(enrolment, "session_cancelled", subject, paragraphs, cancel=True)
        else:
            _plain_mail(enrolment.user, "session_cancelled", session, subject, paragraphs)


def session_changed(session: TrainingSession) -> None:
    """Time or place changed: seats get an updated entry (a higher SEQUENCE), the waiting
    list a note."""
    def subject():
        return _("Termin geändert: %(title)s", title=session.series.title)

    def paragraphs():
        return [_("Zeit oder Ort dieses Termins haben sich geändert. Es gelten die Angaben "
                  "unten.")]

    def seat_paragraphs():
        return [*paragraphs(), _("Der Kalendereintrag wird mit dieser E-Mail aktualisiert.")]

    for enrolment in live_enrolments_with_people(session.id):
        if enrolment.state == EnrolmentState.ENROLLED:
            _seat_mail(enrolment, "session_changed", subject, seat_paragraphs, cancel=False)
        else:
            _plain_mail(enrolment.user, "session_changed", session, subject, paragraphs)


# --- Accounts ------------------------------------------------------------------------------


def password_link(person: User, url: str, *, invitation: bool, hours: int) -> None:
    """An invitation to a new account, or the answer to "Passwort vergessen"."""
    if invitation:
        compose(person, "invitation", lambda: Content(
            subject=_("Ihr Zugang zu tracker"),
            greeting=_greeting(person),
            paragraphs=[_("für Sie wurde ein Zugang zu tracker eingerichtet, dem "
                          "Anmeldesystem für die gemeinsamen Fortbildungen. Über den Link "
                          "legen Sie Ihr Passwort fest."),
                        _("Der Link gilt %(hours)s Stunden und nur einmal.", hours=hours)],
            facts=[(_("E-Mail-Adresse"), person.email)],
            action=(_("Passwort festlegen"), url)))
    else:
        compose(person, "password_reset", lambda: Content(
            subject=_("Neues Passwort für tracker"),
            greeting=_greeting(person),
            paragraphs=[_("Sie haben ein neues Passwort angefordert. Über den Link legen Sie "
                          "es fest."),
                        _("Der Link gilt %(hours)s Stunden und nur einmal.", hours=hours),
                        _("Wenn Sie kein neues Passwort angefordert haben, können Sie diese "
                          "E-Mail ignorieren; Ihr bisheriges Passwort bleibt gültig.")],
            action=(_("Neues Passwort festlegen"), url)))


# --- The scheduler's work ------------------------------------------------------------------


def queue_reminders(*, now=None) -> int:
    """Remind people of their session `reminder_days` before it starts: once per enrolment,
    however often this runs (the outbox's unique dedupe key decides, not a flag read first)."""
    now = now or utcnow()
    horizon = now + timedelta(days=14)
    rows = db.session.scalars(
        select(Enrolment)
        .join(Enrolment.session).join(TrainingSession.series).join(Enrolment.user)
        .where(Enrolment.state == EnrolmentState.ENROLLED,
               TrainingSession.cancelled_at.is_(None),
               TrainingSession.starts_at > now, TrainingSession.starts_at <= horizon,
               TrainingSeries.reminder_days > 0,
               User.active.is_(True), User.wants_reminders.is_(True))
        .options(contains_eager(Enrolment.session).contains_eager(TrainingSession.series),
                 contains_eager(Enrolment.user))
    )
    keys = []
    due = []
    for enrolment in rows:
        session = enrolment.session
        if session.starts_at - timedelta(days=session.series.reminder_days) > now:
            continue
        keys.append(f"reminder:{enrolment.id}")
        due.append(enrolment)
    if not due:
        return 0
    sent_before = set(db.session.scalars(
        select(OutboxMail.dedupe_key).where(OutboxMail.dedupe_key.in_(keys))))
    queued = 0
    for key, enrolment in zip(keys, due, strict=True):
        if key in sent_before:
            continue
        with db.session.begin_nested():
            _seat_reminder(enrolment, key)
        queued += 1
    return queued


def _seat_reminder(enrolment: Enrolment, key: str) -> None:
    session, person = enrolment.session, enrolment.user
    compose(person, "reminder", lambda: Content(
        subject=_("Erinnerung: %(title)s am %(when)s", title=session.series.title,
                  when=format_datetime(session.starts_at)),
        greeting=_greeting(person),
        paragraphs=[_("wir erinnern Sie an Ihren Termin. Wenn Sie nicht teilnehmen können, "
                      "melden Sie sich bitte ab, damit jemand von der Warteliste nachrücken "
                      "kann."),
                    _("Erinnerungen können Sie unter „Meine Schulungen“ abbestellen.")],
        facts=_facts(session), action=_open(session)), dedupe_key=key)


def queue_open_sheet_notes(*, now=None) -> int:
    """HR staff of the owning organisation hear of a session that ended yesterday or before
    and whose attendance sheet is still open: once per session and person."""
    now = now or utcnow()
    sessions = list(db.session.scalars(
        select(TrainingSession).join(TrainingSession.series)
        .where(TrainingSession.closed_at.is_(None), TrainingSession.cancelled_at.is_(None),
               TrainingSession.ends_at <= now - timedelta(hours=12),
               TrainingSession.ends_at > now - timedelta(days=7))
        .options(contains_eager(TrainingSession.series))
    ))
    if not sessions:
        return 0
    staff = list(db.session.scalars(
        select(User).where(User.role == Role.HR_STAFF, User.active.is_(True),
                           User.organisation_id.in_({s.series.owner_organisation_id
                                                     for s in sessions}))
    ))
    keys = {f"open-sheet:{s.id}:{p.id}" for s in sessions for p in staff}
    done = set(db.session.scalars(
        select(OutboxMail.dedupe_key).where(OutboxMail.dedupe_key.in_(keys)))) if keys else set()
    queued = 0
    for session in sessions:
        for person in staff:
            key = f"open-sheet:{session.id}:{person.id}"
            if person.organisation_id != session.series.owner_organisation_id or key in done:
                continue
            with db.session.begin_nested():
                compose(person, "open_sheet", lambda s=session, p=person: Content(
                    subject=_("Anwesenheitsliste noch offen: %(title)s", title=s.series.title),
                    greeting=_greeting(p),
                    paragraphs=[_("der Termin ist vorbei, seine Anwesenheitsliste aber noch "
                                  "nicht abgeschlossen. Bitte tragen Sie die Anwesenheit ein "
                                  "und schließen Sie die Liste ab.")],
                    facts=_facts(s),
                    action=(_("Anwesenheitsliste öffnen"),
                            link("attendance.sheet", session_id=s.id))),
                    dedupe_key=key)
            queued += 1
    return queued


def prune_outbox(*, now=None) -> int:
    now = now or utcnow()
    return db.session.execute(
        delete(OutboxMail).where(
            OutboxMail.state.in_((MailState.SENT, MailState.FAILED, MailState.HELD)),
            OutboxMail.created_at < now - KEEP_OUTBOX,
        ).execution_options(synchronize_session=False)
    ).rowcount
