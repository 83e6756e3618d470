"""Meine Schulungen: upcoming places, history with attendance, participations, promotions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories
from tests.test_trainings_pages import HTMX, count_statements
from tracker.models import AttendanceMark, AttendanceStatus, EnrolmentState, Role
from tracker.services import enrolment as service


@pytest.fixture
def city(app):
    return factories.organisation("Stadtverwaltung Dessau-Roßlau")


@pytest.fixture
def kim(city):
    return factories.user(city, first_name="Kim", last_name="Muster")


def mark(db, enrolment, status):
    db.session.add(AttendanceMark(enrolment=enrolment, session_id=enrolment.session_id,
                                  status=status))
    db.session.commit()


def test_my_trainings_needs_a_login(client):
    response = client.get("/meine-schulungen/")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


def test_upcoming_enrolments_and_waiting_places_with_their_position(client, auth, city, kim):
    series = factories.series(city, [city], title="Vielfaltsmontag")
    seat = factories.session(series, title="Mit Platz")
    full = factories.session(series, title="Voll", capacity=1)
    factories.enrolment(seat, kim)
    factories.enrolment(full, factories.user(city))
    factories.enrolment(full, factories.user(city), EnrolmentState.WAITLISTED)
    factories.enrolment(full, kim, EnrolmentState.WAITLISTED)
    factories.session(series, title="Nicht angemeldet")
    auth.login(kim)
    html = client.get("/meine-schulungen/").get_data(as_text=True)
    assert "<h1" in html and "Meine Schulungen" in html
    assert "Mit Platz" in html and "Voll" in html and "Nicht angemeldet" not in html
    assert "Angemeldet" in html and "Auf der Warteliste (Platz 2)" in html
    assert f"/reihen/termine/{seat.id}/kalender.ics" in html
    assert f"/reihen/termine/{full.id}/kalender.ics" not in html
    assert f'hx-post="/reihen/termine/{seat.id}/abmelden"' in html


def test_cancelling_from_my_trainings_swaps_the_widget_in_place(client, auth, db, city, kim):
    session = factories.session(factories.series(city, [city]), title="Mit Platz")
    factories.enrolment(session, kim)
    auth.login(kim)
    response = client.post(f"/reihen/termine/{session.id}/abmelden", headers=HTMX,
                           data={"next": "/meine-schulungen/"})
    assert response.status_code == 200
    assert 'name="next" value="/meine-schulungen/"' in response.get_data(as_text=True)


def test_past_sessions_show_attendance_and_sessions_cancelled_by_the_organiser(
    client, auth, db, city, kim
):
    series = factories.series(city, [city], title="Vielfaltsmontag")
    lead = factories.user(city, Role.HR_LEAD)

    def past(title, days):
        return factories.session(series, title=title, starts_in=timedelta(days=-days))

    mark(db, factories.enrolment(past("War da", 10), kim), AttendanceStatus.PRESENT)
    mark(db, factories.enrolment(past("Krank", 20), kim), AttendanceStatus.EXCUSED)
    mark(db, factories.enrolment(past("Nicht gekommen", 30), kim), AttendanceStatus.ABSENT)
    factories.enrolment(past("Noch offen", 2), kim)
    mark(db, factories.enrolment(past("Spontan", 40), kim, EnrolmentState.WALK_IN),
         AttendanceStatus.PRESENT)
    upcoming_cancelled = factories.session(series, title="Fällt aus")
    factories.enrolment(upcoming_cancelled, kim)
    service.cancel_session(upcoming_cancelled, actor=lead)
    db.session.commit()
    auth.login(kim)
    html = client.get("/meine-schulungen/").get_data(as_text=True)
    past_part = html.split("Vergangene Termine")[-1]
    for title, status in [("War da", "anwesend"), ("Krank", "entschuldigt"),
                          ("Nicht gekommen", "unentschuldigt"), ("Noch offen", "nicht erfasst"),
                          ("Spontan", "(ohne Anmeldung)")]:
        row = past_part.split(title)[1].split("</tr>")[0]
        assert status in row, (title, row)
    # Newest first.
    assert past_part.index("Noch offen") < past_part.index("War da") < past_part.index("Spontan")
    upcoming_part = html.split("Kommende Termine")[1].split("Ihre Teilnahmen")[0]
    assert "Fällt aus" in upcoming_part and "Abgesagt" in upcoming_part


def test_participations_per_series_and_in_total(client, auth, db, city, kim):
    montag = factories.series(city, [city], title="Vielfaltsmontag")
    fuehren = factories.series(city, [city], title="Führen und Gewinnen")
    for i, status in enumerate([AttendanceStatus.PRESENT, AttendanceStatus.PRESENT,
                                AttendanceStatus.EXCUSED]):
        s = factories.session(montag, starts_in=timedelta(days=-10 - i))
        mark(db, factories.enrolment(s, kim), status)
    s = factories.session(fuehren, starts_in=timedelta(days=-50))
    mark(db, factories.enrolment(s, kim), AttendanceStatus.PRESENT)
    # Someone else's participation is not hers.
    other = factories.session(montag, starts_in=timedelta(days=-5))
    mark(db, factories.enrolment(other, factories.user(city)), AttendanceStatus.PRESENT)
    auth.login(kim)
    html = client.get("/meine-schulungen/").get_data(as_text=True)
    part = html.split("Ihre Teilnahmen")[1].split("Vergangene Termine")[0]
    assert "Sie haben insgesamt an 3 Terminen teilgenommen." in part
    assert "Vielfaltsmontag</a></th>\n        <td class=\"kern-table__cell kern-table__cell--numeric\">2<" in part
    assert "Führen und Gewinnen</a></th>\n        <td class=\"kern-table__cell kern-table__cell--numeric\">1<" in part


def test_a_promotion_is_announced_once(client, auth, db, city, kim):
    session = factories.session(factories.series(city, [city]), title="Inklusion", capacity=1)
    holder = factories.user(city)
    seat = factories.enrolment(session, holder)
    factories.enrolment(session, kim, EnrolmentState.WAITLISTED)
    service.cancel(seat, actor=holder)
    db.session.commit()
    auth.login(kim)
    first = client.get("/meine-schulungen/").get_data(as_text=True)
    assert "Sie haben einen Platz erhalten" in first and "Inklusion" in first
    second = client.get("/meine-schulungen/").get_data(as_text=True)
    assert "Sie haben einen Platz erhalten" not in second
    assert "Angemeldet" in second


def test_download_link_appears_only_when_the_privacy_export_exists(app, client, auth, kim):
    endpoint = "privacy.export_my_data"
    if endpoint not in app.view_functions:
        app.add_url_rule("/meine-daten/test-export", endpoint=endpoint, view_func=lambda: "")
    auth.login(kim)
    assert "Meine Daten herunterladen" in client.get("/meine-schulungen/").get_data(as_text=True)
    view = app.view_functions.pop(endpoint)
    try:
        html = client.get("/meine-schulungen/").get_data(as_text=True)
    finally:
        app.view_functions[endpoint] = view
    assert "Meine Daten herunterladen" not in html


def test_my_trainings_costs_the_same_for_2_and_20_enrolments(client, auth, db, city, kim):
    series = factories.series(city, [city])

    def add(n):
        for i in range(n):
            upcoming = factories.session(series, capacity=1, starts_in=timedelta(days=3 + i),
                                         commit=False)
            factories.enrolment(upcoming, factories.user(city, password=None, commit=False),
                                commit=False)
            factories.enrolment(upcoming, kim, EnrolmentState.WAITLISTED, commit=False)
            past = factories.session(series, starts_in=timedelta(days=-3 - i), commit=False)
            db.session.add(AttendanceMark(enrolment=factories.enrolment(past, kim, commit=False),
                                          session_id=past.id, status=AttendanceStatus.PRESENT))
        db.session.commit()

    def statements() -> int:
        client.get("/meine-schulungen/")
        with count_statements(db) as seen:
            client.get("/meine-schulungen/")
        return len(seen)

    add(2)
    auth.login(kim)
    few = statements()
    add(18)
    assert statements() == few
