"""Auswertung: headline figures of participation and the Excel download for HR leads."""

from __future__ import annotations

import io
import logging
import tempfile

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from tracker import tasks
from tracker.exports.participation import export_filename, write_participation_workbook
from tracker.extensions import db
from tracker.models import AttendanceStatus, Role
from tracker.services import ServiceError, dashboard, jobs, reports
from tracker.services.access import role_required
from tracker.views.htmx import render_page_or_fragment

log = logging.getLogger(__name__)

bp = Blueprint("reports", __name__, url_prefix="/auswertung")

FILTER_KEYS = ("from", "to", "series", "organisation")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _raw_filters(source=None) -> dict[str, str]:
    source = request.args if source is None else source
    return {key: source[key] for key in FILTER_KEYS if key in source}


def _render(raw: dict[str, str], *, filters=None, figures=None, dashboard=None, errors=None,
            status: int = 200):
    today = reports.to_local_today()
    last_year = today.replace(year=today.year - 1, day=1)
    shortcuts = [
        (_("Kalenderjahr %(year)s", year=today.year), reports.calendar_year(today)),
        (_("Kalenderjahr %(year)s", year=last_year.year), reports.calendar_year(last_year)),
        (_("Letzte 12 Monate"), reports.last_twelve_months(today)),
    ]
    # The form shows what was asked for, valid or not.
    values = dict(raw)
    if filters is not None:
        values = filters.query_args()
    figure_texts = {}
    if figures is not None:
        figure_texts = {
            "scope_text": reports.describe(filters),
            # Exact hours, rounded only here, as the workbook's 0.00 format shows them.
            "hours_text": format_decimal(figures.hours, format="#,##0.00"),
            "other_marks_text": ", ".join(
                _("%(count)s %(status)s", count=format_decimal(count), status=status.label)
                for status, count in figures.not_participations),
            "participation_labels": " / ".join(
                str(status.label) for status in AttendanceStatus.participations()),
        }
    html = render_page_or_fragment(
        "reports/index.html",
        "reports/_results.html",
        values=values,
        filters=filters,
        figures=figures,
        dashboard=dashboard,
        errors=errors or {},
        shortcuts=shortcuts,
        series_choices=reports.series_choices(current_user),
        organisation_choices=reports.organisation_choices(current_user),
        background_rows=current_app.config["EXPORT_BACKGROUND_ROWS"],
        certificate_limit=current_app.config["CERTIFICATES_PER_DOWNLOAD"],
        export_jobs=jobs.export_jobs(current_user),
        **figure_texts,
    )
    return html, status


@bp.get("/")
@role_required(Role.HR_LEAD)
def index():
    raw = _raw_filters()
    try:
        filters = reports.parse_filters(raw, current_user)
    except reports.FilterErrors as exc:
        return _render(raw, errors=exc.errors, status=422)
    return _render(raw, filters=filters, figures=reports.headline_figures(filters),
                   dashboard=dashboard.build(filters))


@bp.get("/export.xlsx")
@role_required(Role.HR_LEAD)
def export():
    raw = _raw_filters()
    try:
        filters = reports.parse_filters(raw, current_user)
    except reports.FilterErrors as exc:
        return _render(raw, errors=exc.errors, status=422)
    if jobs.needs_background(filters):
        # Too many rows to write while the person waits (and an app worker with her):
        # the page offers to have the file made in the background instead.
        flash(_("Diese Auswahl ist zu groß, um sie sofort herunterzuladen. Bitte lassen Sie "
                "die Excel-Datei mit „Excel-Datei erstellen lassen“ erstellen."), "info")
        return redirect(url_for("reports.index", **filters.query_args()), code=303)
    created_by = f"{current_user.full_name} ({current_user.email})"
    # Written completely to a temporary file first: a failure answers with an error page,
    # never with half a workbook. The file disappears when the response is closed.
    target = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - send_file closes it
    try:
        write_participation_workbook(filters, target, created_by=created_by)
        target.seek(0)
    except BaseException:
        target.close()
        raise
    return _attachment(target, export_filename(filters))


def _attachment(file, filename: str):
    response = send_file(file, mimetype=XLSX_MIMETYPE, as_attachment=True,
                         download_name=filename, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/exporte")
@role_required(Role.HR_LEAD)
def start_export():
    raw = _raw_filters(request.form)
    try:
        filters = reports.parse_filters(raw, current_user)
    except reports.FilterErrors as exc:
        return _render(raw, errors=exc.errors, status=422)
    job = jobs.start_export(filters, current_user)
    db.session.commit()
    try:
        tasks.run_export(job.id)
    except Exception:  # noqa: BLE001 - the worker's sweep starts jobs whose enqueue was lost
        log.warning("could not enqueue export job %s", job.id, exc_info=True)
    flash(_("Die Excel-Datei wird erstellt. Sie erscheint unten unter „Ihre Excel-Dateien“, "
            "sobald sie fertig ist."), "success")
    return redirect(url_for("reports.index", **filters.query_args()) + "#report-exports",
                    code=303)


@bp.get("/exporte/stand")
@role_required(Role.HR_LEAD)
def export_jobs():
    """The list of the person's exports, polled by the page while one is being made."""
    export_jobs = jobs.export_jobs(current_user)
    return render_template("reports/_exports.html", export_jobs=export_jobs,
                           just_finished=all(job.finished for job in export_jobs))


@bp.get("/exporte/<token>/datei")
@role_required(Role.HR_LEAD)
def download_export(token: str):
    job = jobs.own_job(token, current_user, with_content=True)
    if job is None or job.content is None:
        raise ServiceError(_("Diese Excel-Datei gibt es nicht (mehr). Dateien werden nur eine "
                             "begrenzte Zeit aufbewahrt; bitte lassen Sie sie neu erstellen."),
                           404)
    return _attachment(io.BytesIO(job.content), job.filename or "teilnahmen.xlsx")
