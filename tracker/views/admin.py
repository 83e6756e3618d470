"""Verwaltung: organisations, series and sessions, people, import and the audit log.

Admins manage everything; HR leads manage their own organisation's series and people.
Employees and HR staff get 403 on every page here; objects an HR lead may not see answer 404.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.orm import joinedload

from tracker import database
from tracker.extensions import db, login_manager
from tracker.i18n import format_date, format_datetime
from tracker.models import (
    AuditEntry,
    MailState,
    Organisation,
    OutboxMail,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.security import database_id
from tracker.services import (
    ServiceError,
    access,
    audit,
    certificates,
    enrolment,
    organisations,
    people,
    privacy,
    quotas,
    series_admin,
    staff_import,
)
from tracker.services import mail as mail_service
from tracker.timeutil import from_local, to_local
from tracker.views.admin_forms import (
    CopySeriesForm,
    ImportForm,
    OrganisationForm,
    PersonForm,
    RegularSessionsForm,
    SeriesForm,
    SessionForm,
    quota_form,
)
from tracker.views.htmx import is_partial, render_page_or_fragment

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
    page = request.args.get("page", 1, type=database_id)
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
        ("admin.audit_log", _("Protokoll"), _("Wer hat wann was geändert?"), False),
        ("admin.outbox", _("Postausgang"),
         _("Welche E-Mails wann an wen gingen, und welche nicht zugestellt werden konnten."),
         True),
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


# --- Series and sessions ---------------------------------------------------------------------


def _get_series_or_404(series_id: int) -> TrainingSeries:
    """A series the current user manages; others' series answer 404 (no existence leak)."""
    series = db.session.get(TrainingSeries, series_id)
    if series is None or not access.can_manage_series(current_user, series):
        abort(404)
    return series


def _get_managed_session_or_404(session_id: int) -> TrainingSession:
    training_session = db.session.get(TrainingSession, session_id)
    if training_session is None or not access.can_manage_series(current_user, training_session.series):
        abort(404)
    return training_session


def _organisation_choices(*, include: list[int] | None = None) -> list[tuple[int, str]]:
    """Active organisations, plus the ones already chosen (a deactivated one stays visible)."""
    include = set(include or [])
    return [(o.id, o.name) for o in organisations.all_organisations()
            if o.active or o.id in include]


def _series_form(series: TrainingSeries | None) -> SeriesForm:
    if series is not None and request.method == "GET":
        form = SeriesForm(obj=series)
        form.open_to.data = [o.id for o in series.open_to]
        form.coordinators.data = "\n".join(u.email for u in series.coordinators)
        form.owner_organisation_id.data = series.owner_organisation_id
    else:
        form = SeriesForm()
    chosen = [o.id for o in series.open_to] if series else []
    form.open_to.choices = _organisation_choices(include=chosen)
    if current_user.is_admin:
        owner = [series.owner_organisation_id] if series else []
        form.owner_organisation_id.choices = _organisation_choices(include=owner)
    else:
        form.owner_organisation_id.choices = [
            (current_user.organisation_id, current_user.organisation.name)
        ]
        if request.method == "GET" and series is None:
            form.owner_organisation_id.data = current_user.organisation_id
            form.open_to.data = [current_user.organisation_id]
    return form


def _series_values(form: SeriesForm) -> dict:
    ids = set(form.open_to.data or [])
    return {
        "title": form.title.data,
        "description": form.description.data or "",
        "owner": db.session.get(Organisation, form.owner_organisation_id.data),
        "open_to": [o for o in organisations.all_organisations() if o.id in ids],
        "reminder_days": form.reminder_days.data,
    }


@bp.get("/reihen")
def series_list():
    q = _q()
    org_id = request.args.get("organisation", type=database_id) if current_user.is_admin else None
    pagination = db.paginate(
        series_admin.manageable_series(current_user, q=q, organisation_id=org_id),
        page=_page(), per_page=PER_PAGE, error_out=False,
    )
    stats = series_admin.session_stats([s.id for s in pagination.items])
    args = {k: v for k, v in {"q": q, "organisation": org_id}.items() if v}
    return render_template(
        "admin/series_list.html", pagination=pagination, stats=stats, q=q, org_id=org_id,
        args=args, organisations=organisations.all_organisations() if current_user.is_admin else [],
    )


