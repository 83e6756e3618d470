"""Signing in with a partner's directory: a real slapd on loopback (tests/directory.py),
driven through the real login form."""

from __future__ import annotations

import logging
import socket

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.directory import PASSWORD, SERVICE_PASSWORD_ENV, provider_toml, start_slapd
from tracker.extensions import db as _db
from tracker.models import AuditEntry, Role, User
from tracker.sign_in import read_providers


@pytest.fixture(scope="module")
def directory():
    server = start_slapd()
    server.add_person("anna", mail="anna.ahrens@uba.example", given="Anna", sn="Ahrens")
    server.add_person("bert", mail="bert.brandt@uba.example", given="Bert", sn="Brandt",
                      disabled=True)
    server.add_person("carla", mail="carla.conrad@uba.example", given="Carla", sn="Conrad")
    server.add_person("dora", mail="dora.dietz@stadt.example", given="Dora", sn="Dietz")
    server.add_person("emil", mail="emil.engel@uba.example", given="Emil", sn="Engel")
    yield server
    server.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def auth_toml(directory) -> str:
    """Override per test to configure other providers."""
    return provider_toml(directory)


@pytest.fixture
def app_settings(tmp_path, monkeypatch, directory, auth_toml) -> dict:
    monkeypatch.setenv(SERVICE_PASSWORD_ENV, directory.root_pw)
    path = tmp_path / "auth.toml"
    path.write_text(auth_toml, encoding="utf-8")
    return {"AUTH_CONFIG": str(path)}


@pytest.fixture
def uba(db):
    org = factories.organisation("Umweltbundesamt", short_name="UBA")
    db.session.commit()
    return org


def _login(client, login: str, password: str = PASSWORD):
    return client.post("/anmelden", data={"email": login, "password": password})


def _me(client) -> str:
    return client.get("/meine-schulungen/", follow_redirects=True).get_data(as_text=True)


def test_first_sign_in_creates_the_person_in_the_providers_organisation(client, db, uba):
    page = client.get("/anmelden").get_data(as_text=True)
    assert "E-Mail-Adresse oder Benutzername" in page
    assert "Beschäftigte von Umweltbundesamt melden sich" in page

    response = _login(client, "anna")
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.email == "anna.ahrens@uba.example"))
    assert (user.first_name, user.last_name) == ("Anna", "Ahrens")
    assert user.organisation_id == uba.id and user.role == Role.EMPLOYEE
    assert (user.auth_provider, user.auth_identifier) == ("uba-ldap", "anna")
    assert user.password_hash == ""  # no tracker password was made up for her
    assert "Anna Ahrens" in _me(client)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "user.created_from_directory", AuditEntry.object_id == user.id)) == 1


def test_name_and_email_follow_the_directory_at_each_sign_in(client, db, uba, directory, auth):
    assert _login(client, "carla").status_code == 303
    auth.logout()
    directory.modify(f"uid=carla,{directory.people}", "sn", "Conrad-Lange")
    directory.modify(f"uid=carla,{directory.people}", "mail", "carla.lange@uba.example")
    assert _login(client, "carla").status_code == 303
    users = db.session.scalars(select(User).where(User.auth_identifier == "carla")).all()
    assert len(users) == 1
    assert (users[0].last_name, users[0].email) == ("Conrad-Lange", "carla.lange@uba.example")


def test_an_existing_account_of_the_same_organisation_is_linked(client, db, uba):
    existing = factories.user(uba, email="emil.engel@uba.example", first_name="Emil",
                              last_name="Engel")
    assert _login(client, "emil").status_code == 303
    db.session.expire_all()
    linked = db.session.get(User, existing.id)
    assert (linked.auth_provider, linked.auth_identifier) == ("uba-ldap", "emil")
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_an_identity_never_signs_into_another_organisations_account(client, db, uba):
    city = factories.organisation("Stadt", short_name="STADT")
    other = factories.user(city, email="dora.dietz@stadt.example", first_name="Dora")
    response = _login(client, "dora")
    assert response.status_code == 409
    assert "Konto einer anderen Organisation" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, other.id).auth_provider is None
    assert "Anmelden" in _me(client)  # still signed out
    # Her own password still opens her own account.
    assert _login(client, other.email, factories.PASSWORD).status_code == 303


