"""The pages and fragments of /reihen: finding trainings, the enrol widget (htmx and without
JavaScript), the calendar file and HR's enrolment list, with every bad input."""

from __future__ import annotations

import contextlib
from datetime import datetime, time, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import event, func, select

from tests import factories
from tracker.models import Enrolment, EnrolmentState, Role, TrainingSession, utcnow
from tracker.services import enrolment as service
from tracker.timeutil import from_local, to_local

HTMX = {"HX-Request": "true"}


@contextlib.contextmanager
def count_statements(db):
    statements: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def live(db, session, user=None) -> list[Enrolment]:
    query = select(Enrolment).where(
        Enrolment.session_id == session.id,
        Enrolment.state.in_([EnrolmentState.ENROLLED, EnrolmentState.WAITLISTED]),
    )
    if user is not None:
        query = query.where(Enrolment.user_id == user.id)
    db.session.rollback()
    return list(db.session.scalars(query.order_by(Enrolment.id)))


def seats_taken(db, session) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(TrainingSession.seats_taken).where(TrainingSession.id == session.id)
    )


@pytest.fixture
def city(app):
    return factories.organisation("Stadtverwaltung Dessau-Roßlau")


@pytest.fixture
def uba(app):
    return factories.organisation("Umweltbundesamt")


@pytest.fixture
def hs(app):
    return factories.organisation("Hochschule Anhalt")


@pytest.fixture
def vielfalt(city, uba):
    return factories.series(city, [city, uba], title="Vielfaltsmontag 2026")


@pytest.fixture
def kim(city):
    return factories.user(city, first_name="Kim", last_name="Muster")


@pytest.fixture
def hr(city):
    return factories.user(city, Role.HR_STAFF, first_name="Hanna", last_name="Personal")


# --- Finding trainings ----------------------------------------------------------------------


def test_employee_finds_the_series_open_to_her_organisation_with_their_sessions(
    client, auth, city, hs, vielfalt, kim
):
    session = factories.session(vielfalt, title="Unbewusste Vorurteile", capacity=12)
    factories.enrolment(session, factories.user(city))
    closed = factories.series(hs, [hs], title="Werkstatt nur für die Hochschule")
    factories.session(closed, title="Geheimer Termin")
    auth.login(kim)
    html = client.get("/reihen/").get_data(as_text=True)
    assert "Vielfaltsmontag 2026" in html and "Unbewusste Vorurteile" in html
    local = to_local(session.starts_at)
    assert local.strftime("%d.%m.%Y") in html and local.strftime("%H:%M") in html
    assert "Rathaus, Raum 1" in html and "Dr. Test" in html
    assert "11 Plätze frei" in html
    assert "Werkstatt nur für die Hochschule" not in html and "Geheimer Termin" not in html
    assert f'hx-post="/reihen/termine/{session.id}/anmelden"' in html


def test_full_session_shows_how_many_people_wait(client, auth, city, vielfalt, kim):
    session = factories.session(vielfalt, capacity=1)
    factories.enrolment(session, factories.user(city))
    factories.enrolment(session, factories.user(city), EnrolmentState.WAITLISTED)
    factories.enrolment(session, factories.user(city), EnrolmentState.WAITLISTED)
    auth.login(kim)
    html = client.get("/reihen/").get_data(as_text=True)
    assert "Ausgebucht, 2 Personen warten" in html
    assert "Auf die Warteliste" in html


def test_past_sessions_are_visible_on_request_but_closed(client, auth, vielfalt, kim):
    past = factories.session(vielfalt, title="Schon vorbei", starts_in=timedelta(days=-20))
    factories.session(vielfalt, title="Kommt noch")
    auth.login(kim)
    html = client.get("/reihen/").get_data(as_text=True)
    assert "Kommt noch" in html and "Schon vorbei" not in html
    html = client.get("/reihen/?vergangene=1").get_data(as_text=True)
    assert "Schon vorbei" in html
    assert "Termin vorbei – Anmeldung geschlossen" in html
    assert f"/reihen/termine/{past.id}/anmelden" not in html


