"""Verwaltung (blueprint; its pages come with their issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/verwaltung")
