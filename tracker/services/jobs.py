"""Large exports built by the worker, and staff-import previews, kept in the database.

A report selection of more than EXPORT_BACKGROUND_ROWS attendance marks is not written
inside the request: `start_export` records a job, the worker (`tasks.run_export`) writes
the workbook into it while updating its progress, and the reports page polls for it. The
file belongs to the person who asked, and to nobody else, until it expires.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, undefer

from tracker.database import write_transactions
from tracker.extensions import db
from tracker.models import JobKind, JobState, Role, StoredJob, User, utcnow
from tracker.services import ServiceError, reports

log = logging.getLogger(__name__)

# A person may have this many exports being built at once; more waits for those to finish.
RUNNING_PER_PERSON = 3
# A running job the worker has not touched for this long died with its worker.
STALE_AFTER = timedelta(minutes=10)
PREVIEW_KEEP = timedelta(hours=1)
# How often the worker writes the progress: every this many rows of the marks sheet.
PROGRESS_EVERY = 2000


def _token() -> str:
    return secrets.token_urlsafe(32)


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _is_token(value: str | None) -> bool:
    return bool(value and _TOKEN.match(value))


def _live(user: User, kind: JobKind):
    return (select(StoredJob)
            .where(StoredJob.user_id == user.id, StoredJob.kind == kind.value,
                   StoredJob.expires_at > utcnow()))


def own_job(token: str | None, user: User, kind: JobKind = JobKind.EXPORT, *,
            with_content: bool = False) -> StoredJob | None:
    """The person's own, unexpired job named by `token`; anyone else's is None."""
    if not _is_token(token):
        return None
    query = _live(user, kind).where(StoredJob.token == token)
    if with_content:
        query = query.options(undefer(StoredJob.content), undefer(StoredJob.request_json))
    return db.session.scalars(query).first()


def is_stale(job: StoredJob, now: datetime | None = None) -> bool:
    return (not job.finished) and job.updated_at < (now or utcnow()) - STALE_AFTER


# --- Exports --------------------------------------------------------------------------------


def needs_background(filters: reports.ReportFilters) -> bool:
    """Whether the selection is too large to be written while the person waits."""
    return reports.mark_count(filters) > current_app.config["EXPORT_BACKGROUND_ROWS"]


def export_jobs(user: User, *, limit: int = 5) -> list[StoredJob]:
    """The person's recent exports, newest first, as the reports page lists them."""
    return list(db.session.scalars(
        _live(user, JobKind.EXPORT).order_by(StoredJob.id.desc()).limit(limit)))


def start_export(filters: reports.ReportFilters, user: User) -> StoredJob:
    """Record an export of `filters` for `user`; the caller commits, then enqueues."""
    now = utcnow()
    running = [job for job in export_jobs(user, limit=20)
               if not job.finished and not is_stale(job, now)]
    if len(running) >= RUNNING_PER_PERSON:
        raise ServiceError(_("Es werden bereits %(count)s Excel-Dateien für Sie erstellt. "
                             "Bitte warten Sie, bis eine davon fertig ist.",
                             count=RUNNING_PER_PERSON), status_code=409)
    from tracker.exports.participation import export_filename  # noqa: PLC0415 - import cycle

    job = StoredJob(
        token=_token(), kind=JobKind.EXPORT.value, user_id=user.id,
        request_json=json.dumps(filters.query_args()), title=reports.describe(filters)[:300],
        filename=export_filename(filters), created_at=now, updated_at=now,
        expires_at=now + timedelta(hours=current_app.config["EXPORT_KEEP_HOURS"]),
    )
    db.session.add(job)
    db.session.flush()
    return job


def _set(job_id: int, **values) -> None:
    """Write the job's state on a connection of its own: the export itself reads inside
    one long snapshot transaction, which a progress update must not end."""
    with write_transactions(), Session(db.engine) as own:
        own.execute(update(StoredJob).where(StoredJob.id == job_id)
                    .values(updated_at=utcnow(), **values))
        own.commit()


