"""Capacity holds under concurrency: many threads (each with its own connection) and two separate
OS processes enrol at once, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import multiprocessing
import threading
import traceback

from sqlalchemy import select

from tests import factories
from tracker.database import write_transactions
from tracker.extensions import db as _db
from tracker.models import Enrolment, EnrolmentState, Role, TrainingSession, User
from tracker.services import Conflict
from tracker.services import enrolment as service

SEATS = 5
PEOPLE = 56  # at least 50 at once


def _enrol_many(app, user_ids: list[int], session_id: int, start: threading.Barrier | None = None):
    """Each id enrols in its own thread with its own app context, database session and
    connection; returns the outcome per thread ("enrolled", "waitlisted" or an error)."""
    outcomes: list[str] = []
    lock = threading.Lock()
    start = start or threading.Barrier(len(user_ids))

    def worker(user_id: int) -> None:
        with app.app_context():
            try:
                start.wait(timeout=60)
                with write_transactions():
                    user = _db.session.get(User, user_id)
                    session = _db.session.get(TrainingSession, session_id)
                    enrolment = service.enrol(user, session)
                    _db.session.commit()
                    outcome = str(enrolment.state)
            except Conflict as exc:
                _db.session.rollback()
                outcome = f"conflict: {exc.message}"
            except Exception:  # noqa: BLE001 - reported to the test, which fails on it
                _db.session.rollback()
                outcome = "error: " + traceback.format_exc()
            finally:
                _db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def _process_main(database_url: str, user_ids: list[int], session_id: int, start, results) -> None:
    """Entry point of a separate OS process (spawned): its own app, engine and connections."""
    from tests.conftest import make_app

    try:
        app = make_app(database_url)
        start.wait(timeout=120)  # both processes are ready: go at once
        outcomes = _enrol_many(app, user_ids, session_id)
        with app.app_context():
            _db.engine.dispose()
        results.put(outcomes)
    except Exception:  # noqa: BLE001
        results.put(["error: " + traceback.format_exc()])


def _setup(n: int = PEOPLE, capacity: int = SEATS) -> tuple[TrainingSession, list[User]]:
    org = factories.organisation()
    session = factories.session(factories.series(org, [org]), capacity=capacity)
    users = [factories.user(org, password=None, commit=False) for _ in range(n)]
    _db.session.commit()
    return session, users


def _assert_exactly_full_and_queued_in_order(session: TrainingSession, total: int) -> None:
    _db.session.rollback()  # end the read snapshot taken before the threads ran
    enrolments = list(_db.session.scalars(
        select(Enrolment).where(Enrolment.session_id == session.id)
    ))
    enrolled = [e for e in enrolments if e.state == EnrolmentState.ENROLLED]
    waiting = sorted(
        (e for e in enrolments if e.state == EnrolmentState.WAITLISTED),
        key=lambda e: e.waitlist_seq,
    )
    assert len(enrolments) == total
    assert len(enrolled) == SEATS
    assert len(waiting) == total - SEATS
    fresh = _db.session.get(TrainingSession, session.id)
    assert fresh.seats_taken == SEATS and fresh.capacity == SEATS
    # Tickets were drawn one after the other: no gaps, no duplicates.
    assert [e.waitlist_seq for e in waiting] == list(range(1, total - SEATS + 1))
    assert fresh.waitlist_seq == total - SEATS
    places = service.waitlist_positions(waiting)
    assert [places[e.id] for e in waiting] == list(range(1, total - SEATS + 1))


def test_fifty_six_threads_enrol_at_once_and_exactly_five_get_a_seat(app, db):
    session, users = _setup()
    outcomes = _enrol_many(app, [u.id for u in users], session.id)
    assert not [o for o in outcomes if o not in ("enrolled", "waitlisted")], outcomes
    assert outcomes.count("enrolled") == SEATS
    assert outcomes.count("waitlisted") == PEOPLE - SEATS
    _assert_exactly_full_and_queued_in_order(session, PEOPLE)


def test_two_processes_enrol_at_once_and_exactly_five_get_a_seat(app, db, migrated):
    session, users = _setup()
    ids = [u.id for u in users]
    halves = [ids[0::2], ids[1::2]]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_process_main, args=(migrated, half, session.id, start, results))
        for half in halves
    ]
    for p in processes:
        p.start()
    outcomes = []
    for _ in processes:
        outcomes += results.get(timeout=180)
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [o for o in outcomes if o not in ("enrolled", "waitlisted")], outcomes
    assert len(outcomes) == PEOPLE
    assert outcomes.count("enrolled") == SEATS
    _assert_exactly_full_and_queued_in_order(session, PEOPLE)


def test_a_double_submit_in_twenty_threads_leaves_one_enrolment(app, db):
    session, users = _setup(n=1)
    kim = users[0]
    outcomes = _enrol_many(app, [kim.id] * 20, session.id)
    assert outcomes.count("enrolled") == 1
    assert outcomes.count("conflict: Sie sind für diesen Termin bereits angemeldet.") == 19
    db.session.rollback()
    live = db.session.scalars(select(Enrolment).where(Enrolment.user_id == kim.id)).all()
    assert len(live) == 1
    assert db.session.get(TrainingSession, session.id).seats_taken == 1


def test_simultaneous_cancellations_promote_the_queue_in_order(app, db):
    session, users = _setup(n=15)
    enrolments = [factories.enrolment(
        session, u, EnrolmentState.ENROLLED if i < SEATS else EnrolmentState.WAITLISTED,
        commit=False) for i, u in enumerate(users)]
    db.session.commit()
    seat_ids = [e.id for e in enrolments[:SEATS]]
    queue_ids = [e.id for e in enrolments[SEATS:]]
    start = threading.Barrier(SEATS)
    errors = []

    def cancel(enrolment_id: int) -> None:
        with app.app_context():
            try:
                start.wait(timeout=60)
                with write_transactions():
                    enrolment = _db.session.get(Enrolment, enrolment_id)
                    service.cancel(enrolment, actor=enrolment.user)
                    _db.session.commit()
            except Exception:  # noqa: BLE001
                _db.session.rollback()
                errors.append(traceback.format_exc())
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=cancel, args=(eid,)) for eid in seat_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    db.session.rollback()
    states = {e.id: e for e in db.session.scalars(
        select(Enrolment).where(Enrolment.session_id == session.id))}
    # The first five in line got the five seats; the other five wait as 1..5.
    assert [states[i].state for i in queue_ids[:SEATS]] == [EnrolmentState.ENROLLED] * SEATS
    assert all(states[i].promoted_at for i in queue_ids[:SEATS])
    still_waiting = [states[i] for i in queue_ids[SEATS:]]
    places = service.waitlist_positions(still_waiting)
    assert [places[e.id] for e in still_waiting] == [1, 2, 3, 4, 5]
    assert db.session.get(TrainingSession, session.id).seats_taken == SEATS


def test_hr_raises_capacity_while_people_enrol_and_seats_never_exceed_it(app, db):
    session, users = _setup(n=30)
    hr = factories.user(session.series.owner_organisation, Role.HR_STAFF)
    start = threading.Barrier(31)
    outcome: list[str] = []

    def raise_capacity() -> None:
        with app.app_context():
            try:
                start.wait(timeout=60)
                with write_transactions():
                    s = _db.session.get(TrainingSession, session.id)
                    actor = _db.session.get(User, hr.id)
                    service.change_capacity(s, 8, actor=actor)
                    _db.session.commit()
                    outcome.append("ok")
            except Exception:  # noqa: BLE001
                _db.session.rollback()
                outcome.append(traceback.format_exc())
            finally:
                _db.session.remove()

    raiser = threading.Thread(target=raise_capacity)
    raiser.start()
    results = _enrol_many(app, [u.id for u in users], session.id, start=start)
    raiser.join(timeout=120)
    assert outcome == ["ok"]
    assert sorted(set(results)) == ["enrolled", "waitlisted"]
    db.session.rollback()
    fresh = db.session.get(TrainingSession, session.id)
    enrolled = db.session.scalars(select(Enrolment).where(
        Enrolment.session_id == session.id, Enrolment.state == EnrolmentState.ENROLLED)).all()
    assert fresh.capacity == 8 and fresh.seats_taken == 8 == len(enrolled)
    waiting = db.session.scalars(select(Enrolment).where(
        Enrolment.session_id == session.id, Enrolment.state == EnrolmentState.WAITLISTED)).all()
    assert sorted(service.waitlist_positions(waiting).values()) == list(range(1, 23))

