"""The attendance rules, called directly: who is on the sheet, marks, audit trail, walk-ins,
closing, and two HR staff clicking the same row at the same moment (on both databases)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tracker.database import write_transactions
from tracker.extensions import db as _db
from tracker.models import (
    AttendanceChange,
    AttendanceMark,
    Enrolment,
    EnrolmentState,
    Role,
    TrainingSession,
    User,
    utcnow,
)
from tracker.services import Conflict, NotAllowed, ServiceError
from tracker.services import attendance as service
from tracker.services.participation import is_participation


class Scene:
    """A series of the city, open to the city and the agency, with a session that began."""

    def __init__(self, starts_in=timedelta(minutes=-30)):
        self.city = factories.organisation("Stadt")
        self.agency = factories.organisation("Amt")
        self.elsewhere = factories.organisation("Woanders")
        self.staff = factories.user(self.city, Role.HR_STAFF, first_name="Sina", last_name="Sach")
        self.lead = factories.user(self.city, Role.HR_LEAD, first_name="Lea", last_name="Leitung")
        self.series = factories.series(self.city, [self.city, self.agency])
        self.session = factories.session(self.series, starts_in=starts_in)
        self.people = [
            factories.user(self.city, first_name="Anna", last_name="Albers"),
            factories.user(self.agency, first_name="Bert", last_name="Bauer"),
            factories.user(self.city, first_name="Cem", last_name="Celik"),
        ]
        self.enrolments = [factories.enrolment(self.session, p) for p in self.people]


@pytest.fixture
def scene(app) -> Scene:
    return Scene()


def changes_of(enrolment_id: int) -> list[AttendanceChange]:
    return list(
        _db.session.scalars(
            select(AttendanceChange)
            .where(AttendanceChange.enrolment_id == enrolment_id)
            .order_by(AttendanceChange.id)
        )
    )


def mark_of(enrolment_id: int) -> AttendanceMark | None:
    return _db.session.scalars(
        select(AttendanceMark)
        .where(AttendanceMark.enrolment_id == enrolment_id)
        .execution_options(populate_existing=True)
    ).first()


def test_sheet_lists_enrolled_people_and_walk_ins_but_not_the_waiting_list(scene):
    waiting = factories.enrolment(scene.session, factories.user(scene.city, last_name="Wart"),
                                  EnrolmentState.WAITLISTED)
    cancelled = factories.enrolment(scene.session, factories.user(scene.city, last_name="Weg"),
                                    EnrolmentState.CANCELLED)
    walk_in = factories.enrolment(scene.session, factories.user(scene.agency, last_name="Aal"),
                                  EnrolmentState.WALK_IN)
    rows = service.sheet_rows(scene.session.id)
    ids = [r.enrolment_id for r in rows]
    assert ids == [e.id for e in scene.enrolments] + [walk_in.id]  # by name, walk-ins last
    assert waiting.id not in ids and cancelled.id not in ids
    assert rows[1].organisation == "Amt" and rows[-1].walk_in
    counts = service.sheet_counts(scene.session.id)
    assert (counts.total, counts.present, counts.excused, counts.absent) == (4, 0, 0, 0)


def test_the_whole_sheet_and_a_single_row_read_the_same_row(scene):
    # On PostgreSQL the sheet reads enrolments and people in two statements, the click's row
    # in one join: both must say the same, the marking person's name included.
    walk_in = factories.enrolment(scene.session, factories.user(scene.agency, last_name="Aal"),
                                  EnrolmentState.WALK_IN)
    walk_in.waitlist_seq = 3  # came off the waiting list
    service.mark(scene.session, scene.enrolments[1].id, "excused", scene.staff)
    _db.session.commit()
    rows = service.sheet_rows(scene.session.id)
    assert [service.sheet_row(scene.session.id, r.enrolment_id) for r in rows] == rows
    assert rows[1].marked_by == scene.staff.full_name and rows[1].version == 1
    assert rows[-1].enrolment_id == walk_in.id and rows[-1].from_waitlist
    assert service.sheet_rows(factories.session(scene.session.series).id) == []


def test_hr_staff_marks_a_person_present_and_the_change_is_recorded(scene):
    enrolment = scene.enrolments[0]
    result = service.mark(scene.session, enrolment.id, "present", scene.staff)
    _db.session.commit()
    assert result.changed and result.old_status is None
    mark = mark_of(enrolment.id)
    assert (mark.status, mark.version, mark.marked_by_id) == ("present", 1, scene.staff.id)
    [change] = changes_of(enrolment.id)
    assert (change.old_status, change.new_status, change.changed_by_id) == (
        None, "present", scene.staff.id)
    counts = service.sheet_counts(scene.session.id)
    assert (counts.present, counts.open, counts.total) == (1, 2, 3)


def test_a_corrected_mark_keeps_the_old_one_in_the_audit_trail(scene):
    enrolment = scene.enrolments[0]
    service.mark(scene.session, enrolment.id, "present", scene.staff)
    service.mark(scene.session, enrolment.id, "excused", scene.lead)
    _db.session.commit()
    assert [(c.old_status, c.new_status, c.changed_by_id) for c in changes_of(enrolment.id)] == [
        (None, "present", scene.staff.id),
        ("present", "excused", scene.lead.id),
    ]
    assert mark_of(enrolment.id).version == 2
    assert [e.new_status for e in service.history(scene.session.id, enrolment.id)] == [
        "present", "excused"]


def test_clicking_the_current_status_again_changes_nothing(scene):
    enrolment = scene.enrolments[0]
    service.mark(scene.session, enrolment.id, "absent", scene.staff)
    result = service.mark(scene.session, enrolment.id, "absent", scene.staff)
    _db.session.commit()
    assert not result.changed
    assert len(changes_of(enrolment.id)) == 1 and mark_of(enrolment.id).version == 1


def test_a_stale_click_is_reported_as_overriding_someone_else(scene):
    enrolment = scene.enrolments[0]
    service.mark(scene.session, enrolment.id, "present", scene.lead)  # version 1
    result = service.mark(scene.session, enrolment.id, "absent", scene.staff, seen_version=0)
    assert result.overrode_other and result.old_status == "present"


@pytest.mark.parametrize("status", ["", "anwesend", "PRESENT", None, "present "])
def test_unknown_status_is_refused_in_german(scene, status):
    with pytest.raises(ServiceError, match="Unbekannter Status") as caught:
        service.mark(scene.session, scene.enrolments[0].id, status, scene.staff)
    assert caught.value.status_code == 422


def test_enrolment_of_another_session_is_not_on_this_sheet(scene):
    other = factories.session(scene.series, starts_in=timedelta(minutes=-30))
    foreign = factories.enrolment(other, factories.user(scene.city))
    with pytest.raises(ServiceError, match="nicht auf der Anwesenheitsliste") as caught:
        service.mark(scene.session, foreign.id, "present", scene.staff)
    assert caught.value.status_code == 404
    with pytest.raises(ServiceError):
        service.mark(scene.session, 999_999, "present", scene.staff)


@pytest.mark.parametrize("state", [EnrolmentState.WAITLISTED, EnrolmentState.CANCELLED])
def test_waitlisted_or_cancelled_people_cannot_be_marked(scene, state):
    enrolment = factories.enrolment(scene.session, factories.user(scene.city), state)
    with pytest.raises(ServiceError) as caught:
        service.mark(scene.session, enrolment.id, "present", scene.staff)
    assert caught.value.status_code == 404
    assert mark_of(enrolment.id) is None


def test_marking_is_refused_before_the_session_starts(app):
    scene = Scene(starts_in=timedelta(hours=2))
    with pytest.raises(Conflict, match="erst ab Beginn des Termins"):
        service.mark(scene.session, scene.enrolments[0].id, "present", scene.staff)
    with pytest.raises(Conflict):
        service.mark_all_present(scene.session, scene.staff)
    # From the start on it is allowed.
    service.mark(scene.session, scene.enrolments[0].id, "present", scene.staff,
                 now=scene.session.starts_at)


def test_cancelled_session_has_no_attendance(scene):
    scene.session.cancelled_at = utcnow()
    _db.session.commit()
    with pytest.raises(Conflict, match="abgesagt"):
        service.mark(scene.session, scene.enrolments[0].id, "present", scene.staff)


def test_after_closing_only_the_hr_lead_or_an_admin_changes_marks(scene):
    service.mark_all_present(scene.session, scene.staff)
    service.close(scene.session, scene.staff)
    _db.session.commit()
    enrolment = scene.enrolments[0]
    with pytest.raises(NotAllowed, match="abgeschlossen") as caught:
        service.mark(scene.session, enrolment.id, "absent", scene.staff)
    assert caught.value.status_code == 403
    with pytest.raises(NotAllowed):
        service.add_walk_in(scene.session, factories.user(scene.city).id, scene.staff)
    service.mark(scene.session, enrolment.id, "absent", scene.lead)
    admin = factories.user(scene.elsewhere, Role.ADMIN)
    service.mark(scene.session, enrolment.id, "excused", admin)
    _db.session.commit()
    assert [c.new_status for c in changes_of(enrolment.id)] == ["present", "absent", "excused"]


def test_a_close_committed_elsewhere_stops_a_click_whose_session_was_loaded_before(app, scene):
    """The click reads closed_at afresh in its own write transaction (on PostgreSQL under a
    share lock)."""
    service.mark_all_present(scene.session, scene.staff)
    _db.session.commit()
    session = scene.session
    session_id, lead_id = session.id, scene.lead.id
    assert session.closed_at is None  # loaded: the close below happens behind its back
    # End the reading transaction but keep what it loaded, as a page loaded a minute ago.
    _db.session().expire_on_commit = False
    _db.session.commit()
    _db.session().expire_on_commit = True

    def close_elsewhere():
        with app.app_context():
            service.close(_db.session.get(TrainingSession, session_id),
                          _db.session.get(User, lead_id))
            _db.session.commit()

    worker = threading.Thread(target=close_elsewhere)
    worker.start()
    worker.join()
    assert session.__dict__["closed_at"] is None  # still the stale value in this session
    with write_transactions():
        with pytest.raises(NotAllowed, match="abgeschlossen"):
            service.mark(session, scene.enrolments[0].id, "absent", scene.staff)
        # The fresh value, as the type the model declares (the page may print it).
        assert isinstance(session.__dict__["closed_at"], datetime)
        _db.session.rollback()
    _db.session.expire_all()
    assert mark_of(scene.enrolments[0].id).status == "present"
    assert len(changes_of(scene.enrolments[0].id)) == 1


def test_closing_needs_every_row_marked_and_happens_once(scene):
    with pytest.raises(Conflict, match="noch 3 Einträge offen"):
        service.close(scene.session, scene.staff)
    service.mark_all_present(scene.session, scene.staff)
    service.close(scene.session, scene.staff)
    assert scene.session.closed_by_id == scene.staff.id
    with pytest.raises(Conflict, match="bereits abgeschlossen"):
        service.close(scene.session, scene.lead)


def test_only_the_hr_lead_reopens_a_closed_session(scene):
    service.mark_all_present(scene.session, scene.staff)
    service.close(scene.session, scene.staff)
    with pytest.raises(NotAllowed):
        service.reopen(scene.session, scene.staff)
    service.reopen(scene.session, scene.lead)
    assert scene.session.closed_at is None
    service.mark(scene.session, scene.enrolments[0].id, "absent", scene.staff)


def test_someone_who_may_not_run_the_session_cannot_mark(scene):
    outsider = factories.user(scene.agency, Role.HR_STAFF)  # HR of a partner, not the owner
    with pytest.raises(NotAllowed):
        service.mark(scene.session, scene.enrolments[0].id, "present", outsider)
    coordinator = factories.user(scene.agency, Role.EMPLOYEE)
    scene.series.coordinators.append(coordinator)
    _db.session.commit()
    service.mark(scene.session, scene.enrolments[0].id, "present", coordinator)


def test_all_open_rows_become_present_and_marked_rows_stay(scene):
    first, second, third = scene.enrolments
    service.mark(scene.session, first.id, "excused", scene.staff)
    assert service.mark_all_present(scene.session, scene.staff) == 2
    _db.session.commit()
    assert mark_of(first.id).status == "excused"
    assert mark_of(second.id).status == mark_of(third.id).status == "present"
    assert [(c.old_status, c.new_status) for c in changes_of(third.id)] == [(None, "present")]
    assert service.mark_all_present(scene.session, scene.staff) == 0
    counts = service.sheet_counts(scene.session.id)
    assert (counts.total, counts.present, counts.excused, counts.absent) == (3, 2, 1, 0)


def test_walk_in_is_marked_present_flagged_and_counts_as_a_participation(scene):
    guest = factories.user(scene.agency, first_name="Gina", last_name="Gast")
    seats = scene.session.seats_taken
    enrolment = service.add_walk_in(scene.session, guest.id, scene.staff)
    _db.session.commit()
    assert enrolment.state == EnrolmentState.WALK_IN and enrolment.organisation_id == scene.agency.id
    assert enrolment.created_by_id == scene.staff.id
    assert _db.session.get(TrainingSession, scene.session.id).seats_taken == seats  # no seat
    row = service.sheet_row(scene.session.id, enrolment.id)
    assert row.walk_in and row.status == "present"
    participations = _db.session.scalar(
        select(func.count()).select_from(AttendanceMark)
        .where(AttendanceMark.session_id == scene.session.id, is_participation())
    )
    assert participations == 1
    assert [(c.old_status, c.new_status) for c in changes_of(enrolment.id)] == [(None, "present")]


def test_waitlisted_person_who_shows_up_becomes_a_walk_in_on_the_same_enrolment(scene):
    waiting_person = factories.user(scene.city, first_name="Wanda")
    waiting = factories.enrolment(scene.session, waiting_person, EnrolmentState.WAITLISTED)
    enrolment = service.add_walk_in(scene.session, waiting_person.id, scene.staff)
    _db.session.commit()
    assert enrolment.id == waiting.id
    assert enrolment.state == EnrolmentState.WALK_IN
    assert service.sheet_row(scene.session.id, waiting.id).from_waitlist
    live = _db.session.scalar(
        select(func.count()).select_from(Enrolment).where(
            Enrolment.user_id == waiting_person.id, Enrolment.state != EnrolmentState.CANCELLED)
    )
    assert live == 1


def test_person_with_a_cancelled_enrolment_can_come_as_walk_in(scene):
    person = factories.user(scene.city)
    factories.enrolment(scene.session, person, EnrolmentState.CANCELLED)
    enrolment = service.add_walk_in(scene.session, person.id, scene.staff)
    assert enrolment.state == EnrolmentState.WALK_IN


def test_walk_in_from_an_organisation_the_series_is_not_open_to_is_refused(scene):
    stranger = factories.user(scene.elsewhere)
    with pytest.raises(ServiceError, match="keiner Organisation") as caught:
        service.add_walk_in(scene.session, stranger.id, scene.staff)
    assert caught.value.status_code == 404
    for bad in (None, 999_999):
        with pytest.raises(ServiceError):
            service.add_walk_in(scene.session, bad, scene.staff)
    assert service.sheet_counts(scene.session.id).total == 3


def test_person_already_on_the_sheet_is_not_added_twice(scene):
    with pytest.raises(Conflict, match="bereits auf der Anwesenheitsliste"):
        service.add_walk_in(scene.session, scene.people[0].id, scene.staff)


def test_search_finds_people_of_open_organisations_not_yet_on_the_sheet(scene):
    factories.user(scene.agency, first_name="Gisela", last_name="Gastmann",
                   email="gisela.gastmann@amt.example")
    factories.user(scene.elsewhere, first_name="Gustav", last_name="Gastfremd")
    gone = factories.user(scene.city, first_name="Gerd", last_name="Gastweg")
    gone.active = False
    waiting = factories.user(scene.city, first_name="Greta", last_name="Gastwart")
    factories.enrolment(scene.session, waiting, EnrolmentState.WAITLISTED)
    _db.session.commit()

    hits, more = service.search_people(scene.session, "gast")
    assert [h.last_name for h in hits] == ["Gastmann", "Gastwart"] and not more
    assert [h.waitlisted for h in hits] == [False, True]
    assert [h.last_name for h in service.search_people(scene.session, "GISELA.GAST")[0]] == [
        "Gastmann"]
    assert service.search_people(scene.session, "Gisela Gastmann")[0][0].last_name == "Gastmann"
    assert service.search_people(scene.session, "Albers")[0] == []  # already on the sheet
    assert service.search_people(scene.session, "g") == ([], False)  # too short
    assert service.search_people(scene.session, "%%") == ([], False)  # no wildcard injection


def test_search_is_limited(scene):
    for i in range(service.SEARCH_LIMIT + 2):
        factories.user(scene.city, first_name=f"Viele{i}", last_name="Vielmann", commit=False)
    _db.session.commit()
    hits, more = service.search_people(scene.session, "Vielmann")
    assert len(hits) == service.SEARCH_LIMIT and more


# --- two HR staff clicking at the same moment -------------------------------------------------


def _run_in_threads(app, jobs):
    """Run each job(actor, session) in its own thread, app context, connection and write
    transaction, all released at once by a barrier; returns the exceptions raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def worker(job):
        try:
            with app.app_context(), write_transactions():
                barrier.wait()
                job()
                _db.session.commit()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    # End the test's own transaction around the threads: on SQLite (WAL) an open read
    # transaction would keep showing the state from before them.
    _db.session.commit()
    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _db.session.commit()
    return errors


