"""Auswertung: HR leads see their organisation's participation figures; filters are checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from tests import factories
from tracker.extensions import db as _db
from tracker.models import (
    AttendanceMark,
    AttendanceStatus,
    Enrolment,
    EnrolmentState,
    Organisation,
    Role,
    TrainingSeries,
    User,
)
from tracker.services import reports
from tracker.timeutil import from_local, to_local

PRESENT, EXCUSED, ABSENT = (AttendanceStatus.PRESENT, AttendanceStatus.EXCUSED,
                            AttendanceStatus.ABSENT)


def berlin(year, month, day, hour=14, minute=0) -> datetime:
    return from_local(datetime(year, month, day, hour, minute))


def mark(session, user, status, *, walk_in: bool = False) -> Enrolment:
    """An enrolment (or walk-in) with its attendance mark, as the attendance sheet leaves it."""
    state = EnrolmentState.WALK_IN if walk_in else EnrolmentState.ENROLLED
    e = factories.enrolment(session, user, state, commit=False)
    _db.session.add(AttendanceMark(enrolment=e, session_id=session.id, status=str(status)))
    _db.session.flush()
    return e


@dataclass
class Scene:
    """Two partners, two series over two years, marks of every kind."""

    city: Organisation
    agency: Organisation
    lead: User  # HR lead of the city
    agency_lead: User
    admin: User
    vielfalt: TrainingSeries
    recruiting: TrainingSeries
    city_people: list[User] = field(default_factory=list)
    agency_people: list[User] = field(default_factory=list)


def build_scene() -> Scene:
    city = factories.organisation("Stadtverwaltung Dessau-Roßlau")
    agency = factories.organisation("Umweltbundesamt")
    lead = factories.user(city, Role.HR_LEAD, first_name="Lena", last_name="Leitung")
    agency_lead = factories.user(agency, Role.HR_LEAD, first_name="Uwe", last_name="Leitung")
    admin = factories.user(city, Role.ADMIN, first_name="Alex", last_name="Admin")
    vielfalt = factories.series(city, [city, agency], title="Vielfaltsmontag")
    recruiting = factories.series(agency, [city, agency], title="Recruiting")
    scene = Scene(city, agency, lead, agency_lead, admin, vielfalt, recruiting)
    scene.city_people = [factories.user(city, first_name=f, last_name=last, commit=False)
                         for f, last in [("Anna", "Müller"), ("Ben", "Schmidt"),
                                         ("Clara", "Weber"), ("David", "Öztürk")]]
    scene.agency_people = [factories.user(agency, first_name=f, last_name=last, commit=False)
                           for f, last in [("Elif", "Yılmaz"), ("Felix", "Braun"),
                                           ("Greta", "Krüger")]]
    anna, ben, clara, david = scene.city_people
    elif_, felix, greta = scene.agency_people

    s_dec24 = factories.session(vielfalt, starts_at=berlin(2024, 12, 2), title="Vorurteile",
                                commit=False)
    s_jan = factories.session(vielfalt, starts_at=berlin(2025, 1, 6), title="Vielfalt im Team",
                              commit=False)
    s_mar = factories.session(vielfalt, starts_at=berlin(2025, 3, 3), hours=3,
                              title="Barrierefreie Kommunikation", commit=False)
    # Starts on 1 January 2026 in Berlin, which is still 31 December 2025 in UTC.
    s_newyear = factories.session(recruiting, starts_at=berlin(2026, 1, 1, 0, 30), hours=1.5,
                                  title="Neujahrsworkshop", commit=False)
    s_jun = factories.session(recruiting, starts_at=berlin(2025, 6, 16, 9), hours=6,
                              title="Interviews führen", commit=False)
    factories.session(recruiting, starts_at=berlin(2025, 9, 1), title="Ohne Anwesenheit",
                      commit=False)

    mark(s_dec24, anna, PRESENT)
    mark(s_dec24, elif_, PRESENT)
    mark(s_jan, anna, PRESENT)
    mark(s_jan, ben, EXCUSED)
    mark(s_jan, clara, PRESENT, walk_in=True)
    mark(s_jan, elif_, PRESENT)
    mark(s_jan, felix, ABSENT)
    mark(s_mar, anna, PRESENT)
    mark(s_mar, ben, PRESENT)
    mark(s_mar, greta, PRESENT)
    mark(s_mar, david, ABSENT)
    mark(s_jun, anna, PRESENT)
    mark(s_jun, elif_, EXCUSED)
    mark(s_jun, felix, PRESENT)
    mark(s_newyear, clara, PRESENT)
    mark(s_newyear, greta, PRESENT)
    # Anna moved to the agency later: her history stays with the city (organisation then).
    anna.organisation_id = agency.id
    _db.session.commit()
    return scene


@dataclass(frozen=True)
class Expected:
    marks: list[tuple]  # (last, first, org, series, session, day, hours, status, walk_in)

    @property
    def present(self):
        return [m for m in self.marks if m[7] == PRESENT]

    @property
    def participations(self) -> int:
        return len(self.present)

    @property
    def people(self) -> int:
        return len({(m[0], m[1]) for m in self.present})

    @property
    def sessions_held(self) -> int:
        return len({(m[3], m[4], m[5]) for m in self.marks})

    @property
    def hours(self) -> float:
        return round(sum(m[6] for m in self.present), 2)


def expected(filters: reports.ReportFilters, *, by_organisation: bool = True) -> Expected:
    """The same selection computed the slow way, object by object, independent of the SQL."""
    rows = []
    for m in _db.session.scalars(select(AttendanceMark)):
        e = m.enrolment
        s = e.session
        day = to_local(s.starts_at).date()
        if filters.date_from and day < filters.date_from:
            continue
        if filters.date_to and day > filters.date_to:
            continue
        if filters.series_id and s.series_id != filters.series_id:
            continue
        if by_organisation and filters.organisation_id and e.organisation_id != filters.organisation_id:
            continue
        rows.append((e.user.last_name, e.user.first_name, e.organisation.name, s.series.title,
                     s.title, day, s.hours, m.status, e.state == EnrolmentState.WALK_IN))
    return Expected(rows)


@pytest.fixture
def scene(app) -> Scene:
    return build_scene()


def figures_on_page(html: str) -> dict[str, str]:
    import re

    found = dict(re.findall(r'id="figure-(\w+)">([^<]*)<', html))
    return {k: v.strip() for k, v in found.items()}


# --- who may use the area --------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.HR_STAFF])
@pytest.mark.parametrize("path", ["/auswertung/", "/auswertung/export.xlsx"])
def test_employees_and_hr_staff_are_refused_the_whole_area(client, auth, role, path):
    auth.login(factories.user(role=role))
    response = client.get(path)
    assert response.status_code == 403
    assert "Kein Zugriff" in response.get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_the_login(client):
    response = client.get("/auswertung/")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]


def test_hr_lead_sees_auswertung_in_the_navigation(client, auth, scene):
    auth.login(scene.lead)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/auswertung/"' in html


# --- the page --------------------------------------------------------------------------------

def test_hr_lead_sees_her_organisations_figures_for_a_year(client, auth, scene):
    auth.login(scene.lead)
    response = client.get("/auswertung/", query_string={"from": "2025-01-01", "to": "2025-12-31"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    filters = reports.parse_filters({"from": "2025-01-01", "to": "2025-12-31"}, scene.lead)
    want = expected(filters)
    # City 2025: Anna x3, Ben x1, Clara (walk-in) = 5 participations of 3 people, in 3 sessions
    # (the New Year's workshop counts for 2026); 7 marks with Ben excused and David absent.
    assert (want.participations, want.people, want.sessions_held, len(want.marks)) == (5, 3, 3, 7)
    shown = figures_on_page(html)
    assert shown["participations"] == "5"
    assert shown["people"] == "3"
    assert shown["sessions"] == "3"
    assert shown["rate"] == "71,4 %"  # 5 of 7
    assert "Stadtverwaltung Dessau-Roßlau" in html
    # Counts of all partners appear without names; the agency's 3 are below the privacy
    # threshold, so the total says only that it is below her 5 plus 5.
    network = expected(filters, by_organisation=False).participations
    assert network == 8
    assert "Alle Partnerorganisationen zusammen: &lt; 10 Teilnahmen" in html
    assert "Elif" not in html and "Yılmaz" not in html
    assert ('href="/auswertung/export.xlsx?from=2025-01-01&amp;to=2025-12-31&amp;series=&amp;'
            f'organisation={scene.city.id}"') in html


def test_page_without_filters_shows_the_current_calendar_year(client, auth, scene):
    auth.login(scene.lead)
    html = client.get("/auswertung/").get_data(as_text=True)
    year = reports.to_local_today().year
    assert f'value="{year}-01-01"' in html and f'value="{year}-12-31"' in html
    assert f"Kalenderjahr {year}" in html and "Letzte 12 Monate" in html


def test_htmx_request_gets_only_the_figures_fragment(client, auth, scene):
    auth.login(scene.lead)
    args = {"from": "2025-01-01", "to": "2025-12-31"}
    fragment = client.get("/auswertung/", query_string=args, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="report-results"')
    assert figures_on_page(html)["participations"] == "5"
    boosted = client.get("/auswertung/", query_string=args,
                         headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_shortcut_for_last_twelve_months_covers_a_year_up_to_today():
    assert reports.last_twelve_months(date(2025, 6, 15)) == (date(2024, 6, 16), date(2025, 6, 15))
    assert reports.last_twelve_months(date(2024, 2, 29)) == (date(2023, 3, 1), date(2024, 2, 29))
    assert reports.calendar_year(date(2025, 6, 15)) == (date(2025, 1, 1), date(2025, 12, 31))


def test_admin_sees_every_organisation_and_can_filter_by_series(client, auth, scene):
    auth.login(scene.admin)
    args = {"from": "", "to": "", "series": str(scene.recruiting.id), "organisation": ""}
    html = client.get("/auswertung/", query_string=args).get_data(as_text=True)
    filters = reports.parse_filters(args, scene.admin)
    want = expected(filters)
    shown = figures_on_page(html)
    assert shown["participations"] == str(want.participations) == "4"
    assert shown["people"] == str(want.people) == "4"
    assert shown["sessions"] == str(want.sessions_held) == "2"
    assert "alle Organisationen" in html
    assert 'id="figure-network"' not in html  # everything is the network already


@pytest.mark.parametrize(
    "args",
    [
        {"from": "2025-01-01", "to": "2025-12-31"},
        {"from": "2024-01-01", "to": ""},
        {"from": "", "to": "", "series": "vielfalt"},
        {"from": "2025-06-01", "to": "2026-01-31", "organisation": "agency"},
    ],
)
def test_headline_figures_equal_the_database_for_each_filter(app, scene, args):
    args = dict(args)
    if args.get("series") == "vielfalt":
        args["series"] = str(scene.vielfalt.id)
    if args.get("organisation") == "agency":
        args["organisation"] = str(scene.agency.id)
    filters = reports.parse_filters(args, scene.admin)
    got = reports.headline_figures(filters)
    want = expected(filters)
    assert got.participations == want.participations
    assert got.people == want.people
    assert got.sessions_held == want.sessions_held
    assert got.marks == len(want.marks)
    assert got.excused == sum(1 for m in want.marks if m[7] == EXCUSED)
    assert got.absent == sum(1 for m in want.marks if m[7] == ABSENT)
    assert got.hours == want.hours


def test_page_issues_the_same_number_of_queries_whatever_the_data(client, auth, scene, db):
    auth.login(scene.lead)
    url = "/auswertung/?from=2020-01-01&to=2030-12-31"

    def count_queries() -> int:
        db.session.expire_all()  # the client shares the test's session: start from the same state
        statements = []

        def listener(_conn, _cursor, statement, *_args):
            if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    few = count_queries()
    # The login check, the figures of the selection, two choice lists, the person's exports
    # made in the background; the dashboard's sessions and marks per session, the same for
    # this year and last, the partners' participations and the organisations' names.
    assert few == 11
    more = factories.session(scene.vielfalt, starts_at=berlin(2025, 11, 3), commit=False)
    for i in range(40):
        mark(more, factories.user(scene.city, first_name=f"Neu{i}", commit=False), PRESENT,
             walk_in=True)
    db.session.commit()
    assert count_queries() == few, "same statements expected"


# --- who sees what ---------------------------------------------------------------------------

def test_hr_lead_asking_for_another_organisation_is_refused_with_a_german_message(
        client, auth, scene):
    auth.login(scene.lead)
    for path in ("/auswertung/", "/auswertung/export.xlsx"):
        response = client.get(path, query_string={"organisation": scene.agency.id})
        assert response.status_code == 403
        html = response.get_data(as_text=True)
        assert "nur die Teilnahmen der Beschäftigten Ihrer eigenen Organisation" in html
        assert response.mimetype == "text/html"


def test_hr_lead_can_only_choose_her_own_organisation(client, auth, scene):
    auth.login(scene.lead)
    html = client.get("/auswertung/").get_data(as_text=True)
    select_ = html[html.index('id="filter-organisation"'):]
    select_ = select_[:select_.index("</select>")]
    assert f'<option value="{scene.city.id}" selected>' in select_
    assert f'value="{scene.agency.id}"' not in select_
    assert "Alle Organisationen" not in html


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"from": "2025-12-31", "to": "2025-01-01"}, "to",
         "Das Ende des Zeitraums liegt vor seinem Anfang."),
        ({"from": "2025-02-30", "to": "2025-12-31"}, "from", "Den 30.02.2025 gibt es nicht."),
        ({"from": "2025-01-01", "to": "31.13.2025"}, "to", "Den 31.13.2025 gibt es nicht."),
        ({"from": "morgen", "to": ""}, "from", "Bitte geben Sie ein Datum im Format TT.MM.JJJJ an."),
        ({"from": "0001-01-01", "to": ""}, "from", "Bitte wählen Sie ein Datum zwischen 1900 und 2100."),
        ({"series": "9999"}, "series", "Die gewählte Reihe gibt es nicht."),
        ({"series": "abc"}, "series", "Die gewählte Reihe gibt es nicht."),
        ({"organisation": "9999"}, "organisation", "Die gewählte Organisation gibt es nicht."),
    ],
)
@pytest.mark.parametrize("path", ["/auswertung/", "/auswertung/export.xlsx"])
def test_bad_filters_get_a_german_message_on_the_page_and_keep_the_values(
        client, auth, scene, args, field, message, path):
    auth.login(scene.admin)
    response = client.get(path, query_string=args)
    assert response.status_code == 422
    assert response.mimetype == "text/html"  # never a (broken) file
    html = response.get_data(as_text=True)
    assert message in html
    assert f'id="filter-{field}" name="{field}"' in html
    assert f'aria-describedby="filter-{field}-error"' in html
    for key in ("from", "to"):
        if args.get(key):
            assert f'value="{args[key]}"' in html  # what was typed stays in the form
    assert 'id="figure-participations"' not in html
    assert 'href="/auswertung/export.xlsx' not in html  # no download for a broken selection


def test_german_date_format_is_understood_too(app, scene):
    filters = reports.parse_filters({"from": "1.1.2025", "to": "31.12.2025"}, scene.admin)
    assert (filters.date_from, filters.date_to) == (date(2025, 1, 1), date(2025, 12, 31))


def test_empty_selection_shows_zeros_and_no_rate(client, auth, scene):
    auth.login(scene.lead)
    html = client.get("/auswertung/", query_string={"from": "2010-01-01", "to": "2010-12-31"}
                      ).get_data(as_text=True)
    shown = figures_on_page(html)
    assert shown["participations"] == "0" and shown["people"] == "0"
    assert shown["rate"] == "–"
    assert "export.xlsx?from=2010-01-01" in html  # an empty but valid workbook can be had


# --- another organisation's series (issue 20, item 6) ---------------------------------------

def _college_series(scene) -> TrainingSeries:
    """A third partner's internal series, open only to itself, with a participation."""
    college = factories.organisation("Hochschule Anhalt")
    internal = factories.series(college, [college], title="Hochschulinterne Reihe")
    session = factories.session(internal, starts_at=berlin(2025, 4, 7),
                                title="Nur für die Hochschule", commit=False)
    for i in range(3):
        mark(session, factories.user(college, first_name=f"Hanna{i}", last_name="Hochschule",
                                     commit=False), PRESENT)
    _db.session.commit()
    return internal