def test_list_filters_by_series_and_by_month(client, auth, city, uba, vielfalt, kim):
    other = factories.series(city, [city], title="Führen und Gewinnen")
    today = to_local(utcnow()).date()
    in_two_months = (today.replace(day=1) + timedelta(days=70)).replace(day=10)
    factories.session(vielfalt, title="Im Zielmonat",
                      starts_at=from_local(datetime.combine(in_two_months, time(14))))
    factories.session(vielfalt, title="Nächste Woche", starts_in=timedelta(days=7))
    factories.session(other, title="Andere Reihe", starts_in=timedelta(days=8))
    auth.login(kim)

    html = client.get(f"/reihen/?reihe={other.id}").get_data(as_text=True)
    assert "Andere Reihe" in html and "Im Zielmonat" not in html and "Nächste Woche" not in html

    html = client.get(f"/reihen/?monat={in_two_months:%Y-%m}").get_data(as_text=True)
    assert "Im Zielmonat" in html and "Nächste Woche" not in html and "Andere Reihe" not in html
    assert f'value="{in_two_months:%Y-%m}"' in html


def test_month_filter_shows_past_sessions_of_that_month_closed(client, auth, vielfalt, kim):
    start = utcnow() - timedelta(days=400)
    factories.session(vielfalt, title="Vor einem Jahr", starts_at=start)
    auth.login(kim)
    html = client.get(f"/reihen/?monat={to_local(start):%Y-%m}").get_data(as_text=True)
    assert "Vor einem Jahr" in html and "Anmeldung geschlossen" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("reihe=999999", "Diese Reihe gibt es nicht"),
        ("reihe=abc", "Diese Reihe gibt es nicht"),
        ("monat=2026-13", "Format JJJJ-MM"),
        ("monat=M%C3%A4rz", "Format JJJJ-MM"),
        ("monat=99999-01", "Format JJJJ-MM"),
    ],
)
def test_impossible_filters_get_a_german_message_next_to_the_field(
    client, auth, vielfalt, kim, query, message
):
    factories.session(vielfalt, title="Kommt noch")
    auth.login(kim)
    response = client.get(f"/reihen/?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'aria-invalid="true"' in html


def test_series_of_another_organisation_cannot_be_chosen_in_the_filter(client, auth, hs, kim):
    hidden = factories.series(hs, [hs], title="Nur Hochschule")
    auth.login(kim)
    response = client.get(f"/reihen/?reihe={hidden.id}")
    assert response.status_code == 422
    assert "Nur Hochschule" not in response.get_data(as_text=True)


def test_list_pages_through_many_sessions(client, auth, vielfalt, kim):
    from tracker.extensions import db
    from tracker.views.trainings import PAGE_SIZE

    for i in range(PAGE_SIZE + 5):
        factories.session(vielfalt, title=f"Termin Nr. {i:02d}",
                          starts_in=timedelta(days=10 + i), commit=False)
    db.session.commit()
    auth.login(kim)
    first = client.get("/reihen/").get_data(as_text=True)
    last_on_first = f"Termin Nr. {PAGE_SIZE - 1:02d}"
    assert last_on_first in first and f"Termin Nr. {PAGE_SIZE:02d}" not in first
    assert "Weitere Termine" in first
    second = client.get("/reihen/?seite=2").get_data(as_text=True)
    assert f"Termin Nr. {PAGE_SIZE:02d}" in second and f"Termin Nr. {PAGE_SIZE + 4:02d}" in second
    assert "Termin Nr. 00" not in second and last_on_first not in second


def test_series_page_lists_upcoming_and_past_sessions(client, auth, vielfalt, kim):
    factories.session(vielfalt, title="Demnächst")
    factories.session(vielfalt, title="Letzten Monat", starts_in=timedelta(days=-30))
    auth.login(kim)
    response = client.get(f"/reihen/{vielfalt.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Kommende Termine" in html and "Demnächst" in html
    assert "Vergangene Termine" in html and "Letzten Monat" in html
    assert "Umweltbundesamt" in html  # open to


def test_session_page_shows_the_details_and_the_widget(client, auth, vielfalt, kim):
    session = factories.session(vielfalt, title="Barrierefreie Kommunikation")
    auth.login(kim)
    html = client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)
    assert "<h1" in html and "Barrierefreie Kommunikation" in html
    assert "Anmeldeschluss" in html and "Rathaus, Raum 1" in html
    assert f'id="enrol-{session.id}"' in html and "data-focus" in html
    assert "Teilnehmende und Warteliste verwalten" not in html  # not for employees


@pytest.mark.parametrize("path", ["/reihen/{series}", "/reihen/termine/{session}",
                                  "/reihen/termine/{session}/kalender.ics"])
def test_pages_of_another_organisations_series_answer_404(client, auth, hs, kim, path):
    hidden = factories.series(hs, [hs])
    session = factories.session(hidden)
    auth.login(kim)
    assert client.get(path.format(series=hidden.id, session=session.id)).status_code == 404
    assert client.get(path.format(series=999999, session=999999)).status_code == 404


def test_pages_need_a_login(client, vielfalt):
    session = factories.session(vielfalt)
    for path in ("/reihen/", f"/reihen/termine/{session.id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


# --- Enrol in one click ---------------------------------------------------------------------


def test_enrol_button_swaps_in_place_to_angemeldet_with_a_cancel_button(
    client, auth, db, vielfalt, kim
):
    session = factories.session(vielfalt, capacity=3, title="Vielfalt im Team")
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX,
                           data={"next": "/reihen/"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith("<div class=\"enrol-widget\"")
    assert "Angemeldet" in html
    assert f'hx-post="/reihen/termine/{session.id}/abmelden"' in html
    assert "data-focus" in html and 'hx-target="closest .enrol-widget"' in html
    assert 'id="messages" hx-swap-oob="innerHTML"' in html
    assert "Sie sind für „Vielfalt im Team“ angemeldet." in html
    assert "kalender.ics" in html
    [enrolment] = live(db, session, kim)
    assert enrolment.state == EnrolmentState.ENROLLED


def test_employee_joins_waiting_list_when_session_is_full(client, auth, db, city, vielfalt, kim):
    session = factories.session(vielfalt, capacity=1)
    factories.enrolment(session, factories.user(city))
    factories.enrolment(session, factories.user(city), EnrolmentState.WAITLISTED)
    auth.login(kim)
    html = client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX).get_data(
        as_text=True
    )
    assert "Auf der Warteliste (Platz 2)" in html
    assert "Von der Warteliste abmelden" in html
    assert "Sie stehen auf der Warteliste auf Platz 2" in html
    assert seats_taken(db, session) == 1


def test_enrol_without_javascript_redirects_back_with_a_message(client, auth, db, vielfalt, kim):
    session = factories.session(vielfalt, title="Generationen im Team")
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", data={"next": "/reihen/?reihe=1"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/reihen/?reihe=1"
    page = client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)
    assert "Sie sind für „Generationen im Team“ angemeldet." in page
    assert "Angemeldet" in page
    assert len(live(db, session, kim)) == 1


def test_redirect_after_enrol_never_leaves_the_site(client, auth, vielfalt, kim):
    session = factories.session(vielfalt)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/anmelden",
                           data={"next": "https://evil.example/"})
    assert response.headers["Location"] == f"/reihen/termine/{session.id}"


