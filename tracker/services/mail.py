"""Mail through the outbox: compose in the transaction of the change, deliver in the worker.

`compose` renders a mail in the recipient's language and adds it to the database session,
so it commits or rolls back with the change it tells of. `deliver_due` (run by the
background worker) claims due mails one by one with a conditional UPDATE, so two workers
never send the same one, hands them to the SMTP server through Flask-Mailman, and marks them.
A crash after the server accepted a mail and before the mark is committed repeats that one
mail once its claim has lapsed: at most one repeat, never a loss.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.mime.text import MIMEText
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_mailman import EmailMultiAlternatives
from sqlalchemy import and_, event, func, or_, select, update

from tracker.database import write_transactions
from tracker.extensions import db, mail
from tracker.models import MailState, OutboxMail, User, utcnow

log = logging.getLogger(__name__)

# How long one worker owns a claimed mail; after that another may try it again.
CLAIM = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
BATCH = 100
# Control characters (CR, LF, ...) never reach a header; XML 1.0's forbidden ones never a body.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass
class Content:
    """What a mail says, written once and laid out as plain text and as HTML."""

    subject: str
    greeting: str
    paragraphs: list[str]
    facts: list[tuple[str, str]] = field(default_factory=list)
    action: tuple[str, str] | None = None  # (label, absolute URL)
    closing: list[str] = field(default_factory=list)


def header_safe(text: str) -> str:
    """One line, without control characters, for a Subject header."""
    return " ".join(_CONTROL.sub(" ", text).split())[:250]


def compose(person: User, kind: str, content: Callable[[], Content], *,
            ics: bytes | None = None, ics_method: str | None = None,
            dedupe_key: str | None = None) -> OutboxMail:
    """Add a mail to `person` to the outbox, in the current transaction.

    `content` is called inside the person's language, so every gettext in it speaks that.
    """
    lang = person.locale if person.locale in current_app.config["LANGUAGES"] else "de"
    with force_locale(lang):
        text = content()
        context = {"mail": text, "lang": lang,
                   "network": current_app.config["MAIL_NETWORK_NAME"],
                   "base_url": current_app.config["BASE_URL"]}
        body_text = render_template("mail/layout.txt", **context)
        body_html = render_template("mail/layout.html", **context)
    row = OutboxMail(
        kind=kind, user_id=person.id, to_address=person.email,
        subject=header_safe(text.subject), body_text=body_text, body_html=body_html,
        ics=ics.decode() if ics else None, ics_method=ics_method, dedupe_key=dedupe_key,
        state=MailState.PENDING.value,
    )
    db.session.add(row)
    db.session.info["outbox_filled"] = True
    return row


def link(endpoint: str, **values) -> str:
    """An absolute link into tracker, built from BASE_URL, never from a request's Host; it
    works the same in a request, in the worker and on the command line."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/",
                                       url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


# --- Delivery (the worker) -----------------------------------------------------------------


def _due(now: datetime):
    return or_(
        and_(OutboxMail.state == MailState.PENDING, OutboxMail.next_attempt_at <= now),
        and_(OutboxMail.state == MailState.SENDING, OutboxMail.claimed_until < now),
    )


def _claim(mail_id: int, now: datetime) -> bool:
    """Take one due mail for this worker; the WHERE clause decides who wins."""
    with write_transactions():
        claimed = db.session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail_id, _due(now))
            .values(state=MailState.SENDING, claimed_until=now + CLAIM,
                    attempts=OutboxMail.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        db.session.commit()
    return claimed


def _message(row: OutboxMail, connection) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject, body=row.body_text,
        from_email=current_app.config["MAIL_DEFAULT_SENDER"], to=[row.to_address],
        connection=connection,
    )
    message.attach_alternative(row.body_html, "text/html")
    if row.ics:
        part = MIMEText(row.ics, "calendar", "utf-8")
        part.set_param("method", row.ics_method or "REQUEST")
        part.add_header("Content-Disposition", "attachment",
                        filename="absage.ics" if row.ics_method == "CANCEL" else "termin.ics")
        message.attach(part)
    return message


