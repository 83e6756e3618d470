"""Reihen, Termine und Anmeldung: find series, enrol in one click, and HR's view of a session."""

from __future__ import annotations

import calendar as month_calendar
import itertools
from dataclasses import dataclass
from datetime import date

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from tracker.extensions import db
from tracker.models import EnrolmentState, TrainingSession, utcnow
from tracker.services import Conflict, NotAllowed, ServiceError, access, quotas
from tracker.services import calendar as calendar_service
from tracker.services import enrolment as enrolment_service
from tracker.services import trainings as trainings_service
from tracker.timeutil import local_day_bounds, to_local
from tracker.views.auth import safe_next_url
from tracker.views.htmx import is_partial

bp = Blueprint("trainings", __name__, url_prefix="/reihen")

# Sessions per page of the list: twenty enrol widgets are a page one can scan (and hear with a
# screen reader) before paging on, for a list most people read from the top.
PAGE_SIZE = 20


# --- Loading -------------------------------------------------------------------------------


def _load_visible_session(session_id: int) -> TrainingSession:
    """The session with its series, or 404 when it does not exist or the user may not see it
    (a session of another organisation's series must not reveal that it exists)."""
    session = access.get_session_or_404(session_id)
    if not access.can_see_series(current_user, session.series):
        abort(404)
    return session


def _load_session_to_run(session_id: int) -> TrainingSession:
    session = _load_visible_session(session_id)
    if not access.can_run_session(current_user, session):
        abort(403)
    return session


def _back_url(default: str) -> str:
    return safe_next_url(request.form.get("next")) or default


# --- The list of series and sessions -------------------------------------------------------


@dataclass
class Filters:
    series_id: int | None = None
    month: date | None = None  # first day of the month
    past: bool = False
    page: int = 1
    errors: dict[str, str] | None = None


def _parse_filters(visible_series_ids: set[int]) -> Filters:
    args = request.args
    f = Filters(errors={})
    raw_series = args.get("reihe", "").strip()
    if raw_series:
        if raw_series.isdigit() and int(raw_series) in visible_series_ids:
            f.series_id = int(raw_series)
        else:
            f.errors["reihe"] = _("Diese Reihe gibt es nicht. Bitte wählen Sie eine Reihe aus der Liste.")
    raw_month = args.get("monat", "").strip()
    if raw_month:
        try:
            year, month = raw_month.split("-")
            f.month = date(int(year), int(month), 1)
            if not 2000 <= f.month.year <= 2100:
                raise ValueError
        except ValueError:
            f.month = None
            f.errors["monat"] = _("Bitte geben Sie den Monat im Format JJJJ-MM an, z. B. 2026-03.")
    f.past = args.get("vergangene") == "1"
    page = args.get("seite", "1")
    f.page = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1
    return f


