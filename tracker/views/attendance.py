"""Anwesenheit: the attendance sheet of a session, one click per person, with and without JS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import ClassVar

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
from flask_babel import ngettext
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from tracker.database import commit_keeping_loaded
from tracker.extensions import db
from tracker.i18n import current_locale, time_formatter
from tracker.i18n import gettext as _
from tracker.models import TrainingSession, User, utcnow
from tracker.security import database_id, form_csrf_token
from tracker.services import access
from tracker.services import attendance as service
from tracker.timeutil import local_day_bounds, to_local
from tracker.views.htmx import is_partial, render_page_or_fragment
from tracker.views.urls import id_url

bp = Blueprint("attendance", __name__, url_prefix="/anwesenheit")

PER_PAGE = 20
UPCOMING = 5


@dataclass(frozen=True)
class SheetView:
    """What every row of a sheet shares (templates/attendance/_row.html), worked out once:
    url_for, gettext and csrf_token cost 5-25 µs a call, and a sheet has 30 rows. The row
    renders without autoescaping, so every text here is escaped Markup already.

    `forms` holds each status's form (three buttons) rendered once, with markers where a row's
    id and version go; a row stamps its two numbers in. `focused_forms` are the same with
    data-focus on the pressed button, for the answer to a click. The view is remembered per
    process for its session, token and language (_remembered_sheet_view)."""

    may_mark: bool
    csrf_token: Markup
    mark_url: Callable[[int], Markup]
    history_url: Callable[[int], Markup]
    labels: Mapping[str | None, Markup]
    # "von %(name)s" (the history link's hidden text): Markup escapes the name it is given.
    history_of: Markup
    time: Callable[[datetime | None], str]
    buttons: tuple[tuple[str, str], ...] = (
        ("present", "a 1"), ("excused", "e 2"), ("absent", "u 3"),
    )
    mark_url_stamp: Markup = Markup("")
    forms: Mapping[str | None, Markup] = field(default_factory=dict)
    focused_forms: Mapping[str | None, Markup] = field(default_factory=dict)
    # The row macro of _row.html, taken from the template once, not imported per answer.
    row_macro: Callable[..., Markup] | None = None
    statuses: tuple[str | None, ...] = (None, *service.STATUSES)
    row_marker: ClassVar[str] = "__row__"
    version_marker: ClassVar[str] = "__version__"
    # Status as text in a badge, never colour alone; the colour only repeats it.
    badge_kinds: Mapping[str | None, str] = field(default_factory=lambda: BADGE_KINDS)
    status_classes: Mapping[str | None, str] = field(default_factory=lambda: STATUS_CLASSES)

    def render_row(self, row: service.SheetRow, focus: bool = False) -> Markup:
        return self.row_macro(row, self, focus)  # type: ignore[misc]


BADGE_KINDS = {None: "info", "present": "success", "excused": "warning", "absent": "danger"}
STATUS_CLASSES = {None: "open", "present": "present", "excused": "excused", "absent": "absent"}
ROW_TEMPLATE = "attendance/_row.html"


def _escaped_url(build: Callable[[int], str]) -> Callable[[int], Markup]:
    return lambda row_id: escape(build(row_id))


@lru_cache(maxsize=8)
def _labels(locale: str) -> Mapping[str | None, Markup]:
    # The catalogue does not change while the process runs: translated once per language.
    labels = {status: service.status_label(status) for status in (None, *service.STATUSES)}
    labels.update(walk_in=_("spontan"), from_waitlist=_("von der Warteliste"), history=_("Verlauf"))
    return MappingProxyType({key: escape(text) for key, text in labels.items()})


def _sheet_view(session_id: int, may_mark: bool) -> SheetView:
    # The row template is part of the key: it belongs to one app (and its url_for), and a
    # template reloaded in development renders new forms. So is the script root the links
    # start with.
    return _remembered_sheet_view(
        current_app.jinja_env.get_template(ROW_TEMPLATE),
        request.script_root,
        session_id,
        may_mark,
        form_csrf_token() if may_mark else "",
        current_locale(),
    )


@lru_cache(maxsize=512)
def _remembered_sheet_view(
    row_template, _script_root: str, session_id: int, may_mark: bool, token: str, locale: str
) -> SheetView:
    # A click's answer needs this view too (~100 µs to build and render its forms, a tenth
    # of the click, bench/); it depends only on the arguments, so it is built once for them.
    mark_url = id_url("attendance.mark", "enrolment_id", session_id=session_id)
    view = SheetView(
        may_mark=may_mark,
        csrf_token=escape(token),
        mark_url=_escaped_url(mark_url),
        mark_url_stamp=escape(mark_url.with_marker(SheetView.row_marker)),
        history_url=_escaped_url(
            id_url("attendance.history", "enrolment_id", session_id=session_id)
        ),
        labels=_labels(locale),
        history_of=escape(_("von %(name)s")),
        time=time_formatter("short"),
        row_macro=row_template.module.sheet_row,
    )
    if not may_mark:
        return view
    mark_form = row_template.module.mark_form  # macros of a template without a context

    def forms(focused: bool) -> Mapping[str | None, Markup]:
        return MappingProxyType({
            status: mark_form(view.row_marker, view.version_marker, status, view,
                              view.mark_url_stamp, status if focused else None)
            for status in view.statuses
        })

    return replace(view, forms=forms(False), focused_forms=forms(True))


def _require_area() -> None:
    if not access.can_use_attendance(current_user):
        abort(403)


def _load_session(session_id: int) -> TrainingSession:
    """Load or 404, then one permission check: 403 for a session the user can see but may not
    run, 404 for one of a series they cannot see at all (its existence does not leak)."""
    _require_area()
    session = access.get_session_or_404(session_id)
    if not access.can_run_session(current_user, session):
        abort(403 if access.can_see_series(current_user, session.series) else 404)
    return session


def _sheet_url(session_id: int, enrolment_id: int | None = None) -> str:
    anchor = f"row-{enrolment_id}" if enrolment_id else None
    return url_for("attendance.sheet", session_id=session_id, _anchor=anchor)


def _announcement(row: service.SheetRow) -> str:
    return _("%(name)s: %(status)s.", name=row.full_name, status=service.status_label(row.status))


@bp.get("/")
@login_required
def index():
    _require_area()
    page = max(request.args.get("seite", 1, type=int) or 1, 1)
    today = to_local(utcnow()).date()
    _, end_of_today = local_day_bounds(today, today)
    base = (
        select(TrainingSession)
        .join(TrainingSession.series)
        .options(contains_eager(TrainingSession.series))
        .where(access.runnable_series_filter(current_user), TrainingSession.cancelled_at.is_(None))
    )
    upcoming = (
        db.session.scalars(
            base.where(TrainingSession.starts_at > end_of_today)
            .order_by(TrainingSession.starts_at, TrainingSession.id)
            .limit(UPCOMING)
        ).all()
        if page == 1
        else []
    )
    recent = db.paginate(
        base.where(TrainingSession.starts_at <= end_of_today).order_by(
            TrainingSession.starts_at.desc(), TrainingSession.id.desc()
        ),
        page=page,
        per_page=PER_PAGE,
        error_out=False,
    )
    counts = service.counts_by_session([s.id for s in [*upcoming, *recent.items]])
    return render_template(
        "attendance/index.html", upcoming=upcoming, recent=recent, counts=counts, now=utcnow()
    )


def _sheet_context(session: TrainingSession) -> dict:
    refusal = service.marking_refusal(current_user, session)
    closed_by = (
        db.session.get(User, session.closed_by_id) if session.closed_by_id is not None else None
    )
    return {
        "session": session,
        "rows": service.sheet_rows(session.id),
        "counts": service.sheet_counts(session.id),
        "refusal": refusal,
        "may_mark": refusal is None,
        "sheet": _sheet_view(session.id, may_mark=refusal is None),
        "closed_by": closed_by,
        "may_reopen": session.is_closed and access.can_change_closed_marks(current_user, session),
        "started": utcnow() >= session.starts_at,
    }


@bp.get("/termine/<int:session_id>")
@login_required
def sheet(session_id: int):
    session = _load_session(session_id)
    return render_template("attendance/sheet.html", **_sheet_context(session))


@bp.post("/termine/<int:session_id>/eintraege/<int:enrolment_id>")
@login_required
def mark(session_id: int, enrolment_id: int):
    session = _load_session(session_id)
    result = service.mark(
        session,
        enrolment_id,
        request.form.get("status"),
        current_user,
        seen_version=request.form.get("version", type=int),
    )
    # The counts for the htmx answer are read in the same transaction, before the commit:
    # one small aggregate, where a read after the commit would check a connection out of
    # the pool again and begin a second transaction. Rendering still happens after the commit.
    partial = is_partial()
    counts = service.sheet_counts(session_id) if partial else None
    commit_keeping_loaded()
    row = result.row
    if result.changed:
        message = _announcement(row)
    else:
        message = _(
            "%(name)s ist bereits als „%(status)s“ erfasst.",
            name=row.full_name,
            status=service.status_label(row.status),
        )
    notice = None
    if result.overrode_other:
        notice = _(
            "Hinweis: Der Eintrag von %(name)s war inzwischen von jemand anderem geändert "
            "worden. Ihre Auswahl „%(status)s“ gilt jetzt; beide Änderungen stehen im Verlauf.",
            name=row.full_name,
            status=service.status_label(row.status),
        )
    if partial:
        return render_template(
            "attendance/_mark_response.html",
            row=row,
            sheet=_sheet_view(session_id, may_mark=True),
            counts=counts,
            announcement=message,
            notice=notice,
        )
    flash(message, "success")
    if notice:
        flash(notice, "warning")
    return redirect(_sheet_url(session_id, enrolment_id), code=303)


@bp.post("/termine/<int:session_id>/alle-anwesend")
@login_required
def mark_all_present(session_id: int):
    session = _load_session(session_id)
    marked = service.mark_all_present(session, current_user)
    db.session.commit()
    if marked:
        message = ngettext(
            "%(num)s Person als anwesend erfasst.", "%(num)s Personen als anwesend erfasst.", marked
        )
    else:
        message = _("Es gab keine offenen Einträge.")
    if is_partial():
        return render_template(
            "attendance/_rows_response.html",
            rows=service.sheet_rows(session_id),
            sheet=_sheet_view(session_id, may_mark=True),
            counts=service.sheet_counts(session_id),
            announcement=message,
        )
    flash(message, "success")
    return redirect(_sheet_url(session_id), code=303)


@bp.get("/termine/<int:session_id>/suche")
@login_required
def search(session_id: int):
    session = _load_session(session_id)
    q = request.args.get("q", "")
    hits, more = service.search_people(session, q)
    return render_page_or_fragment(
        "attendance/search.html",
        "attendance/_search_results.html",
        session=session,
        session_id=session_id,
        q=q,
        hits=hits,
        more=more,
        too_short=len(" ".join(q.split())) < service.SEARCH_MIN_CHARS,
        min_chars=service.SEARCH_MIN_CHARS,
        may_mark=service.marking_refusal(current_user, session) is None,
    )


@bp.post("/termine/<int:session_id>/spontan")
@login_required
def add_walk_in(session_id: int):
    session = _load_session(session_id)
    enrolment = service.add_walk_in(session, request.form.get("user_id", type=database_id), current_user)
    enrolment_id = enrolment.id
    db.session.commit()
    row = service.sheet_row(session_id, enrolment_id)
    message = _(
        "%(name)s wurde spontan hinzugefügt und als anwesend erfasst.", name=row.full_name
    )
    if is_partial():
        return render_template(
            "attendance/_walk_in_response.html",
            row=row,
            session_id=session_id,
            sheet=_sheet_view(session_id, may_mark=True),
            counts=service.sheet_counts(session_id),
            announcement=message,
            added_message=message,
        )
    flash(message, "success")
    return redirect(_sheet_url(session_id, enrolment_id), code=303)


@bp.get("/termine/<int:session_id>/eintraege/<int:enrolment_id>/verlauf")
@login_required
def history(session_id: int, enrolment_id: int):
    session = _load_session(session_id)
    row = service.sheet_row(session_id, enrolment_id)
    return render_page_or_fragment(
        "attendance/history.html",
        "attendance/_history.html",
        session=session,
        row=row,
        entries=service.history(session_id, enrolment_id),
        label=service.status_label,
    )


@bp.post("/termine/<int:session_id>/abschliessen")
@login_required
def close(session_id: int):
    session = _load_session(session_id)
    service.close(session, current_user)
    db.session.commit()
    flash(
        _(
            "Die Anwesenheit ist abgeschlossen. Änderungen sind jetzt nur noch durch die "
            "Personalleitung oder die Administration möglich."
        ),
        "success",
    )
    return redirect(_sheet_url(session_id), code=303)


@bp.post("/termine/<int:session_id>/wieder-oeffnen")
@login_required
def reopen(session_id: int):
    session = _load_session(session_id)
    service.reopen(session, current_user)
    db.session.commit()
    flash(_("Der Termin ist wieder geöffnet; die Anwesenheit kann geändert werden."), "success")
    return redirect(_sheet_url(session_id), code=303)


@bp.get("/termine/<int:session_id>/unterschriftenliste")
@login_required
def sign_in_sheet(session_id: int):
    session = _load_session(session_id)
    return render_template(
        "attendance/sign_in_sheet.html",
        session=session,
        rows=service.sheet_rows(session_id),
        empty_rows=8,
    )
