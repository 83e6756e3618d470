"""CSRF everywhere: the tests walk the URL map, so a new state-changing route is covered the
moment it exists. Without a valid token every POST/PUT/PATCH/DELETE gets 400 and changes
nothing; mutating routes answer GET with 405."""

from __future__ import annotations

import itertools
import re

import pytest

from tests import factories
from tests import world as w
from tracker.models import Role

# Plausible values for every form of the app, so a request fails for its missing token and
# not for an empty body.
FORM = {
    "email": "neu@example.org",
    "password": factories.PASSWORD,
    "first_name": "Eva",
    "last_name": "Neu",
    "name": "Neue Behörde",
    "short_name": "NB",
    "title": "Neue Reihe",
    "status": "present",
    "lang": "en",
    "capacity": "20",
    "active": "0",
    "role": "admin",
    "user_id": "1",
    "next": "/",
}


@pytest.fixture
def app_settings():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def world(app):
    return w.build()


def csrf_token_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def login_with_token(client, user) -> str:
    token = csrf_token_of(client.get("/anmelden").get_data(as_text=True))
    response = client.post(
        "/anmelden",
        data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303, "login with a valid token must work"
    return csrf_token_of(client.get("/").get_data(as_text=True))


def mutating_requests(app, world):
    for rule in w.app_rules(app):
        for method in sorted(rule.methods & w.MUTATING):
            path = app.url_map.bind("localhost").build(rule.endpoint, world.url_values(rule))
            yield method, path


def assert_logged_in(client, user) -> None:
    assert user.full_name in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "attempt",
    ["no token", "htmx without header", "token of another session", "garbage token"],
)
def test_every_state_changing_request_without_a_valid_token_is_refused(
    app, client, world, attempt
):
    admin = world.users["admin"]
    login_with_token(client, admin)
    # A real token, but minted for somebody else's session.
    other = app.test_client()
    foreign = login_with_token(other, world.users["hr_lead_b"])
    before = w.table_fingerprint()
    requests = list(mutating_requests(app, world))
    assert len(requests) >= 20, "the URL map lost its forms?"
    for method, path in requests:
        data, headers = dict(FORM), {}
        if attempt == "htmx without header":
            headers = {"HX-Request": "true", "HX-Target": "main"}
        elif attempt == "token of another session":
            data["csrf_token"] = foreign
            headers = {"X-CSRFToken": foreign}
        elif attempt == "garbage token":
            data["csrf_token"] = "IjAwMDAi.forged.token"
        response = client.open(path, method=method, data=data, headers=headers)
        assert response.status_code == 400, f"{method} {path}: {response.status_code}"
        html = response.get_data(as_text=True)
        assert "Das Formular ist abgelaufen oder unvollständig" in html, f"{method} {path}"
    assert w.table_fingerprint() == before
    # Neither the logout nor the language switch went through.
    assert_logged_in(client, admin)
    assert '<html lang="de">' in client.get("/").get_data(as_text=True)


def test_anonymous_requests_without_a_token_are_refused_before_anything_else(app, client, world):
    before = w.table_fingerprint()
    for method, path in mutating_requests(app, world):
        response = client.open(path, method=method, data=FORM)
        assert response.status_code == 400, f"{method} {path}: {response.status_code}"
    assert w.table_fingerprint() == before


def test_the_token_in_the_htmx_header_or_the_form_is_accepted(app, client, world):
    admin = world.users["admin"]
    token = login_with_token(client, admin)
    response = client.post("/sprache", data={"lang": "en"}, headers={"X-CSRFToken": token})
    assert response.status_code == 303
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    response = client.post("/abmelden", data={"csrf_token": token})
    assert response.status_code == 303
    assert admin.full_name not in client.get("/").get_data(as_text=True)


