"""Login sessions beyond the basics of test_auth.py: cookie flags, the absolute timeout,
deactivation and revoked roles taking effect on the very next request, and the log of logins
and refused accesses."""

from __future__ import annotations

import logging

import pytest

from tests import factories
from tests.conftest import make_app
from tracker.models import Role


def set_cookie_header(response, name: str = "tracker_session") -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no {name} cookie set")


def test_session_cookie_is_httponly_and_samesite_lax_but_not_secure_on_plain_http(client):
    user = factories.user()
    response = client.post("/anmelden", data={"email": user.email, "password": factories.PASSWORD})
    cookie = set_cookie_header(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured_for_https(monkeypatch, migrated):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    app = make_app(migrated)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    with app.app_context():
        try:
            user = factories.user()
            response = app.test_client().post(
                "/anmelden", data={"email": user.email, "password": factories.PASSWORD},
                base_url="https://localhost",
            )
            cookie = set_cookie_header(response)
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        finally:
            from tests.conftest import _empty_all_tables
            from tracker.extensions import db

            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()


def test_login_issues_a_new_session_cookie(client):
    user = factories.user()
    client.get("/anmelden")
    with client.session_transaction() as s:
        s["lang"] = "de"
    before = client.get_cookie("tracker_session").value
    client.post("/anmelden", data={"email": user.email, "password": factories.PASSWORD})
    assert client.get_cookie("tracker_session").value != before


def test_session_ends_after_the_absolute_timeout_even_when_active(client, auth):
    user = factories.user()
    auth.login(user)
    with client.session_transaction() as s:
        s["login_at"] = s["login_at"] - 13 * 3600  # absolute limit is 12 h
    # The person kept clicking: the idle timer is fresh.
    response = client.get("/meine-schulungen/")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]
    assert user.full_name not in client.get("/").get_data(as_text=True)


def test_expired_session_says_so_on_the_login_page(client, auth):
    user = factories.user()
    auth.login(user)
    with client.session_transaction() as s:
        s["seen_at"] = s["seen_at"] - 2 * 3600
    html = client.get("/anmelden").get_data(as_text=True)
    assert "Ihre Sitzung ist abgelaufen" in html


def test_deactivated_person_is_logged_out_on_her_next_request(app, client, auth):
    org = factories.organisation()
    admin = factories.user(org, Role.ADMIN)
    employee = factories.user(org)
    auth.login(employee)
    assert client.get("/meine-schulungen/").status_code == 200

    admin_client = app.test_client()
    admin_client.post("/anmelden", data={"email": admin.email, "password": factories.PASSWORD})
    response = admin_client.post(f"/verwaltung/personen/{employee.id}/aktiv", data={"active": "0"})
    assert response.status_code == 303

    response = client.get("/meine-schulungen/")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]


def test_revoked_role_takes_effect_on_the_next_request(app, client, auth, db):
    org = factories.organisation()
    clerk = factories.user(org, Role.HR_STAFF)
    auth.login(clerk)
    assert client.get("/anwesenheit/").status_code == 200
    # The role is read from the database on every request, never kept in the cookie.
    clerk.role = Role.EMPLOYEE.value
    db.session.commit()
    assert client.get("/anwesenheit/").status_code == 403
    assert "/anwesenheit/" not in client.get("/").get_data(as_text=True)


def test_role_change_by_an_admin_ends_the_login_of_the_person(app, client, auth):
    org = factories.organisation()
    admin = factories.user(org, Role.ADMIN)
    clerk = factories.user(org, Role.HR_STAFF)
    auth.login(clerk)
    assert client.get("/anwesenheit/").status_code == 200

    admin_client = app.test_client()
    admin_client.post("/anmelden", data={"email": admin.email, "password": factories.PASSWORD})
    response = admin_client.post(
        f"/verwaltung/personen/{clerk.id}",
        data={"first_name": clerk.first_name, "last_name": clerk.last_name, "email": clerk.email,
              "organisation_id": org.id, "role": Role.EMPLOYEE.value},
    )
    assert response.status_code == 303

    # Same cookie, next request: logged out; logged in again, the area stays closed.
    response = client.get("/anwesenheit/")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]
    auth.login(clerk)
    assert client.get("/anwesenheit/").status_code == 403


