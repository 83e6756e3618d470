"""Error pages in German, in the app's layout; short messages for htmx requests."""

from __future__ import annotations

import logging

from flask import Flask, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from tracker.extensions import db
from tracker.services import ServiceError
from tracker.views.htmx import is_partial

log = logging.getLogger("tracker.errors")


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Ungültige Anfrage"), _("Die Anfrage konnte nicht verarbeitet werden.")),
        403: (_("Kein Zugriff"), _("Sie haben keine Berechtigung für diese Seite oder Aktion.")),
        404: (_("Seite nicht gefunden"), _("Die angeforderte Seite gibt es nicht (mehr).")),
        405: (_("Aktion nicht erlaubt"), _("Diese Adresse kann so nicht aufgerufen werden.")),
        409: (_("Konflikt"), _("Die Aktion widerspricht dem aktuellen Stand der Daten.")),
        413: (_("Datei zu groß"), _("Die hochgeladene Datei ist zu groß.")),
        422: (_("Eingabe nicht möglich"), _("Die Eingabe konnte nicht übernommen werden.")),
        429: (
            _("Zu viele Versuche"),
            _("Bitte warten Sie einige Minuten und versuchen Sie es dann erneut."),
        ),
        500: (
            _("Interner Fehler"),
            _(
                "Es ist ein unerwarteter Fehler aufgetreten. Ihre Daten wurden nicht verändert. "
                "Bitte versuchen Sie es später erneut."
            ),
        ),
    }


def render_error(status: int, message: str | None = None):
    title, default_message = _messages().get(status, _messages()[400 if status < 500 else 500])
    text = message or default_message
    if is_partial():
        return render_template("errors/_message.html", title=title, message=text), status
    return render_template("errors/error.html", status=status, title=title, message=text), status


def log_refusal(status: int, reason: str = "") -> None:
    """Refused accesses go to the log (who, what, from where): a trail for attacks."""
    from flask_login import current_user

    user = getattr(current_user, "id", None) if current_user else None
    log.warning(
        "access refused status=%s user=%s method=%s path=%s ip=%s%s",
        status, user, request.method, request.path, request.remote_addr,
        f" reason={reason}" if reason else "",
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        from flask_login import current_user

        from tracker.extensions import login_manager

        db.session.rollback()
        log_refusal(400, f"csrf: {exc.description}")
        if (request.headers.get("HX-Request") and not current_user.is_authenticated
                and not (request.endpoint or "").startswith("auth.")):
            # An htmx click after the login ended: its token belonged to that login. The
            # person is sent to the login page and back, not told that a form expired.
            return login_manager.unauthorized()
        return render_error(
            400,
            _(
                "Das Formular ist abgelaufen oder unvollständig. Bitte laden Sie die Seite neu "
                "und versuchen Sie es noch einmal."
            ),
        )

    @app.errorhandler(SecurityError)
    def _untrusted_host(_exc: SecurityError):
        # A Host outside TRUSTED_HOSTS: no URL of this app can be built for it, so the
        # answer is plain text rather than a page with navigation.
        log_refusal(400, "untrusted host")
        return _("Diese Adresse gehört nicht zu tracker."), 400, {
            "Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        db.session.rollback()
        if exc.status_code == 403:
            log_refusal(403, "service")
        return render_error(exc.status_code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        status = exc.code or 500
        if status in (401, 403, 429):
            log_refusal(status)
        body, code = render_error(status)
        response = make_response(body, code)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)
