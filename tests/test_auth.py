"""Login, logout and the login session's safety."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import factories
from tracker.models import Role
from tracker.services import accounts


def test_login_page_is_german_and_has_the_form(client):
    response = client.get("/anmelden")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "E-Mail-Adresse" in html and "Passwort" in html


def test_employee_logs_in_with_email_in_any_case_and_sees_her_name(client, auth, db):
    user = factories.user(email="kim.muster@example.org", first_name="Kim")
    response = auth.login("Kim.Muster@EXAMPLE.org")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert user.full_name in page
    assert user.organisation.name in page


@pytest.mark.parametrize("email", ["kim.muster@example.org", "nobody@example.org"])
def test_wrong_credentials_get_one_german_message_that_reveals_nothing(client, auth, email):
    factories.user(email="kim.muster@example.org")
    response = auth.login(email, "wrong-password")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "E-Mail-Adresse oder Passwort ist falsch" in html
    assert "nicht registriert" not in html


def test_deactivated_person_cannot_log_in(client, auth, db):
    user = factories.user()
    accounts.deactivate_user(user)
    db.session.commit()
    assert auth.login(user).status_code == 422


def test_empty_form_is_refused_with_messages_next_to_the_fields(client):
    response = client.post("/anmelden", data={})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Bitte geben Sie Ihre E-Mail-Adresse ein." in html
    assert 'aria-invalid="true"' in html


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/meine-schulungen", "/meine-schulungen"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_next_parameter_only_leads_to_local_paths(client, target, expected):
    user = factories.user()
    response = client.post(
        "/anmelden", query_string={"next": target},
        data={"email": user.email, "password": factories.PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_logout_is_post_only_and_ends_the_session(client, auth):
    user = factories.user()
    auth.login(user)
    assert client.get("/abmelden").status_code == 405
    response = auth.logout()
    assert response.status_code == 303
    assert user.full_name not in client.get("/").get_data(as_text=True)


def test_cookie_copied_before_logout_no_longer_works(app, client, auth):
    user = factories.user()
    auth.login(user)
    stolen = client.get_cookie("tracker_session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("tracker_session", stolen)
    assert user.full_name not in thief.get("/").get_data(as_text=True)


def test_password_change_logs_out_other_sessions(app, client, auth, db):
    user = factories.user()
    auth.login(user)
    accounts.set_password(user, "a-brand-new-password")
    db.session.commit()
    assert user.full_name not in client.get("/").get_data(as_text=True)


def test_session_is_cleared_at_login(app, client):
    user = factories.user()
    with client.session_transaction() as s:
        s["planted"] = "by-attacker"
    client.post("/anmelden", data={"email": user.email, "password": factories.PASSWORD})
    with client.session_transaction() as s:
        assert "planted" not in s


def test_tampered_session_cookie_is_ignored(client):
    factories.user()
    client.set_cookie("tracker_session", "eyJfdXNlcl9pZCI6IjE6eCJ9.forged.signature")
    response = client.get("/")
    assert response.status_code == 200
    assert "Anmelden" in response.get_data(as_text=True)


def test_short_password_is_refused_in_german(app):
    user = factories.user()
    with pytest.raises(accounts.ServiceError, match="mindestens 10 Zeichen"):
        accounts.set_password(user, "kurz")


def test_idle_session_expires(app, client, auth):
    user = factories.user()
    auth.login(user)
    with client.session_transaction() as s:
        s["seen_at"] = s["seen_at"] - 2 * 3600
    page = client.get("/").get_data(as_text=True)
    assert user.full_name not in page


def test_language_switch_to_english_and_back(client):
    response = client.post("/sprache", data={"lang": "en", "next": "/anmelden"})
    assert response.status_code == 303
    html = client.get("/anmelden").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Log in" in html
    client.post("/sprache", data={"lang": "de"})
    assert '<html lang="de">' in client.get("/anmelden").get_data(as_text=True)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_can_log_in(client, auth, role):
    user = factories.user(role=role)
    assert auth.login(user).status_code == 303


class TestRateLimit:
    @pytest.fixture
    def app_settings(self):
        return {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}

    def test_failed_logins_are_rate_limited_with_a_german_message(self, client, auth):
        user = factories.user()
        for _ in range(3):
            assert auth.login(user, "wrong-password").status_code == 422
        response = auth.login(user, "wrong-password")
        assert response.status_code == 429
        assert "Zu viele Versuche" in response.get_data(as_text=True)


def test_a_default_limit_applies_to_pages_without_their_own(migrated):
    """A limit configured for the whole app through Flask-Limiter reaches every page.

    In a process of its own: Flask-Limiter keeps the first app's default limits on the
    shared extension object, and every later app of this test run would inherit them."""
    script = (
        "import json, sys\n"
        "from tests.conftest import make_app\n"
        "app = make_app(sys.argv[1], RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT='2 per minute')\n"
        "client = app.test_client()\n"
        "with app.app_context():\n"
        "    print(json.dumps([client.get('/barrierefreiheit').status_code for _ in range(3)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, migrated], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [200, 200, 429]