@pytest.mark.parametrize("login, password", [
    ("anna", "falsches-passwort"),        # wrong password
    ("niemand", PASSWORD),                # unknown in the directory
    ("bert", PASSWORD),                   # disabled in the directory
    ("*)(uid=*", PASSWORD),               # an LDAP filter injection in the user name
    ("*", PASSWORD),
    ("anna)(|(uid=*", PASSWORD),
])
def test_refused_sign_ins_say_so_and_create_nothing(client, db, uba, login, password):
    response = _login(client, login, password)
    assert response.status_code == 422
    assert "E-Mail-Adresse oder Passwort ist falsch" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


class TestRateLimit:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}

    def test_the_login_rate_limit_applies_to_directory_sign_ins(self, client, db, uba):
        statuses = [_login(client, "anna", "falsch").status_code for _ in range(4)]
        assert statuses == [422, 422, 422, 429]
        response = _login(client, "anna")  # even the right password waits
        assert response.status_code == 429
        assert "Die Anmeldung ist von dieser Adresse zu oft" in response.get_data(as_text=True)
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_person_deactivated_in_tracker_cannot_sign_in_through_the_directory(client, db, uba):
    assert _login(client, "anna").status_code == 303
    user = db.session.scalar(select(User).where(User.auth_identifier == "anna"))
    user.active = False
    db.session.commit()
    client.post("/abmelden")
    response = _login(client, "anna")
    assert response.status_code == 403
    assert "deaktiviert" in response.get_data(as_text=True)


class TestDirectoryDown:
    @pytest.fixture
    def auth_toml(self, directory):
        return provider_toml(directory, url=f"ldap://127.0.0.1:{_closed_port()}")

    def test_a_clear_message_and_local_login_still_works(self, client, db, uba, caplog):
        with caplog.at_level(logging.ERROR, "tracker.sign_in"):
            response = _login(client, "anna")
        assert response.status_code == 503
        assert "Der Anmeldedienst von Umweltbundesamt ist zurzeit nicht erreichbar" in (
            response.get_data(as_text=True))
        assert any("uba-ldap" in r.getMessage() for r in caplog.records)
        local = factories.user(uba, email="lokal@uba.example")
        assert _login(client, local.email, factories.PASSWORD).status_code == 303


class TestWrongBindPassword:
    @pytest.fixture
    def app_settings(self, tmp_path, monkeypatch, directory) -> dict:
        monkeypatch.setenv(SERVICE_PASSWORD_ENV, "not-the-service-password")
        path = tmp_path / "auth.toml"
        path.write_text(provider_toml(directory), encoding="utf-8")
        return {"AUTH_CONFIG": str(path)}

    def test_the_log_names_the_provider_but_never_the_secret(self, client, uba, caplog):
        with caplog.at_level(logging.ERROR, "tracker.sign_in"):
            response = _login(client, "anna")
        assert response.status_code == 503
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "uba-ldap" in logged and "not-the-service-password" not in logged


class TestCertificateRefused:
    @pytest.fixture
    def auth_toml(self, directory, tmp_path):
        # A CA that did not sign the server's certificate: StartTLS must fail, not fall back.
        return provider_toml(directory, ca_file=directory.clientcert)

    def test_no_sign_in_over_an_unverified_connection(self, client, db, uba):
        response = _login(client, "anna")
        assert response.status_code == 503
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


