"""The attendance sheet over HTTP: HR staff mark people with one click (htmx) or plain form
posts, add walk-ins, read a row's history, close the session, print the sign-in list; who may
do it; every bad input; and a fixed number of SQL statements whatever the sheet's size."""

from __future__ import annotations

import itertools
import re
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import event, func, select

from tests import factories
from tracker.extensions import db as _db
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    AttendanceStatus,
    EnrolmentState,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import attendance as service

HX = {"HX-Request": "true"}
_scenes = itertools.count(1)


class Scene:
    def __init__(self, participants: int = 3, starts_in=timedelta(minutes=-30)):
        n = next(_scenes)
        self.city = factories.organisation(f"Stadtverwaltung {n}")
        self.agency = factories.organisation(f"Umweltamt {n}")
        self.elsewhere = factories.organisation(f"Fremdbehörde {n}")
        self.staff = factories.user(self.city, Role.HR_STAFF, first_name="Sina", last_name="Sach")
        self.lead = factories.user(self.city, Role.HR_LEAD)
        self.series = factories.series(self.city, [self.city, self.agency],
                                       title="Vielfaltsmontag")
        self.session = factories.session(self.series, starts_in=starts_in, capacity=500,
                                         title="Vielfalt als Stärke")
        names = ["Albers", "Bauer", "Celik", "Dorn", "Ernst"]
        people = [
            factories.user(self.city if i % 2 == 0 else self.agency,
                           first_name=f"P{i}", last_name=names[i % 5] + (str(i) if i >= 5 else ""),
                           commit=False)
            for i in range(participants)
        ]
        self.enrolments = [factories.enrolment(self.session, p, commit=False) for p in people]
        _db.session.commit()
        self.people = people

    def url(self, suffix: str = "") -> str:
        return f"/anwesenheit/termine/{self.session.id}{suffix}"

    def mark_url(self, enrolment) -> str:
        return self.url(f"/eintraege/{getattr(enrolment, 'id', enrolment)}")


@pytest.fixture
def scene(app) -> Scene:
    return Scene()


@pytest.fixture
def as_staff(scene, auth):
    auth.login(scene.staff)
    return scene


