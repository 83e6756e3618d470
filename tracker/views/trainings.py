"""Reihen, Termine und Anmeldung (blueprint; its pages come with their issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("trainings", __name__, url_prefix="/reihen")