def test_logins_are_logged_without_the_password(client, auth, caplog):
    user = factories.user()
    with caplog.at_level(logging.INFO, logger="tracker.auth"):
        auth.login(user, "wrong-password-123")
        auth.login(user)
    messages = [r.getMessage() for r in caplog.records if r.name == "tracker.auth"]
    assert any("login failed" in m and user.email in m for m in messages)
    assert any("login ok" in m and f"user={user.id}" in m for m in messages)
    assert not any("wrong-password-123" in m or factories.PASSWORD in m for m in messages)


@pytest.mark.parametrize("path", ["/anwesenheit/", "/auswertung/", "/verwaltung/"])
def test_refused_access_is_logged_with_user_and_path(client, auth, caplog, path):
    user = factories.user()
    auth.login(user)
    with caplog.at_level(logging.WARNING, logger="tracker.errors"):
        assert client.get(path).status_code == 403
    records = [r.getMessage() for r in caplog.records if r.name == "tracker.errors"]
    assert any(
        "access refused" in m and "status=403" in m and f"user={user.id}" in m and path in m
        for m in records
    ), records


class TestCsrfRefusalLogging:
    @pytest.fixture
    def app_settings(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_request_without_csrf_token_is_logged(self, client, caplog):
        with caplog.at_level(logging.WARNING, logger="tracker.errors"):
            assert client.post("/sprache", data={"lang": "en"}).status_code == 400
        assert any(
            "access refused" in r.getMessage() and "csrf" in r.getMessage()
            for r in caplog.records
        )


class TestRateLimitLogging:
    @pytest.fixture
    def app_settings(self):
        return {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "2 per minute"}

    def test_rate_limited_login_is_logged(self, client, auth, caplog):
        user = factories.user()
        with caplog.at_level(logging.WARNING, logger="tracker.errors"):
            for _ in range(2):
                auth.login(user, "wrong-password")
            assert auth.login(user, "wrong-password").status_code == 429
        assert any("status=429" in r.getMessage() for r in caplog.records)

    def test_an_attack_on_an_account_does_not_lock_its_owner_out(self, client, auth):
        user = factories.user()
        for ip in ("10.0.0.1", "10.0.0.2"):
            response = client.post(
                "/anmelden", data={"email": user.email, "password": "wrong"},
                environ_base={"REMOTE_ADDR": ip},
            )
            assert response.status_code == 422
        # The attackers' addresses are refused now, with a German message, even with the
        # right password...
        refused = client.post(
            "/anmelden", data={"email": user.email, "password": factories.PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        assert refused.status_code == 429
        assert "zu oft fehlgeschlagen" in refused.get_data(as_text=True)
        # ...while the owner, from an address without failures for her account, signs in.
        response = client.post(
            "/anmelden", data={"email": user.email, "password": factories.PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.0.3"},
        )
        assert response.status_code == 303

    def test_failures_for_one_account_from_one_address_reach_the_limit(self, client):
        user = factories.user()
        for _ in range(2):
            response = client.post("/anmelden", data={"email": user.email, "password": "x"},
                                   environ_base={"REMOTE_ADDR": "10.0.0.5"})
            assert response.status_code == 422
        response = client.post("/anmelden", data={"email": user.email.upper(), "password": "x"},
                               environ_base={"REMOTE_ADDR": "10.0.0.5"})
        assert response.status_code == 429

    def test_rate_limit_counts_per_address_across_accounts(self, client):
        for n in range(2):
            response = client.post(
                "/anmelden", data={"email": f"guess{n}@example.org", "password": "wrong"},
                environ_base={"REMOTE_ADDR": "10.0.0.9"},
            )
            assert response.status_code == 422
        response = client.post(
            "/anmelden", data={"email": "guess9@example.org", "password": "wrong"},
            environ_base={"REMOTE_ADDR": "10.0.0.9"},
        )
        assert response.status_code == 429


def test_anonymous_page_request_goes_to_login_and_back(client):
    user = factories.user()
    response = client.get("/meine-schulungen/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/anmelden?next=%2Fmeine-schulungen%2F"
    response = client.post(response.headers["Location"],
                           data={"email": user.email, "password": factories.PASSWORD})
    assert response.headers["Location"] == "/meine-schulungen/"


def test_expired_login_on_a_form_post_returns_to_the_page_not_the_post_url(client):
    response = client.post("/reihen/termine/1/anmelden",
                           headers={"Referer": "http://localhost/reihen/1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/anmelden?next=%2Freihen%2F1"


def test_expired_login_on_an_htmx_click_sends_the_browser_to_the_login_page(client):
    response = client.post(
        "/anwesenheit/termine/1/alle-anwesend",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/anwesenheit/termine/1"},
    )
    # Not a redirect that htmx would follow and swap into the sheet: a navigation.
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/anmelden?next=%2Fanwesenheit%2Ftermine%2F1"
    assert response.get_data() == b""


def test_a_foreign_referer_is_never_a_target_after_login(client):
    user = factories.user()
    response = client.post("/reihen/termine/1/anmelden",
                           headers={"Referer": "https://evil.example/phish"})
    login_page = response.headers["Location"]
    response = client.post(login_page, data={"email": user.email, "password": factories.PASSWORD})
    assert response.headers["Location"] == "/"


# --- the signed session cookie -----------------------------------------------------------


def test_a_cookie_presented_after_the_session_lifetime_is_refused(client, auth, monkeypatch):
    from itsdangerous.timed import TimestampSigner

    user = factories.user()
    auth.login(user)
    assert client.get("/meine-schulungen/").status_code == 200
    later = int(__import__("time").time()) + 13 * 3600  # the lifetime is 12 h
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: later)
    response = client.get("/meine-schulungen/")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


def test_a_changed_cookie_is_checked_again_and_refused(client, auth):
    user = factories.user()
    auth.login(user)
    assert client.get("/meine-schulungen/").status_code == 200
    value = client.get_cookie("tracker_session").value
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    client.set_cookie("tracker_session", forged)
    response = client.get("/meine-schulungen/")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


def test_idle_time_runs_from_the_last_request_to_the_second(client, auth, monkeypatch):
    from datetime import timedelta

    from tracker.models import utcnow

    start = utcnow()
    clock = {"now": start}
    monkeypatch.setattr("tracker.security.utcnow", lambda: clock["now"])
    user = factories.user()
    auth.login(user)
    idle = timedelta(minutes=60)
    clock["now"] = start + timedelta(seconds=59)  # a click within the first minute
    assert client.get("/meine-schulungen/").status_code == 200
    # One second before the idle time has passed since that click: still signed in.
    clock["now"] = start + timedelta(seconds=59) + idle - timedelta(seconds=1)
    assert client.get("/meine-schulungen/").status_code == 200
    # One second after the idle time since the last click: the login has ended.
    clock["now"] = clock["now"] + idle + timedelta(seconds=1)
    response = client.get("/meine-schulungen/")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


class TestHtmxAfterTheLoginEnded:
    @pytest.fixture
    def app_settings(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_an_htmx_click_with_the_token_of_an_ended_login_leads_to_login_and_back(
            self, app, client):
        import re

        user = factories.user()
        page = client.get("/anmelden").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        client.post("/anmelden", data={"email": user.email, "password": factories.PASSWORD,
                                       "csrf_token": token})
        home = client.get("/meine-schulungen/").get_data(as_text=True)
        token = re.search(r'"X-CSRFToken": *"([^"]+)"', home).group(1)
        # The login ends (here: the cookie's session is gone, as after its lifetime).
        client.delete_cookie("tracker_session")
        response = client.post(
            "/anwesenheit/termine/1/alle-anwesend",
            headers={"HX-Request": "true", "X-CSRFToken": token,
                     "HX-Current-URL": "http://localhost/meine-schulungen/"},
        )
        assert response.status_code == 401
        target = response.headers["HX-Redirect"]
        assert target == "/anmelden?next=%2Fmeine-schulungen%2F"
        assert "Formular" not in response.get_data(as_text=True)
        page = client.get(target).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        back = client.post(target, data={"email": user.email, "password": factories.PASSWORD,
                                         "csrf_token": token})
        assert back.status_code == 303 and back.headers["Location"] == "/meine-schulungen/"
