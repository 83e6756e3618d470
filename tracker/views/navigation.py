"""The main navigation, by role; an area appears once its blueprint has an index page."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BuildError

from tracker.models import Role
from tracker.services.access import can_use_attendance


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def main_navigation() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    hr = current_user.is_admin or current_user.has_role(Role.HR_STAFF, Role.HR_LEAD)
    lead = current_user.is_admin or current_user.has_role(Role.HR_LEAD)
    wanted = [
        ("trainings.index", _("Schulungen"), True),
        ("my.index", _("Meine Schulungen"), True),
        # Coordinators who are employees run their series' sessions too (one cached query).
        ("attendance.index", _("Anwesenheit"), hr or can_use_attendance(current_user)),
        ("reports.index", _("Auswertung"), lead),
        ("admin.index", _("Verwaltung"), lead),
    ]
    current_area = (request.endpoint or "").split(".")[0]
    items = []
    for endpoint, label, allowed in wanted:
        if not allowed:
            continue
        try:
            url = url_for(endpoint)
        except BuildError:
            continue  # the area has no pages yet
        items.append(NavItem(label, url, current_area == endpoint.split(".")[0]))
    return items


def init_app(app: Flask) -> None:
    app.jinja_env.globals["main_navigation"] = main_navigation
