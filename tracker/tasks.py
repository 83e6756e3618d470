"""Background work on huey: mail delivery, reminders, notes to HR, large exports, retention.

One machine needs no extra server: the queue is a SQLite file under instance/ (SqliteHuey).
With REDIS_URL set, every app server and worker shares one Redis queue (RedisHuey).
`flask --app tracker worker` runs the consumer; `make run` starts it beside gunicorn.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from huey import RedisHuey, SqliteHuey, crontab

from tracker.config import INSTANCE_DIR


def _make_huey():
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        return RedisHuey("tracker", url=redis_url)
    path = Path(os.environ.get("QUEUE_FILE") or INSTANCE_DIR / "queue.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("tracker", filename=str(path))


huey = _make_huey()
_app: Flask | None = None


def bind(app: Flask) -> None:
    """The app whose database and settings the tasks of this process use."""
    global _app
    _app = app


def _in_app(function: Callable) -> Callable:
    @functools.wraps(function)
    def run(*args, **kwargs):
        global _app
        if _app is None:
            from tracker import create_app

            _app = create_app()
        with _app.app_context():
            return function(*args, **kwargs)

    return run


@huey.task()
@_in_app
def deliver_outbox() -> int:
    """Send what is due in the outbox (enqueued after every commit that filled it)."""
    from tracker.services import mail

    sent = 0
    while True:
        batch = mail.deliver_due()
        sent += batch
        if batch < mail.BATCH:
            return sent


@huey.task()
@_in_app
def run_export(job_id: int) -> str:
    """Write a large report export into its job (see tracker/services/jobs.py)."""
    from tracker.services import jobs

    return jobs.run_export(job_id)


@huey.periodic_task(crontab(minute="*"))
@_in_app
def every_minute() -> None:
    """The sweep: seat quotas due for release, mails whose enqueue was lost or whose retry
    is due, and reminders."""
    from tracker.extensions import db
    from tracker.services import enrolment, jobs, mail, notify

    enrolment.release_due_quotas()
    for job_id in jobs.lost_in_queue():
        run_export(job_id)
    notify.queue_reminders()
    notify.queue_open_sheet_notes()
    db.session.commit()
    while mail.deliver_due() == mail.BATCH:
        pass


@huey.periodic_task(crontab(minute="41"))
@_in_app
def hourly() -> None:
    """Leavers and people disabled in a partner directory lose their tracker login."""
    from tracker.database import write_transactions
    from tracker.extensions import db
    from tracker.services import directory

    with write_transactions():
        directory.sync_deactivations()
        db.session.commit()


@huey.periodic_task(crontab(minute="17", hour="3"))
@_in_app
def nightly() -> None:
    """Retention: delivered and failed mails, exports and import previews are kept for a
    limited time only."""
    from tracker.extensions import db
    from tracker.services import jobs, notify

    notify.prune_outbox()
    jobs.prune()
    db.session.commit()
