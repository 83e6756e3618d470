"""Who may do what, for every route of the URL map (htmx fragments included): a table with one
row per route and method, and a column per person. A route without a row fails the test, so a
new page cannot ship unreviewed. Objects belong to organisation A; the last two columns are
HR of organisation B, who must get 404 for A's objects (their existence does not leak) and 403
for areas their role may never use."""

from __future__ import annotations

import pytest

from tests import factories
from tests import world as w
from tests.conftest import _empty_all_tables

OK, LOGIN, FORBIDDEN, NOT_FOUND = "ok", "login", 403, 404
ROLES = ["anonymous", "employee_a", "hr_staff_a", "hr_lead_a", "admin", "hr_lead_b", "hr_staff_b"]

# fmt: off
#                                                  anon   employee   hr_staff   hr_lead    admin      lead B     staff B
MATRIX: dict[tuple[str, str], tuple] = {
    # Public pages
    ("main.index", "GET"):                         (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    ("main.accessibility", "GET"):                 (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    ("main.easy_language", "GET"):                 (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    ("auth.login", "GET"):                         (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    ("auth.login", "POST"):                        (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    ("auth.logout", "POST"):                       (LOGIN, LOGIN,     LOGIN,     LOGIN,     LOGIN,     LOGIN,     LOGIN),
    ("auth.set_language", "POST"):                 (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    # An unknown one-time link is unknown to everybody.
    ("password.reset", "GET"):                     (NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    ("password.reset", "POST"):                    (NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    ("password.forgot", "GET"):                    (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    ("password.forgot", "POST"):                   (OK,    OK,        OK,        OK,        OK,        OK,        OK),
    # Everybody's own things
    ("my.reminders", "POST"):                      (LOGIN, OK,        OK,        OK,        OK,        OK,        OK),
    ("my.index", "GET"):                           (LOGIN, OK,        OK,        OK,        OK,        OK,        OK),
    # A certificate only for one's own participation: employee A was excused (409), the rest
    # do not see the enrolment at all; an unknown code is unknown to everybody.
    ("certificates.download", "GET"):              (LOGIN, 409,       NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    ("certificates.verify", "GET"):                (NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # Nobody in the world took part this year (employee A was excused): a 409 for who may ask.
    ("certificates.my_record", "GET"):             (LOGIN, 409,       409,       409,       409,       409,       409),
    # HR certify the people of their own organisation: A's for A's HR, never B's. Session A's
    # certificates exist by then ("alle-anwesend" sorts first and marks HR staff A present).
    ("certificates.one", "GET"):                   (LOGIN, FORBIDDEN, 409,       409,       409,       NOT_FOUND, NOT_FOUND),
    ("certificates.session_pdf", "GET"):           (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("certificates.session_zip", "GET"):           (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("certificates.record", "GET"):                (LOGIN, FORBIDDEN, 409,       409,       409,       NOT_FOUND, NOT_FOUND),
    ("certificates.selection_zip", "GET"):         (LOGIN, FORBIDDEN, FORBIDDEN, 409,       409,       409,       FORBIDDEN),
    ("privacy.index", "GET"):                      (LOGIN, OK,        OK,        OK,        OK,        OK,        OK),
    ("privacy.export_my_data", "GET"):             (LOGIN, OK,        OK,        OK,        OK,        OK,        OK),
    ("privacy.export_my_data_workbook", "GET"):    (LOGIN, OK,        OK,        OK,        OK,        OK,        OK),
    # Series and sessions: A's series is open to A only, so B does not see it at all.
    ("trainings.index", "GET"):                    (LOGIN, OK,        OK,        OK,        OK,        OK,        OK),
    ("trainings.series", "GET"):                   (LOGIN, OK,        OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.session", "GET"):                  (LOGIN, OK,        OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.calendar", "GET"):                 (LOGIN, OK,        OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.enrol", "POST"):                   (LOGIN, OK,        OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.cancel", "POST"):                  (LOGIN, OK,        OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    # HR's view of a session: the owner's HR and admins; employees see the session, not the list.
    ("trainings.roster", "GET"):                   (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.roster_add", "POST"):              (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.roster_remove", "POST"):           (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("trainings.capacity", "POST"):                (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    # Attendance: HR and admins; never employees; B's HR cannot find A's sessions.
    ("attendance.index", "GET"):                   (LOGIN, FORBIDDEN, OK,        OK,        OK,        OK,        OK),
    ("attendance.sheet", "GET"):                   (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.sign_in_sheet", "GET"):           (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.history", "GET"):                 (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.search", "GET"):                  (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.mark", "POST"):                   (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.mark_all_present", "POST"):       (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.add_walk_in", "POST"):            (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    ("attendance.close", "POST"):                  (LOGIN, FORBIDDEN, OK,        OK,        OK,        NOT_FOUND, NOT_FOUND),
    # Reopening a closed sheet is for the HR lead and admins only.
    ("attendance.reopen", "POST"):                 (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, NOT_FOUND),
    # Reports and exports: HR leads (their own organisation) and admins.
    ("reports.index", "GET"):                      (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("reports.export", "GET"):                     (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("reports.start_export", "POST"):              (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("reports.export_jobs", "GET"):                (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    # A made file is its owner's only: an unknown (or someone else's) token is not found.
    ("reports.download_export", "GET"):            (LOGIN, FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    # Administration: HR leads for their own organisation, admins for all.
    ("admin.index", "GET"):                        (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    # HR leads read the entries about their own organisation.
    ("admin.audit_log", "GET"):                    (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    # The outbox holds everybody's mail: admins only.
    ("admin.outbox", "GET"):                       (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.outbox_mail", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.organisation_list", "GET"):            (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.organisation_new", "GET"):             (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.organisation_new", "POST"):            (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.organisation_edit", "GET"):            (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.organisation_edit", "POST"):           (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.organisation_set_active", "POST"):     (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.people_list", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.check_email", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.person_new", "GET"):                   (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.person_new", "POST"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.person_edit", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.person_edit", "POST"):                 (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.person_set_active", "POST"):           (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.person_reset_link", "POST"):           (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    # Anonymising a person is for admins only.
    ("admin.person_anonymise", "POST"):            (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK,        FORBIDDEN, FORBIDDEN),
    ("admin.import_upload", "GET"):                (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.import_upload", "POST"):               (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.import_preview", "GET"):               (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.import_confirm", "POST"):              (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.import_discard", "POST"):              (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.series_list", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.series_new", "GET"):                   (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.series_new", "POST"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        OK,        FORBIDDEN),
    ("admin.series_detail", "GET"):                (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.series_edit", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.series_edit", "POST"):                 (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.series_copy", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.series_copy", "POST"):                 (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_new", "GET"):                  (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_new", "POST"):                 (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.sessions_regular", "GET"):             (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.sessions_regular", "POST"):            (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_edit", "GET"):                 (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_edit", "POST"):                (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_cancel", "POST"):              (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_quotas", "GET"):               (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.session_quotas", "POST"):              (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.series_quotas", "GET"):                (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
    ("admin.series_quotas", "POST"):               (LOGIN, FORBIDDEN, FORBIDDEN, OK,        OK,        NOT_FOUND, FORBIDDEN),
}
# fmt: on

# Business refusals of an allowed person (an empty form, a rule of the service): not about
# who may do it, so they count as allowed.
ALLOWED_REFUSALS = {400, 409, 422}


def route_keys(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in w.app_rules(app)
        for method in rule.methods & (w.MUTATING | {"GET"})
    }


def outcome(response, method: str):
    status = response.status_code
    if status in (301, 302, 303) and "/anmelden" in response.headers.get("Location", ""):
        return LOGIN
    if status == 401 and response.headers.get("HX-Redirect", "").startswith("/anmelden"):
        return LOGIN  # htmx: the browser is sent to the login page
    if status in (403, 404):
        return status
    if status < 400 or (method != "GET" and status in ALLOWED_REFUSALS):
        return OK
    return status


def test_every_route_has_a_row_in_the_matrix(app):
    keys = route_keys(app)
    missing = sorted(keys - MATRIX.keys())
    stale = sorted(MATRIX.keys() - keys)
    assert not missing, f"routes without a row in the authorisation matrix: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


def log_in(client, world, who: str) -> None:
    client.post("/abmelden")
    if who != "anonymous":
        response = client.post(
            "/anmelden", data={"email": world.users[who].email, "password": factories.PASSWORD})
        assert response.status_code == 303, who


@pytest.mark.parametrize("who", ROLES)
def test_authorisation_matrix(app, client, who):
    column = ROLES.index(who)
    world = w.build()
    wrong = []
    for rule in w.app_rules(app):
        for method in sorted(rule.methods & (w.MUTATING | {"GET"})):
            expected = MATRIX[(rule.endpoint, method)][column]
            if method != "GET":
                # Every change starts from the same world, so one cannot mask the next.
                _empty_all_tables()
                world = w.build()
            path = app.url_map.bind("localhost").build(rule.endpoint, world.url_values(rule))
            variants = [{}]
            if method == "GET" or rule.endpoint.startswith(("attendance.", "trainings.")):
                variants.append({"HX-Request": "true"})  # the htmx fragment of the same URL
            for headers in variants:
                if method != "GET" and headers:
                    _empty_all_tables()
                    world = w.build()
                log_in(client, world, who)
                response = client.open(path, method=method, data={}, headers=headers)
                response.get_data()
                response.close()
                got = outcome(response, method)
                if got != expected:
                    kind = " (htmx)" if headers else ""
                    wrong.append(f"{method} {path}{kind}: expected {expected}, got "
                                 f"{response.status_code} -> {got}")
    assert not wrong, f"{who}:\n" + "\n".join(wrong)


# --- Changing an id in the URL or the form -------------------------------------------------


@pytest.fixture
def world(app):
    return w.build()


def refused_without_change(client, method: str, path: str, data: dict, statuses) -> str:
    before = w.table_fingerprint()
    response = client.open(path, method=method, data=data)
    body = response.get_data(as_text=True)
    assert response.status_code in statuses, f"{method} {path} {data}: {response.status_code}"
    assert w.table_fingerprint() == before, f"{method} {path} {data} changed data"
    return body


def test_hr_cannot_mark_a_person_of_another_session_by_changing_the_url(client, world):
    log_in(client, world, "hr_staff_a")
    # A's own session, B's enrolment: the pair does not exist.
    refused_without_change(
        client, "POST", f"/anwesenheit/termine/{world.session_a.id}/eintraege/{world.enrolment_b}",
        {"status": "present"}, {404})
    log_in(client, world, "hr_staff_b")
    # B's own session, A's enrolment.
    refused_without_change(
        client, "POST", f"/anwesenheit/termine/{world.session_b.id}/eintraege/{world.enrolment_a}",
        {"status": "absent"}, {404})
    refused_without_change(
        client, "GET",
        f"/anwesenheit/termine/{world.session_b.id}/eintraege/{world.enrolment_a}/verlauf",
        {}, {404})
    refused_without_change(
        client, "POST",
        f"/reihen/termine/{world.session_b.id}/teilnehmende/{world.enrolment_a}/entfernen",
        {}, {404})


def test_hr_cannot_put_a_person_of_another_organisation_on_their_lists(client, world):
    log_in(client, world, "hr_staff_a")
    outsider = world.users["employee_b"].id  # A's series is not open to B
    refused_without_change(
        client, "POST", f"/reihen/termine/{world.session_a.id}/teilnehmende/hinzufuegen",
        {"user_id": outsider}, {403, 404, 409, 422})
    body = refused_without_change(
        client, "POST", f"/anwesenheit/termine/{world.session_a.id}/spontan",
        {"user_id": outsider}, {403, 404, 409, 422})
    assert world.users["employee_b"].last_name + ", " + world.users["employee_b"].first_name \
        not in body
    # The walk-in search does not find B's people either.
    response = client.get(f"/anwesenheit/termine/{world.session_a.id}/suche",
                          query_string={"q": "employee_b"})
    assert world.users["employee_b"].email not in response.get_data(as_text=True)


def test_hr_lead_cannot_export_or_read_another_organisations_names(client, world):
    log_in(client, world, "hr_lead_b")
    names = [u.email for key, u in world.users.items() if key.endswith("_a")]
    for path in ("/auswertung/", "/auswertung/export.xlsx"):
        response = client.get(path, query_string={"organisation": world.org_a.id})
        body = response.get_data()
        response.close()
        assert response.status_code == 403, path
        assert not any(name.encode() in body for name in names)
    for path in ("/verwaltung/personen", "/verwaltung/personen/email-pruefen"):
        response = client.get(path, query_string={"organisation": world.org_a.id, "q": "a",
                                                  "email": "employee.a@example.org"})
        assert not any(n in response.get_data(as_text=True) for n in names if n != "employee.a@example.org"), path


def test_hr_lead_cannot_create_or_move_people_into_another_organisation(client, world):
    log_in(client, world, "hr_lead_b")
    refused_without_change(
        client, "POST", "/verwaltung/personen/neu",
        {"first_name": "Eve", "last_name": "Einschleich", "email": "eve@example.org",
         "organisation_id": world.org_a.id, "role": "employee"}, {403, 404, 422})
    me = world.users["hr_lead_b"]
    employee = world.users["employee_b"]
    refused_without_change(
        client, "POST", f"/verwaltung/personen/{employee.id}",
        {"first_name": employee.first_name, "last_name": employee.last_name,
         "email": employee.email, "organisation_id": world.org_a.id, "role": "employee"},
        {403, 404, 422})
    # Nor make anyone an administrator, herself included.
    refused_without_change(
        client, "POST", f"/verwaltung/personen/{me.id}",
        {"first_name": me.first_name, "last_name": me.last_name, "email": me.email,
         "organisation_id": world.org_b.id, "role": "admin"}, {403, 422})


def test_hr_lead_cannot_add_sessions_to_or_cancel_sessions_of_another_organisation(client, world):
    log_in(client, world, "hr_lead_b")
    refused_without_change(
        client, "POST", f"/verwaltung/reihen/{world.series_a.id}/termine/neu",
        {"title": "Fremdtermin", "capacity": "10"}, {404})
    refused_without_change(
        client, "POST", f"/verwaltung/termine/{world.session_a.id}/absagen", {}, {404})
    refused_without_change(
        client, "POST", f"/reihen/termine/{world.upcoming_a.id}/kapazitaet",
        {"capacity": "100"}, {404})