def test_login_form_itself_needs_a_token(client, world):
    user = world.users["employee_a"]
    response = client.post("/anmelden", data={"email": user.email, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert user.full_name not in client.get("/").get_data(as_text=True)


def test_every_mutating_route_answers_get_with_405(app, client, world):
    login_with_token(client, world.users["admin"])
    before = w.table_fingerprint()
    checked = 0
    for rule in w.app_rules(app):
        if "GET" in rule.methods:
            continue
        path = app.url_map.bind("localhost").build(rule.endpoint, world.url_values(rule))
        response = client.get(path)
        assert response.status_code == 405, f"GET {path}: {response.status_code}"
        assert "POST" in response.headers.get("Allow", ""), path
        assert "Aktion nicht erlaubt" in response.get_data(as_text=True)
        checked += 1
    assert checked >= 15
    assert w.table_fingerprint() == before


def test_each_person_on_a_sheet_gets_forms_with_their_own_token(app, world):
    # Two colleagues mark the same sheet: each gets forms whose token works in their own
    # login only, and the answer to a click carries a token that works for the next click.
    session_id, enrolment_id = world.session_a.id, world.enrolment_a
    colleague = factories.user(world.org_a, Role.HR_STAFF, email="hr2.a@example.org")
    clients, tokens = [], []
    for person in (world.users["hr_staff_a"], colleague):
        client = app.test_client()
        login_with_token(client, person)
        html = client.get(f"/anwesenheit/termine/{session_id}").get_data(as_text=True)
        row = html[html.index(f'id="row-{enrolment_id}"'):]
        clients.append(client)
        tokens.append(csrf_token_of(row))
    assert tokens[0] != tokens[1]
    url = f"/anwesenheit/termine/{session_id}/eintraege/{enrolment_id}"
    crossed = clients[0].post(url, data={"status": "present", "csrf_token": tokens[1]},
                              headers={"HX-Request": "true"})
    assert crossed.status_code == 400
    for index, (client, token, status) in enumerate(
            zip(clients, tokens, ("present", "absent"), strict=True)):
        answer = client.post(url, data={"status": status, "csrf_token": token},
                             headers={"HX-Request": "true"})
        assert answer.status_code == 200
        html = answer.get_data(as_text=True)
        assert re.search(rf'value="{status}"[^>]*aria-pressed="true"[^>]*data-focus', html, re.S)
        # The answer's forms carry a token of the person who clicked: it works for their
        # next click and is refused in the colleague's login.
        next_token = csrf_token_of(html)
        other = clients[1 - index]
        assert other.post(url, data={"status": status, "csrf_token": next_token},
                          headers={"HX-Request": "true"}).status_code == 400
        assert client.post(url, data={"status": status, "csrf_token": next_token},
                           headers={"HX-Request": "true"}).status_code == 200


def test_a_token_stops_working_when_its_login_session_ends(app, client, world):
    user = world.users["employee_a"]
    token = login_with_token(client, user)
    for _ in range(2):  # the same token works again and again within the login
        assert client.post("/sprache", data={"lang": "de", "csrf_token": token}).status_code == 303
    assert client.post("/abmelden", data={"csrf_token": token}).status_code == 303
    login_with_token(client, user)
    before = w.table_fingerprint()
    assert client.post("/sprache", data={"lang": "en", "csrf_token": token}).status_code == 400
    assert client.post("/abmelden", data={"csrf_token": token}).status_code == 400
    assert_logged_in(client, user)
    assert w.table_fingerprint() == before


def test_a_valid_token_still_needs_a_matching_referrer_under_https(app, world):
    client = app.test_client()
    base = "https://localhost"
    token = csrf_token_of(client.get("/anmelden", base_url=base).get_data(as_text=True))
    user = world.users["employee_a"]
    response = client.post("/anmelden", base_url=base, headers={"Referer": f"{base}/anmelden"},
                           data={"email": user.email, "password": factories.PASSWORD,
                                 "csrf_token": token})
    assert response.status_code == 303
    token = csrf_token_of(client.get("/", base_url=base).get_data(as_text=True))
    same = {"Referer": f"{base}/", "X-CSRFToken": token}
    for _ in range(2):  # the same token works again and again within the login
        response = client.post("/sprache", base_url=base, headers=same, data={"lang": "de"})
        assert response.status_code == 303
    for referrer in ({"Referer": "https://elsewhere.example/"}, {}):
        response = client.post("/sprache", base_url=base, data={"lang": "en"},
                               headers={"X-CSRFToken": token, **referrer})
        assert response.status_code == 400, referrer
    assert '<html lang="de">' in client.get("/", base_url=base).get_data(as_text=True)


def test_every_token_of_a_login_session_works_and_a_new_login_refuses_the_old_ones(
        app, world, monkeypatch):
    # Each signature gets a later time stamp (in the past, so cookies stay valid), so every
    # page carries a differently signed token of the same login session.
    import time

    from itsdangerous.timed import TimestampSigner

    clock = itertools.count(int(time.time()) - 3600, 7)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: next(clock))
    user = world.users["employee_a"]
    client = app.test_client()
    token = login_with_token(client, user)
    pages = [csrf_token_of(client.get(path).get_data(as_text=True))
             for path in ("/", "/reihen/", "/meine-schulungen/")]
    for page_token in pages:
        assert client.post("/sprache", data={"lang": "de", "csrf_token": page_token}
                           ).status_code == 303
    assert client.post("/sprache", data={"lang": "de", "csrf_token": token}).status_code == 303
    other = app.test_client()
    assert login_with_token(other, world.users["employee_b"]) != token
    assert client.post("/abmelden", data={"csrf_token": token}).status_code == 303
    again = login_with_token(client, user)
    assert again != token
    assert client.post("/sprache", data={"lang": "en", "csrf_token": token}).status_code == 400
    assert client.post("/sprache", data={"lang": "en", "csrf_token": again}).status_code == 303
