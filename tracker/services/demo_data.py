"""Deterministic demo data: three partners in one town and four years of Vielfaltsmontag."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    AttendanceStatus,
    Enrolment,
    EnrolmentState,
    Organisation,
    Role,
    TrainingSeries,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import accounts
from tracker.timeutil import from_local, to_local

DEMO_PASSWORD = "tracker-demo"  # noqa: S105 - printed for the demo on purpose
ADMIN_EMAIL = "admin@tracker.example"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    organisation: str


ORGANISATIONS = [
    ("Stadtverwaltung Dessau-Roßlau", "Stadt", "stadt-dessau.example"),
    ("Umweltbundesamt", "UBA", "uba.example"),
    ("Hochschule Anhalt", "HS Anhalt", "hs-anhalt.example"),
]

FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hakan", "Ida", "Jonas",
    "Katrin", "Lukas", "Mia", "Noah", "Olga", "Paul", "Rana", "Sven", "Tanja", "Umut",
    "Vera", "Wolfgang", "Yasmin", "Zoe", "Jürgen", "Małgorzata", "Sören", "Chiara",
]
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Yılmaz",
    "Kowalski", "Nguyen", "Popović", "Öztürk",
]
TOPICS = [
    "Vielfalt als Stärke im Team", "Unbewusste Vorurteile erkennen", "Barrierefreie Kommunikation",
    "Interkulturelle Zusammenarbeit", "Gendergerechte Sprache in der Verwaltung",
    "Generationen im Team", "Antidiskriminierung im Arbeitsalltag", "Inklusion am Arbeitsplatz",
    "Religiöse Vielfalt", "Vielfalt in der Personalauswahl",
]
TRAINERS = ["Dr. Sabine Roth", "Kemal Aydın", "Birgit Lorenz", "Thomas Engel"]
EMPLOYEES_PER_ORGANISATION = 20


def _ascii(name: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ł": "l", "ı": "i",
                           "ğ": "g", "ć": "c", "ş": "s"})
    return name.lower().translate(table).replace(" ", "-")


def demo_logins() -> list[DemoLogin]:
    logins = [DemoLogin("Administration", ADMIN_EMAIL, "Stadtverwaltung Dessau-Roßlau")]
    for name, _short, domain in ORGANISATIONS:
        logins += [
            DemoLogin("Personalleitung", f"personalleitung@{domain}", name),
            DemoLogin("Personalsachbearbeitung", f"personal@{domain}", name),
            DemoLogin("Beschäftigte", f"beschaeftigte@{domain}", name),
        ]
    return logins


def has_data() -> bool:
    return (db.session.scalar(select(func.count()).select_from(Organisation)) or 0) > 0


def first_monday(year: int, month: int) -> date:
    day = date(year, month, 1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def load_demo_data(now: datetime | None = None) -> bool:
    """Load the demo network around `now` (naive UTC, default the present).

    Returns False (and changes nothing) when it is there already.
    """
    if db.session.scalar(select(User).where(User.email == ADMIN_EMAIL)) is not None:
        return False
    rng = random.Random(2026)
    now = now or utcnow()
    today = to_local(now).date()

    orgs: list[Organisation] = []
    staff: dict[int, list[User]] = {}
    hr: dict[int, dict[str, User]] = {}
    for name, short, domain in ORGANISATIONS:
        org = Organisation(name=name, short_name=short)
        db.session.add(org)
        db.session.flush()
        orgs.append(org)

        def person(email, first, last, role, org=org):
            return accounts.create_user(
                email=email, first_name=first, last_name=last, organisation=org, role=role,
                password=DEMO_PASSWORD,
            )

        hr[org.id] = {
            "lead": person(f"personalleitung@{domain}", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), Role.HR_LEAD),
            "staff": person(f"personal@{domain}", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), Role.HR_STAFF),
        }
        people = [person(f"beschaeftigte@{domain}", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), Role.EMPLOYEE)]
        used = set()
        while len(people) < EMPLOYEES_PER_ORGANISATION:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if (first, last) in used:
                continue
            used.add((first, last))
            people.append(person(f"{_ascii(first)}.{_ascii(last)}@{domain}", first, last, Role.EMPLOYEE))
        staff[org.id] = people

    accounts.create_user(
        email=ADMIN_EMAIL, first_name="Alex", last_name="Admin", organisation=orgs[0],
        role=Role.ADMIN, password=DEMO_PASSWORD,
    )
    everyone = [u for org in orgs for u in staff[org.id]]
    marker = hr[orgs[0].id]["staff"]

    def session_at(series, title, day, start_h, hours, capacity, trainer, location):
        starts = from_local(datetime.combine(day, time(start_h, 0)))
        s = TrainingSession(
            series=series, title=title, starts_at=starts, ends_at=starts + timedelta(hours=hours),
            enrolment_deadline=starts - timedelta(days=1), capacity=capacity, seats_taken=0,
            waitlist_seq=0, trainer=trainer, location=location,
        )
        db.session.add(s)
        return s

    def enrol(session, user, state, when):
        e = Enrolment(user=user, session=session, organisation_id=user.organisation_id,
                      state=state, created_at=when, updated_at=when)
        if state == EnrolmentState.ENROLLED:
            session.seats_taken += 1
        elif state == EnrolmentState.WAITLISTED:
            session.waitlist_seq += 1
            e.waitlist_seq = session.waitlist_seq
        db.session.add(e)
        return e

    def mark(enrolment, status, when):
        db.session.add(AttendanceMark(enrolment=enrolment, session_id=enrolment.session.id,
                                      status=status, marked_by=marker, marked_at=when))
        db.session.add(AttendanceChange(enrolment=enrolment, old_status=None, new_status=status,
                                        changed_by=marker, changed_at=when))

    # The network plans next year's series in the autumn, so from October on the demo
    # always has a next Vielfaltsmontag to enrol in, whatever day it is loaded.
    years = range(today.year - 3, today.year + (2 if today.month >= 10 else 1))
    running: TrainingSession | None = None
    running_group = [staff[o.id][0] for o in orgs] + everyone[3::6][:9]
    for year in years:
        series = TrainingSeries(
            title=f"Vielfaltsmontag {year}",
            description=(
                "Monatlicher Workshop der Partnerverwaltungen zu Vielfalt, Inklusion und "
                "Antidiskriminierung. Offen für alle Beschäftigten der drei Partner."
            ),
            owner_organisation=orgs[0], open_to=list(orgs),
            coordinators=[hr[orgs[1].id]["staff"]],
        )
        db.session.add(series)
        for month in [1, 2, 3, 4, 5, 6, 9, 10, 11, 12]:
            day = first_monday(year, month)
            topic = TOPICS[(month + year) % len(TOPICS)]
            s = session_at(series, topic, day, 14, 2, 15, rng.choice(TRAINERS),
                           "Rathaus, Raum 2.14" if month % 2 else "Umweltbundesamt, Hörsaal")
            db.session.flush()
            if s.starts_at <= now < s.ends_at:
                # Loaded on a Vielfaltsmontag afternoon: this one is the session running now.
                running = s
                for user in running_group:
                    enrol(s, user, EnrolmentState.ENROLLED, s.starts_at - timedelta(days=7))
            elif s.ends_at <= now:
                group = rng.sample(everyone, rng.randint(9, 14))
                for user in group:
                    e = enrol(s, user, EnrolmentState.ENROLLED, s.starts_at - timedelta(days=14))
                    roll = rng.random()
                    status = (AttendanceStatus.PRESENT if roll < 0.84 else
                              AttendanceStatus.EXCUSED if roll < 0.94 else AttendanceStatus.ABSENT)
                    db.session.flush()
                    mark(e, status, s.ends_at)
                if rng.random() < 0.3:  # a colleague who came without enrolling
                    walk_in = rng.choice([u for u in everyone if u not in group])
                    e = enrol(s, walk_in, EnrolmentState.WALK_IN, s.starts_at)
                    db.session.flush()
                    mark(e, AttendanceStatus.PRESENT, s.ends_at)
                s.closed_at = s.ends_at + timedelta(hours=1)
                s.closed_by_id = marker.id
    db.session.flush()

    # The next Vielfaltsmontag is full and has a waiting list.
    upcoming = db.session.scalars(
        select(TrainingSession).join(TrainingSeries)
        .where(TrainingSeries.title.like("Vielfaltsmontag%"), TrainingSession.starts_at > now)
        .order_by(TrainingSession.starts_at)
    ).first()
    demo_employees = {staff[o.id][0].id for o in orgs}
    if upcoming is not None:
        pool = [u for u in everyone if u.id not in demo_employees]
        rng.shuffle(pool)
        for user in pool[: upcoming.capacity]:
            enrol(upcoming, user, EnrolmentState.ENROLLED, now - timedelta(days=10))
        for i, user in enumerate(pool[upcoming.capacity : upcoming.capacity + 3]):
            enrol(upcoming, user, EnrolmentState.WAITLISTED, now - timedelta(days=9 - i))

    # Next planned series: leadership and onboarding trainings, with free seats.
    leadership = TrainingSeries(
        title="Führen und Gewinnen: Recruiting für Führungskräfte",
        description="Führungskräftetraining zu Personalgewinnung und Auswahlgesprächen.",
        owner_organisation=orgs[1], open_to=list(orgs),
    )
    onboarding = TrainingSeries(
        title="Interkulturelle Werkstatt für Personalteams",
        description="Workshops für Recruiting- und Onboarding-Teams der Partner.",
        owner_organisation=orgs[2], open_to=[orgs[1], orgs[2]],
    )
    db.session.add_all([leadership, onboarding])
    base = today + timedelta(days=21)
    for i in range(3):
        session_at(leadership, f"Modul {i + 1}: " + ["Anforderungsprofile", "Interviews führen", "Onboarding planen"][i],
                   base + timedelta(days=28 * i), 9, 6, 12, "Dr. Sabine Roth", "Umweltbundesamt, Seminarraum 1")
        session_at(onboarding, f"Werkstatt {i + 1}", base + timedelta(days=14 + 28 * i), 10, 3, 20,
                   "Kemal Aydın", "Hochschule Anhalt, Raum 101")

    # A session running right now, its sheet still open: HR staff trying the demo have a
    # sheet to mark (every earlier session is closed, every later one has not started).
    if running is None:
        this_year = db.session.scalars(
            select(TrainingSeries).where(TrainingSeries.title == f"Vielfaltsmontag {today.year}")
        ).one()
        starts = now.replace(second=0, microsecond=0) - timedelta(minutes=30)
        running = TrainingSession(
            series=this_year, title="Sondersitzung: Vielfalt im Gespräch", starts_at=starts,
            ends_at=starts + timedelta(hours=2), enrolment_deadline=starts - timedelta(days=1),
            capacity=15, seats_taken=0, waitlist_seq=0, trainer=TRAINERS[0],
            location="Rathaus, Raum 2.14",
        )
        db.session.add(running)
        for user in running_group:
            enrol(running, user, EnrolmentState.ENROLLED, starts - timedelta(days=7))
    db.session.flush()
    return True
