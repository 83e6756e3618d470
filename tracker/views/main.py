"""The start page and the pages every public body must have."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    return render_template("main/index.html", user=current_user)


@bp.get("/barrierefreiheit")
def accessibility():
    return render_template(
        "main/accessibility.html", contact=current_app.config["ACCESSIBILITY_CONTACT"]
    )


@bp.get("/leichte-sprache")
def easy_language():
    return render_template("main/easy_language.html")
