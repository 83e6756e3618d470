"""Auswertung: headline figures of participation and the Excel download for HR leads."""

from __future__ import annotations

import tempfile

from flask import Blueprint, request, send_file
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from tracker.exports.participation import export_filename, write_participation_workbook
from tracker.models import AttendanceStatus, Role
from tracker.services import reports
from tracker.services.access import role_required
from tracker.views.htmx import render_page_or_fragment

bp = Blueprint("reports", __name__, url_prefix="/auswertung")

FILTER_KEYS = ("from", "to", "series", "organisation")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _raw_filters() -> dict[str, str]:
    return {key: request.args[key] for key in FILTER_KEYS if key in request.args}


def _render(raw: dict[str, str], *, filters=None, figures=None, network=None, errors=None,
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
        network=network,
        errors=errors or {},
        shortcuts=shortcuts,
        series_choices=reports.series_choices(current_user),
        organisation_choices=reports.organisation_choices(current_user),
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
    figures = reports.headline_figures(filters)
    network = (reports.headline_figures(filters, by_organisation=False)
               if filters.organisation_id else None)
    return _render(raw, filters=filters, figures=figures, network=network)


@bp.get("/export.xlsx")
@role_required(Role.HR_LEAD)
def export():
    raw = _raw_filters()
    try:
        filters = reports.parse_filters(raw, current_user)
    except reports.FilterErrors as exc:
        return _render(raw, errors=exc.errors, status=422)
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
    response = send_file(target, mimetype=XLSX_MIMETYPE, as_attachment=True,
                         download_name=export_filename(filters), max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