def _job(session_id, enrolment_id, status, actor_id):
    def job():
        actor = _db.session.get(User, actor_id)
        session = _db.session.get(TrainingSession, session_id)
        service.mark(session, enrolment_id, status, actor)

    return job


def test_simultaneous_clicks_on_one_row_last_wins_and_both_are_in_the_audit_trail(app, scene):
    other_staff = factories.user(scene.city, Role.HR_STAFF)
    session_id, staff_ids = scene.session.id, [scene.staff.id, other_staff.id]
    rows = [e.id for e in scene.enrolments]
    _db.session.commit()
    for enrolment_id in rows:  # three rounds, each a pair of clicks released together
        errors = _run_in_threads(app, [
            _job(session_id, enrolment_id, "excused", staff_ids[0]),
            _job(session_id, enrolment_id, "absent", staff_ids[1]),
        ])
        assert errors == []
    _db.session.expire_all()
    for enrolment_id in rows:
        changes = changes_of(enrolment_id)
        assert len(changes) == 2
        first, last = changes
        # Serialised: the second saw what the first wrote, and the mark is the last one's.
        assert first.old_status is None and last.old_status == first.new_status
        assert {first.new_status, last.new_status} == {"excused", "absent"}
        mark = mark_of(enrolment_id)
        assert mark.status == last.new_status and mark.version == 2
        assert {first.changed_by_id, last.changed_by_id} == set(staff_ids)
    counts = service.sheet_counts(session_id)
    assert counts.excused + counts.absent == counts.total == 3 and counts.open == 0
    assert _db.session.scalar(select(func.count()).select_from(AttendanceMark)) == 3


