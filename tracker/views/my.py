"""Meine Schulungen (blueprint; its pages come with their issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("my", __name__, url_prefix="/meine-schulungen")
