"""Language selection and the date and number formats of the templates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

from babel import Locale
from babel.dates import (
    DateTimePattern,
    get_date_format,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)
from flask import Flask, current_app, g, has_app_context, has_request_context, request, session
from flask_babel import format_decimal, get_locale, get_translations, refresh
from jinja2 import pass_context
from markupsafe import Markup, escape

from tracker.extensions import babel
from tracker.timeutil import to_local

STANDARD_FORMATS = ("full", "long", "medium", "short")


def select_locale() -> str:
    # German first: English only when the person chose it.
    # Services translate their messages, and also run outside requests (CLI, tests): German.
    chosen = session.get("lang") if has_request_context() else None
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


# --- translations -------------------------------------------------------------------------
# Templates call _() hundreds of times per page (a 30-person attendance sheet: ~270), and the
# attendance services on every click. Flask-Babel looks up domain, locale and catalogue on
# every call (~11-24 µs each, a sixth of the sheet's CPU time, measured with bench/); the
# catalogue cannot change within a request, so it is looked up once and kept where
# Flask-Babel keeps the request's locale.


def translations():
    """The catalogue of the current request's language: looked up once per language and
    process (Flask-Babel keeps it that long as well; the lookup cost ~40 µs of every request
    that translates anything, bench/) and kept on the request."""
    if not has_request_context():
        if not has_app_context():
            return get_translations()  # Flask-Babel's fallback: no translation
        found = getattr(g, "_tracker_translations", None)
        if found is None:
            found = g._tracker_translations = get_translations()
        return found
    holder = request._get_current_object()
    found = holder.__dict__.get("_tracker_translations")
    if found is not None:
        return found
    locale = current_locale()
    catalogues = current_app.extensions.setdefault("tracker_catalogues", {})
    found = catalogues.get(locale)
    if found is None:
        found = get_translations()
        if str(get_locale()) != locale:  # Flask-Babel's locale of this request disagrees
            return found
        catalogues[locale] = found
    holder._tracker_translations = found
    return found


# --- gettext in templates -------------------------------------------------------------------
# Jinja's own newstyle callables reach the catalogue through three layers of context calls
# (~11 µs per {{ _("...") }}, bench/: 45 of them on the attendance sheet). These do the same
# with one: translated text is Markup where autoescaping is on, and is always a format
# string filled with the keyword arguments (num for plurals, context for pgettext), as
# jinja2.ext's newstyle gettext does.


def _filled(context, text: str, variables: dict) -> str:
    if context.eval_ctx.autoescape:
        if variables and all(type(v) is str or type(v) is int for v in variables.values()):
            # What Markup(text) % variables gives, without its escape helper per value
            # (~5 µs; the series list fills ~60 texts): texts escaped, numbers as they are.
            return Markup(text % {
                key: escape(value) if type(value) is str else value
                for key, value in variables.items()
            })
        text = Markup(text)
    return text % variables if variables or "%" in text else text


@pass_context
def template_gettext(__context, __string: str, **variables) -> str:
    catalogue = translations()
    if variables or not __context.eval_ctx.autoescape:
        return _filled(__context, catalogue.ugettext(__string), variables)
    # The common case, a text without placeholders on an escaped page: the same Markup for
    # every request in this language, kept with the catalogue.
    memo = catalogue.__dict__.setdefault("_tracker_markup", {})
    found = memo.get(__string)
    if found is None:
        found = memo[__string] = _filled(__context, catalogue.ugettext(__string), variables)
    return found


@pass_context
def template_ngettext(__context, __singular: str, __plural: str, __num: int, **variables) -> str:
    variables.setdefault("num", __num)
    return _filled(__context, translations().ungettext(__singular, __plural, __num), variables)


@pass_context
def template_pgettext(__context, __string_ctx: str, __string: str, **variables) -> str:
    variables.setdefault("context", __string_ctx)
    return _filled(__context, translations().upgettext(__string_ctx, __string), variables)


@pass_context
def template_npgettext(
    __context, __string_ctx: str, __singular: str, __plural: str, __num: int, **variables
) -> str:
    variables.setdefault("context", __string_ctx)
    variables.setdefault("num", __num)
    text = translations().unpgettext(__string_ctx, __singular, __plural, __num)
    return _filled(__context, text, variables)


def current_locale() -> str:
    """The request's locale as a string ("de", "en"), worked out once per request as
    Flask-Babel does for its own (a list prints five dates per session, bench/)."""
    if not has_request_context():
        return str(get_locale())
    holder = request._get_current_object()
    found = holder.__dict__.get("_tracker_locale")
    if found is None:
        found = holder._tracker_locale = select_locale()
    return found


def choose_language(lang: str) -> None:
    """Set the person's language for this request and the following ones."""
    session["lang"] = lang
    holder = request._get_current_object()
    holder.__dict__.pop("_tracker_locale", None)
    holder.__dict__.pop("_tracker_translations", None)
    refresh()