def test_boosted_form_post_gets_the_redirect_not_a_fragment(client, auth, vielfalt, kim):
    session = factories.session(vielfalt)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/anmelden",
                           headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.status_code == 303


def test_cancel_swaps_back_to_the_enrol_button(client, auth, db, vielfalt, kim):
    session = factories.session(vielfalt, title="Religiöse Vielfalt")
    factories.enrolment(session, kim)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/abmelden", headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'hx-post="/reihen/termine/{session.id}/anmelden"' in html
    assert "Sie haben sich von „Religiöse Vielfalt“ abgemeldet." in html
    assert live(db, session, kim) == []
    assert seats_taken(db, session) == 0


def test_cancel_without_javascript_redirects_and_promotes_the_next_person(
    client, auth, db, city, vielfalt, kim
):
    session = factories.session(vielfalt, capacity=1)
    factories.enrolment(session, kim)
    lea = factories.user(city, first_name="Lea")
    factories.enrolment(session, lea, EnrolmentState.WAITLISTED)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/abmelden")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/reihen/termine/{session.id}"
    [promoted] = live(db, session)
    assert promoted.user_id == lea.id and promoted.state == EnrolmentState.ENROLLED


def test_cancel_button_warns_when_the_seat_goes_to_the_waiting_list(
    client, auth, city, vielfalt, kim
):
    session = factories.session(vielfalt, capacity=1)
    factories.enrolment(session, kim)
    factories.enrolment(session, factories.user(city), EnrolmentState.WAITLISTED)
    auth.login(kim)
    html = client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)
    assert 'hx-confirm="Ihr Platz geht an die erste Person auf der Warteliste.' in html


# --- Bad input: each gets a German message, a 4xx, and nothing changes -----------------------


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "no-js"])
def test_double_submit_is_refused_kindly_and_changes_nothing(
    client, auth, db, vielfalt, kim, headers
):
    session = factories.session(vielfalt, capacity=5)
    auth.login(kim)
    assert client.post(f"/reihen/termine/{session.id}/anmelden", headers=headers).status_code in (
        200, 303)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=headers)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Sie sind für diesen Termin bereits angemeldet." in html
    assert ("<html" in html) is (not headers)
    assert len(live(db, session, kim)) == 1
    assert seats_taken(db, session) == 1