def _finish(row_id: int, **values) -> None:
    with write_transactions():
        db.session.execute(
            update(OutboxMail).where(OutboxMail.id == row_id)
            .values(claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def _failed(row: OutboxMail, error: str, now: datetime) -> None:
    """Try again later, each time waiting twice as long, until the give-up time."""
    delay = min(FIRST_RETRY * 2 ** max(row.attempts - 1, 0), LONGEST_RETRY)
    give_up = row.created_at + timedelta(hours=current_app.config["MAIL_GIVE_UP_HOURS"])
    log.warning("mail %s to %s not delivered (attempt %s): %s",
                row.id, row.to_address, row.attempts, error)
    if now + delay > give_up:
        _finish(row.id, state=MailState.FAILED, last_error=error[:2000])
    else:
        _finish(row.id, state=MailState.PENDING, next_attempt_at=now + delay,
                last_error=error[:2000])


def deliver_due(*, limit: int = BATCH) -> int:
    """Deliver what is due now; returns how many the SMTP server accepted."""
    now = utcnow()
    ids = list(db.session.scalars(
        select(OutboxMail.id).where(_due(now)).order_by(OutboxMail.id).limit(limit)
    ))
    db.session.rollback()
    server = current_app.config["MAIL_SERVER"]
    delivered = 0
    connection = None
    try:
        for mail_id in ids:
            if not _claim(mail_id, now):
                continue  # another worker has it
            if not server:
                _finish(mail_id, state=MailState.HELD)
                continue
            row = db.session.get(OutboxMail, mail_id, populate_existing=True)
            # Detached with what it holds: no transaction stays open while SMTP talks.
            db.session.expunge(row)
            db.session.rollback()
            try:
                if connection is None:
                    connection = _connection()
                    connection.open()
                _message(row, connection).send()
            except (TimeoutError, smtplib.SMTPException, OSError, ValueError) as exc:
                if connection is not None:
                    _close(connection)
                    connection = None
                _failed(row, f"{type(exc).__name__}: {exc}", utcnow())
            else:
                _finish(mail_id, state=MailState.SENT, sent_at=utcnow(), last_error=None)
                delivered += 1
    finally:
        if connection is not None:
            _close(connection)
    return delivered


def _connection():
    """An SMTP connection from the settings as they are now (Flask-Mailman's names)."""
    config = current_app.config
    return mail.get_connection(
        fail_silently=False, host=config["MAIL_SERVER"], port=config["MAIL_PORT"],
        username=config["MAIL_USERNAME"], password=config["MAIL_PASSWORD"],
        use_tls=config["MAIL_USE_TLS"], use_ssl=config["MAIL_USE_SSL"],
        timeout=config["MAIL_TIMEOUT"],
    )


def _close(connection) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.close()


# --- Postausgang ----------------------------------------------------------------------------


def outbox_entries(*, state: str | None = None):
    """The outbox, newest first, optionally of one state: a query for pagination."""
    query = select(OutboxMail).order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
    if state:
        query = query.where(OutboxMail.state == state)
    return query


def outbox_counts() -> dict[str, int]:
    return dict(db.session.execute(
        select(OutboxMail.state, func.count()).group_by(OutboxMail.state)).all())


# --- Telling the worker --------------------------------------------------------------------


def _wake_worker(session) -> None:
    # A commit that filled the outbox enqueues one delivery task; should the queue be
    # unreachable, the worker's periodic sweep delivers the mail within a minute.
    if not session.info.pop("outbox_filled", False):
        return
    from tracker import tasks

    try:
        tasks.deliver_outbox()
    except Exception:  # noqa: BLE001 - the queue being down must not fail a committed change
        log.warning("could not enqueue mail delivery; the periodic sweep will send it",
                    exc_info=True)


def _forget(session, *_args) -> None:
    session.info.pop("outbox_filled", None)


def init_app(_app) -> None:
    if not event.contains(db.session, "after_commit", _wake_worker):
        event.listen(db.session, "after_commit", _wake_worker)
        event.listen(db.session, "after_soft_rollback", _forget)