@bp.get("/")
@login_required
def index():
    series_options = trainings_service.series_to_choose(current_user)
    filters = _parse_filters({s.id for s in series_options})
    starts_from = starts_until = None
    if filters.month:
        last_day = month_calendar.monthrange(filters.month.year, filters.month.month)[1]
        starts_from, starts_until = local_day_bounds(filters.month,
                                                     filters.month.replace(day=last_day))
    sessions = trainings_service.listed_sessions(
        current_user, series_id=filters.series_id, starts_from=starts_from,
        starts_until=starts_until, past=filters.past,
        offset=(filters.page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1,
    )
    has_more = len(sessions) > PAGE_SIZE
    sessions = sessions[:PAGE_SIZE]
    offers = enrolment_service.offers(current_user, sessions)
    groups = [
        (series, [offers[s.id] for s in items])
        for series, items in itertools.groupby(sessions, key=lambda s: s.series)
    ]
    status = 422 if filters.errors else 200
    return render_template(
        "trainings/index.html",
        groups=groups,
        series_options=series_options,
        filters=filters,
        has_more=has_more,
    ), status


@bp.get("/<int:series_id>", endpoint="series")
@login_required
def series_page(series_id: int):
    series, sessions = trainings_service.series_with_sessions(series_id)
    if series is None or not access.can_see_series(current_user, series):
        abort(404)
    offers = enrolment_service.offers(current_user, sessions)
    now = utcnow()
    upcoming = [offers[s.id] for s in sessions if s.ends_at > now]
    past = [offers[s.id] for s in sessions if s.ends_at <= now]
    may_run = bool(sessions) and access.can_run_session(current_user, sessions[0])
    return render_template(
        "trainings/series.html", series=series, upcoming=upcoming, past=past, may_run=may_run
    )


@bp.get("/termine/<int:session_id>", endpoint="session")
@login_required
def session_page(session_id: int):
    session = _load_visible_session(session_id)
    offer = enrolment_service.offers(current_user, [session])[session.id]
    return render_template(
        "trainings/session.html",
        session=session,
        offer=offer,
        may_run=access.can_run_session(current_user, session),
    )


# --- Enrol and cancel: the widget ----------------------------------------------------------


def _refuse_forged_identity() -> None:
    """The enrolled person is always the logged-in one: a form naming someone else (or another
    organisation) is refused, not silently applied to the current user."""
    user_id = request.form.get("user_id")
    if user_id is not None and user_id.strip() != str(current_user.id):
        raise NotAllowed(_(
            "Sie können nur sich selbst anmelden. Andere Personen meldet die Personalstelle an."
        ))
    organisation_id = request.form.get("organisation_id")
    if organisation_id is not None and organisation_id.strip() != str(current_user.organisation_id):
        raise NotAllowed(_(
            "Die Organisation ergibt sich aus Ihrem Benutzerkonto und kann nicht gewählt werden."
        ))


def _widget_response(session_id: int, message: str, category: str = "success", *,
                     user_id: int, position: int | None, may_enrol: bool):
    """htmx: the swapped widget plus the message for the live region; else flash and 303.

    Called after the commit, with ids and values the view noted before it: the widget shows
    the seats as they are now, after this request and any other that committed before it."""
    back = _back_url(url_for(".session", session_id=session_id))
    if is_partial():
        offer = enrolment_service.offer_after_change(user_id, session_id, position,
                                                     may_enrol=may_enrol)
        return render_template(
            "trainings/_enrol_response.html",
            offer=offer,
            back_url=back,
            message=message,
            category=category,
        )
    flash(message, category)
    return redirect(back, code=303)


@bp.post("/termine/<int:session_id>/anmelden")
@login_required
def enrol(session_id: int):
    session = _load_visible_session(session_id)
    _refuse_forged_identity()
    user_id = current_user.id
    enrolment = enrolment_service.enrol(current_user, session)
    position = enrolment_service.waitlist_position(enrolment)
    if position is None:
        message = _("Sie sind für „%(title)s“ angemeldet.", title=session.title)
    else:
        message = _(
            "Der Termin „%(title)s“ ist ausgebucht. Sie stehen auf der Warteliste auf Platz %(n)s.",
            title=session.title, n=position,
        )
    db.session.commit()
    # The service enrolled her, so the series is open to her organisation.
    return _widget_response(session_id, message, user_id=user_id, position=position,
                            may_enrol=True)


@bp.post("/termine/<int:session_id>/abmelden")
@login_required
def cancel(session_id: int):
    session = _load_visible_session(session_id)
    _refuse_forged_identity()
    user_id = current_user.id
    enrolment = enrolment_service.live_enrolment(current_user, session)
    if enrolment is None:
        raise Conflict(_("Sie sind für diesen Termin nicht angemeldet."))
    may_enrol = access.can_enrol(current_user, session.series)
    was_waiting = enrolment.state == EnrolmentState.WAITLISTED
    enrolment_service.cancel(enrolment, actor=current_user)
    if was_waiting:
        message = _("Sie stehen nicht mehr auf der Warteliste für „%(title)s“.",
                    title=session.title)
    else:
        message = _("Sie haben sich von „%(title)s“ abgemeldet.", title=session.title)
    db.session.commit()
    return _widget_response(session_id, message, "info", user_id=user_id, position=None,
                            may_enrol=may_enrol)


# --- Calendar file -------------------------------------------------------------------------


@bp.get("/termine/<int:session_id>/kalender.ics")
@login_required
def calendar(session_id: int):
    session = _load_visible_session(session_id)
    link = url_for(".session", session_id=session.id, _external=True)
    response = make_response(calendar_service.session_download(session, link))
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="termin-{session.id}-{to_local(session.starts_at):%Y-%m-%d}.ics"'
    )
    return response