def test_double_submit_from_the_waiting_list_keeps_the_place_in_line(
    client, auth, db, city, vielfalt, kim
):
    session = factories.session(vielfalt, capacity=1)
    factories.enrolment(session, factories.user(city))
    auth.login(kim)
    client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX)
    factories.enrolment(session, factories.user(city), EnrolmentState.WAITLISTED)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX)
    assert response.status_code == 409
    [mine] = live(db, session, kim)
    assert service.waitlist_position(mine) == 1


def test_enrolling_in_a_nonexistent_session_is_404(client, auth, kim):
    auth.login(kim)
    assert client.post("/reihen/termine/999999/anmelden", headers=HTMX).status_code == 404
    assert client.post("/reihen/termine/999999/anmelden").status_code == 404


def test_enrolling_in_a_session_of_a_series_not_visible_is_404_and_changes_nothing(
    client, auth, db, hs, kim
):
    session = factories.session(factories.series(hs, [hs]))
    auth.login(kim)
    assert client.post(f"/reihen/termine/{session.id}/anmelden").status_code == 404
    assert live(db, session) == []


def test_enrolling_when_the_series_is_not_open_to_the_organisation_is_403(
    client, auth, db, city, hs
):
    # HR of the organiser sees its series, but the series is open to the partner only.
    series = factories.series(city, [hs])
    session = factories.session(series)
    hr = factories.user(city, Role.HR_STAFF)
    auth.login(hr)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX)
    assert response.status_code == 403
    assert "Ihre Organisation ist für diese Reihe nicht freigegeben." in response.get_data(
        as_text=True)
    assert live(db, session) == []
    page = client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)
    assert "Ihre Organisation ist für diese Reihe nicht freigegeben." in page


def test_the_list_offers_enrolment_only_in_series_open_to_the_organisation(
    client, auth, city, hs
):
    # The list checks `open_to` with one query on the link table (enrollable_series_ids),
    # not by loading every partner of every series.
    closed = factories.session(factories.series(city, [hs], title="Nur für die Hochschule"))
    open_ = factories.session(factories.series(city, [city, hs], title="Für beide"))
    auth.login(factories.user(city, Role.HR_STAFF))
    page = client.get("/reihen/").get_data(as_text=True)
    closed_widget = page[page.index(f'id="enrol-{closed.id}"'):]
    closed_widget = closed_widget[:closed_widget.index("</div>")]
    open_widget = page[page.index(f'id="enrol-{open_.id}"'):]
    open_widget = open_widget[:open_widget.index("</div>")]
    assert "Ihre Organisation ist für diese Reihe nicht freigegeben." in closed_widget
    assert "/anmelden" not in closed_widget
    assert f"/reihen/termine/{open_.id}/anmelden" in open_widget
    assert "nicht freigegeben" not in open_widget


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"starts_in": timedelta(days=-3)}, "bereits begonnen oder ist vorbei"),
        ({"starts_in": timedelta(hours=4)}, "Anmeldefrist für diesen Termin ist am"),
    ],
    ids=["past", "after-deadline"],
)
def test_closed_sessions_refuse_enrolment_with_a_clear_message(
    client, auth, db, vielfalt, kim, setup, message
):
    session = factories.session(vielfalt, **setup)
    auth.login(kim)
    for headers in (HTMX, {}):
        response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=headers)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert live(db, session) == []


def test_enrolling_in_a_cancelled_session_is_refused(client, auth, db, city, vielfalt, kim):
    session = factories.session(vielfalt)
    service.cancel_session(session, actor=factories.user(city, Role.HR_LEAD))
    db.session.commit()
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX)
    assert response.status_code == 422
    assert "abgesagt" in response.get_data(as_text=True)
    assert live(db, session) == []
    assert "Abgesagt" in client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)


@pytest.mark.parametrize(
    "field", ["user_id", "organisation_id"],
)
def test_forged_person_or_organisation_in_the_form_is_refused(
    client, auth, db, city, uba, vielfalt, kim, field
):
    session = factories.session(vielfalt)
    victim = factories.user(uba)
    auth.login(kim)
    forged = {"user_id": victim.id, "organisation_id": uba.id}[field]
    for headers in (HTMX, {}):
        response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=headers,
                               data={field: str(forged)})
        assert response.status_code == 403
        html = response.get_data(as_text=True)
        assert "Sie können nur sich selbst anmelden" in html or "Benutzerkonto" in html
    assert live(db, session) == []


