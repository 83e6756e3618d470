"""Data protection for the person herself: download everything held about her."""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template
from flask_login import current_user, login_required

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
