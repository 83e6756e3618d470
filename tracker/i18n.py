"""Language selection and the date and number formats of the templates."""

from __future__ import annotations

from flask import Flask, g, has_request_context, request, session
from flask_babel import format_date, format_datetime, format_decimal, format_time, get_translations

from tracker.extensions import babel


def select_locale() -> str:
    # German first: English only when the person chose it.
    from flask import current_app

    # Services translate their messages, and also run outside requests (CLI, tests): German.
    chosen = session.get("lang") if has_request_context() else None
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(app.root_path + "/translations"),
    )

    # Naive datetimes from the database are UTC; Flask-Babel shows them in Europe/Berlin.
    app.jinja_env.filters["date"] = lambda v, fmt="medium": format_date(v, fmt) if v else ""
    app.jinja_env.filters["time"] = lambda v, fmt="short": format_time(v, fmt) if v else ""
    app.jinja_env.filters["datetime"] = (
        lambda v, fmt="medium": format_datetime(v, fmt) if v else ""
    )
    app.jinja_env.filters["number"] = lambda v: format_decimal(v) if v is not None else ""

    # Templates call _() hundreds of times per page (a 30-person attendance sheet: ~270).
    # Flask-Babel looks up domain, locale and catalogue on every call (~11 µs each, a sixth
    # of the sheet's CPU time, measured with bench/); the catalogue cannot change within a
    # request, so look it up once and keep it where Flask-Babel keeps the request's locale.
    def _translations():
        holder = request if has_request_context() else g
        translations = getattr(holder, "_tracker_translations", None)
        if translations is None:
            translations = get_translations()
            holder._tracker_translations = translations
        return translations

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )

    @app.context_processor
    def _locale_context() -> dict:
        return {"current_lang": select_locale()}

    @app.before_request
    def _remember_lang_param() -> None:
        # ?lang=en on any GET lets a bookmarked English link work.
        lang = request.args.get("lang")
        if request.method == "GET" and lang in app.config["LANGUAGES"]:
            session["lang"] = lang