def run_export(job_id: int) -> str:
    """The worker's part: write the workbook into the job. Returns the final state."""
    from tracker.exports.participation import write_participation_workbook  # noqa: PLC0415

    with write_transactions():
        claimed = db.session.execute(
            update(StoredJob)
            .where(StoredJob.id == job_id, StoredJob.state == JobState.QUEUED)
            .values(state=JobState.RUNNING, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        db.session.commit()
    if not claimed:  # already taken by another worker, or gone
        return "skipped"
    job = db.session.scalars(select(StoredJob).where(StoredJob.id == job_id)
                             .options(undefer(StoredJob.request_json))).one()
    owner = db.session.get(User, job.user_id)
    try:
        # Who asked is checked again now: a lead who lost her role gets nothing.
        if owner is None or not owner.active or not (
                owner.is_admin or owner.has_role(Role.HR_LEAD)):
            raise ServiceError(_("Sie dürfen diese Auswertung nicht mehr erstellen."))
        filters = reports.parse_filters(json.loads(job.request_json), owner)
        total = max(reports.mark_count(filters), 1)

        def progress(rows_done: int) -> None:
            # The marks sheet is almost all of the work; the last few percent are the rest.
            _set(job_id, progress=min(95, rows_done * 95 // total))

        with tempfile.TemporaryFile(suffix=".xlsx") as target:
            write_participation_workbook(
                filters, target, created_by=f"{owner.full_name} ({owner.email})",
                progress=progress, progress_every=PROGRESS_EVERY)
            target.seek(0)
            content = target.read()
        db.session.rollback()  # end the snapshot before writing the result
        _set(job_id, state=JobState.DONE, progress=100, content=content, size=len(content))
        return JobState.DONE.value
    except ServiceError as exc:  # refused now, or the filters no longer fit the data
        db.session.rollback()
        _set(job_id, state=JobState.FAILED, error=exc.message)
    except Exception:
        log.exception("export job %s failed", job_id)
        db.session.rollback()
        _set(job_id, state=JobState.FAILED,
             error=_("Die Excel-Datei konnte nicht erstellt werden. Bitte versuchen Sie es "
                     "erneut; bleibt der Fehler, wenden Sie sich an die Verwaltung."))
    return JobState.FAILED.value


def lost_in_queue() -> list[int]:
    """Exports still queued a minute after they were asked for: their enqueue was lost
    (the queue was unreachable), so the worker's sweep starts them."""
    return list(db.session.scalars(
        select(StoredJob.id).where(StoredJob.kind == JobKind.EXPORT.value,
                                   StoredJob.state == JobState.QUEUED,
                                   StoredJob.created_at < utcnow() - timedelta(minutes=1))))


# --- Staff-import previews ------------------------------------------------------------------


def store_preview(payload: dict, user: User) -> str:
    """Keep the parsed rows of an upload for its uploader; returns the token naming them."""
    now = utcnow()
    job = StoredJob(token=_token(), kind=JobKind.IMPORT_PREVIEW.value, user_id=user.id,
                    state=JobState.DONE.value, progress=100,
                    request_json=json.dumps(payload, ensure_ascii=False),
                    title=str(payload.get("filename", ""))[:300],
                    created_at=now, updated_at=now, expires_at=now + PREVIEW_KEEP)
    db.session.add(job)
    db.session.flush()
    return job.token


def load_preview(token: str | None, user: User) -> dict | None:
    job = own_job(token, user, JobKind.IMPORT_PREVIEW, with_content=True)
    return json.loads(job.request_json) if job else None


def discard_preview(token: str | None) -> None:
    if _is_token(token):
        db.session.execute(delete(StoredJob).where(
            StoredJob.token == token, StoredJob.kind == JobKind.IMPORT_PREVIEW.value))


# --- Retention ------------------------------------------------------------------------------


def prune() -> int:
    """Remove expired files and previews, and give up jobs whose worker died."""
    now = utcnow()
    db.session.execute(
        update(StoredJob)
        .where(StoredJob.state.in_([JobState.QUEUED, JobState.RUNNING]),
               StoredJob.updated_at < now - STALE_AFTER)
        .values(state=JobState.FAILED, updated_at=now,
                error=_("Die Erstellung wurde unterbrochen. Bitte fordern Sie die Datei neu an."))
        .execution_options(synchronize_session=False))
    removed = db.session.execute(
        delete(StoredJob).where(StoredJob.expires_at <= now)
        .execution_options(synchronize_session=False)).rowcount
    return removed
