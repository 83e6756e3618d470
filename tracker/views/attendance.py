"""Anwesenheit: the attendance sheet of a session, one click per person, with and without JS."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from tracker.extensions import db
from tracker.models import AttendanceStatus, TrainingSession, utcnow
from tracker.security import database_id
from tracker.services import access, certificates
from tracker.services import attendance as service
from tracker.views.htmx import is_partial, render_page_or_fragment

bp = Blueprint("attendance", __name__, url_prefix="/anwesenheit")
# The row macro (templates/attendance/_row.html) offers one button per status.
bp.add_app_template_global(AttendanceStatus, "AttendanceStatus")

PER_PAGE = 20
UPCOMING = 5


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
    upcoming = service.upcoming_sessions(current_user, UPCOMING) if page == 1 else []
    recent = service.recent_sessions(current_user, page=page, per_page=PER_PAGE)
    counts = service.counts_by_session([s.id for s in [*upcoming, *recent.items]])
    return render_template(
        "attendance/index.html", upcoming=upcoming, recent=recent, counts=counts, now=utcnow()
    )


def _sheet_context(session: TrainingSession) -> dict:
    refusal = service.marking_refusal(current_user, session)
    return {
        "session": session,
        "rows": service.sheet_rows(session.id),
        "counts": service.sheet_counts(session.id),
        "refusal": refusal,
        "may_mark": refusal is None,
        "closed_by": service.closed_by(session),
        "may_reopen": session.is_closed and access.can_change_closed_marks(current_user, session),
        "started": utcnow() >= session.starts_at,
        # HR download the certificates of their own people once the sheet is closed.
        "may_certify": session.is_closed and (
            current_user.is_admin or current_user.has_role(*access.HR_ROLES)),
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
    db.session.commit()
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
            session_id=session_id,
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
            session_id=session_id,
            may_mark=True,
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
        may_certify=certificates.may_issue(current_user, enrolment_id),
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
