"""Admins and HR leads manage people and roles, and hand out one-time password links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tracker.models import AuditEntry, PasswordResetToken, Role, User, utcnow


def _count(db, model):
    return db.session.scalar(select(func.count(model.id)))


@pytest.fixture
def city(db):
    return factories.organisation("Stadtverwaltung")


@pytest.fixture
def lead(auth, city):
    user = factories.user(city, Role.HR_LEAD, email="personalleitung@stadt.example")
    auth.login(user)
    return user


def _person(org, **overrides):
    data = {"first_name": "Jürgen", "last_name": "Öztürk", "email": "j.oeztuerk@stadt.example",
            "organisation_id": str(org.id), "role": "employee"}
    data.update(overrides)
    return data


def test_hr_lead_creates_a_person_of_her_organisation(client, db, lead, city):
    response = client.post("/verwaltung/personen/neu", data=_person(city, email="J.Oeztuerk@Stadt.example"))
    assert response.status_code == 303
    person = db.session.scalar(select(User).where(User.email == "j.oeztuerk@stadt.example"))
    assert person.full_name == "Jürgen Öztürk" and person.organisation_id == city.id
    assert person.role == "employee" and person.password_hash == ""
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create"))
    assert entry.actor_id == lead.id and entry.object_id == person.id


def test_duplicate_email_is_refused_next_to_the_field(client, db, lead, city):
    factories.user(city, email="j.oeztuerk@stadt.example")
    before = _count(db, User)
    response = client.post("/verwaltung/personen/neu", data=_person(city, email="J.OEZTUERK@stadt.example "))
    assert response.status_code == 409
    assert "Diese E-Mail-Adresse ist bereits vergeben." in response.get_data(as_text=True)
    assert _count(db, User) == before


def test_inline_check_says_when_an_email_is_taken(client, db, lead, city):
    taken = factories.user(city, email="vergeben@stadt.example")
    html = client.get("/verwaltung/personen/email-pruefen", query_string={"email": "Vergeben@stadt.example"},
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Diese E-Mail-Adresse ist bereits vergeben." in html and 'aria-invalid="true"' in html
    own = client.get("/verwaltung/personen/email-pruefen",
                     query_string={"email": "vergeben@stadt.example", "person": taken.id}).get_data(as_text=True)
    assert "bereits vergeben" not in own
    bad = client.get("/verwaltung/personen/email-pruefen", query_string={"email": "kein-at"}).get_data(as_text=True)
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein." in bad


def test_inline_check_answers_an_address_of_another_organisation_like_a_free_one(client, db, lead, city):
    factories.user(factories.organisation("Umweltbundesamt"), email="fremd@uba.example")
    db.session.commit()

    def check(email):
        html = client.get("/verwaltung/personen/email-pruefen", query_string={"email": email},
                          headers={"HX-Request": "true"}).get_data(as_text=True)
        return html.replace(email, "ADDRESS")

    assert check("fremd@uba.example") == check("frei@uba.example")
    assert "bereits vergeben" not in check("fremd@uba.example")


def test_saving_an_address_of_another_organisation_gets_one_neutral_message(client, db, lead, city):
    other = factories.user(factories.organisation("Umweltbundesamt"), email="fremd@uba.example")
    db.session.commit()
    before = _count(db, User)
    response = client.post("/verwaltung/personen/neu", data=_person(city, email="Fremd@uba.example"))
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "Diese E-Mail-Adresse kann nicht verwendet werden." in text
    assert "bereits vergeben" not in text and "Umweltbundesamt" not in text
    assert _count(db, User) == before
    mine = factories.user(city, email="meine@stadt.example")
    db.session.commit()
    response = client.post(f"/verwaltung/personen/{mine.id}",
                           data=_person(city, email="fremd@uba.example", role="employee"))
    assert response.status_code == 409
    assert "Diese E-Mail-Adresse kann nicht verwendet werden." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, mine.id).email == "meine@stadt.example"
    assert db.session.get(User, other.id).email == "fremd@uba.example"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "keine-adresse"}, "Bitte geben Sie eine gültige E-Mail-Adresse ein."),
        ({"first_name": ""}, "Bitte geben Sie den Vornamen ein."),
        ({"last_name": "x" * 101}, "Höchstens 100 Zeichen."),
        ({"role": "superuser"}, "Bitte wählen Sie einen Eintrag aus der Liste."),
        # XML 1.0 forbids these: one in a name made LibreOffice drop the rest of the report.
        ({"last_name": "Wei\ufffeß"}, "unzulässiges Steuer- oder Sonderzeichen"),
        ({"first_name": "Jo\uffff"}, "unzulässiges Steuer- oder Sonderzeichen"),
        ({"last_name": "Wei\x85ß"}, "unzulässiges Steuer- oder Sonderzeichen"),
    ],
)
def test_bad_person_input_is_refused_in_german(client, db, lead, city, overrides, message):
    before = _count(db, User)
    response = client.post("/verwaltung/personen/neu", data=_person(city, **overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(db, User) == before


def test_hr_lead_cannot_create_an_admin_nor_a_person_of_another_organisation(client, db, lead, city):
    other = factories.organisation("Hochschule")
    db.session.commit()
    before = _count(db, User)
    assert client.post("/verwaltung/personen/neu", data=_person(city, role="admin")).status_code == 422
    assert client.post("/verwaltung/personen/neu", data=_person(other)).status_code == 422
    assert _count(db, User) == before


def test_only_an_admin_creates_admins(client, auth, db, city):
    auth.login(factories.user(city, Role.ADMIN))
    response = client.post("/verwaltung/personen/neu", data=_person(city, role="admin"))
    assert response.status_code == 303
    assert db.session.scalar(select(User.role).where(User.email == "j.oeztuerk@stadt.example")) == "admin"


def test_hr_lead_gets_404_for_other_organisations_people_and_admins(client, db, lead, city):
    stranger = factories.user(factories.organisation("Andere"))
    admin = factories.user(city, Role.ADMIN)
    for target in (stranger, admin):
        assert client.get(f"/verwaltung/personen/{target.id}").status_code == 404
        assert client.post(f"/verwaltung/personen/{target.id}/aktiv", data={"active": "0"}).status_code == 404
        assert client.post(f"/verwaltung/personen/{target.id}/passwort-link").status_code == 404
        db.session.refresh(target)
        assert target.active
    listing = client.get("/verwaltung/personen").get_data(as_text=True)
    assert stranger.email not in listing and admin.email not in listing


def test_admin_changes_a_role_and_old_logins_of_that_person_end(app, client, auth, db, city):
    person = factories.user(city, email="kim@stadt.example")
    other = app.test_client()
    other.post("/anmelden", data={"email": person.email, "password": factories.PASSWORD})
    auth.login(factories.user(city, Role.ADMIN))
    response = client.post(f"/verwaltung/personen/{person.id}",
                           data=_person(city, first_name="Kim", last_name="Muster", email="kim@stadt.example",
                                        role="hr_staff"))
    assert response.status_code == 303
    db.session.refresh(person)
    assert person.role == "hr_staff"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.update"))
    assert entry.details["role"] == ["employee", "hr_staff"]
    # The cookie from before the change no longer logs anyone in.
    assert person.full_name not in other.get("/").get_data(as_text=True)


def test_nobody_changes_their_own_role(client, db, lead, city):
    response = client.post(f"/verwaltung/personen/{lead.id}",
                           data=_person(city, first_name="P", last_name="L", email=lead.email, role="employee"))
    assert response.status_code == 422
    assert "Ihre eigene Rolle können Sie nicht ändern." in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.role == "hr_lead"


def test_deactivating_a_person_logs_her_out_and_is_audited(app, client, db, lead, city):
    person = factories.user(city)
    theirs = app.test_client()
    theirs.post("/anmelden", data={"email": person.email, "password": factories.PASSWORD})
    assert person.full_name in theirs.get("/").get_data(as_text=True)
    response = client.post(f"/verwaltung/personen/{person.id}/aktiv", data={"active": "0"})
    assert response.status_code == 303
    db.session.refresh(person)
    assert person.active is False
    assert person.full_name not in theirs.get("/").get_data(as_text=True)
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.object_id == person.id)) == "user.deactivate"
    client.post(f"/verwaltung/personen/{person.id}/aktiv", data={"active": "1"})
    db.session.refresh(person)
    assert person.active is True


def test_nobody_deactivates_themselves(client, db, lead):
    response = client.post(f"/verwaltung/personen/{lead.id}/aktiv", data={"active": "0"})
    assert response.status_code == 422
    assert "Sie können sich nicht selbst deaktivieren." in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.active


def _issue_link(client, person) -> str:
    html = client.post(f"/verwaltung/personen/{person.id}/passwort-link").get_data(as_text=True)
    return re.search(r'value="http://localhost:5000(/passwort/neu/[^"]+)"', html).group(1)


def test_one_time_link_lets_the_person_set_her_password_once(app, client, db, lead, city):
    person = factories.user(city, password=None)
    path = _issue_link(client, person)
    row = db.session.scalar(select(PasswordResetToken))
    assert path.rsplit("/", 1)[1] not in row.token_hash  # only the hash is stored
    visitor = app.test_client()
    assert visitor.get(path).status_code == 200
    response = visitor.post(path, data={"password": "ein-neues-passwort", "confirm": "ein-neues-passwort"})
    assert response.status_code == 303 and response.headers["Location"] == "/anmelden"
    login = visitor.post("/anmelden", data={"email": person.email, "password": "ein-neues-passwort"})
    assert login.status_code == 303
    # Single use: the same link is dead now.
    again = app.test_client().get(path)
    assert again.status_code == 404
    assert "ungültig, abgelaufen oder wurde bereits benutzt" in again.get_data(as_text=True)
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"user.reset_link", "user.password_reset"} <= actions


def test_reset_link_expires(app, client, db, lead, city):
    person = factories.user(city)
    path = _issue_link(client, person)
    row = db.session.scalar(select(PasswordResetToken))
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_a_new_link_invalidates_the_previous_one(app, client, db, lead, city):
    person = factories.user(city)
    first = _issue_link(client, person)
    second = _issue_link(client, person)
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"password": "kurz", "confirm": "kurz"}, "Das Passwort muss mindestens 10 Zeichen lang sein."),
        ({"password": "ein-langes-passwort", "confirm": "ein-anderes-passwort"}, "Die beiden Passwörter stimmen nicht überein."),
    ],
)
def test_bad_new_password_is_refused_and_the_link_stays_valid(app, client, db, lead, city, data, message):
    person = factories.user(city)
    old_hash = person.password_hash
    path = _issue_link(client, person)
    visitor = app.test_client()
    response = visitor.post(path, data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(person)
    assert person.password_hash == old_hash
    assert visitor.get(path).status_code == 200


def test_forged_token_is_404(client):
    assert client.get("/passwort/neu/not-a-real-token").status_code == 404
    assert client.post("/passwort/neu/x", data={"password": "a" * 12, "confirm": "a" * 12}).status_code == 404


def test_people_list_searches_by_name_email_and_organisation_and_paginates(client, auth, db):
    uba = factories.organisation("Umweltbundesamt", short_name="UBA")
    hs = factories.organisation("Hochschule Anhalt", short_name="HS")
    auth.login(factories.user(uba, Role.ADMIN, last_name="Admin"))
    factories.user(uba, first_name="Greta", last_name="Weber", email="g.weber@uba.example")
    for n in range(30):
        factories.user(hs, first_name=f"Paul{n:02d}", last_name="Zimmermann")
    by_name = client.get("/verwaltung/personen?q=greta weber").get_data(as_text=True)
    assert "g.weber@uba.example" in by_name and "Zimmermann" not in by_name
    by_mail = client.get("/verwaltung/personen?q=G.WEBER@uba").get_data(as_text=True)
    assert "Weber, Greta" in by_mail
    by_org = client.get("/verwaltung/personen?q=hochschule").get_data(as_text=True)
    assert "Zimmermann" in by_org and "Weber" not in by_org and "Seite 1 von 2" in by_org
    partial = client.get("/verwaltung/personen?q=hochschule&page=2", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="people-results"') and "Paul29" in html


def test_search_folds_umlauts_and_other_capitals_on_every_database(client, auth, db):
    # SQLite's built-in lower() folds only A-Z: "Öztürk" was not found by "öz" or "ÖZ".
    city = factories.organisation("Stadtverwaltung", short_name="Stadt")
    auth.login(factories.user(city, Role.ADMIN, last_name="Admin"))
    factories.user(city, first_name="Ümit", last_name="Öztürk", email="u.oeztuerk@stadt.example")
    factories.user(city, first_name="Åsa", last_name="Ødegård", email="a.odegard@stadt.example")
    for needle in ("öztürk", "ÖZTÜRK", "ümit öz", "Öztürk, Ü"):
        html = client.get("/verwaltung/personen", query_string={"q": needle}).get_data(as_text=True)
        assert "u.oeztuerk@stadt.example" in html, needle
        assert "a.odegard@stadt.example" not in html, needle
    html = client.get("/verwaltung/personen", query_string={"q": "ødegå"}).get_data(as_text=True)
    assert "a.odegard@stadt.example" in html
    assert db.session.scalar(select(func.lower("ÄÖÜ Straße"))) == "äöü straße"
    assert db.session.scalar(select(func.lower(None))) is None


def test_people_list_issues_a_fixed_number_of_queries(client, auth, db):
    from sqlalchemy import event

    org = factories.organisation()
    auth.login(factories.user(org, Role.ADMIN))

    def count_queries():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/verwaltung/personen").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    for _ in range(3):
        factories.user(factories.organisation())
    few = count_queries()
    for _ in range(20):
        factories.user(factories.organisation())
    assert count_queries() == few