def gettext(string: str, **variables) -> str:
    """flask_babel.gettext with the catalogue looked up once per request."""
    text = translations().ugettext(string)
    return text % variables if variables else text


# --- dates and times in templates -------------------------------------------------------
# Flask-Babel's format_* look up locale, time zone and pattern and parse the pattern on every
# call (~60 µs; an attendance sheet shows a time per row). The patterns depend only on the
# locale and the format, so they are parsed once per process; the conversion from the
# database's naive UTC to Europe/Berlin is the one in tracker.timeutil. The output is
# Babel's, character for character (tests/test_i18n.py compares both).


# Patterns of digits and dots only print the same through strftime, ~10x faster than Babel's
# pattern.apply (the German short time of every row of the attendance sheet is one).
_STRFTIME = {
    "HH:mm": "%H:%M",
    "HH:mm:ss": "%H:%M:%S",
    "dd.MM.yy": "%d.%m.%y",
    "dd.MM.yyyy": "%d.%m.%Y",
}


@lru_cache(maxsize=128)
def _pattern(kind: str, fmt: str, locale: str) -> DateTimePattern:
    if fmt not in STANDARD_FORMATS:
        return parse_pattern(fmt)
    getter = get_date_format if kind == "date" else get_time_format
    return getter(fmt, locale=Locale.parse(locale))


@lru_cache(maxsize=32)
def _datetime_frame(fmt: str, locale: str) -> str:
    # How Babel joins date and time for a standard format, e.g. "{1}, {0}".
    return get_datetime_format(fmt, locale=Locale.parse(locale)).replace("'", "")


def _localised(value: date | datetime) -> date | datetime:
    return to_local(value) if isinstance(value, datetime) and value.tzinfo is None else value


# What a date or time prints as depends only on the value, the format and the locale, and a
# list shows the same sessions to everyone: formatted values are remembered per process
# (Babel's pattern.apply costs ~20 µs a date; the series list prints five per session).
# Naive values are the database's UTC, the key; aware ones are formatted as they come.


def _printed(value, fmt: str, locale: str, direct, remembered) -> str:
    if not value:
        return ""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return direct(value, fmt, locale)
    return remembered(value, fmt, locale)


def format_date(value: date | datetime | None, fmt: str = "medium") -> str:
    return _printed(value, fmt, current_locale(), _format_date, _remembered_date)


def format_time(value: datetime | None, fmt: str = "short") -> str:
    return _printed(value, fmt, current_locale(), _format_time, _remembered_time)


def format_datetime(value: datetime | None, fmt: str = "medium") -> str:
    return _printed(value, fmt, current_locale(), _format_datetime, _remembered_datetime)


def time_formatter(fmt: str = "short") -> Callable[[datetime | None], str]:
    """format_time with the request's locale looked up once, for lists that print a time per
    row (the attendance sheet)."""
    locale = current_locale()
    return lambda value: _printed(value, fmt, locale, _format_time, _remembered_time)


def _format_date(value: date | datetime, fmt: str, locale: str) -> str:
    value = _localised(value)
    day = value.date() if isinstance(value, datetime) else value
    pattern = _pattern("date", fmt, locale)
    fast = _STRFTIME.get(pattern.pattern)
    if fast:
        return day.strftime(fast)
    return pattern.apply(day, locale)


def _format_time(value: datetime, fmt: str, locale: str) -> str:
    value = _localised(value)
    pattern = _pattern("time", fmt, locale)
    fast = _STRFTIME.get(pattern.pattern)
    if fast:
        return value.strftime(fast)
    return pattern.apply(value.timetz(), locale, reference_date=value.date())


def _format_datetime(value: datetime, fmt: str, locale: str) -> str:
    value = _localised(value)
    if fmt not in STANDARD_FORMATS:
        return _pattern("datetime", fmt, locale).apply(value, locale)
    return (
        _datetime_frame(fmt, locale)
        .replace("{0}", _format_time(value, fmt, locale))
        .replace("{1}", _format_date(value, fmt, locale))
    )


_remembered_date = lru_cache(maxsize=8192)(_format_date)
_remembered_time = lru_cache(maxsize=8192)(_format_time)
_remembered_datetime = lru_cache(maxsize=8192)(_format_datetime)


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(app.root_path + "/translations"),
    )

    # Naive datetimes from the database are UTC; templates show them in Europe/Berlin.
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["time"] = format_time
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["number"] = lambda v: format_decimal(v) if v is not None else ""

    # The i18n extension stays for {% trans %}; it finds these under the same names.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals.update(
        _=template_gettext,
        gettext=template_gettext,
        ngettext=template_ngettext,
        pgettext=template_pgettext,
        npgettext=template_npgettext,
    )

    @app.context_processor
    def _locale_context() -> dict:
        return {"current_lang": current_locale()}

    @app.before_request
    def _remember_lang_param() -> None:
        # ?lang=en on any GET lets a bookmarked English link work.
        lang = request.args.get("lang")
        if request.method == "GET" and lang in app.config["LANGUAGES"]:
            choose_language(lang)