def test_many_clicks_on_one_row_leave_an_unbroken_audit_chain(app, scene):
    enrolment_id, session_id, actor_id = scene.enrolments[0].id, scene.session.id, scene.staff.id
    statuses = ["present", "excused", "absent", "present", "absent", "excused"]
    errors = _run_in_threads(
        app, [_job(session_id, enrolment_id, s, actor_id) for s in statuses]
    )
    assert errors == []
    _db.session.expire_all()
    changes = changes_of(enrolment_id)
    chain = [None] + [c.new_status for c in changes]
    assert [c.old_status for c in changes] == chain[:-1]  # each replaced exactly the previous
    assert mark_of(enrolment_id).status == chain[-1]
    assert mark_of(enrolment_id).version == len(changes)


def test_bulk_and_single_click_at_once_never_mark_a_row_twice(app, scene):
    session_id, actor_id = scene.session.id, scene.staff.id
    more = [factories.enrolment(scene.session, factories.user(scene.city)) for _ in range(5)]
    target = more[-1].id

    def bulk():
        service.mark_all_present(
            _db.session.get(TrainingSession, session_id), _db.session.get(User, actor_id)
        )

    errors = _run_in_threads(app, [bulk, _job(session_id, target, "absent", actor_id), bulk])
    assert errors == []
    _db.session.expire_all()
    assert _db.session.scalar(select(func.count()).select_from(AttendanceMark)) == 8
    counts = service.sheet_counts(session_id)
    assert counts.open == 0 and counts.present + counts.absent == 8
    for enrolment_id in [e.id for e in scene.enrolments] + [e.id for e in more]:
        changes = changes_of(enrolment_id)
        assert changes[0].old_status is None
        assert [c.old_status for c in changes[1:]] == [c.new_status for c in changes[:-1]]
        assert mark_of(enrolment_id).status == changes[-1].new_status
