"""Data protection for the person herself: download everything held about her."""

from __future__ import annotations

import io
import json

from flask import Blueprint, Response, render_template, send_file
from flask_login import current_user, login_required

from tracker.exports.own_data import write_own_data_workbook
from tracker.services import privacy
from tracker.timeutil import to_local, utcnow

bp = Blueprint("privacy", __name__, url_prefix="/meine-daten")


@bp.get("/")
@login_required
def index():
    return render_template("privacy/index.html")


@bp.get("/export")
@login_required
def export_my_data():
    """A JSON file with her profile, enrolments, attendance and the audit entries about her."""
    data = privacy.export_user_data(current_user)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    day = to_local(utcnow()).date().isoformat()
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="meine-daten-{day}.json"',
        "Cache-Control": "no-store",
    })


@bp.get("/export.xlsx")
@login_required
def export_my_data_workbook():
    """The same data as a workbook to read: German headings, words instead of codes."""
    data = privacy.export_user_data(current_user)
    target = io.BytesIO()
    write_own_data_workbook(data, target)
    target.seek(0)
    day = to_local(utcnow()).date().isoformat()
    response = send_file(
        target, as_attachment=True, download_name=f"meine-daten-{day}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Cache-Control"] = "no-store"
    return response
