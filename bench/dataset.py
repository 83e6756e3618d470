"""Deterministic data sets for the benchmarks, built by bulk inserts into a fresh database.

Two kinds:
- "demo": the demo network (`flask demo-data`, about 330 participations) plus the bench fixtures;
- a generated network of a given `Scale`, e.g. LARGE: 20 organisations, 20,000 people,
  2,000 sessions and 500,000 enrolments with attendance marks.

Both get the same fixtures, so the pages measured are the same on either size:
- a running session with 30 enrolled people (the attendance sheet and its clicks),
- an upcoming session with plenty of free seats and a pool of eligible people who are not yet
  enrolled (one enrolment POST per person),
- an upcoming 30-seat session and 500 more people for the rush hour.

The schema comes from the migrations (`flask db upgrade`); rows go in with Core executemany in
chunks on SQLite and with COPY on PostgreSQL. Every row follows the model's rules: seats_taken
is the enrolled count and never above capacity, one live enrolment per person and session,
waiting-list tickets 1..n in order, attendance marks only for sessions that have ended.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine, make_url
from werkzeug.security import generate_password_hash

from tracker.config import normalise_database_url
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    Enrolment,
    Organisation,
    TrainingSeries,
    TrainingSession,
    User,
    series_coordinator,
    series_open_to,
    utcnow,
)
from tracker.services.demo_data import DEMO_PASSWORD, FIRST_NAMES, LAST_NAMES, TOPICS, TRAINERS
from tracker.views.trainings import PAGE_SIZE

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
BENCH_PASSWORD = "bench-password-2026"  # noqa: S105 - printed in bench/README.md on purpose
# Logging in is set-up, not what is measured, and the pools need thousands of logins: the
# bench accounts share one cheap hash, computed once. Real accounts keep scrypt.
BENCH_HASH_METHOD = "pbkdf2:sha256:1000"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SHEET_SIZE = 30
# Sessions the enrolment pool enrols in: each person's enrolment is a request that may be
# sent only once, so three sessions give three times the requests for the same logins.
ENROL_SESSIONS = 3
FIXTURE_SESSIONS = 2 + ENROL_SESSIONS  # the sheet's, the enrolment's and the rush hour's


@dataclass(frozen=True)
class Scale:
    name: str
    organisations: int
    people: int
    series: int
    sessions: int  # including the fixture sessions
    enrolments: int  # including the fixture enrolments
    # People who enrol during the enrolment POST measurement, each in every one of the
    # ENROL_SESSIONS sessions: each round's wrk gets half a slice for its one second
    # (bench/loadgen.py: load; bench/run.py: ENROL_ROUNDS).
    enrol_pool: int = 7_000
    rush_users: int = 500
    rush_seats: int = 30
    # Upcoming sessions of the bench series beyond the fixtures, so that the series list's
    # first page is full (PAGE_SIZE sessions) on every data set: the demo's own upcoming
    # sessions are fewer (8 to 10, as its dates move with today's), and a page of half the
    # sessions made the series list's cost growth a measure of its content, not of the data
    # volume. Included in `sessions`.
    list_sessions: int = PAGE_SIZE

    @property
    def fixture_sessions(self) -> int:
        return FIXTURE_SESSIONS + self.list_sessions


LARGE = Scale("large", organisations=20, people=20_000, series=100, sessions=2_000,
              enrolments=500_000)
# For trying things (`BENCH_SCALE=small`): the same shape, a tenth of the size.
MEDIUM = Scale("medium", organisations=20, people=4_000, series=40, sessions=400,
               enrolments=50_000, enrol_pool=600, rush_users=500)
TINY = Scale("tiny", organisations=3, people=120, series=3, sessions=11, enrolments=300,
             enrol_pool=40, rush_users=10, rush_seats=3, list_sessions=2)
SCALES = {s.name: s for s in (LARGE, MEDIUM, TINY)}

ORG_KINDS = ["Stadtverwaltung", "Landkreis", "Hochschule", "Finanzamt", "Jobcenter",
             "Amtsgericht", "Stadtwerke", "Landesamt", "Polizeidirektion", "Agentur für Arbeit"]
TOWNS = ["Dessau-Roßlau", "Bitterfeld", "Köthen", "Wittenberg", "Zerbst", "Bernburg",
         "Halle", "Magdeburg", "Peine", "Celle", "Göttingen", "Bautzen", "Wolfen", "Aken",
         "Coswig", "Gräfenhainichen", "Oranienbaum", "Jessen", "Calbe", "Staßfurt"]


@dataclass
class Fixtures:
    """What the measurements need to know about a built data set (saved next to it as JSON)."""

    dataset: str
    database_url: str
    password: str
    hr_email: str  # HR staff of the organisation owning the fixture series
    list_email: str  # an employee who looks at the series list
    list_password: str
    sheet_session_id: int
    sheet_enrolment_ids: list[int]
    enrol_session_ids: list[int]  # ENROL_SESSIONS of them
    enrol_emails: list[str]
    rush_session_id: int
    rush_emails: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    build_seconds: float = 0.0
    bench_series_id: int = 0  # the series holding the fixture sessions
    lead_email: str = ""  # an HR lead of that organisation, for the reports page
    lead_password: str = ""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Fixtures:
        return cls(**json.loads(path.read_text()))


# --------------------------------------------------------------------------- databases


def fresh_sqlite_url(name: str, directory: Path = DATA_DIR) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def postgres_reachable(base_url: str) -> str | None:
    """None when the server answers, else the reason in one line."""
    try:
        engine = create_engine(normalise_database_url(base_url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "skip", with its reason
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def create_postgres_database(base_url: str) -> tuple[str, str]:
    """A fresh database on the server of `base_url`; returns (url, name)."""
    url = make_url(normalise_database_url(base_url))
    name = f"tracker_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(base_url: str, name: str) -> None:
    admin = create_engine(normalise_database_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _flask(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tracker", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def migrate(url: str) -> None:
    """The schema exactly as production gets it: through the migrations."""
    _flask(url, "db", "upgrade")


def _engine(url: str) -> Engine:
    engine = create_engine(normalise_database_url(url))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _fast_load(dbapi_connection, _record):  # pragma: no cover - driver callback
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    return engine


# --------------------------------------------------------------------------- bulk loading

# Parents before children, so PostgreSQL's foreign keys hold at every flush.
TABLE_ORDER = [
    Organisation.__table__, User.__table__, TrainingSeries.__table__, series_open_to,
    series_coordinator, TrainingSession.__table__, Enrolment.__table__,
    AttendanceMark.__table__, AttendanceChange.__table__,
]


class Loader:
    """Buffers rows per table and writes them in chunks (COPY on PostgreSQL)."""

    def __init__(self, conn, chunk: int = 20_000):
        self.conn = conn
        self.chunk = chunk
        self.buffers = {t.name: [] for t in TABLE_ORDER}
        self.tables = {t.name: t for t in TABLE_ORDER}
        self.pending = 0
        self.written = dict.fromkeys(self.buffers, 0)
        self.postgres = conn.dialect.name == "postgresql"
        # Columns another change may add later get their model default (or NULL), so the
        # builder keeps working when the schema grows.
        self._fill: dict[str, dict] = {}

    def next_ids(self) -> dict[str, int]:
        ids = {}
        for table in TABLE_ORDER:
            if "id" in table.c:
                ids[table.name] = (self.conn.scalar(select(func.max(table.c.id))) or 0) + 1
        return ids

    def _complete(self, table, row: dict) -> dict:
        fill = self._fill.get(table.name)
        if fill is None:
            fill = {}
            for col in table.c:
                default = col.default
                if default is not None and (default.is_scalar or default.is_callable):
                    fill[col.name] = default.arg
                else:
                    fill[col.name] = None
            self._fill[table.name] = fill
        if len(row) == len(fill):
            return row
        out = dict(row)
        for name, value in fill.items():
            if name not in out:
                out[name] = value(None) if callable(value) else value
        return out

    def add(self, table, **row) -> None:
        self.buffers[table.name].append(self._complete(table, row))
        self.pending += 1
        if self.pending >= self.chunk:
            self.flush()

    def flush(self) -> None:
        for table in TABLE_ORDER:
            rows = self.buffers[table.name]
            if not rows:
                continue
            if self.postgres:
                cols = [c.name for c in table.c]
                raw = self.conn.connection.driver_connection
                with raw.cursor() as cursor, cursor.copy(
                    f'COPY "{table.name}" ({", ".join(cols)}) FROM STDIN'
                ) as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in cols])
            else:
                self.conn.execute(insert(table), rows)
            self.written[table.name] += len(rows)
            rows.clear()
        self.pending = 0

    def finish(self) -> None:
        self.flush()
        if self.postgres:
            for table in TABLE_ORDER:
                if "id" in table.c:
                    self.conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM \"{table.name}\"))"
                    )


def _ascii(name: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ł": "l", "ı": "i",
                           "ğ": "g", "ć": "c", "ş": "s", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
    return name.translate(table).lower().replace(" ", "-")


# --------------------------------------------------------------------------- fixtures


@dataclass
class Person:
    id: int
    organisation_id: int
    email: str


def _add_fixtures(
    loader: Loader, ids: dict[str, int], now: datetime, org_ids: list[int], hr: Person,
    sheet_people: list[Person], enrol_pool: list[Person], rush_people: list[Person],
    rush_seats: int, list_sessions: int,
) -> dict:
    """The series the measurements use, owned by the first organisation, open to all."""
    series_id = ids["training_series"]
    ids["training_series"] += 1
    loader.add(TrainingSeries.__table__, id=series_id, title="Messreihe: Schulungen unter Last",
               description="Termine für die Leistungsmessung (bench/).",
               owner_organisation_id=org_ids[0], archived=False, created_at=now)
    for org_id in org_ids:
        loader.add(series_open_to, series_id=series_id, organisation_id=org_id)

    def session(title: str, starts: datetime, capacity: int, seats: int) -> int:
        sid = ids["training_session"]
        ids["training_session"] += 1
        loader.add(TrainingSession.__table__, id=sid, series_id=series_id, title=title,
                   description="", starts_at=starts, ends_at=starts + timedelta(hours=3),
                   enrolment_deadline=starts - timedelta(days=1), location="Rathaus, Raum 1",
                   online_url="", trainer="Dr. Sabine Roth", capacity=capacity,
                   seats_taken=seats, waitlist_seq=0, cancelled_at=None, closed_at=None,
                   closed_by_id=None, created_at=now - timedelta(days=60))
        return sid

    # Started half an hour ago and still running: marks are allowed, none made yet.
    sheet_id = session("Anwesenheit im Seminarraum", now - timedelta(minutes=30), SHEET_SIZE,
                       len(sheet_people))
    enrol_ids = [session(f"Anmeldung mit freien Plätzen, Termin {n}",
                         now + timedelta(days=30, hours=n), len(enrol_pool) + 100, 0)
                 for n in range(1, ENROL_SESSIONS + 1)]
    rush_id = session(f"Ansturm auf {rush_seats} Plätze", now + timedelta(days=31), rush_seats, 0)
    for n in range(1, list_sessions + 1):  # see Scale.list_sessions
        session(f"Weiterer Termin {n}", now + timedelta(days=40 + n), 20, 0)
    sheet_enrolments = []
    for i, person in enumerate(sheet_people):
        eid = ids["enrolment"]
        ids["enrolment"] += 1
        sheet_enrolments.append(eid)
        when = now - timedelta(days=20) + timedelta(minutes=i)
        loader.add(Enrolment.__table__, id=eid, user_id=person.id, session_id=sheet_id,
                   organisation_id=person.organisation_id, state="enrolled", waitlist_seq=None,
                   created_at=when, updated_at=when, promoted_at=None, promotion_seen_at=None,
                   cancelled_at=None, cancel_reason=None, created_by_id=None)
    return {
        "bench_series_id": series_id,
        "hr_email": hr.email,
        "sheet_session_id": sheet_id,
        "sheet_enrolment_ids": sheet_enrolments,
        "enrol_session_ids": enrol_ids,
        "enrol_emails": [p.email for p in enrol_pool],
        "rush_session_id": rush_id,
        "rush_emails": [p.email for p in rush_people],
    }


def _user_row(uid: int, org_id: int, email: str, first: str, last: str, role: str,
              password_hash: str, token: str, created: datetime) -> dict:
    return dict(id=uid, email=email, first_name=first, last_name=last, organisation_id=org_id,
                role=role, active=True, password_hash=password_hash, session_token=token,
                created_at=created, anonymised_at=None)


def _counts(conn) -> dict[str, int]:
    return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in TABLE_ORDER}


# --------------------------------------------------------------------------- builders


def build_network(url: str, scale: Scale = LARGE, seed: int = 2026) -> Fixtures:
    """A generated network of `scale` in the (empty, migrated here) database at `url`."""
    started = time.perf_counter()
    migrate(url)
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    password_hash = generate_password_hash(BENCH_PASSWORD, method=BENCH_HASH_METHOD)
    engine = _engine(url)
    with engine.begin() as conn:
        loader = Loader(conn)
        ids = loader.next_ids()

        # Organisations and their people.
        org_ids = []
        for i in range(scale.organisations):
            org_id = ids["organisation"] + i
            org_ids.append(org_id)
            kind, town = ORG_KINDS[i % len(ORG_KINDS)], TOWNS[i % len(TOWNS)]
            loader.add(Organisation.__table__, id=org_id, name=f"{kind} {town} ({i + 1})",
                       short_name=f"{kind[:3]}{i + 1}", active=True,
                       created_at=now - timedelta(days=2000))
        people_by_org: dict[int, list[Person]] = {o: [] for o in org_ids}
        hr_staff: dict[int, Person] = {}
        employees: list[Person] = []
        uid = ids["user_account"]
        per_org = scale.people // scale.organisations
        for n in range(scale.people):
            org_id = org_ids[min(n // per_org, len(org_ids) - 1)]
            k = len(people_by_org[org_id])
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{_ascii(first)}.{_ascii(last)}.{uid}@org{org_id}.bench.example"
            role = ("hr_lead" if k == 0 else "hr_staff" if k in (1, 2)
                    else "admin" if (org_id == org_ids[0] and k == 3) else "employee")
            loader.add(User.__table__, **_user_row(
                uid, org_id, email, first, last, role, password_hash,
                f"{rng.getrandbits(96):024x}", now - timedelta(days=1500)))
            person = Person(uid, org_id, email)
            people_by_org[org_id].append(person)
            if role == "hr_staff" and org_id not in hr_staff:
                hr_staff[org_id] = person
            if role == "employee":
                employees.append(person)
            uid += 1

        # The fixtures' people first, so they are the same whatever the seed draws later.
        shuffled = employees[:]
        rng.shuffle(shuffled)
        need = SHEET_SIZE + scale.enrol_pool + scale.rush_users
        if len(shuffled) < need + 1:
            raise ValueError(f"scale {scale.name} has too few employees for the fixtures")
        sheet_people = shuffled[:SHEET_SIZE]
        enrol_pool = shuffled[SHEET_SIZE:SHEET_SIZE + scale.enrol_pool]
        rush_people = shuffled[SHEET_SIZE + scale.enrol_pool:need]
        list_user = next(p for p in people_by_org[org_ids[0]][4:] if p not in shuffled[:need])

        # Series over five years, each open to its owner and two partners.
        start_year = now.year - 3
        generated_sessions = scale.sessions - scale.fixture_sessions
        generated_enrolments = scale.enrolments - SHEET_SIZE
        session_plan = []  # (session_id, series_id, owner, open orgs, starts)
        sid = ids["training_session"]
        for s in range(scale.series):
            series_id = ids["training_series"] + s
            year = start_year + s * 5 // scale.series
            owner = org_ids[s % len(org_ids)]
            partners = rng.sample([o for o in org_ids if o != owner], min(2, len(org_ids) - 1))
            open_orgs = [owner, *partners]
            loader.add(TrainingSeries.__table__, id=series_id,
                       title=f"{TOPICS[s % len(TOPICS)]} {year}",
                       description="Gemeinsame Fortbildungsreihe der Partnerverwaltungen.",
                       owner_organisation_id=owner, archived=year < now.year,
                       created_at=datetime(year - 1, 11, 1))
            for org_id in open_orgs:
                loader.add(series_open_to, series_id=series_id, organisation_id=org_id)
            loader.add(series_coordinator, series_id=series_id,
                       user_id=hr_staff[partners[0] if partners else owner].id)
            count = generated_sessions // scale.series + (
                1 if s < generated_sessions % scale.series else 0)
            step = max(1, 340 // max(count, 1))
            for j in range(count):
                day = date(year, 1, 8) + timedelta(days=j * step)
                starts = datetime(day.year, day.month, day.day, 8 + (j % 3) * 2)
                session_plan.append((sid, series_id, owner, open_orgs, starts))
                sid += 1
        ids["training_series"] += scale.series

        eid, mid, cid = ids["enrolment"], ids["attendance_mark"], ids["attendance_change"]
        for n, (session_id, series_id, owner, open_orgs, starts) in enumerate(session_plan):
            ends = starts + timedelta(hours=3)
            past = ends < now
            total = generated_enrolments // len(session_plan) + (
                1 if n < generated_enrolments % len(session_plan) else 0)
            eligible = [p for o in open_orgs for p in people_by_org[o]]
            total = min(total, len(eligible))
            cancelled = rng.randint(0, total // 20)
            walk_ins = min(rng.randint(0, 3), total - cancelled) if past else 0
            live = total - cancelled - walk_ins
            capacity = max(1, rng.randint(int(total * 0.8), int(total * 1.2) + 1))
            enrolled = min(capacity, live)
            waitlisted = live - enrolled
            marker = hr_staff[owner].id
            loader.add(TrainingSession.__table__, id=session_id, series_id=series_id,
                       title=TOPICS[n % len(TOPICS)], description="", starts_at=starts,
                       ends_at=ends, enrolment_deadline=starts - timedelta(days=1),
                       location=f"{TOWNS[n % len(TOWNS)]}, Raum {1 + n % 12}", online_url="",
                       trainer=TRAINERS[n % len(TRAINERS)], capacity=capacity,
                       seats_taken=enrolled, waitlist_seq=waitlisted, cancelled_at=None,
                       closed_at=ends + timedelta(hours=1) if past else None,
                       closed_by_id=marker if past else None,
                       created_at=starts - timedelta(days=90))
            opened = starts - timedelta(days=45)
            for k, person in enumerate(rng.sample(eligible, total)):
                when = opened + timedelta(minutes=7 * k)
                if k < enrolled:
                    state, seq = "enrolled", None
                elif k < enrolled + waitlisted:
                    state, seq = "waitlisted", k - enrolled + 1
                elif k < enrolled + waitlisted + cancelled:
                    state, seq = "cancelled", None
                else:
                    state, seq, when = "walk_in", None, starts
                loader.add(Enrolment.__table__, id=eid, user_id=person.id, session_id=session_id,
                           organisation_id=person.organisation_id, state=state, waitlist_seq=seq,
                           created_at=when, updated_at=when, promoted_at=None,
                           promotion_seen_at=None,
                           cancelled_at=when + timedelta(days=3) if state == "cancelled" else None,
                           cancel_reason="self" if state == "cancelled" else None,
                           created_by_id=marker if state == "walk_in" else None)
                if past and state in ("enrolled", "walk_in"):
                    roll = rng.random()
                    status = ("present" if state == "walk_in" or roll < 0.84
                              else "excused" if roll < 0.94 else "absent")
                    loader.add(AttendanceMark.__table__, id=mid, enrolment_id=eid,
                               session_id=session_id, status=status, marked_by_id=marker,
                               marked_at=ends, version=1)
                    loader.add(AttendanceChange.__table__, id=cid, enrolment_id=eid,
                               old_status=None, new_status=status, changed_by_id=marker,
                               changed_at=ends)
                    mid += 1
                    cid += 1
                eid += 1
        ids.update(training_session=sid, enrolment=eid, attendance_mark=mid,
                   attendance_change=cid)

        fixture_ids = _add_fixtures(loader, ids, now, org_ids, hr_staff[org_ids[0]],
                                    sheet_people, enrol_pool, rush_people, scale.rush_seats,
                                    scale.list_sessions)
        loader.finish()
        counts = _counts(conn)
    _analyse(engine)
    engine.dispose()
    return Fixtures(dataset=scale.name, database_url=url, password=BENCH_PASSWORD,
                    list_email=list_user.email, list_password=BENCH_PASSWORD,
                    lead_email=people_by_org[org_ids[0]][0].email, lead_password=BENCH_PASSWORD,
                    counts=counts,
                    build_seconds=round(time.perf_counter() - started, 1), **fixture_ids)


def build_demo(url: str, scale: Scale = LARGE) -> Fixtures:
    """The demo network (`flask demo-data`) plus the same fixtures as the large one."""
    started = time.perf_counter()
    migrate(url)
    _flask(url, "demo-data")
    now = utcnow().replace(microsecond=0)
    password_hash = generate_password_hash(BENCH_PASSWORD, method=BENCH_HASH_METHOD)
    rng = random.Random(7)
    engine = _engine(url)
    with engine.begin() as conn:
        loader = Loader(conn)
        ids = loader.next_ids()
        org_ids = list(conn.scalars(select(Organisation.id).order_by(Organisation.id)))
        people = []
        uid = ids["user_account"]

        def person(role: str, org_id: int) -> Person:
            nonlocal uid
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"bench.{uid}@bench.example"
            loader.add(User.__table__, **_user_row(uid, org_id, email, first, last, role,
                                                   password_hash, f"{rng.getrandbits(96):024x}",
                                                   now - timedelta(days=30)))
            uid += 1
            return Person(uid - 1, org_id, email)

        hr = person("hr_staff", org_ids[0])
        for n in range(SHEET_SIZE + scale.enrol_pool + scale.rush_users):
            people.append(person("employee", org_ids[n % len(org_ids)]))
        ids["user_account"] = uid
        sheet = people[:SHEET_SIZE]
        pool = people[SHEET_SIZE:SHEET_SIZE + scale.enrol_pool]
        rush = people[SHEET_SIZE + scale.enrol_pool:]
        fixture_ids = _add_fixtures(loader, ids, now, org_ids, hr, sheet, pool, rush,
                                    scale.rush_seats, scale.list_sessions)
        loader.finish()
        counts = _counts(conn)
    _analyse(engine)
    engine.dispose()
    return Fixtures(dataset="demo", database_url=url, password=BENCH_PASSWORD,
                    list_email="beschaeftigte@stadt-dessau.example", list_password=DEMO_PASSWORD,
                    lead_email="personalleitung@stadt-dessau.example", lead_password=DEMO_PASSWORD,
                    counts=counts, build_seconds=round(time.perf_counter() - started, 1),
                    **fixture_ids)


def _analyse(engine: Engine) -> None:
    # PostgreSQL's autovacuum would analyse the freshly loaded tables within a minute; do it
    # now so the first measurement does not catch the planner without statistics. SQLite is
    # left as a deployment leaves it (nobody runs ANALYZE there).
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def main() -> None:  # pragma: no cover - manual use: python -m bench.dataset [large|demo|medium]
    kind = sys.argv[1] if len(sys.argv) > 1 else "large"
    url = os.environ.get("BENCH_DATABASE_URL") or fresh_sqlite_url(kind)
    scale = SCALES.get(kind, LARGE)
    fixtures = build_demo(url, scale) if kind == "demo" else build_network(url, scale)
    fixtures.save(DATA_DIR / f"{kind}.json")
    print(f"{kind}: {fixtures.counts} in {fixtures.build_seconds} s -> {url}")


if __name__ == "__main__":  # pragma: no cover
    main()