def test_own_ids_in_the_form_are_harmless(client, auth, db, city, vielfalt, kim):
    session = factories.session(vielfalt)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/anmelden", headers=HTMX,
                           data={"user_id": str(kim.id), "organisation_id": str(city.id)})
    assert response.status_code == 200
    [mine] = live(db, session)
    assert mine.user_id == kim.id and mine.organisation_id == city.id


def test_cancelling_without_an_enrolment_is_a_conflict(client, auth, db, city, vielfalt, kim):
    session = factories.session(vielfalt)
    someone = factories.user(city)
    factories.enrolment(session, someone)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/abmelden", headers=HTMX)
    assert response.status_code == 409
    assert "nicht angemeldet" in response.get_data(as_text=True)
    assert [e.user_id for e in live(db, session)] == [someone.id]


def test_cancelling_after_the_deadline_points_to_hr(client, auth, db, vielfalt, kim):
    session = factories.session(vielfalt, starts_in=timedelta(hours=5))
    factories.enrolment(session, kim)
    auth.login(kim)
    page = client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)
    assert "Bitte wenden Sie sich an die Personalstelle" in page
    assert f"/reihen/termine/{session.id}/abmelden" not in page
    response = client.post(f"/reihen/termine/{session.id}/abmelden", headers=HTMX)
    assert response.status_code == 422
    assert "wenden Sie sich bitte an die Personalstelle" in response.get_data(as_text=True)
    assert len(live(db, session, kim)) == 1


@pytest.mark.parametrize(
    "path",
    ["anmelden", "abmelden", "kapazitaet", "teilnehmende/hinzufuegen", "teilnehmende/1/entfernen"],
)
def test_changing_routes_answer_get_with_405(client, auth, vielfalt, hr, path):
    session = factories.session(vielfalt)
    auth.login(hr)
    assert client.get(f"/reihen/termine/{session.id}/{path}").status_code == 405


# --- Calendar file --------------------------------------------------------------------------


def test_calendar_file_has_the_session_in_berlin_time_with_a_vtimezone(
    client, auth, vielfalt, kim
):
    start = from_local(datetime(2031, 7, 7, 14, 0))  # summer time: UTC+2
    session = factories.session(vielfalt, title="Interkulturelle Zusammenarbeit", starts_at=start)
    auth.login(kim)
    response = client.get(f"/reihen/termine/{session.id}/kalender.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert "BEGIN:VTIMEZONE" in body and "TZID:Europe/Berlin" in body
    assert "DTSTART;TZID=Europe/Berlin:20310707T140000" in body
    assert "DTEND;TZID=Europe/Berlin:20310707T160000" in body
    calendar = Calendar.from_ical(response.data)
    [ev] = calendar.walk("VEVENT")
    assert ev.decoded("dtstart") == to_local(start)
    assert "Interkulturelle Zusammenarbeit" in str(ev["summary"])
    assert str(ev["location"]) == "Rathaus, Raum 1"


# --- HR: the enrolment list -----------------------------------------------------------------


@pytest.fixture
def full_session(city, uba, vielfalt):
    session = factories.session(vielfalt, capacity=2, title="Antidiskriminierung")
    factories.enrolment(session, factories.user(city, first_name="Anna", last_name="Alt"))
    factories.enrolment(session, factories.user(uba, first_name="Ben", last_name="Bauer"))
    factories.enrolment(session, factories.user(city, first_name="Cem", last_name="Celik"),
                        EnrolmentState.WAITLISTED)
    factories.enrolment(session, factories.user(uba, first_name="Dana", last_name="Dorn"),
                        EnrolmentState.WAITLISTED)
    return session


def test_hr_staff_see_the_enrolment_and_waiting_list_in_order(client, auth, hr, full_session):
    auth.login(hr)
    response = client.get(f"/reihen/termine/{full_session.id}/teilnehmende")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 von 2 Plätzen belegt" in html and "2 Personen auf der Warteliste" in html
    assert html.index("Alt, Anna") < html.index("Bauer, Ben") < html.index("Celik, Cem")
    assert html.index("Celik, Cem") < html.index("Dorn, Dana")
    assert "Umweltbundesamt" in html
    assert "Teilnehmende und Warteliste verwalten" in client.get(
        f"/reihen/termine/{full_session.id}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("employee", 403),
        ("partner_hr", 403),  # sees the series (open to UBA), but does not run it
        ("stranger_hr", 404),  # cannot even see it
        ("coordinator", 200),
        ("lead", 200),
        ("admin", 200),
    ],
)
def test_who_may_see_the_enrolment_list(client, auth, city, uba, hs, full_session, who, status):
    users = {
        "employee": lambda: factories.user(city),
        "partner_hr": lambda: factories.user(uba, Role.HR_STAFF),
        "stranger_hr": lambda: factories.user(hs, Role.HR_LEAD),
        "coordinator": lambda: factories.user(uba),
        "lead": lambda: factories.user(city, Role.HR_LEAD),
        "admin": lambda: factories.user(hs, Role.ADMIN),
    }
    user = users[who]()
    if who == "coordinator":
        full_session.series.coordinators.append(user)
        from tracker.extensions import db

        db.session.commit()
    auth.login(user)
    assert client.get(f"/reihen/termine/{full_session.id}/teilnehmende").status_code == status
    response = client.post(f"/reihen/termine/{full_session.id}/kapazitaet", data={"capacity": "3"})
    assert response.status_code == (303 if status == 200 else status)