# --- HR: the enrolment list of a session ---------------------------------------------------


def _roster_context(session: TrainingSession, query: str) -> dict:
    return {
        "session": session,
        "roster": enrolment_service.roster(session),
        "query": query,
        "people": enrolment_service.candidates(session, query) if query else [],
        "enrol_closed": enrolment_service.enrol_closed(session, by_staff=True),
        "cancel_closed": enrolment_service.cancel_closed(session, by_staff=True),
        "capacity_value": session.capacity,
        "quotas": (quotas.usage(session)
                   if session.reserved_seats or session.quotas_released_at else []),
    }


def _roster_response(session_id: int, message: str, category: str = "success"):
    query = (request.form.get("suche") or "").strip()[:100]
    if is_partial():
        session = _load_session_to_run(session_id)
        return render_template(
            "trainings/_roster_response.html",
            message=message, category=category, **_roster_context(session, query),
        )
    flash(message, category)
    target = url_for(".roster", session_id=session_id, suche=query or None)
    return redirect(target, code=303)


@bp.get("/termine/<int:session_id>/teilnehmende")
@login_required
def roster(session_id: int):
    session = _load_session_to_run(session_id)
    query = (request.args.get("suche") or "").strip()[:100]
    context = _roster_context(session, query)
    if is_partial() and request.headers.get("HX-Target") == "person-results":
        return render_template("trainings/_person_results.html", **context)
    return render_template("trainings/roster.html", **context)


@bp.post("/termine/<int:session_id>/teilnehmende/hinzufuegen")
@login_required
def roster_add(session_id: int):
    session = _load_session_to_run(session_id)
    person = trainings_service.person_by_id(request.form.get("user_id"))
    if person is None or not access.can_enrol(person, session.series):
        # Unknown ids and people of organisations the series is not open to get the same
        # answer, so the form cannot be used to probe for accounts.
        raise ServiceError(_(
            "Diese Person kann für diesen Termin nicht angemeldet werden. Bitte wählen Sie eine "
            "Person aus den Suchergebnissen."
        ))
    enrolment = enrolment_service.enrol(person, session, actor=current_user)
    position = enrolment_service.waitlist_position(enrolment)
    name = person.full_name
    db.session.commit()
    if position is None:
        message = _("%(name)s ist jetzt angemeldet.", name=name)
    else:
        message = _("Der Termin ist ausgebucht: %(name)s steht auf der Warteliste auf Platz %(n)s.",
                    name=name, n=position)
    return _roster_response(session_id, message)


@bp.post("/termine/<int:session_id>/teilnehmende/<int:enrolment_id>/entfernen")
@login_required
def roster_remove(session_id: int, enrolment_id: int):
    session = _load_session_to_run(session_id)
    enrolment = trainings_service.enrolment_of_session(session, enrolment_id)
    if enrolment is None:
        abort(404)
    name = enrolment.user.full_name
    promoted = enrolment_service.cancel(enrolment, actor=current_user)
    promoted_name = promoted.user.full_name if promoted is not None else None
    db.session.commit()
    message = _("%(name)s wurde abgemeldet.", name=name)
    if promoted_name:
        message += " " + _("%(name)s ist von der Warteliste nachgerückt.", name=promoted_name)
    return _roster_response(session_id, message, "info")


@bp.post("/termine/<int:session_id>/kapazitaet")
@login_required
def capacity(session_id: int):
    session = _load_session_to_run(session_id)
    raw = (request.form.get("capacity") or "").strip()
    try:
        if len(raw) > 9:
            raise ValueError
        new_capacity = int(raw)
    except ValueError:
        raise ServiceError(_("Bitte geben Sie die Kapazität als ganze Zahl an.")) from None
    promoted = enrolment_service.change_capacity(session, new_capacity, actor=current_user)
    names = [e.user.full_name for e in promoted]
    db.session.commit()
    message = _("Der Termin hat jetzt %(n)s Plätze.", n=new_capacity)
    if names:
        message += " " + _("Von der Warteliste nachgerückt: %(names)s.", names=", ".join(names))
    return _roster_response(session_id, message)