def test_hr_lead_series_filter_lists_only_series_her_organisation_takes_part_in(
        client, auth, scene):
    internal = _college_series(scene)
    auth.login(scene.lead)
    html = client.get("/auswertung/").get_data(as_text=True)
    choices = html[html.index('id="filter-series"'):]
    choices = choices[:choices.index("</select>")]
    assert f'value="{scene.vielfalt.id}"' in choices and f'value="{scene.recruiting.id}"' in choices
    assert f'value="{internal.id}"' not in choices
    assert "Hochschulinterne Reihe" not in html
    # The administration still chooses from every series.
    auth.logout()
    auth.login(scene.admin)
    html = client.get("/auswertung/").get_data(as_text=True)
    assert f'value="{internal.id}"' in html and "Hochschulinterne Reihe" in html


@pytest.mark.parametrize("path", ["/auswertung/", "/auswertung/export.xlsx"])
def test_another_organisations_series_answers_404_to_an_hr_lead(client, auth, scene, path):
    internal = _college_series(scene)
    auth.login(scene.lead)
    response = client.get(path, query_string={"series": internal.id})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Hochschulinterne Reihe" not in response.get_data(as_text=True)
    # Her own organisation's series, and one it is invited to, still answer.
    for series in (scene.vielfalt, scene.recruiting):
        with client.get(path, query_string={"series": series.id}) as ok:
            assert ok.status_code == 200
    auth.logout()
    auth.login(scene.admin)
    with client.get(path, query_string={"series": internal.id}) as ok:
        assert ok.status_code == 200


