"""English is complete: every German msgid has an English translation, the pages of every area
render in English when a person chooses it, and refusals from the services arrive in English."""

from __future__ import annotations

import html as html_lib
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations

from tests import factories
from tracker.models import Role

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "tracker/translations"
POT = TRANSLATIONS / "messages.pot"
PO = TRANSLATIONS / "en/LC_MESSAGES/messages.po"
MO = TRANSLATIONS / "en/LC_MESSAGES/messages.mo"


def _load_i18n_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "tools/i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keys(path: Path) -> set[tuple[str | None, str]]:
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {
        (m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id
    }


def _english_catalog():
    with PO.open("rb") as fh:
        return read_po(fh)


# --- The catalogue -------------------------------------------------------------------------


def test_english_catalogue_has_no_untranslated_or_fuzzy_message():
    assert _load_i18n_tool().untranslated() == []
    catalog = _english_catalog()
    assert not catalog.fuzzy
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


def test_committed_template_messages_are_all_in_the_english_catalogue():
    assert _keys(POT) - _keys(PO) == set()


def test_every_message_in_the_code_today_has_an_english_translation(tmp_path):
    """Extract afresh: a German string added anywhere without a translation fails here."""
    pot = tmp_path / "messages.pot"
    tool = _load_i18n_tool()
    subprocess.run(
        [str(tool.BIN / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_l",
         "-k", "lazy_gettext", "-o", str(pot), "--no-location", "--project", "tracker", "."],
        check=True, cwd=ROOT, capture_output=True,
    )
    missing = _keys(pot) - _keys(PO)
    assert missing == set(), "run `python tools/i18n.py` and translate: " + repr(sorted(
        missing, key=str))


def test_translations_keep_every_placeholder():
    placeholder = re.compile(r"%\(\w+\)s")
    wrong = []
    for m in _english_catalog():
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(placeholder.findall(ids[0])) | set(placeholder.findall(ids[-1]))
        wrong += [(ids[0], s) for s in strings if set(placeholder.findall(s)) != wanted]
    assert wrong == []


def test_compiled_catalogue_matches_the_po_file():
    assert MO.exists(), "run `make translations` to compile the English catalogue"
    with MO.open("rb") as fh:
        compiled = Translations(fh)
    stale = []
    for m in _english_catalog():
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not m.id or not all(strings):  # untranslated: the first test reports those
            continue
        if isinstance(m.id, tuple):
            got = compiled.ungettext(m.id[0], m.id[1], 1)
            want = m.string[0]
        elif m.context:
            got, want = compiled.upgettext(m.context, m.id), m.string
        else:
            got, want = compiled.ugettext(m.id), m.string
        if got != want:
            stale.append(m.id)
    assert stale == [], "run `make translations`: the .mo is older than the .po"


# --- Pages in English ----------------------------------------------------------------------


def _german_phrases() -> list[str]:
    """German msgids that can never be English text: those that differ from their own
    translation and from every other translation ("Start" is German and English)."""
    catalog = _english_catalog()
    english = set()
    for m in catalog:
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        english.update(s for s in strings if s)
    phrases = []
    for m in catalog:
        if not m.id:
            continue
        for msgid in (m.id if isinstance(m.id, tuple) else (m.id,)):
            # The part of a message before its first placeholder is plain text on the page.
            head = re.split(r"%\(\w+\)s", msgid)[0].strip(" :,.(“„")
            if len(head) >= 3 and head not in english and msgid not in english:
                phrases.append(head)
    return sorted(set(phrases))


def _visible_text(page: str) -> str:
    """Text and the attributes people read or hear (labels, titles, confirmations)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    attrs = re.findall(r'\s(?:aria-label|title|placeholder|alt|data-confirm|data-msg-[a-z]+)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html_lib.unescape(text + " " + " ".join(attrs))


def _assert_english(page: str, *english: str) -> None:
    assert '<html lang="en">' in page
    text = _visible_text(page)
    leftovers = [p for p in _german_phrases()
                 if re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", text)]
    assert leftovers == [], leftovers
    # Dates in the English style only (see the date tests below); a date the person typed
    # may come back as typed.
    typed = " ".join(english)
    dates = [d for d in GERMAN_DATE.findall(text) + US_DATE.findall(text) if d not in typed]
    assert dates == [], dates
    for phrase in english:
        assert phrase in text, phrase


@pytest.fixture
def world(db):
    """Neutral names (no German words in the data), a past session with marks to take, an
    upcoming one, an employee with an enrolment, HR staff, an HR lead and an admin."""
    org = factories.organisation("Federal Office 1", short_name="FO1")
    series = factories.series(org, [org], title="Data skills")
    past = factories.session(series, starts_in=timedelta(minutes=-30), title="Spreadsheets")
    upcoming = factories.session(series, starts_in=timedelta(days=10), title="Databases",
                                 capacity=1)
    employee = factories.user(org, first_name="Kim", last_name="Lee")
    past_enrolment = factories.enrolment(past, employee)
    factories.enrolment(upcoming, employee)
    return {
        "org": org, "series": series, "past": past, "upcoming": upcoming,
        "employee": employee, "past_enrolment": past_enrolment,
        "staff": factories.user(org, Role.HR_STAFF, first_name="Sam", last_name="Hart"),
        "lead": factories.user(org, Role.HR_LEAD, first_name="Lou", last_name="Park"),
        "admin": factories.user(org, Role.ADMIN, first_name="Ada", last_name="Stone"),
    }


def choose_english(client) -> None:
    response = client.post("/sprache", data={"lang": "en"})
    assert response.status_code == 303


def test_german_is_the_default_and_english_is_chosen_with_the_footer_button(client):
    page = client.get("/anmelden").get_data(as_text=True)
    assert '<html lang="de">' in page and "Anmelden" in page
    assert 'name="lang" value="en"' in page
    choose_english(client)
    page = client.get("/anmelden").get_data(as_text=True)
    _assert_english(page, "Log in", "Email address", "Password", "Easy Read")
    assert 'name="lang" value="de"' in page


def test_login_errors_are_english(client):
    choose_english(client)
    response = client.post("/anmelden", data={"email": "", "password": ""})
    assert response.status_code == 422
    _assert_english(response.get_data(as_text=True), "Please enter your email address.")


def test_employee_reads_start_page_series_and_my_training_in_english(client, auth, world):
    choose_english(client)
    auth.login(world["employee"])
    _assert_english(client.get("/").get_data(as_text=True), "Log out", "My training")
    _assert_english(client.get("/reihen/").get_data(as_text=True), "Series", "Data skills")
    _assert_english(client.get(f"/reihen/{world['series'].id}").get_data(as_text=True),
                    "Open to")
    page = client.get(f"/reihen/termine/{world['upcoming'].id}").get_data(as_text=True)
    _assert_english(page, "Cancel enrolment", "Enrolment deadline")
    assert "Uhr" not in _visible_text(page)
    page = client.get("/meine-schulungen/").get_data(as_text=True)
    _assert_english(page, "My training", "Databases")
    assert "Uhr" not in _visible_text(page)


def test_easy_read_and_accessibility_pages_are_english(client):
    choose_english(client)
    _assert_english(client.get("/leichte-sprache").get_data(as_text=True),
                    "tracker in Easy Read", "What can you do with tracker?")
    _assert_english(client.get("/barrierefreiheit").get_data(as_text=True),
                    "Accessibility statement")


def test_hr_staff_reads_attendance_sheet_and_roster_in_english(client, auth, world):
    choose_english(client)
    auth.login(world["staff"])
    _assert_english(client.get("/anwesenheit/").get_data(as_text=True), "Attendance")
    page = client.get(f"/anwesenheit/termine/{world['past'].id}").get_data(as_text=True)
    _assert_english(page, "Attendance sheet", "present", "excused", "absent (unexcused)")
    assert "Uhr" not in _visible_text(page)
    page = client.get(f"/anwesenheit/termine/{world['past'].id}/unterschriftenliste")
    _assert_english(page.get_data(as_text=True), "Signature")
    page = client.get(f"/reihen/termine/{world['upcoming'].id}/teilnehmende")
    _assert_english(page.get_data(as_text=True), "Enrolled", "Enrol a person")


def test_hr_lead_reads_reports_and_administration_in_english(client, auth, world):
    choose_english(client)
    auth.login(world["lead"])
    _assert_english(client.get("/auswertung/").get_data(as_text=True), "Reports", "Period")
    _assert_english(client.get("/verwaltung/").get_data(as_text=True), "Administration")
    _assert_english(client.get("/verwaltung/reihen").get_data(as_text=True),
                    "Create series", "Data skills")
    _assert_english(client.get("/verwaltung/personen").get_data(as_text=True), "People")
    _assert_english(client.get(f"/verwaltung/reihen/{world['series'].id}").get_data(
        as_text=True), "Create session")


def test_admin_reads_organisations_and_audit_log_in_english(client, auth, world):
    choose_english(client)
    auth.login(world["admin"])
    _assert_english(client.get("/verwaltung/organisationen").get_data(as_text=True),
                    "Organisations")
    _assert_english(client.get("/verwaltung/protokoll").get_data(as_text=True),
                    "Audit log")


def test_error_pages_are_english(client, auth, world):
    choose_english(client)
    auth.login(world["employee"])
    response = client.get("/reihen/termine/999999")
    assert response.status_code == 404
    _assert_english(response.get_data(as_text=True), "Page not found")


# --- Messages from the services ------------------------------------------------------------


def test_enrolling_twice_is_refused_in_english(client, auth, world):
    choose_english(client)
    other = factories.session(world["series"], title="Networks")
    auth.login(world["employee"])
    assert client.post(f"/reihen/termine/{other.id}/anmelden").status_code == 303
    response = client.post(f"/reihen/termine/{other.id}/anmelden")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "You are already enrolled in this session." in page
    assert "bereits angemeldet" not in page


def test_the_same_refusal_stays_german_for_german_users(client, auth, world):
    other = factories.session(world["series"], title="Networks")
    auth.login(world["employee"])
    client.post(f"/reihen/termine/{other.id}/anmelden")
    response = client.post(f"/reihen/termine/{other.id}/anmelden")
    assert response.status_code == 409
    assert "Sie sind für diesen Termin bereits angemeldet." in response.get_data(as_text=True)


def test_deadline_refusal_names_the_time_in_english(client, auth, world):
    choose_english(client)
    late = factories.session(world["series"], starts_in=timedelta(hours=5),
                             deadline_before=timedelta(days=1), title="Late")
    auth.login(world["employee"])
    response = client.post(f"/reihen/termine/{late.id}/anmelden")
    assert response.status_code == 422
    text = _visible_text(response.get_data(as_text=True))
    assert "The enrolment deadline for this session passed on" in text
    assert "Uhr" not in text


def test_capacity_refusal_speaks_english(client, auth, world):
    choose_english(client)
    auth.login(world["staff"])
    response = client.post(f"/reihen/termine/{world['upcoming'].id}/kapazitaet",
                           data={"capacity": "0"})
    assert response.status_code == 422
    assert "The capacity must be at least 1 place." in response.get_data(as_text=True)


def test_services_speak_german_outside_a_request(world):
    """The CLI and scripts run the services without a request: German, the source language."""
    from tracker.services import ServiceError, accounts

    with pytest.raises(ServiceError, match="Das Passwort muss mindestens 10 Zeichen lang sein."):
        accounts.set_password(world["employee"], "short")


def test_attendance_refusal_speaks_english(client, auth, world):
    choose_english(client)
    auth.login(world["staff"])
    url = f"/anwesenheit/termine/{world['past'].id}/eintraege/{world['past_enrolment'].id}"
    response = client.post(url, data={"status": "vielleicht"})
    assert response.status_code == 422
    assert "Unknown status. Allowed are “present”, “excused” and “absent (unexcused)”." in (
        html_lib.unescape(response.get_data(as_text=True)))


def test_report_filter_errors_speak_english(client, auth, world):
    choose_english(client)
    auth.login(world["lead"])
    response = client.get("/auswertung/", query_string={"from": "31.02.2026", "to": "2026-12-31"})
    assert response.status_code == 422
    _assert_english(response.get_data(as_text=True), "From: the date 31.02.2026 does not exist.")


def test_administration_refusal_speaks_english(client, auth, world):
    choose_english(client)
    auth.login(world["admin"])
    response = client.post("/verwaltung/organisationen/neu",
                           data={"name": "Federal Office 1", "short_name": "FO"})
    assert response.status_code == 409
    _assert_english(response.get_data(as_text=True),
                    "An organisation with this name already exists.")


# --- Dates: one style per language ------------------------------------------------------
# tracker/i18n.py names each date format once per language; the filters |date, |time and
# |datetime print those whatever length a template asks for, in Berlin time.

GERMAN_DATE = re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{2,4}\b")
US_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}:\d{2}\s?[AP]M\b")
ENGLISH_DATE = re.compile(r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b")

# (UTC moment from the database, German, English) for |date, |date('weekday'), |date('full'),
# |time, |datetime('short')
FILTER_MOMENTS = [
    (datetime(2026, 12, 25, 8, 0),  # winter: UTC+1
     ("25.12.2026", "Fr., 25.12.2026", "Freitag, 25. Dezember 2026", "09:00",
      "25.12.2026, 09:00"),
     ("25 Dec 2026", "Fri 25 Dec 2026", "Friday 25 December 2026", "09:00",
      "25 Dec 2026, 09:00")),
    (datetime(2026, 7, 1, 12, 30),  # summer: UTC+2, and an afternoon on the 24-hour clock
     ("01.07.2026", "Mi., 01.07.2026", "Mittwoch, 1. Juli 2026", "14:30",
      "01.07.2026, 14:30"),
     ("1 Jul 2026", "Wed 1 Jul 2026", "Wednesday 1 July 2026", "14:30",
      "1 Jul 2026, 14:30")),
    (datetime(2026, 10, 31, 23, 30),  # UTC evening, already the next day in Berlin
     ("01.11.2026", "So., 01.11.2026", "Sonntag, 1. November 2026", "00:30",
      "01.11.2026, 00:30"),
     ("1 Nov 2026", "Sun 1 Nov 2026", "Sunday 1 November 2026", "00:30",
      "1 Nov 2026, 00:30")),
]


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("moment, german, english", FILTER_MOMENTS,
                         ids=[str(m[0]) for m in FILTER_MOMENTS])
def test_date_filters_print_one_style_per_language_in_berlin_time(
    app, lang, moment, german, english
):
    source = ("{{ m|date }}|{{ m|date('weekday') }}|{{ m|date('full') }}|{{ m|time }}|"
              "{{ m|datetime('short') }}")
    with app.test_request_context(f"/?lang={lang}"):
        app.preprocess_request()
        printed = app.jinja_env.from_string(source).render(m=moment).split("|")
        assert printed == list(german if lang == "de" else english)
        # Every length of a kind prints in the same style.
        same = "{{ m|date('short') }} {{ m|date('medium') }} {{ m|datetime('medium') }}"
        date_text, datetime_text = printed[0], printed[4]
        assert app.jinja_env.from_string(same).render(m=moment) == (
            f"{date_text} {date_text} {datetime_text}")
        # A calendar day prints like the day of a moment; nothing prints as nothing.
        day = app.jinja_env.from_string("{{ d|date }}").render(d=moment.date())
        assert GERMAN_DATE.fullmatch(day) if lang == "de" else ENGLISH_DATE.fullmatch(day)
        empty = "{{ n|date }}{{ n|time }}{{ n|datetime }}"
        assert app.jinja_env.from_string(empty).render(n=None) == ""


def _session_row(page: str, title: str) -> str:
    rows = [row for row in re.findall(r"<tr\b.*?</tr>", page, flags=re.S) if title in row]
    assert len(rows) == 1, rows
    return _visible_text(rows[0])


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_session_row_prints_every_date_in_the_style_of_the_chosen_language(
    client, auth, world, lang
):
    """The series page's row of a session shows its day (with weekday), its times and the
    enrolment deadline: all German, or all English, never "Fri, 25.12.2026" beside
    "12/24/26, 9:00 AM"."""
    factories.session(world["series"], title="Year end", starts_at=datetime(2030, 12, 27, 8, 0),
                      deadline_before=timedelta(days=1, hours=1))
    if lang == "en":
        choose_english(client)
    auth.login(world["employee"])
    row = _session_row(client.get(f"/reihen/{world['series'].id}").get_data(as_text=True),
                       "Year end")
    assert US_DATE.findall(row) == []
    if lang == "de":
        assert "Fr., 27.12.2030" in row and "09:00–11:00" in row
        assert "26.12.2030, 08:00" in row  # the deadline
        assert ENGLISH_DATE.findall(row) == []
    else:
        assert "Fri 27 Dec 2030" in row and "09:00–11:00" in row
        assert "26 Dec 2030, 08:00" in row
        assert GERMAN_DATE.findall(row) == []


# Templates translate through Flask-Babel's gettext callables: what they print is what
# jinja2.ext's newstyle gettext prints, values escaped ({{ _("… %(name)s", name=x) }}).
TEMPLATE_TEXTS = [
    '{{ _("von %(n)s", n=count) }}',
    '{{ _("%(name)s: %(status)s.", name=name, status="<b>") }}',
    '{{ _("%(name)s wartet", name=markup) }}',
    '{{ _("%(n)d Plätze", n=count) }}',
    '{{ _("am %(when)s", when=moment) }}',
    '{{ _("100 %%") }} {{ _("kein Platzhalter") }}',
    '{{ ngettext("%(num)s Platz frei", "%(num)s Plätze frei", count) }}',
    '{{ ngettext("%(num)s Person von %(org)s", "%(num)s Personen von %(org)s", 1, org=name) }}',
    '{{ pgettext("enrolment", "Abmelden") }} {{ pgettext("x", "%(a)s & %(b)s", a=name, b=count) }}',
    '{% autoescape false %}{{ _("%(name)s", name=name) }} {{ ngettext("%(num)s", "%(num)s", count) }}{% endautoescape %}',
]


@pytest.mark.parametrize("source", TEMPLATE_TEXTS)
def test_template_gettext_fills_and_escapes_as_jinja_newstyle_gettext(app, source):
    from jinja2 import Environment
    from markupsafe import Markup

    values = {"count": 7, "name": 'Ö & <script>"x"</script>', "markup": Markup("<em>Ada</em>"),
              "moment": datetime(2026, 12, 1, 9, 30)}
    reference = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    reference.install_null_translations(newstyle=True)
    expected = reference.from_string(source).render(values)
    with app.test_request_context("/"):
        assert app.jinja_env.from_string(source).render(values) == expected