@bp.route("/reihen/neu", methods=["GET", "POST"])
def series_new():
    return _series_form_page(None)


def _series_form_page(series: TrainingSeries | None):
    """The series form for a new series (`series` None) or an existing one: the same fields,
    checks and answers, only the service call and the confirmation differ."""
    form = _series_form(series)
    status = 200
    if form.validate_on_submit():
        try:
            coordinators = series_admin.parse_coordinators(
                form.coordinators.data, actor=current_user,
                current=list(series.coordinators) if series is not None else [])
        except ServiceError as exc:
            status = _field_error(form.coordinators, exc)
        else:
            if series is None:
                series = series_admin.create_series(actor=current_user, coordinators=coordinators,
                                                    **_series_values(form))
                message = _("Die Reihe „%(title)s“ wurde angelegt. Legen Sie jetzt ihre Termine "
                            "an.", title=series.title)
            else:
                series_admin.update_series(series, actor=current_user, coordinators=coordinators,
                                           archived=bool(form.archived.data),
                                           **_series_values(form))
                message = _("Die Reihe wurde gespeichert.")
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("admin.series_detail", series_id=series.id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/series_form.html", form=form, series=series), status


@bp.get("/reihen/<int:series_id>")
def series_detail(series_id: int):
    series = _get_series_or_404(series_id)
    pagination = db.paginate(series_admin.series_sessions(series), page=_page(),
                             per_page=PER_PAGE, error_out=False)
    waiting = enrolment.waitlist_lengths([s.id for s in pagination.items])
    return render_template("admin/series_detail.html", series=series, pagination=pagination,
                           waiting=waiting, now=utcnow())


@bp.route("/reihen/<int:series_id>/bearbeiten", methods=["GET", "POST"])
def series_edit(series_id: int):
    return _series_form_page(_get_series_or_404(series_id))


@bp.route("/reihen/<int:series_id>/kopieren", methods=["GET", "POST"])
def series_copy(series_id: int):
    """Copy a series into a new period: the first step shows the new dates, with a checkbox
    per session (a one-off session stays behind when it is unticked); the second saves."""
    series = _get_series_or_404(series_id)
    form = CopySeriesForm()
    if request.method == "GET":
        form.title.data = _suggest_copy_title(series.title)
    form.sessions.choices = [(s.id, s.title) for s in series.sessions if s.cancelled_at is None]
    previewed = request.form.get("previewed") == "1"
    plan = days = None
    status = 200
    if form.validate_on_submit():
        try:
            days = series_admin.copy_offset(series, offset_days=form.offset_days.data,
                                            first_day=form.first_day.data)
            # Without a button (a plain post), the copy takes every session, as before.
            if request.form.get("action", "copy") == "copy":
                copy = series_admin.copy_series(
                    series, actor=current_user, title=form.title.data, offset_days=days,
                    session_ids=set(form.sessions.data or []) if previewed else None)
            else:
                plan = series_admin.copy_plan(series, days)
        except ServiceError as exc:
            target = (form.sessions if previewed and not form.sessions.data
                      else form.first_day if form.first_day.data else form.offset_days)
            status = _field_error(target, exc)
            if previewed and days is not None:
                plan = series_admin.copy_plan(series, days)
        else:
            if plan is None:
                db.session.commit()
                flash(_("Die Reihe wurde kopiert: „%(title)s“ mit %(n)s Terminen.",
                        title=copy.title, n=len(copy.sessions)), "success")
                return redirect(url_for("admin.series_detail", series_id=copy.id), code=303)
    elif form.errors:
        status = 422
    if plan is not None:
        form.sessions.choices = [
            (source.id, _("%(when)s: %(title)s (bisher %(before)s)",
                          when=format_datetime(start, "weekday_datetime"), title=source.title,
                          before=format_date(source.starts_at, "weekday")))
            for source, start, _end in plan
        ]
        if not previewed:
            form.sessions.data = [source.id for source, _start, _end in plan]
    first = next((s for s in series.sessions if s.cancelled_at is None), None)
    return render_template("admin/series_copy.html", form=form, series=series,
                           first=first, plan=plan), status


@bp.route("/reihen/<int:series_id>/termine/regelmaessig", methods=["GET", "POST"])
def sessions_regular(series_id: int):
    """Regular sessions ("every first Monday, 14:00-16:00") in one form: the generated dates
    are shown for a check, single ones can be unticked, then all are saved at once."""
    series = _get_series_or_404(series_id)
    form = RegularSessionsForm()
    if request.method == "GET":
        form.title.data = series.title
    previewed = request.form.get("previewed") == "1"
    dates = None
    status = 200
    if form.validate_on_submit():
        try:
            dates = series_admin.regular_dates(
                day_of_week=form.day_of_week.data, rhythm=form.rhythm.data,
                first_day=form.first_day.data, last_day=form.last_day.data)
        except ServiceError as exc:
            status = _field_error(form.last_day, exc)
        else:
            offered = {d.isoformat(): d for d in dates}
            form.dates.choices = [(d.isoformat(), format_date(d, "full")) for d in dates]
            if request.form.get("action") == "create" and previewed:
                chosen = form.dates.data or []
                try:
                    if any(value not in offered for value in chosen):
                        raise ServiceError(_("Ungültige Auswahl."))
                    created = series_admin.create_regular_sessions(
                        series, _regular_plan(form), [offered[v] for v in chosen],
                        actor=current_user)
                except ServiceError as exc:
                    status = _field_error(form.dates, exc)
                else:
                    db.session.commit()
                    flash(ngettext("%(num)s Termin wurde angelegt.", "%(num)s Termine wurden angelegt.",
                                   len(created)), "success")
                    return redirect(url_for("admin.series_detail", series_id=series.id), code=303)
            elif not previewed or request.form.get("action") == "preview":
                form.dates.data = list(offered)
    elif form.errors:
        status = 422
    return render_template("admin/sessions_regular.html", form=form, series=series,
                           dates=dates), status


def _regular_plan(form: RegularSessionsForm) -> series_admin.RegularSessions:
    return series_admin.RegularSessions(
        title=form.title.data, start_time=form.start_time.data, end_time=form.end_time.data,
        deadline_days=form.deadline_days.data, capacity=form.capacity.data,
        location=form.location.data or "", online_url=form.online_url.data or "",
        trainer=form.trainer.data or "",
    )


def _suggest_copy_title(title: str) -> str:
    """"Vielfaltsmontag 2025" -> "Vielfaltsmontag 2026"; other titles get " (Kopie)"."""
    match = re.search(r"(19|20)\d\d(?!.*\d)", title)
    if match:
        year = int(match.group(0)) + 1
        return title[: match.start()] + str(year) + title[match.end():]
    return f"{title} (Kopie)"[:200]


def _session_form(training_session: TrainingSession | None) -> SessionForm:
    if training_session is not None and request.method == "GET":
        start, end = to_local(training_session.starts_at), to_local(training_session.ends_at)
        form = SessionForm(obj=training_session)
        form.day.data = start.date()
        form.start_time.data = start.time().replace(tzinfo=None)
        form.end_time.data = end.time().replace(tzinfo=None)
        form.enrolment_deadline.data = to_local(training_session.enrolment_deadline).replace(tzinfo=None)
    else:
        form = SessionForm()
    return form


def _session_data(form: SessionForm) -> series_admin.SessionData:
    starts = datetime.combine(form.day.data, form.start_time.data)
    deadline = form.enrolment_deadline.data or (
        starts - timedelta(days=series_admin.DEFAULT_DEADLINE_DAYS))
    return series_admin.SessionData(
        title=form.title.data,
        description=form.description.data or "",
        starts_at=from_local(starts),
        ends_at=from_local(datetime.combine(form.day.data, form.end_time.data)),
        enrolment_deadline=from_local(deadline),
        location=form.location.data or "",
        online_url=form.online_url.data or "",
        trainer=form.trainer.data or "",
        capacity=form.capacity.data,
    )


@bp.route("/reihen/<int:series_id>/termine/neu", methods=["GET", "POST"])
def session_new(series_id: int):
    series = _get_series_or_404(series_id)
    form = _session_form(None)
    status = 200
    if form.validate_on_submit():
        try:
            training_session = series_admin.create_session(series, _session_data(form), actor=current_user)
        except ServiceError as exc:
            status = _field_error(form.day, exc)
        else:
            db.session.commit()
            flash(_("Der Termin „%(title)s“ wurde angelegt.", title=training_session.title), "success")
            return redirect(url_for("admin.series_detail", series_id=series.id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/session_form.html", form=form, series=series,
                           session=None), status


@bp.route("/termine/<int:session_id>", methods=["GET", "POST"])
def session_edit(session_id: int):
    training_session = _get_managed_session_or_404(session_id)
    series = training_session.series
    if training_session.cancelled_at is not None and request.method == "POST":
        raise ServiceError(_("Dieser Termin wurde abgesagt und kann nicht mehr bearbeitet werden."))
    form = _session_form(training_session)
    status = 200
    if form.validate_on_submit():
        try:
            promoted = series_admin.update_session(training_session, _session_data(form),
                                                   actor=current_user)
        except ServiceError as exc:
            # The message names the field; in either language (English says "capacity"/"places").
            about_places = any(word.lower() in exc.message.lower()
                               for word in ("Kapazität", "Plätze", _("Kapazität"), _("Plätze")))
            target = form.capacity if about_places else form.day
            status = _field_error(target, exc)
        else:
            db.session.commit()
            message = _("Der Termin wurde gespeichert.")
            if promoted:
                message += " " + _("%(n)s Personen haben einen Platz von der Warteliste erhalten.",
                                   n=len(promoted))
            flash(message, "success")
            return redirect(url_for("admin.series_detail", series_id=series.id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/session_form.html", form=form, series=series,
                           session=training_session), status


# --- Seat quotas per organisation ---------------------------------------------------------


def _quota_organisations(series: TrainingSeries, existing) -> list[Organisation]:
    """The organisations the series is open to, and any that already hold a quota (so that a
    quota of an organisation no longer open is shown, and refused, rather than hidden)."""
    orgs = {org.id: org for org in quotas.eligible_organisations(series)}
    for quota in existing:
        orgs.setdefault(quota.organisation_id, quota.organisation)
    return sorted(orgs.values(), key=lambda org: org.name)


def _quota_error(form, exc: quotas.QuotaError) -> int:
    """The refusal next to its field: an organisation's quota, the release, or above all."""
    names = {"release": ("release_at", "release_days")}.get(exc.field, (f"org_{exc.field}",))
    field = next((form[name] for name in names if name in form), None)
    if field is None:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return exc.status_code
    return _field_error(field, exc)


@bp.route("/termine/<int:session_id>/kontingente", methods=["GET", "POST"])
def session_quotas(session_id: int):
    training_session = _get_managed_session_or_404(session_id)
    series = training_session.series
    form = quota_form(_quota_organisations(series, training_session.quotas), session=True)
    if request.method == "GET":
        for quota in training_session.quotas:
            form[f"org_{quota.organisation_id}"].data = quota.seats
        release = training_session.quota_release_at or quotas.default_release(training_session)
        form.release_at.data = to_local(release).replace(tzinfo=None)
    status = 200
    if form.validate_on_submit():
        release_at = from_local(form.release_at.data) if form.release_at.data else None
        try:
            promoted = quotas.set_session_quotas(training_session, form.seats(), release_at,
                                                 actor=current_user)
        except quotas.QuotaError as exc:
            status = _quota_error(form, exc)
        else:
            db.session.commit()
            message = _("Die Kontingente wurden gespeichert.")
            if promoted:
                message += " " + _("%(n)s Personen haben einen Platz von der Warteliste erhalten.",
                                   n=len(promoted))
            flash(message, "success")
            return redirect(url_for("admin.session_quotas", session_id=session_id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/session_quotas.html", form=form, series=series,
                           session=training_session,
                           usage=quotas.usage(training_session)), status


@bp.route("/reihen/<int:series_id>/kontingente", methods=["GET", "POST"])
def series_quotas(series_id: int):
    series = _get_series_or_404(series_id)
    form = quota_form(_quota_organisations(series, series.default_quotas), session=False)
    if request.method == "GET":
        for quota in series.default_quotas:
            form[f"org_{quota.organisation_id}"].data = quota.seats
        form.release_days.data = series.quota_release_days
    status = 200
    if form.validate_on_submit():
        try:
            quotas.set_series_quotas(series, form.seats(), form.release_days.data,
                                     actor=current_user)
        except quotas.QuotaError as exc:
            status = _quota_error(form, exc)
        else:
            db.session.commit()
            flash(_("Die Kontingente der Reihe wurden gespeichert; neue Termine erhalten sie."),
                  "success")
            return redirect(url_for("admin.series_detail", series_id=series.id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/series_quotas.html", form=form, series=series), status


@bp.post("/termine/<int:session_id>/absagen")
def session_cancel(session_id: int):
    training_session = _get_managed_session_or_404(session_id)
    affected = series_admin.cancel_session(training_session, actor=current_user)
    db.session.commit()
    flash(_("Der Termin „%(title)s“ wurde abgesagt. %(n)s Anmeldungen bleiben als „vom "
            "Veranstalter abgesagt“ erhalten.", title=training_session.title, n=affected), "success")
    return redirect(url_for("admin.series_detail", series_id=training_session.series_id), code=303)


# --- People and roles ------------------------------------------------------------------------


def role_labels() -> dict[str, str]:
    return {role.value: str(role.label) for role in Role}


def _get_person_or_404(user_id: int) -> User:
    """A person the current user manages; anyone else answers 404 (no existence leak)."""
    person = db.session.get(User, user_id)
    if person is None or not access.can_manage_user(current_user, person):
        abort(404)
    return person


def _person_form(person: User | None) -> PersonForm:
    form = PersonForm(obj=person) if person is not None and request.method == "GET" else PersonForm()
    labels = role_labels()
    roles = [r.value for r in access.assignable_roles(current_user)]
    if person is not None and person.role not in roles:  # pragma: no cover - 404 before
        roles.append(person.role)
    form.role.choices = [(r, labels[r]) for r in roles]
    if current_user.is_admin:
        include = [person.organisation_id] if person else []
        form.organisation_id.choices = _organisation_choices(include=include)
    else:
        form.organisation_id.choices = [(current_user.organisation_id, current_user.organisation.name)]
    if request.method == "GET" and person is None:
        form.organisation_id.data = current_user.organisation_id
        form.role.data = Role.EMPLOYEE.value
    return form


def _email_check_url(person: User | None) -> str:
    return url_for("admin.check_email", person=person.id if person else None)


def _person_values(form: PersonForm) -> dict:
    return {
        "first_name": form.first_name.data,
        "last_name": form.last_name.data,
        "email": form.email.data,
        "organisation": db.session.get(Organisation, form.organisation_id.data),
        "role": form.role.data,
    }


@bp.get("/personen")
def people_list():
    q = _q()
    org_id = request.args.get("organisation", type=database_id) if current_user.is_admin else None
    role = request.args.get("role") or None
    status = request.args.get("status") or None
    pagination = db.paginate(
        people.manageable_people(current_user, q=q, organisation_id=org_id, role=role, status=status),
        page=_page(), per_page=PER_PAGE, error_out=False,
    )
    args = {k: v for k, v in {"q": q, "organisation": org_id, "role": role, "status": status}.items() if v}
    context = dict(pagination=pagination, q=q, org_id=org_id, role=role, status=status, args=args,
                   roles=role_labels(),
                   organisations=organisations.all_organisations() if current_user.is_admin else [])
    return render_page_or_fragment("admin/people.html", "admin/_people_results.html", **context)


@bp.route("/personen/neu", methods=["GET", "POST"])
def person_new():
    form = _person_form(None)
    status = 200
    if form.validate_on_submit():
        try:
            person = people.create_person(actor=current_user, **_person_values(form))
            people.invite(person, actor=current_user)
        except ServiceError as exc:
            status = _field_error(form.email if exc.status_code == 409 else form.role, exc)
        else:
            db.session.commit()
            flash(_("%(name)s wurde angelegt und per E-Mail eingeladen, ein Passwort zu setzen. "
                    "Kommt die E-Mail nicht an, erstellen Sie unten einen Link.",
                    name=person.full_name), "success")
            return redirect(url_for("admin.person_edit", user_id=person.id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/person_form.html", form=form, person=None,
                           email_check_url=_email_check_url(None)), status


@bp.route("/personen/<int:user_id>", methods=["GET", "POST"])
def person_edit(user_id: int):
    person = _get_person_or_404(user_id)
    form = _person_form(person)
    status = 200
    if form.validate_on_submit():
        try:
            people.update_person(person, actor=current_user, **_person_values(form))
        except ServiceError as exc:
            status = _field_error(form.email if exc.status_code == 409 else form.role, exc)
        else:
            db.session.commit()
            flash(_("Die Angaben wurden gespeichert."), "success")
            return redirect(url_for("admin.person_edit", user_id=person.id), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/person_form.html", form=form, person=person, roles=role_labels(),
                           email_check_url=_email_check_url(person),
                           record_years=certificates.record_years(person, current_user)), status


@bp.get("/personen/email-pruefen")
def check_email():
    """htmx inline validation of the e-mail field: format and whether it is taken."""
    person = request.args.get("person", type=database_id)
    form = PersonForm(formdata=request.args, meta={"csrf": False})
    form.email.validate(form)
    if not form.email.errors and people.email_taken(form.email.data or "", actor=current_user,
                                                                except_id=person):
        form.email.errors.append(_("Diese E-Mail-Adresse ist bereits vergeben."))
    return render_template("admin/_email_field.html", form=form,
                           email_check_url=url_for("admin.check_email", person=person))


@bp.post("/personen/<int:user_id>/aktiv")
def person_set_active(user_id: int):
    person = _get_person_or_404(user_id)
    active = request.form.get("active") == "1"
    people.set_active(person, active, actor=current_user)
    db.session.commit()
    message = (_("%(name)s ist wieder aktiv.", name=person.full_name) if active
               else _("%(name)s wurde deaktiviert und ist abgemeldet.", name=person.full_name))
    flash(message, "success")
    return redirect(url_for("admin.person_edit", user_id=person.id), code=303)


@bp.post("/personen/<int:user_id>/passwort-link")
def person_reset_link(user_id: int):
    """Issue a one-time link and show it once; it is never stored in clear, nor put in the
    session cookie, so it is rendered in the answer to the POST itself."""
    person = _get_person_or_404(user_id)
    token, row = people.issue_reset_link(person, actor=current_user)
    db.session.commit()
    # From the configured address, not the Host header the admin's request came with.
    link = current_app.config["BASE_URL"] + url_for("password.reset", token=token)
    return render_page_or_fragment("admin/reset_link.html", "admin/_reset_link.html",
                                   person=person, link=link, expires_at=row.expires_at)


# --- Audit log (admins) ----------------------------------------------------------------------


def _audit_filters() -> tuple[dict, list[str]]:
    """The audit page's filters from the query string, and German messages for bad ones."""
    errors: list[str] = []
    values: dict = {
        "action": request.args.get("action") or None,
        "actor": (request.args.get("actor") or "").strip()[:100] or None,
        "organisation_id": request.args.get("organisation", type=database_id),
        "date_from": None,
        "date_to": None,
    }
    if values["action"] and values["action"] not in audit.ACTION_LABELS:
        errors.append(_("Unbekannte Aktion."))
        values["action"] = None
    for key, label in (("date_from", _("Von")), ("date_to", _("Bis"))):
        raw = (request.args.get(key) or "").strip()
        if raw:
            try:
                values[key] = date.fromisoformat(raw)
            except ValueError:
                errors.append(_("„%(label)s“ ist kein gültiges Datum.", label=label))
    if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
        errors.append(_("Das Datum „Von“ liegt nach dem Datum „Bis“."))
    return values, errors


@bp.get("/protokoll")
def audit_log():
    filters, errors = _audit_filters()
    if not current_user.is_admin:
        # An HR lead reads the entries about her own organisation: its people, series,
        # sessions and imports. Another organisation answers 404, as everywhere.
        if filters["organisation_id"] not in (None, current_user.organisation_id):
            abort(404)
        filters["organisation_id"] = current_user.organisation_id
    query = audit.filtered_entries(**filters).options(joinedload(AuditEntry.actor))
    pagination = db.paginate(query, page=_page(), per_page=50, error_out=False)
    objects = audit.object_labels(pagination.items)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    shown = (organisations.all_organisations() if current_user.is_admin
             else [current_user.organisation])
    return render_template(
        "admin/audit.html", pagination=pagination, filters=filters, errors=errors, args=args,
        actions=audit.ACTION_LABELS, objects=objects,
        details=audit.readable_details(pagination.items),
        organisations={o.id: o for o in shown},
    ), (422 if errors else 200)


# --- Postausgang (admins): every mail, its state and why it failed ---------------------------


@bp.get("/postausgang")
def outbox():
    _admin_only()
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in MailState}:
        abort(404)
    pagination = db.paginate(mail_service.outbox_entries(state=state), page=_page(),
                             per_page=50, error_out=False)
    return render_template("admin/outbox.html", pagination=pagination, state=state,
                           states=list(MailState), counts=mail_service.outbox_counts())


@bp.get("/postausgang/<int:mail_id>")
def outbox_mail(mail_id: int):
    _admin_only()
    row = db.get_or_404(OutboxMail, mail_id)
    return render_template("admin/outbox_mail.html", mail=row)


# --- Bulk import of staff lists --------------------------------------------------------------
# The parsed rows wait server-side between preview and confirmation (see
# tracker/services/staff_import.py); the session only holds the random token naming them.

IMPORT_SESSION_KEY = "staff_import"


@bp.route("/import", methods=["GET", "POST"])
def import_upload():
    form = ImportForm()
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        # Reading a file of thousands of rows takes a while and writes nothing to the
        # database: other people's logins and clicks must not wait for it.
        database.only_reads_from_here()
        try:
            parsed = staff_import.read_upload(upload.filename, upload.read())
        except ServiceError as exc:
            status = _field_error(form.file, exc)
        else:
            with database.write_transactions():
                staff_import.discard(session.get(IMPORT_SESSION_KEY))
                session[IMPORT_SESSION_KEY] = staff_import.store(parsed, actor=current_user)
                db.session.commit()
            return redirect(url_for("admin.import_preview"), code=303)
    elif form.errors:
        status = 422
    return render_template("admin/import_upload.html", form=form,
                           max_rows=staff_import.MAX_ROWS,
                           max_mb=current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)), status


@bp.get("/import/vorschau")
def import_preview():
    token = session.get(IMPORT_SESSION_KEY)
    upload = staff_import.load(token, actor=current_user)
    if upload is None:
        flash(_("Es liegt keine Vorschau vor (oder sie ist abgelaufen). Bitte laden Sie die "
                "Datei hoch."), "info")
        return redirect(url_for("admin.import_upload"), code=303)
    rows = staff_import.classify(upload, actor=current_user)
    return render_template("admin/import_preview.html", upload=upload, rows=rows, token=token,
                           counts=staff_import.counts(rows))


def _import_token() -> str:
    token = request.form.get("token", "")
    if not token or token != session.get(IMPORT_SESSION_KEY):
        raise ServiceError(_("Diese Vorschau ist nicht mehr aktuell. Bitte laden Sie die Datei "
                             "erneut hoch."), 409)
    return token


@bp.post("/import/uebernehmen")
def import_confirm():
    token = _import_token()
    upload = staff_import.load(token, actor=current_user)
    if upload is None:
        raise ServiceError(_("Die Vorschau ist abgelaufen. Bitte laden Sie die Datei erneut hoch."),
                           409)
    summary = staff_import.apply(upload, actor=current_user)
    staff_import.discard(token)
    db.session.commit()
    session.pop(IMPORT_SESSION_KEY, None)
    if summary["new"] or summary["changed"]:
        flash(_("Import abgeschlossen: %(new)s Personen neu angelegt, %(changed)s geändert, "
                "%(unchanged)s unverändert.", **summary), "success")
    else:
        flash(_("Keine Änderungen: alle %(n)s Personen sind bereits so gespeichert. Es wurde "
                "nichts geschrieben.", n=summary["unchanged"]), "info")
    return redirect(url_for("admin.people_list"), code=303)


@bp.post("/import/verwerfen")
def import_discard():
    token = _import_token()
    staff_import.discard(token)
    db.session.commit()
    session.pop(IMPORT_SESSION_KEY, None)
    flash(_("Der Import wurde verworfen. Es wurde nichts übernommen."), "info")
    return redirect(url_for("admin.import_upload"), code=303)


# --- Data protection: anonymise a person who left (admins) -----------------------------------


@bp.post("/personen/<int:user_id>/anonymisieren")
def person_anonymise(user_id: int):
    _admin_only()
    person = _get_person_or_404(user_id)
    name = person.full_name
    privacy.anonymise(person, actor=current_user)
    db.session.commit()
    flash(_("%(name)s wurde anonymisiert. Anmeldungen und Teilnahmen bleiben als anonyme "
            "Zahlen erhalten.", name=name), "success")
    return redirect(url_for("admin.person_edit", user_id=person.id), code=303)