def test_network_figure_leaves_out_series_her_organisation_has_no_part_in(client, auth, scene,
                                                                          app):
    _college_series(scene)
    app.config["PRIVACY_MIN_COUNT"] = 1  # every count exact: this is about which marks count
    auth.login(scene.lead)
    html = client.get("/auswertung/", query_string={"from": "2025-01-01", "to": "2025-12-31"}
                      ).get_data(as_text=True)
    # The 8 of the two shared series; the college's 3 internal participations are not hers.
    assert "Alle Partnerorganisationen zusammen: 8 Teilnahmen" in html


def test_hours_on_the_page_are_the_exact_sum_shown_with_two_decimals(client, auth, app):
    """30 sessions of 100 minutes are 50 hours, not 30 × 1.67 = 50.1."""
    org = factories.organisation()
    lead = factories.user(org, Role.HR_LEAD)
    person = factories.user(org, commit=False)
    s = factories.series(org, [org], title="Kurz und oft")
    for n in range(30):
        session = factories.session(s, starts_at=berlin(2025, 1, 6) + timedelta(days=7 * n),
                                    commit=False)
        session.ends_at = session.starts_at + timedelta(minutes=100)
        mark(session, person, PRESENT)
    _db.session.commit()
    auth.login(lead)
    html = client.get("/auswertung/", query_string={"from": "2025-01-01", "to": "2025-12-31"}
                      ).get_data(as_text=True)
    assert figures_on_page(html)["hours"] == "50,00"
    filters = reports.parse_filters({"from": "2025-01-01", "to": "2025-12-31"}, lead)
    assert reports.headline_figures(filters).hours == 50
