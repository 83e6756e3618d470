"""German names sort as a German reader expects (DIN 5007-1: Ä with A, ß as ss), in the same
order on SQLite and on PostgreSQL: in the database, on the people list and on the roster."""

from __future__ import annotations

import random

from sqlalchemy import select

from tests import factories
from tracker.models import User
from tracker.services import enrolment as enrolment_service
from tracker.services.collation import german, german_sort_key

# The order a German reader expects: case and accents only break ties between names that are
# otherwise equal (lower case first, the plain letter before the accented one, ss before ß);
# spaces and hyphens come before letters.
EXPECTED = [
    "abel", "Abel", "ABEL",
    "Arger", "Ärger",
    "Backer", "Bäcker", "Baecker",
    "Braun",
    "Müller-Lüdenscheidt", "Müllerova",
    "Özdemir", "Öztürk",
    "strasse", "Strasse", "Straße",
    "Van Berg", "van der Berg",
    "Wolf",
    "Zoe", "Zoë",
]
MARKER = "Testperson"


def _shuffled() -> list[str]:
    names = list(EXPECTED)
    random.Random(20).shuffle(names)
    return names


def test_the_sort_key_puts_tricky_names_in_german_order():
    assert sorted(_shuffled(), key=german_sort_key) == EXPECTED


def test_the_database_orders_names_the_german_way(db):
    org = factories.organisation()
    for name in _shuffled():
        factories.user(org, first_name=MARKER, last_name=name, commit=False)
    db.session.commit()
    found = list(db.session.scalars(
        select(User.last_name)
        .where(User.first_name == MARKER)
        .order_by(german(User.last_name), User.id)
    ))
    assert found == EXPECTED


def _order_on_page(html: str) -> list[str]:
    where = {name: html.find(f"{name}, {MARKER}<") for name in EXPECTED}
    missing = [name for name, at in where.items() if at < 0]
    assert not missing, f"not on the page: {missing}"
    return sorted(EXPECTED, key=where.__getitem__)


def test_the_people_list_shows_oeztuerk_before_wolf_and_baecker_before_braun(db, client, auth):
    org = factories.organisation()
    lead = factories.user(org, role="hr_lead", last_name="Zzz-Leitung")
    for name in _shuffled():
        factories.user(org, first_name=MARKER, last_name=name, commit=False)
    db.session.commit()
    auth.login(lead)
    page = client.get("/verwaltung/personen")
    assert page.status_code == 200
    assert _order_on_page(page.get_data(as_text=True)) == EXPECTED


def test_the_roster_lists_enrolled_people_in_german_order(db, client, auth):
    session = factories.session(capacity=len(EXPECTED) + 1)
    org = session.series.owner_organisation
    for name in _shuffled():
        person = factories.user(org, first_name=MARKER, last_name=name)
        enrolment_service.enrol(person, session)
    db.session.commit()
    staff = factories.user(org, role="hr_staff")
    auth.login(staff)
    page = client.get(f"/reihen/termine/{session.id}/teilnehmende")
    assert page.status_code == 200
    assert _order_on_page(page.get_data(as_text=True)) == EXPECTED


def test_hr_search_results_come_in_german_order(db):
    session = factories.session(capacity=5)
    org = session.series.owner_organisation
    for name in _shuffled():
        factories.user(org, first_name=MARKER, last_name=name)
    found = [person.last_name for person, _enrolled in
             enrolment_service.candidates(session, MARKER, limit=50)]
    assert found == EXPECTED