def test_hr_searches_people_of_the_open_organisations_only(client, auth, city, uba, hs, hr,
                                                          vielfalt):
    session = factories.session(vielfalt)
    factories.user(city, first_name="Maria", last_name="Mustermann")
    factories.user(uba, first_name="Max", last_name="Mustermann")
    factories.user(hs, first_name="Moritz", last_name="Mustermann")
    auth.login(hr)
    response = client.get(f"/reihen/termine/{session.id}/teilnehmende?suche=muster",
                          headers={**HTMX, "HX-Target": "person-results"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="person-results"')
    assert "Mustermann, Maria" in html and "Mustermann, Max" in html
    assert "Moritz" not in html
    page = client.get(f"/reihen/termine/{session.id}/teilnehmende?suche=m").get_data(as_text=True)
    assert "mindestens 2 Zeichen" in page
    factories.user(city, first_name="Özlem", last_name="Ünal")
    found = client.get(f"/reihen/termine/{session.id}/teilnehmende",
                       query_string={"suche": "ÜNAL"}, headers={**HTMX, "HX-Target": "person-results"})
    assert "Ünal, Özlem" in found.get_data(as_text=True)


def test_hr_enrols_a_person_without_a_computer_on_their_behalf(client, auth, db, city, hr,
                                                              vielfalt):
    session = factories.session(vielfalt, capacity=1)
    otto = factories.user(city, first_name="Otto", last_name="Ohnepc")
    paula = factories.user(city, first_name="Paula", last_name="Ohnepc")
    auth.login(hr)
    response = client.post(f"/reihen/termine/{session.id}/teilnehmende/hinzufuegen",
                           headers=HTMX, data={"user_id": str(otto.id), "suche": "ohnepc"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="roster"')
    assert "Otto Ohnepc ist jetzt angemeldet." in html
    assert f"angemeldet durch {hr.full_name}" in html
    assert 'hx-swap-oob="true"' in html.split('id="person-results"')[1].split(">")[0]
    response = client.post(f"/reihen/termine/{session.id}/teilnehmende/hinzufuegen",
                           data={"user_id": str(paula.id)})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/reihen/termine/{session.id}/teilnehmende"
    enrolments = live(db, session)
    assert [(e.user_id, e.state, e.created_by_id) for e in enrolments] == [
        (otto.id, EnrolmentState.ENROLLED, hr.id),
        (paula.id, EnrolmentState.WAITLISTED, hr.id),
    ]


@pytest.mark.parametrize("value", ["", "abc", "-1", "999999999", "1 OR 1=1"])
def test_hr_cannot_enrol_unknown_or_malformed_people(client, auth, db, hr, vielfalt, value):
    session = factories.session(vielfalt)
    auth.login(hr)
    response = client.post(f"/reihen/termine/{session.id}/teilnehmende/hinzufuegen",
                           headers=HTMX, data={"user_id": value})
    assert response.status_code == 422
    assert "kann für diesen Termin nicht angemeldet werden" in response.get_data(as_text=True)
    assert live(db, session) == []


def test_hr_cannot_enrol_a_person_of_an_organisation_the_series_is_not_open_to(
    client, auth, db, hs, hr, vielfalt
):
    session = factories.session(vielfalt)
    outsider = factories.user(hs)
    auth.login(hr)
    response = client.post(f"/reihen/termine/{session.id}/teilnehmende/hinzufuegen",
                           data={"user_id": str(outsider.id)})
    assert response.status_code == 422
    assert live(db, session) == []


def test_hr_adding_someone_twice_gets_a_kind_conflict(client, auth, db, city, hr, vielfalt):
    session = factories.session(vielfalt)
    otto = factories.user(city, first_name="Otto", last_name="Zwei")
    auth.login(hr)
    url = f"/reihen/termine/{session.id}/teilnehmende/hinzufuegen"
    client.post(url, data={"user_id": str(otto.id)})
    response = client.post(url, headers=HTMX, data={"user_id": str(otto.id)})
    assert response.status_code == 409
    assert "Otto Zwei ist für diesen Termin bereits angemeldet." in response.get_data(as_text=True)
    assert len(live(db, session)) == 1


def test_hr_removes_a_person_and_the_first_in_line_moves_up(client, auth, db, hr, full_session):
    anna = next(e for e in live(db, full_session) if e.user.first_name == "Anna")
    auth.login(hr)
    response = client.post(
        f"/reihen/termine/{full_session.id}/teilnehmende/{anna.id}/entfernen", headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Anna Alt wurde abgemeldet. Cem Celik ist von der Warteliste nachgerückt." in html
    assert "1 Person auf der Warteliste" in html
    states = {e.user.first_name: e.state for e in live(db, full_session)}
    assert states == {"Ben": "enrolled", "Cem": "enrolled", "Dana": "waitlisted"}
    assert seats_taken(db, full_session) == 2


def test_removing_an_enrolment_of_another_session_is_404_and_changes_nothing(
    client, auth, db, city, hr, vielfalt, full_session
):
    other = factories.session(vielfalt)
    elsewhere = factories.enrolment(other, factories.user(city))
    auth.login(hr)
    for enrolment_id in (elsewhere.id, 999999):
        response = client.post(
            f"/reihen/termine/{full_session.id}/teilnehmende/{enrolment_id}/entfernen")
        assert response.status_code == 404
    assert len(live(db, other)) == 1 and len(live(db, full_session)) == 4


def test_raising_capacity_promotes_and_says_who(client, auth, db, hr, full_session):
    auth.login(hr)
    response = client.post(f"/reihen/termine/{full_session.id}/kapazitaet", headers=HTMX,
                           data={"capacity": "3"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Der Termin hat jetzt 3 Plätze. Von der Warteliste nachgerückt: Cem Celik." in html
    assert "3 von 3 Plätzen belegt" in html
    assert seats_taken(db, full_session) == 3


def test_capacity_change_without_javascript_redirects_to_the_list(client, auth, hr, full_session):
    auth.login(hr)
    response = client.post(f"/reihen/termine/{full_session.id}/kapazitaet",
                           data={"capacity": "10"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Der Termin hat jetzt 10 Plätze." in page and "Niemand wartet." in page


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "nicht unter die Zahl der Angemeldeten (2)"),
        ("0", "mindestens 1 Platz"),
        ("-5", "mindestens 1 Platz"),
        ("abc", "ganze Zahl"),
        ("", "ganze Zahl"),
        ("2.5", "ganze Zahl"),
        ("99999999999999999999", "ganze Zahl"),
        ("20000", "höchstens 10000"),
    ],
)
def test_impossible_capacities_are_refused_and_nobody_moves(
    client, auth, db, hr, full_session, value, message
):
    auth.login(hr)
    response = client.post(f"/reihen/termine/{full_session.id}/kapazitaet", headers=HTMX,
                           data={"capacity": value})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.rollback()
    fresh = db.session.get(TrainingSession, full_session.id)
    assert fresh.capacity == 2 and fresh.seats_taken == 2
    assert [e.state for e in live(db, full_session)].count("waitlisted") == 2


# --- Query counts ---------------------------------------------------------------------------


def _statements_for(client, db, path) -> int:
    client.get(path)  # warm-up: caches, lazy imports
    with count_statements(db) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def _sessions_with_people(series, count, city):
    from tracker.extensions import db

    sessions = []
    for i in range(count):
        s = factories.session(series, capacity=1, starts_in=timedelta(days=5 + i), commit=False)
        factories.enrolment(s, factories.user(city, password=None, commit=False), commit=False)
        factories.enrolment(s, factories.user(city, password=None, commit=False),
                            EnrolmentState.WAITLISTED, commit=False)
        sessions.append(s)
    db.session.commit()
    return sessions


def test_the_series_list_costs_the_same_for_2_and_20_sessions(client, auth, db, city, uba, kim):
    small = factories.series(city, [city, uba], title="Klein")
    factories.enrolment(_sessions_with_people(small, 2, city)[1], kim, EnrolmentState.WAITLISTED)
    auth.login(kim)
    few = _statements_for(client, db, f"/reihen/?reihe={small.id}")
    big = factories.series(city, [city, uba], title="Groß")
    sessions = _sessions_with_people(big, 20, city)
    factories.enrolment(sessions[3], kim, EnrolmentState.WAITLISTED)
    many = _statements_for(client, db, f"/reihen/?reihe={big.id}")
    assert few == many
    assert _statements_for(client, db, "/reihen/") == many


def test_series_page_and_session_page_cost_the_same_whatever_the_numbers(
    client, auth, db, city, uba, hr
):
    small = factories.series(city, [city, uba])
    [one] = _sessions_with_people(small, 1, city)
    big = factories.series(city, [city, uba])
    sessions = _sessions_with_people(big, 20, city)
    crowded = sessions[0]
    for _ in range(30):
        factories.enrolment(crowded, factories.user(uba, password=None, commit=False),
                            EnrolmentState.WAITLISTED, commit=False)
    db.session.commit()
    auth.login(hr)
    assert _statements_for(client, db, f"/reihen/{small.id}") == _statements_for(
        client, db, f"/reihen/{big.id}")
    assert _statements_for(client, db, f"/reihen/termine/{one.id}") == _statements_for(
        client, db, f"/reihen/termine/{crowded.id}")
    assert _statements_for(client, db, f"/reihen/termine/{one.id}/teilnehmende") == (
        _statements_for(client, db, f"/reihen/termine/{crowded.id}/teilnehmende"))


def test_roster_counts_match_the_database(db, full_session):
    assert seats_taken(db, full_session) == db.session.scalar(
        select(func.count()).select_from(Enrolment).where(
            Enrolment.session_id == full_session.id,
            Enrolment.state == EnrolmentState.ENROLLED))


class TestWithCsrf:
    @pytest.fixture
    def app_settings(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_htmx_enrol_sends_the_token_from_the_body_header_and_plain_posts_need_it(
        self, client, db, vielfalt, kim
    ):
        import json
        import re

        session = factories.session(vielfalt)
        login_page = client.get("/anmelden").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        client.post("/anmelden", data={"email": kim.email, "password": factories.PASSWORD,
                                       "csrf_token": token})
        page = client.get(f"/reihen/termine/{session.id}").get_data(as_text=True)
        headers = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1).replace(
            "&#34;", '"'))
        url = f"/reihen/termine/{session.id}/anmelden"
        assert client.post(url, headers=HTMX).status_code == 400
        assert live(db, session) == []
        assert client.post(url, headers={**HTMX, **headers}).status_code == 200
        assert len(live(db, session, kim)) == 1


def test_markup_that_people_typed_is_escaped_in_every_part_of_the_list(client, auth, db, city, kim):
    """The session rows and enrol widgets render without autoescaping (for speed) and escape
    what people typed and what the request brings themselves (_enrol_widget.html)."""
    hostile = '<script>x()</script>"'
    series = factories.series(city, [city], title="Reihe" + hostile)
    enrolled = factories.session(series, title="Termin" + hostile, capacity=2)
    waiting = factories.session(series, title="Voll" + hostile, capacity=1)
    for s in (enrolled, waiting):
        s.location, s.trainer = "Raum" + hostile, "Dr." + hostile
    db.session.commit()
    factories.enrolment(waiting, factories.user(city))
    factories.enrolment(enrolled, kim)
    auth.login(kim)
    client.post(f"/reihen/termine/{waiting.id}/anmelden", headers=HTMX)  # on the waiting list

    pages = {
        "list": client.get('/reihen/?x="><script>y()</script>'),
        "series": client.get(f"/reihen/{series.id}"),
        "session": client.get(f"/reihen/termine/{enrolled.id}"),
        "mine": client.get("/meine-schulungen/"),
        "widget": client.post(f"/reihen/termine/{waiting.id}/abmelden", headers=HTMX),
    }
    escaped = "&lt;script&gt;x()&lt;/script&gt;&#34;"
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert response.status_code == 200, name
        assert "<script>x()" not in html and "<script>y()" not in html, name
        assert escaped in html, name
    listing = pages["list"].get_data(as_text=True)
    for text in ("Termin", "Voll", "Raum", "Dr."):
        assert f"{text}{escaped}" in listing, text
    assert "&lt;script&gt;y()&lt;/script&gt;" in listing  # the return address of the forms
    assert f"– Termin{escaped}, " in listing  # the buttons' hidden context
