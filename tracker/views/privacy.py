"""Data protection for the person herself: download everything held about her."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/meine-daten")
