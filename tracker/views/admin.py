"""Verwaltung: organisations, series and sessions, people, import and the audit log.

Admins manage everything; HR leads manage their own organisation's series and people.
Employees and HR staff get 403 on every page here; objects an HR lead may not see answer 404.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from tracker.extensions import db, login_manager
from tracker.models import Organisation, Role
from tracker.services import ServiceError, organisations
from tracker.views.admin_forms import OrganisationForm
from tracker.views.htmx import is_partial

bp = Blueprint("admin", __name__, url_prefix="/verwaltung")

PER_PAGE = 25


@bp.before_request
def _only_managers():
    """HR leads and admins only; every other role may never use this area (403)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not (current_user.is_admin or current_user.has_role(Role.HR_LEAD)):
        abort(403)
    return None


def _admin_only() -> None:
    if not current_user.is_admin:
        abort(403)


def _page() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return max(page, 1)


def _q() -> str:
    return (request.args.get("q") or "").strip()[:100]


def _field_error(field, exc: ServiceError) -> int:
    """Show a refused change next to the field it concerns; nothing was written."""
    db.session.rollback()
    field.errors = [*field.errors, exc.message]
    return exc.status_code


def _done(message: str, target: str, *, fragment: str | None = None, **context):
    """After a successful POST: the updated fragment for htmx, else flash and 303."""
    if fragment and is_partial():
        return render_template(fragment, oob_message=message, **context)
    flash(message, "success")
    return redirect(target, code=303)


@bp.get("/")
def index():
    cards = [
        ("admin.organisation_list", _("Organisationen"),
         _("Partnerverwaltungen anlegen, umbenennen und deaktivieren."), True),
        ("admin.series_list", _("Reihen und Termine"),
         _("Reihen anlegen, Termine planen, absagen und in einen neuen Zeitraum kopieren."), False),
        ("admin.people_list", _("Personen"),
         _("Personen suchen, anlegen, Rollen setzen, Passwort-Links ausgeben."), False),
        ("admin.import_upload", _("Personalliste importieren"),
         _("Personen aus einer Excel- oder CSV-Datei übernehmen, mit Vorschau."), False),
        ("admin.audit_log", _("Protokoll"), _("Wer hat wann was geändert?"), True),
    ]
    cards = [
        (endpoint, title, text) for endpoint, title, text, admin_only in cards
        if endpoint in current_app.view_functions and (current_user.is_admin or not admin_only)
    ]
    return render_template("admin/index.html", cards=cards)


# --- Organisations (admins only) -------------------------------------------------------------


def _get_organisation_or_404(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        abort(404)
    return org


@bp.get("/organisationen")
def organisation_list():
    _admin_only()
    q = _q()
    pagination = db.paginate(
        organisations.list_organisations(q), page=_page(), per_page=PER_PAGE, error_out=False
    )
    counts = organisations.people_counts([org.id for org in pagination.items])
    return render_template("admin/organisations.html", pagination=pagination, q=q, counts=counts)


@bp.route("/organisationen/neu", methods=["GET", "POST"])
def organisation_new():
    _admin_only()
    form = OrganisationForm()
    status = 200
    if form.validate_on_submit():
        try:
            org = organisations.create_organisation(
                form.name.data, form.short_name.data or "", actor=current_user
            )
        except ServiceError as exc:
            status = _field_error(form.name, exc)
        else:
            db.session.commit()
            flash(_("Die Organisation „%(name)s“ wurde angelegt.", name=org.name), "success")
            return redirect(url_for("admin.organisation_list"), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/organisation_form.html", form=form, org=None), status


@bp.route("/organisationen/<int:org_id>", methods=["GET", "POST"])
def organisation_edit(org_id: int):
    _admin_only()
    org = _get_organisation_or_404(org_id)
    form = OrganisationForm(obj=org)
    status = 200
    if form.validate_on_submit():
        try:
            organisations.update_organisation(
                org, form.name.data, form.short_name.data or "", actor=current_user
            )
        except ServiceError as exc:
            status = _field_error(form.name, exc)
        else:
            db.session.commit()
            flash(_("Die Organisation wurde gespeichert."), "success")
            return redirect(url_for("admin.organisation_list"), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/organisation_form.html", form=form, org=org), status


@bp.post("/organisationen/<int:org_id>/aktiv")
def organisation_set_active(org_id: int):
    _admin_only()
    org = _get_organisation_or_404(org_id)
    active = request.form.get("active") == "1"
    organisations.set_organisation_active(org, active, actor=current_user)
    db.session.commit()
    message = (_("„%(name)s“ ist wieder aktiv.", name=org.name) if active
               else _("„%(name)s“ wurde deaktiviert.", name=org.name))
    people = organisations.people_counts([org.id]).get(org.id, 0)
    return _done(message, url_for("admin.organisation_list"),
                 fragment="admin/_organisation_row.html", org=org, people=people)