class TestLocalPasswordsOff:
    @pytest.fixture
    def auth_toml(self, directory):
        return provider_toml(directory, extra="local_passwords = false")

    def test_only_the_directory_opens_the_organisations_accounts(self, client, db, uba, auth):
        person = factories.user(uba, email="anna.ahrens@uba.example")
        admin = factories.user(uba, Role.ADMIN, email="admin@uba.example")
        assert _login(client, person.email, factories.PASSWORD).status_code == 422
        assert _login(client, "anna").status_code == 303  # her directory password
        auth.logout()
        assert _login(client, admin.email, factories.PASSWORD).status_code == 303


def test_the_sync_deactivates_leavers_and_a_down_directory_deactivates_no_one(
    client, db, uba, directory, runner, monkeypatch,
):
    assert _login(client, "emil").status_code == 303
    client.post("/abmelden")
    stays = db.session.scalar(select(User).where(User.auth_identifier == "emil"))
    leaver = factories.user(uba, email="leaver@uba.example")
    leaver.auth_provider, leaver.auth_identifier = "uba-ldap", "leaver"  # not in the directory
    db.session.commit()

    result = runner.invoke(args=["sync-directories"])
    assert "uba-ldap: 1 accounts deactivated." in result.output
    db.session.expire_all()
    assert db.session.get(User, leaver.id).active is False
    assert db.session.get(User, stays.id).active is True

    directory.disable("emil")
    try:
        runner.invoke(args=["sync-directories"])
        db.session.expire_all()
        assert db.session.get(User, stays.id).active is False
        assert _login(client, "emil").status_code == 422
    finally:
        directory.ldapmodify(f"dn: uid=emil,{directory.people}\nchangetype: modify\n"
                             "delete: employeeType\n")


class TestSyncWithDirectoryDown:
    @pytest.fixture
    def auth_toml(self, directory):
        return provider_toml(directory, url=f"ldap://127.0.0.1:{_closed_port()}")

    def test_no_one_is_deactivated(self, db, uba, runner):
        person = factories.user(uba, email="anna.ahrens@uba.example")
        person.auth_provider, person.auth_identifier = "uba-ldap", "anna"
        db.session.commit()
        result = runner.invoke(args=["sync-directories"])
        assert "No directory could be asked" in result.output
        db.session.expire_all()
        assert db.session.get(User, person.id).active is True


@pytest.mark.parametrize("entry, reason", [
    ('url = "ldap://ad.uba.example"', "plain ldap://"),
    ('url = "https://ad.uba.example"', "url must be"),
    ('url = "ldaps://ad.uba.example"\ntype = "saml"', "type must be"),
])
def test_misconfigured_providers_are_left_out_with_the_reason_logged(
    tmp_path, caplog, entry, reason,
):
    path = tmp_path / "auth.toml"
    lines = {"name": '"broken"', "organisation": '"UBA"', "type": '"ldap"',
             "base_dn": '"dc=uba"'}
    for line in entry.splitlines():
        key, value = line.split(" = ", 1)
        lines[key] = value
    good = ('[[providers]]\nname = "good"\norganisation = "UBA"\ntype = "ldap"\n'
            'url = "ldaps://ad.uba.example"\nbase_dn = "dc=uba"\n')
    path.write_text("[[providers]]\n" + "\n".join(f"{k} = {v}" for k, v in lines.items())
                    + "\n\n" + good, encoding="utf-8")
    with caplog.at_level(logging.ERROR, "tracker.sign_in"):
        names = [p.name for p in read_providers(path)]
    assert names == ["good"]
    assert any("broken" in r.getMessage() and reason in r.getMessage() for r in caplog.records)


def test_an_unreadable_config_leaves_local_passwords_working(migrated, tmp_path, caplog):
    from tests.conftest import make_app

    path = tmp_path / "auth.toml"
    path.write_text("[[providers]\nname = ", encoding="utf-8")
    with caplog.at_level(logging.ERROR, "tracker.sign_in"):
        app = make_app(migrated, AUTH_CONFIG=str(path))
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    with app.app_context():
        page = app.test_client().get("/anmelden").get_data(as_text=True)
        _db.engine.dispose()
    assert "Benutzername" not in page and "Passwort" in page
