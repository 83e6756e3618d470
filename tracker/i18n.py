"""Language selection and the one set of date and time formats per language.

Translation and formatting are Flask-Babel's own (gettext, ngettext, lazy_gettext,
format_date, format_time, format_datetime, and its gettext callables in templates). What
tracker adds is which language a person sees, and which patterns its pages use: Babel's
standard formats differ in style between lengths and, for "en", follow US conventions
("12/24/26, 9:00 AM"), so a row printed with two lengths mixed styles. DATE_FORMATS names
each format once per language; the template filters |date, |time and |datetime use them.
"""

from __future__ import annotations

from datetime import date, datetime, time

import flask_babel
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_decimal, get_locale, gettext, lazy_gettext, ngettext, refresh

from tracker.extensions import babel

__all__ = [
    "DATE_FORMATS",
    "choose_language",
    "current_locale",
    "date_pattern",
    "format_date",
    "format_datetime",
    "format_time",
    "gettext",
    "lazy_gettext",
    "ngettext",
    "select_locale",
]

# One style per language, 24-hour clock in both: the users are German public bodies, and
# English readers among them expect the British/European day-month-year order, not the US one.
#   de: "Fr., 25.12.2026, 09:00"        en: "Fri 25 Dec 2026, 09:00"
# Babel's names (short, medium, long, full) map onto these, so every page prints the same
# style whichever length a template asks for; anything else is taken as a Babel pattern.
DATE_FORMATS: dict[str, dict[str, str]] = {
    "de": {
        "date": "dd.MM.yyyy",  # 25.12.2026
        "weekday": "EEE, dd.MM.yyyy",  # Fr., 25.12.2026
        "long": "EEEE, d. MMMM yyyy",  # Freitag, 25. Dezember 2026
        "time": "HH:mm",  # 09:00
        "datetime": "dd.MM.yyyy, HH:mm",  # 25.12.2026, 09:00
        "weekday_datetime": "EEE, dd.MM.yyyy, HH:mm",  # Fr., 25.12.2026, 09:00
        "long_datetime": "EEEE, d. MMMM yyyy, HH:mm",  # Freitag, 25. Dezember 2026, 09:00
    },
    "en": {
        "date": "d MMM yyyy",  # 25 Dec 2026
        "weekday": "EEE d MMM yyyy",  # Fri 25 Dec 2026
        "long": "EEEE d MMMM yyyy",  # Friday 25 December 2026
        "time": "HH:mm",  # 09:00
        "datetime": "d MMM yyyy, HH:mm",  # 25 Dec 2026, 09:00
        "weekday_datetime": "EEE d MMM yyyy, HH:mm",  # Fri 25 Dec 2026, 09:00
        "long_datetime": "EEEE d MMMM yyyy, HH:mm",  # Friday 25 December 2026, 09:00
    },
}

# Which named format Babel's standard lengths stand for, per kind of value.
_STANDARD = {
    "date": {"short": "date", "medium": "date", "long": "long", "full": "long"},
    "time": {"short": "time", "medium": "time", "long": "time", "full": "time"},
    "datetime": {
        "short": "datetime", "medium": "datetime", "long": "long_datetime",
        "full": "long_datetime",
    },
}


def select_locale() -> str:
    # German first: English only when the person chose it.
    # Services translate their messages, and also run outside requests (CLI, tests): German.
    chosen = session.get("lang") if has_request_context() else None
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_locale() -> str:
    """The language of this request ("de", "en"), as Flask-Babel selected it."""
    locale = get_locale()
    return str(locale) if locale is not None else "de"


def choose_language(lang: str) -> None:
    """Set the person's language for this request and the following ones."""
    session["lang"] = lang
    refresh()


def date_pattern(kind: str, fmt: str | None = None) -> str:
    """The Babel pattern for `fmt` ("date", "weekday", "short", "full", ... or a pattern
    itself) in the current language; `kind` is "date", "time" or "datetime"."""
    name = fmt or kind
    name = _STANDARD[kind].get(name, name)
    formats = DATE_FORMATS.get(current_locale(), DATE_FORMATS["de"])
    return formats.get(name, name)


# Naive datetimes are the database's UTC; Flask-Babel shows them in BABEL_DEFAULT_TIMEZONE
# (Europe/Berlin). Nothing (None) prints as nothing, as a template expects.


def format_date(value: date | datetime | None, fmt: str | None = None) -> str:
    if value is None:
        return ""
    return flask_babel.format_date(value, date_pattern("date", fmt))


def format_time(value: datetime | time | None, fmt: str | None = None) -> str:
    if value is None:
        return ""
    return flask_babel.format_time(value, date_pattern("time", fmt))


def format_datetime(value: datetime | None, fmt: str | None = None) -> str:
    if value is None:
        return ""
    return flask_babel.format_datetime(value, date_pattern("datetime", fmt))


def format_figure(value) -> str:
    """A count as a report shows it: a number, "< 5" where the privacy threshold withholds it
    (tracker.services.disclosure.Withheld), "–" where there is nothing."""
    if value is None:
        return "–"
    below = getattr(value, "below", None)
    if below is not None:
        return f"< {format_decimal(below)}"
    return format_decimal(value)


def init_app(app: Flask) -> None:
    # Flask-Babel also installs its gettext callables for templates ({{ _() }}, {% trans %}).
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(app.root_path + "/translations"),
    )

    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["time"] = format_time
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["number"] = lambda v: format_decimal(v) if v is not None else ""
    app.jinja_env.filters["figure"] = format_figure

    @app.context_processor
    def _locale_context() -> dict:
        return {"current_lang": current_locale()}

    @app.before_request
    def _remember_lang_param() -> None:
        # ?lang=en on any GET lets a bookmarked English link work.
        lang = request.args.get("lang")
        if request.method == "GET" and lang in app.config["LANGUAGES"]:
            choose_language(lang)
