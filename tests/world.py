"""A small network of two organisations for the tests that walk the whole URL map
(security headers, CSRF, authorisation matrix, hostile input): every role in each, a series of
each with a session that has started and an upcoming one, enrolments and an attendance mark."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import Rule

from tests import factories
from tracker.extensions import db
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    AttendanceStatus,
    Organisation,
    OutboxMail,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class World:
    org_a: Organisation
    org_b: Organisation
    users: dict[str, User]
    series_a: TrainingSeries
    session_a: TrainingSession  # has started an hour ago: attendance can be marked
    upcoming_a: TrainingSession
    series_b: TrainingSeries
    session_b: TrainingSession
    enrolment_a: int
    enrolment_b: int
    mail_id: int
    extra: dict[str, int] = field(default_factory=dict)

    def url_values(self, rule: Rule, *, of: str = "a") -> dict[str, object]:
        """Ids for a rule's variables: the objects of organisation `of` ("a" or "b")."""
        own = of == "a"
        ids = {
            "org_id": (self.org_a if own else self.org_b).id,
            "organisation_id": (self.org_a if own else self.org_b).id,
            "user_id": self.users["employee_a" if own else "employee_b"].id,
            "series_id": (self.series_a if own else self.series_b).id,
            "session_id": (self.session_a if own else self.session_b).id,
            "enrolment_id": self.enrolment_a if own else self.enrolment_b,
            "mail_id": self.mail_id,
            "token": "ein-unbekannter-link",
            "code": "EinUnbekannterCode0123456789",
            "year": self.session_a.starts_at.year,
            "filename": "css/app.css",
        }
        missing = set(rule.arguments) - set(ids)
        assert not missing, (
            f"tests/world.py has no value for {sorted(missing)} of {rule.rule}; add one so the "
            "URL-map tests cover this route"
        )
        return {name: ids[name] for name in rule.arguments}


def build() -> World:
    org_a = factories.organisation("Stadtverwaltung A")
    org_b = factories.organisation("Bundesbehörde B")
    users: dict[str, User] = {}
    for key, org in (("a", org_a), ("b", org_b)):
        for role in (Role.EMPLOYEE, Role.HR_STAFF, Role.HR_LEAD):
            users[f"{role.value}_{key}"] = factories.user(
                org, role, email=f"{role.value}.{key}@example.org", first_name=f"{role.value}{key}"
            )
    users["admin"] = factories.user(org_a, Role.ADMIN, email="admin@example.org")
    # A second employee of A who is only on the waiting list of the upcoming session.
    users["colleague_a"] = factories.user(org_a, email="kollegin.a@example.org")

    series_a = factories.series(org_a, [org_a], title="Reihe der Stadt A")
    series_b = factories.series(org_b, [org_b], title="Reihe der Behörde B")
    now = utcnow().replace(microsecond=0)
    session_a = factories.session(series_a, starts_at=now - timedelta(hours=1), hours=3)
    upcoming_a = factories.session(series_a, starts_in=timedelta(days=14), capacity=1)
    session_b = factories.session(series_b, starts_at=now - timedelta(hours=1), hours=3)
    enrolment_a = factories.enrolment(session_a, users["employee_a"])
    factories.enrolment(session_a, users["hr_staff_a"])
    enrolment_b = factories.enrolment(session_b, users["employee_b"])
    factories.enrolment(upcoming_a, users["employee_a"])
    factories.enrolment(upcoming_a, users["colleague_a"], state="waitlisted")
    db.session.add(AttendanceMark(enrolment=enrolment_a, session_id=session_a.id,
                                  status=AttendanceStatus.EXCUSED, marked_by=users["hr_staff_a"]))
    db.session.add(AttendanceChange(enrolment=enrolment_a, old_status=None,
                                    new_status=AttendanceStatus.EXCUSED,
                                    changed_by=users["hr_staff_a"]))
    mail = OutboxMail(kind="enrolled", user_id=users["employee_a"].id,
                      to_address=users["employee_a"].email, subject="Anmeldung bestätigt",
                      body_text="Guten Tag", body_html="<p>Guten Tag</p>")
    db.session.add(mail)
    db.session.commit()
    return World(
        org_a=org_a, org_b=org_b, users=users, series_a=series_a, session_a=session_a,
        upcoming_a=upcoming_a, series_b=series_b, session_b=session_b,
        enrolment_a=enrolment_a.id, enrolment_b=enrolment_b.id, mail_id=mail.id,
    )


def app_rules(app: Flask) -> list[Rule]:
    """Every rule of the app except static files, in a stable order."""
    return sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint != "static"),
        key=lambda r: (r.rule, sorted(r.methods or ())),
    )


def row_counts() -> dict[str, int]:
    """Rows in every table: the fingerprint of 'nothing changed'."""
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def table_fingerprint() -> dict[str, list[tuple]]:
    """Every row of every table (the world is small): proves that nothing changed at all."""
    db.session.expire_all()
    result = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table)).all()
        result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result


def login_session(client, user: User) -> None:
    """Put a logged-in session into the client's cookie without a form post (for apps that
    require a CSRF token on the login form too)."""
    now = utcnow().timestamp()
    with client.session_transaction() as s:
        s["_user_id"] = user.get_id()
        s["_fresh"] = True
        s["login_at"] = now
        s["seen_at"] = now