class _SheetReader(HTMLParser):
    """What a person sees in each row of the sheet: its badge and its buttons (label, pressed)."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: dict[int, dict] = {}
        self._row: dict | None = None
        self._into: list | None = None
        self._depth = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and (attrs.get("id") or "").startswith("row-"):
            self._row = self.rows.setdefault(int(attrs["id"][4:]), {"badge": [], "buttons": []})
        if self._row is None:
            return
        if tag == "button":
            self._row["buttons"].append([[], attrs.get("aria-pressed") == "true"])
            self._into, self._depth = self._row["buttons"][-1][0], 0
        elif "attendance-badge" in (attrs.get("class") or "").split():
            self._into, self._depth = self._row["badge"], 0
        elif self._into is not None and tag == "span":
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        elif self._into is not None and (tag == "button" or tag == "span"):
            if tag == "span" and self._depth:
                self._depth -= 1
            else:
                self._into = None

    def handle_data(self, data):
        if self._into is not None:
            self._into.append(data)

    def buttons(self, enrolment_id: int) -> dict[str, bool]:
        return {" ".join("".join(text).replace("✓", "").split()): pressed
                for text, pressed in self.rows[enrolment_id]["buttons"]}

    def badge(self, enrolment_id: int) -> str:
        return " ".join("".join(self.rows[enrolment_id]["badge"]).split())


def marks_count() -> int:
    return _db.session.scalar(select(func.count()).select_from(AttendanceMark))


def changes_count() -> int:
    return _db.session.scalar(select(func.count()).select_from(AttendanceChange))


# --- the sheet ---------------------------------------------------------------------------------


def test_hr_staff_opens_the_sheet_and_sees_everyone_with_status_and_counts(client, as_staff):
    scene = as_staff
    walk_in = factories.enrolment(scene.session, factories.user(scene.agency, last_name="Zander"),
                                  EnrolmentState.WALK_IN)
    waiting = factories.enrolment(scene.session, factories.user(scene.city, last_name="Warter"),
                                  EnrolmentState.WAITLISTED)
    response = client.get(scene.url())
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Anwesenheit: Vielfalt als Stärke" in html
    for person in scene.people:
        assert person.last_name in html
    assert "Umweltamt" in html and "Stadtverwaltung" in html
    assert f'id="row-{walk_in.id}"' in html and "spontan" in html
    assert f'id="row-{waiting.id}"' not in html and "Warter" not in html
    # Counts in a live region; statuses as real buttons with aria-pressed, and text badges.
    assert 'id="attendance-counts"' in html and 'aria-live="polite"' in html
    assert "offen von 4" in html
    # Each row offers one button per status, with its word, and none is pressed yet.
    page = _SheetReader(html)
    assert set(page.rows) == {e.id for e in [*scene.enrolments, walk_in]}
    for enrolment_id in page.rows:
        assert page.buttons(enrolment_id) == {status.label: False for status in AttendanceStatus}
        assert page.badge(enrolment_id) == "offen"
    assert "Alle offenen als anwesend" in html
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_one_click_with_htmx_swaps_the_row_and_updates_the_counts_out_of_band(client, as_staff):
    scene = as_staff
    enrolment = scene.enrolments[1]
    response = client.post(scene.mark_url(enrolment), data={"status": "excused", "version": "0"},
                           headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith(f'<tr id="row-{enrolment.id}"')
    assert re.search(r'value="excused"[^>]*aria-pressed="true"[^>]*data-focus', html, re.S)
    assert f'id="mark-{enrolment.id}-excused"' in html  # the same id: focus returns to it
    assert 'id="attendance-counts" hx-swap-oob="innerHTML"' in html
    assert "offen von 3" in html and "P1 Bauer: entschuldigt." in html
    mark = _db.session.scalar(select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment.id))
    assert mark.status == "excused" and mark.marked_by_id == scene.staff.id


def test_without_javascript_a_click_posts_and_returns_to_the_row(client, as_staff):
    scene = as_staff
    enrolment = scene.enrolments[0]
    response = client.post(scene.mark_url(enrolment), data={"status": "present"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{scene.url()}#row-{enrolment.id}")
    page = client.get(scene.url()).get_data(as_text=True)
    assert "P0 Albers: anwesend." in page
    assert re.search(rf'id="mark-{enrolment.id}-present"[^>]*aria-pressed="true"', page, re.S)
    seen = _SheetReader(page)
    assert seen.badge(enrolment.id) == "anwesend"
    assert seen.buttons(enrolment.id) == {
        status.label: status is AttendanceStatus.PRESENT for status in AttendanceStatus}
    client.post(scene.mark_url(enrolment), data={"status": "absent"})
    seen = _SheetReader(client.get(scene.url()).get_data(as_text=True))
    assert seen.badge(enrolment.id) == "unentschuldigt"
    assert seen.buttons(enrolment.id) == {
        status.label: status is AttendanceStatus.ABSENT for status in AttendanceStatus}


def test_all_open_rows_present_in_one_request_with_and_without_javascript(client, as_staff):
    scene = as_staff
    client.post(scene.mark_url(scene.enrolments[0]), data={"status": "absent"})
    response = client.post(scene.url("/alle-anwesend"), headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<tbody id="sheet-rows"')
    assert "2 Personen als anwesend erfasst." in html and "offen von 3" in html
    counts = service.sheet_counts(scene.session.id)
    assert (counts.total, counts.present, counts.excused, counts.absent) == (3, 2, 0, 1)
    response = client.post(scene.url("/alle-anwesend"))
    assert response.status_code == 303
    assert "Es gab keine offenen Einträge." in client.get(scene.url()).get_data(as_text=True)


def test_a_stale_click_tells_the_person_they_overrode_a_colleague(client, as_staff):
    scene = as_staff
    enrolment = scene.enrolments[0]
    client.post(scene.mark_url(enrolment), data={"status": "present", "version": "0"})
    # A colleague's page still shows version 0 and she clicks "absent".
    response = client.post(scene.mark_url(enrolment), data={"status": "absent", "version": "0"},
                           headers=HX)
    html = response.get_data(as_text=True)
    assert 'hx-swap-oob="innerHTML:#messages"' in html
    assert "von jemand anderem geändert" in html
    assert [c.new_status for c in _db.session.scalars(select(AttendanceChange))] == [
        "present", "absent"]


def test_history_of_a_row_as_fragment_and_as_page(client, as_staff):
    scene = as_staff
    enrolment = scene.enrolments[0]
    client.post(scene.mark_url(enrolment), data={"status": "present"})
    client.post(scene.mark_url(enrolment), data={"status": "excused"})
    url = scene.mark_url(enrolment) + "/verlauf"
    fragment = client.get(url, headers=HX).get_data(as_text=True)
    assert "<html" not in fragment
    assert "offen → <strong>anwesend</strong>" in fragment
    assert "anwesend → <strong>entschuldigt</strong>" in fragment and "Sina Sach" in fragment
    page = client.get(url)
    assert page.status_code == 200 and "Verlauf: P0 Albers" in page.get_data(as_text=True)


def test_print_view_has_a_signature_column_and_empty_rows_for_walk_ins(client, as_staff):
    scene = as_staff
    response = client.get(scene.url("/unterschriftenliste"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Unterschrift" in html and "css/attendance.css" in html
    assert html.count('class="sign-in__blank"') == 8
    for person in scene.people:
        assert person.last_name in html


def test_closing_the_session_and_reopening_by_the_hr_lead(client, auth, as_staff):
    scene = as_staff
    response = client.post(scene.url("/abschliessen"))
    assert response.status_code == 409
    assert "noch 3 Einträge offen" in response.get_data(as_text=True)
    client.post(scene.url("/alle-anwesend"))
    response = client.post(scene.url("/abschliessen"))
    assert response.status_code == 303
    page = client.get(scene.url()).get_data(as_text=True)
    assert "Abgeschlossen am" in page and "aria-pressed" not in page
    response = client.post(scene.mark_url(scene.enrolments[0]), data={"status": "absent"})
    assert response.status_code == 403
    assert "nur noch die Personalleitung" in response.get_data(as_text=True)
    assert client.post(scene.url("/wieder-oeffnen")).status_code == 403

    auth.logout()
    auth.login(scene.lead)
    page = client.get(scene.url()).get_data(as_text=True)
    assert "aria-pressed" in page and "Wieder öffnen" in page
    assert client.post(scene.mark_url(scene.enrolments[0]),
                       data={"status": "absent"}).status_code == 303
    assert client.post(scene.url("/wieder-oeffnen")).status_code == 303
    assert _db.session.get(TrainingSession, scene.session.id).closed_at is None


# --- walk-ins -----------------------------------------------------------------------------------


def test_search_for_a_walk_in_answers_a_fragment_to_htmx_and_a_page_without(client, as_staff):
    scene = as_staff
    factories.user(scene.agency, first_name="Gina", last_name="Gastmann")
    factories.user(scene.elsewhere, first_name="Gustav", last_name="Gastfremd")
    fragment = client.get(scene.url("/suche"), query_string={"q": "gast"}, headers=HX)
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "Gastmann" in html and "Gastfremd" not in html
    assert 'hx-post="' in html
    assert "mindestens 2 Zeichen" in client.get(scene.url("/suche"), query_string={"q": "g"},
                                                headers=HX).get_data(as_text=True)
    page = client.get(scene.url("/suche"), query_string={"q": "gast"}).get_data(as_text=True)
    assert "<html" in page and "Gastmann" in page and 'hx-post="' not in page


def test_search_for_a_walk_in_finds_names_with_capital_umlauts(client, as_staff):
    scene = as_staff
    factories.user(scene.agency, first_name="Äneas", last_name="Übelacker")
    for needle in ("übel", "ÜBEL", "äneas üb"):
        html = client.get(scene.url("/suche"), query_string={"q": needle}, headers=HX).get_data(
            as_text=True)
        assert "Übelacker" in html, needle


def test_adding_a_walk_in_with_htmx_appends_the_row_and_updates_the_counts(client, as_staff):
    scene = as_staff
    guest = factories.user(scene.agency, first_name="Gina", last_name="Gastmann")
    response = client.post(scene.url("/spontan"), data={"user_id": guest.id}, headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="walk-in"')
    assert 'hx-swap-oob="beforeend:#sheet-rows"' in html and "Gastmann" in html
    assert "spontan" in html and "offen von 4" in html
    assert "Gina Gastmann wurde spontan hinzugefügt" in html


def test_adding_a_walk_in_without_javascript(client, as_staff):
    scene = as_staff
    guest = factories.user(scene.city, first_name="Gina", last_name="Gastmann")
    response = client.post(scene.url("/spontan"), data={"user_id": guest.id})
    assert response.status_code == 303 and "#row-" in response.headers["Location"]
    page = client.get(scene.url()).get_data(as_text=True)
    assert "Gastmann, Gina" in page and "wurde spontan hinzugefügt" in page


# --- bad input: a German message, a fitting 4xx, nothing changed ---------------------------------


@pytest.mark.parametrize("status", ["", "maybe", "<script>", "PRESENT"])
def test_unknown_status_is_422_in_german_and_changes_nothing(client, as_staff, status):
    response = client.post(as_staff.mark_url(as_staff.enrolments[0]), data={"status": status},
                           headers=HX)
    assert response.status_code == 422
    assert "Unbekannter Status" in response.get_data(as_text=True)
    assert marks_count() == changes_count() == 0


def test_status_missing_from_the_form_is_422(client, as_staff):
    response = client.post(as_staff.mark_url(as_staff.enrolments[0]), data={})
    assert response.status_code == 422 and "Unbekannter Status" in response.get_data(as_text=True)


def test_forged_enrolment_of_another_session_is_404_and_changes_nothing(client, as_staff):
    scene = as_staff
    other = factories.session(scene.series, starts_in=timedelta(minutes=-10))
    foreign = factories.enrolment(other, factories.user(scene.city))
    for target in (foreign.id, 987654):
        response = client.post(scene.mark_url(target), data={"status": "present"})
        assert response.status_code == 404
        assert "nicht auf der Anwesenheitsliste" in response.get_data(as_text=True)
    assert marks_count() == 0


def test_person_on_the_waiting_list_cannot_be_marked_until_added_as_walk_in(client, as_staff):
    scene = as_staff
    waiting = factories.enrolment(scene.session, factories.user(scene.city), EnrolmentState.WAITLISTED)
    response = client.post(scene.mark_url(waiting), data={"status": "present"})
    assert response.status_code == 404 and marks_count() == 0


def test_marking_before_the_session_starts_is_409(client, auth, app):
    scene = Scene(starts_in=timedelta(hours=3))
    auth.login(scene.staff)
    page = client.get(scene.url()).get_data(as_text=True)
    assert "erst ab Beginn des Termins" in page and "aria-pressed" not in page
    response = client.post(scene.mark_url(scene.enrolments[0]), data={"status": "present"})
    assert response.status_code == 409
    assert "erst ab Beginn des Termins" in response.get_data(as_text=True)
    assert client.post(scene.url("/alle-anwesend")).status_code == 409
    assert client.post(scene.url("/abschliessen")).status_code == 409
    assert marks_count() == 0
    # The sign-in list can be printed before the session.
    assert client.get(scene.url("/unterschriftenliste")).status_code == 200


def test_walk_in_from_outside_the_open_organisations_is_refused(client, as_staff):
    scene = as_staff
    stranger = factories.user(scene.elsewhere)
    response = client.post(scene.url("/spontan"), data={"user_id": stranger.id}, headers=HX)
    assert response.status_code == 404
    assert "keiner Organisation" in response.get_data(as_text=True)
    response = client.post(scene.url("/spontan"), data={"user_id": "abc"})
    assert response.status_code == 422 and "Bitte wählen Sie eine Person" in response.get_data(
        as_text=True)
    response = client.post(scene.url("/spontan"), data={"user_id": scene.people[0].id})
    assert response.status_code == 409
    assert "bereits auf der Anwesenheitsliste" in response.get_data(as_text=True)
    assert marks_count() == 0 and service.sheet_counts(scene.session.id).total == 3


@pytest.mark.parametrize(
    "path",
    ["/eintraege/1", "/alle-anwesend", "/spontan", "/abschliessen", "/wieder-oeffnen"],
)
def test_mutating_routes_answer_get_with_405(client, as_staff, path):
    assert client.get(as_staff.url(path)).status_code == 405


# --- who may mark ----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login(client, scene):
    response = client.get(scene.url())
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


def test_employees_get_403_and_no_link(client, auth, scene):
    employee = scene.people[0]
    auth.login(employee)
    assert client.get("/anwesenheit/").status_code == 403
    assert client.get(scene.url()).status_code == 403
    assert client.post(scene.mark_url(scene.enrolments[0]),
                       data={"status": "present"}).status_code == 403
    assert 'href="/anwesenheit/"' not in client.get("/").get_data(as_text=True)
    assert marks_count() == 0


def test_hr_of_a_partner_sees_no_sheet_of_the_owners_series(client, auth, scene):
    partner_hr = factories.user(scene.agency, Role.HR_STAFF)  # series open to them: 403
    auth.login(partner_hr)
    assert client.get(scene.url()).status_code == 403
    assert client.post(scene.mark_url(scene.enrolments[0]),
                       data={"status": "present"}).status_code == 403
    auth.logout()
    stranger_hr = factories.user(scene.elsewhere, Role.HR_LEAD)  # cannot see the series: 404
    auth.login(stranger_hr)
    assert client.get(scene.url()).status_code == 404
    assert client.post(scene.url("/alle-anwesend")).status_code == 404
    assert scene.session.title not in client.get("/anwesenheit/").get_data(as_text=True)
    assert marks_count() == 0


def test_coordinator_who_is_an_employee_marks_and_sees_the_link(client, auth, scene):
    coordinator = factories.user(scene.agency, Role.EMPLOYEE)
    scene.series.coordinators.append(coordinator)
    _db.session.commit()
    auth.login(coordinator)
    assert 'href="/anwesenheit/"' in client.get("/").get_data(as_text=True)
    assert scene.session.title in client.get("/anwesenheit/").get_data(as_text=True)
    assert client.post(scene.mark_url(scene.enrolments[0]),
                       data={"status": "present"}).status_code == 303


def test_hr_staff_and_admin_see_the_link(client, auth, scene):
    auth.login(scene.staff)
    assert 'href="/anwesenheit/"' in client.get("/").get_data(as_text=True)


# --- the list of sessions ----------------------------------------------------------------------


def test_index_lists_todays_and_recent_sessions_first_and_paginates(client, as_staff):
    scene = as_staff
    now = utcnow().replace(microsecond=0)
    old = [factories.session(scene.series, starts_at=now - timedelta(days=30 + i),
                             title=f"Alt {i}", commit=False) for i in range(25)]
    future = factories.session(scene.series, starts_in=timedelta(days=20), title="Zukunft")
    other_series = factories.series(scene.elsewhere, [scene.elsewhere])
    factories.session(other_series, starts_in=timedelta(minutes=-5), title="Nicht meins")
    _db.session.commit()
    html = client.get("/anwesenheit/").get_data(as_text=True)
    assert html.index("Vielfalt als Stärke") < html.index("Alt 0") < html.index("Alt 1")
    assert "Zukunft" in html and "Nicht meins" not in html
    # What is coming first, then today's, then the past ones, newest first.
    assert html.index("Demnächst") < html.index("Zukunft") < html.index("Heute und zuletzt")
    assert html.index("Heute und zuletzt") < html.index("Vielfalt als Stärke")
    assert "Seite 1 von 2" in html and "Alt 24" not in html
    second = client.get("/anwesenheit/", query_string={"seite": 2}).get_data(as_text=True)
    assert "Alt 24" in second and "Zukunft" not in second
    assert client.get("/anwesenheit/", query_string={"seite": "x"}).status_code == 200
    assert len(old) == 25 and future.id


# --- fixed number of SQL statements ---------------------------------------------------------------


@contextmanager
def counted_statements():
    statements: list[str] = []

    def listener(_conn, _cursor, statement, _params, _context, _executemany):
        # SQLite's explicit BEGIN (see tracker/database.py) is not a query; PostgreSQL has none.
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(_db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(_db.engine, "before_cursor_execute", listener)


def _statements_for(client, auth, participants: int) -> dict[str, int]:
    scene = Scene(participants=participants)
    service.mark(scene.session, scene.enrolments[0].id, "absent", scene.staff)
    _db.session.commit()
    auth.login(scene.staff)
    target = scene.enrolments[participants // 2].id
    counts = {}
    sheet, row = scene.url(), scene.mark_url(target)
    requests = {
        "sheet": lambda: client.get(sheet),
        "click (htmx)": lambda: client.post(row, data={"status": "excused"}, headers=HX),
        "click (no JS)": lambda: client.post(row, data={"status": "present"}),
        "print view": lambda: client.get(sheet + "/unterschriftenliste"),
        "bulk (htmx)": lambda: client.post(sheet + "/alle-anwesend", headers=HX),
    }
    for name, request in requests.items():
        _db.session.remove()  # nothing cached from the set-up: count what a real request does
        with counted_statements() as statements:
            response = request()
        assert response.status_code in (200, 303), name
        counts[name] = len(statements)
    auth.logout()
    return counts


def test_sheet_and_clicks_issue_the_same_number_of_statements_for_5_and_200_people(client, auth):
    small = _statements_for(client, auth, 5)
    large = _statements_for(client, auth, 200)
    assert small == large
    # Pinned on both databases: a change that adds a query shows up here. The sheet: user,
    # session with its series, rows (people, organisations and marks in one join), counts (one
    # aggregate). A click: user, session with series, lock the row, re-read closed_at, read
    # the row with its mark, write mark and change; the answer then needs only the counts
    # (the row is known from what was written; the page without JS is redirected).
    assert small == {
        "sheet": 4, "click (htmx)": 8, "click (no JS)": 7, "print view": 3, "bulk (htmx)": 9,
    }


def test_history_of_someone_not_on_the_sheet_is_404(client, as_staff):
    scene = as_staff
    waiting = factories.enrolment(scene.session, factories.user(scene.city),
                                  EnrolmentState.WAITLISTED)
    response = client.get(scene.mark_url(waiting) + "/verlauf", headers=HX)
    assert response.status_code == 404
    assert "nicht auf der Anwesenheitsliste" in response.get_data(as_text=True)


def test_admin_marks_any_session(client, auth, scene):
    auth.login(factories.user(scene.elsewhere, Role.ADMIN))
    assert scene.session.title in client.get("/anwesenheit/").get_data(as_text=True)
    assert client.post(scene.mark_url(scene.enrolments[0]),
                       data={"status": "present"}).status_code == 303


def test_list_of_sessions_costs_the_same_for_3_and_30_sessions(client, as_staff):
    scene = as_staff

    def statements() -> int:
        _db.session.remove()
        with counted_statements() as seen:
            assert client.get("/anwesenheit/").status_code == 200
        return len(seen)

    series_id, person_id = scene.series.id, scene.people[0].id
    few = statements()
    series, person = _db.session.get(TrainingSeries, series_id), _db.session.get(User, person_id)
    for i in range(30):
        session = factories.session(series, starts_in=timedelta(days=-i - 1), commit=False)
        factories.enrolment(session, person, commit=False)
    _db.session.commit()
    assert statements() == few


def test_first_walk_in_on_an_empty_sheet_removes_the_empty_note(client, auth, app):
    scene = Scene(participants=0)
    auth.login(scene.staff)
    assert 'id="sheet-empty"' in client.get(scene.url()).get_data(as_text=True)
    guest = factories.user(scene.city, last_name="Gast")
    html = client.post(scene.url("/spontan"), data={"user_id": guest.id},
                       headers=HX).get_data(as_text=True)
    assert '<tr id="sheet-empty" hx-swap-oob="delete">' in html and "offen von 1" in html


def test_markup_in_names_is_escaped_in_every_part_of_a_row(client, auth):
    """The row macro renders without autoescaping (for speed) and escapes what people typed
    itself: the names of participant, organisation, walk-in and the person who marked."""
    hostile = '<script>x()</script>"'
    scene = Scene(participants=2)
    scene.people[0].first_name = hostile
    scene.people[0].last_name = "Albers" + hostile
    scene.agency.name = "Umweltamt" + hostile  # people[1] is enrolled for the agency
    scene.staff.last_name = "Sach" + hostile
    guest = factories.user(scene.agency, first_name=hostile, last_name="Gast" + hostile)
    _db.session.commit()
    auth.login(scene.staff)

    answers = {
        "click": client.post(scene.mark_url(scene.enrolments[0]), data={"status": "present"},
                             headers=HX),
        "walk-in": client.post(scene.url("/spontan"), data={"user_id": guest.id}, headers=HX),
        "sheet": client.get(scene.url()),
    }
    escaped = "&lt;script&gt;x()&lt;/script&gt;&#34;"
    for name, response in answers.items():
        html = response.get_data(as_text=True)
        assert response.status_code == 200, name
        assert "<script>x()" not in html, name
        assert escaped in html, name
    sheet = answers["sheet"].get_data(as_text=True)
    assert f"Albers{escaped}, {escaped}" in sheet  # the participant's sort name
    assert f"Umweltamt{escaped}" in sheet  # the organisation
    assert f"Sach{escaped}" in sheet  # who marked the row
    assert f"von {escaped} Albers{escaped}" in sheet  # the history link's hidden label
    assert f"Gast{escaped}, {escaped}" in sheet  # the walk-in
