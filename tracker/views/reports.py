"""Auswertung und Export (blueprint; its pages come with their issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/auswertung")
