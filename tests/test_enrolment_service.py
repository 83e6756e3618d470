"""The enrolment rules, one by one, through tracker.services.enrolment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from tests import factories
from tracker.models import (
    CancelReason,
    Enrolment,
    EnrolmentState,
    Role,
    TrainingSession,
    utcnow,
)
from tracker.services import Conflict, NotAllowed, ServiceError
from tracker.services import enrolment as service


@pytest.fixture
def org(app):
    return factories.organisation("Stadtverwaltung")


@pytest.fixture
def series(org):
    return factories.series(org, [org], title="Vielfaltsmontag")


def people(org, n):
    return [factories.user(org, commit=False) for _ in range(n)]


def seats(session) -> int:
    from tracker.extensions import db

    return db.session.scalar(
        select(func.count()).select_from(Enrolment)
        .where(Enrolment.session_id == session.id, Enrolment.state == EnrolmentState.ENROLLED)
    )


def queue(session) -> list[tuple[int, int]]:
    """(user id, place) of everyone waiting, in queue order."""
    from tracker.extensions import db

    waiting = list(db.session.scalars(
        select(Enrolment)
        .where(Enrolment.session_id == session.id, Enrolment.state == EnrolmentState.WAITLISTED)
        .order_by(Enrolment.waitlist_seq)
    ))
    places = service.waitlist_positions(waiting)
    return [(e.user_id, places[e.id]) for e in waiting]


def test_employee_gets_a_seat_while_seats_are_free(db, series, org):
    session = factories.session(series, capacity=2)
    kim = factories.user(org)
    enrolment = service.enrol(kim, session)
    db.session.commit()
    assert enrolment.state == EnrolmentState.ENROLLED
    assert enrolment.organisation_id == org.id
    assert enrolment.created_by_id is None
    assert session.seats_taken == 1
    assert service.waitlist_position(enrolment) is None


def test_employee_joins_waiting_list_when_session_is_full(db, series, org):
    session = factories.session(series, capacity=1)
    first, second, third = people(org, 3)
    service.enrol(first, session)
    waiting = [service.enrol(second, session), service.enrol(third, session)]
    db.session.commit()
    assert [e.state for e in waiting] == [EnrolmentState.WAITLISTED] * 2
    assert [service.waitlist_position(e) for e in waiting] == [1, 2]
    assert session.seats_taken == 1
    assert session.waitlist_seq == 2


def test_enrolling_twice_is_refused_by_the_database_and_changes_nothing(db, series, org):
    session = factories.session(series, capacity=5)
    kim = factories.user(org)
    service.enrol(kim, session)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        service.enrol(kim, session)
    db.session.rollback()
    assert refused.value.status_code == 409
    assert refused.value.message == "Sie sind für diesen Termin bereits angemeldet."
    assert seats(session) == 1
    assert db.session.get(TrainingSession, session.id).seats_taken == 1


def test_second_enrolment_from_the_waiting_list_keeps_the_place_in_line(db, series, org):
    session = factories.session(series, capacity=1)
    holder, kim, lea = people(org, 3)
    service.enrol(holder, session)
    service.enrol(kim, session)
    service.enrol(lea, session)
    db.session.commit()
    with pytest.raises(Conflict):
        service.enrol(kim, session)
    db.session.rollback()
    assert queue(session) == [(kim.id, 1), (lea.id, 2)]
    assert db.session.get(TrainingSession, session.id).waitlist_seq == 2


def test_a_person_may_enrol_again_after_cancelling(db, series, org):
    session = factories.session(series, capacity=3)
    kim = factories.user(org)
    first = service.enrol(kim, session)
    service.cancel(first, actor=kim)
    again = service.enrol(kim, session)
    db.session.commit()
    assert first.state == EnrolmentState.CANCELLED
    assert again.id != first.id and again.state == EnrolmentState.ENROLLED
    assert session.seats_taken == 1


def test_only_organisations_the_series_is_open_to_may_enrol(db, org):
    other = factories.organisation("Umweltbundesamt")
    session = factories.session(factories.series(org, [org]))
    outsider = factories.user(other)
    with pytest.raises(NotAllowed, match="nicht freigegeben"):
        service.enrol(outsider, session)
    db.session.rollback()
    assert seats(session) == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"starts_in": timedelta(hours=-1)}, "bereits begonnen"),
        ({"starts_in": timedelta(days=-30)}, "bereits begonnen"),
        ({"starts_in": timedelta(hours=5), "deadline_before": timedelta(days=1)}, "Anmeldefrist"),
    ],
    ids=["running", "past", "after-deadline"],
)
def test_closed_sessions_refuse_enrolment_with_a_clear_message(db, series, org, setup, message):
    session = factories.session(series, **setup)
    kim = factories.user(org)
    with pytest.raises(ServiceError, match=message) as refused:
        service.enrol(kim, session)
    db.session.rollback()
    assert refused.value.status_code == 422
    assert seats(session) == 0


def test_cancelled_and_archived_sessions_refuse_enrolment(db, series, org):
    lead = factories.user(org, Role.HR_LEAD)
    cancelled = factories.session(series)
    service.cancel_session(cancelled, actor=lead)
    db.session.commit()
    kim = factories.user(org)
    with pytest.raises(ServiceError, match="abgesagt"):
        service.enrol(kim, cancelled)
    db.session.rollback()
    archived_series = factories.series(org, [org])
    archived_series.archived = True
    archived = factories.session(archived_series)
    with pytest.raises(ServiceError, match="archiviert"):
        service.enrol(kim, archived)
    db.session.rollback()


def test_cancelling_a_seat_promotes_the_first_in_line_in_the_same_transaction(db, series, org):
    session = factories.session(series, capacity=1)
    holder, kim, lea, max_ = people(org, 4)
    seat = service.enrol(holder, session)
    service.enrol(kim, session)
    service.enrol(lea, session)
    service.enrol(max_, session)
    db.session.commit()

    promoted = service.cancel(seat, actor=holder)
    db.session.commit()

    assert seat.state == EnrolmentState.CANCELLED and seat.cancel_reason == CancelReason.SELF
    assert promoted.user_id == kim.id
    assert promoted.state == EnrolmentState.ENROLLED
    assert promoted.promoted_at is not None and promoted.promotion_seen_at is None
    assert session.seats_taken == 1 == seats(session)
    assert queue(session) == [(lea.id, 1), (max_.id, 2)]


def test_cancelling_without_a_waiting_list_frees_the_seat(db, series, org):
    session = factories.session(series, capacity=2)
    kim = factories.user(org)
    seat = service.enrol(kim, session)
    assert service.cancel(seat, actor=kim) is None
    db.session.commit()
    assert session.seats_taken == 0


def test_leaving_the_waiting_list_keeps_places_contiguous(db, series, org):
    session = factories.session(series, capacity=1)
    holder, a, b, c = people(org, 4)
    service.enrol(holder, session)
    middle = [service.enrol(p, session) for p in (a, b, c)][1]
    db.session.commit()
    assert service.cancel(middle, actor=b) is None
    db.session.commit()
    assert queue(session) == [(a.id, 1), (c.id, 2)]
    assert session.seats_taken == 1


def test_cancelling_after_the_deadline_is_refused_with_a_pointer_to_hr(db, series, org):
    session = factories.session(series, starts_in=timedelta(hours=6),
                                deadline_before=timedelta(days=1))
    kim = factories.user(org)
    seat = factories.enrolment(session, kim)
    with pytest.raises(ServiceError, match="wenden Sie sich bitte an die Personalstelle"):
        service.cancel(seat, actor=kim)
    db.session.rollback()
    assert db.session.get(Enrolment, seat.id).state == EnrolmentState.ENROLLED


def test_hr_removes_a_person_after_the_deadline_and_the_queue_moves_up(db, series, org):
    session = factories.session(series, capacity=1, starts_in=timedelta(hours=6),
                                deadline_before=timedelta(days=1))
    hr = factories.user(org, Role.HR_STAFF)
    kim, lea = people(org, 2)
    seat = factories.enrolment(session, kim)
    factories.enrolment(session, lea, EnrolmentState.WAITLISTED)
    promoted = service.cancel(seat, actor=hr)
    db.session.commit()
    assert seat.cancel_reason == CancelReason.STAFF
    assert promoted.user_id == lea.id


def test_cancelling_twice_is_a_conflict(db, series, org):
    session = factories.session(series)
    kim = factories.user(org)
    seat = service.enrol(kim, session)
    service.cancel(seat, actor=kim)
    db.session.commit()
    with pytest.raises(Conflict, match="bereits storniert"):
        service.cancel(seat, actor=kim)


def test_colleagues_cannot_cancel_each_other(db, series, org):
    session = factories.session(series)
    kim, lea = people(org, 2)
    seat = service.enrol(kim, session)
    db.session.commit()
    with pytest.raises(NotAllowed):
        service.cancel(seat, actor=lea)
    db.session.rollback()
    assert db.session.get(Enrolment, seat.id).state == EnrolmentState.ENROLLED


def test_hr_enrols_a_colleague_on_their_behalf_even_after_the_deadline(db, series, org):
    session = factories.session(series, starts_in=timedelta(hours=6),
                                deadline_before=timedelta(days=1))
    hr = factories.user(org, Role.HR_STAFF)
    kim = factories.user(org)
    enrolment = service.enrol(kim, session, actor=hr)
    db.session.commit()
    assert enrolment.user_id == kim.id and enrolment.created_by_id == hr.id
    assert enrolment.state == EnrolmentState.ENROLLED


def test_hr_may_enrol_people_of_partner_organisations_the_series_is_open_to(db, org):
    partner = factories.organisation("Umweltbundesamt")
    stranger_org = factories.organisation("Landkreis")
    series = factories.series(org, [org, partner])
    session = factories.session(series)
    hr = factories.user(org, Role.HR_STAFF)
    colleague = factories.user(partner)
    assert service.enrol(colleague, session, actor=hr).organisation_id == partner.id
    stranger = factories.user(stranger_org)
    with pytest.raises(ServiceError, match="keiner Organisation"):
        service.enrol(stranger, session, actor=hr)


def test_hr_of_another_organisation_may_not_enrol_people(db, org):
    partner = factories.organisation("Umweltbundesamt")
    session = factories.session(factories.series(org, [org, partner]))
    partner_hr = factories.user(partner, Role.HR_STAFF)
    kim = factories.user(org)
    with pytest.raises(NotAllowed):
        service.enrol(kim, session, actor=partner_hr)
    db.session.rollback()
    assert seats(session) == 0


def test_a_coordinator_of_the_series_may_enrol_people(db, org):
    partner = factories.organisation("Umweltbundesamt")
    coordinator = factories.user(partner, Role.EMPLOYEE)
    series = factories.series(org, [org, partner], coordinators=[coordinator])
    session = factories.session(series)
    kim = factories.user(org)
    assert service.enrol(kim, session, actor=coordinator).created_by_id == coordinator.id


def test_raising_capacity_promotes_people_in_queue_order(db, series, org):
    session = factories.session(series, capacity=1)
    hr = factories.user(org, Role.HR_STAFF)
    holder, a, b, c = people(org, 4)
    for person in (holder, a, b, c):
        service.enrol(person, session)
    db.session.commit()
    promoted = service.change_capacity(session, 3, actor=hr)
    db.session.commit()
    assert [e.user_id for e in promoted] == [a.id, b.id]
    assert session.capacity == 3 and session.seats_taken == 3 == seats(session)
    assert queue(session) == [(c.id, 1)]


def test_raising_capacity_beyond_the_queue_leaves_free_seats(db, series, org):
    session = factories.session(series, capacity=1)
    hr = factories.user(org, Role.HR_STAFF)
    holder, a = people(org, 2)
    service.enrol(holder, session)
    service.enrol(a, session)
    promoted = service.change_capacity(session, 10, actor=hr)
    db.session.commit()
    assert [e.user_id for e in promoted] == [a.id]
    assert session.seats_taken == 2 and session.free_seats == 8


def test_lowering_capacity_down_to_the_enrolled_count_keeps_everyone(db, series, org):
    session = factories.session(series, capacity=5)
    hr = factories.user(org, Role.HR_STAFF)
    for person in people(org, 3):
        service.enrol(person, session)
    assert service.change_capacity(session, 3, actor=hr) == []
    db.session.commit()
    assert session.capacity == 3 and seats(session) == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2, "nicht unter die Zahl der Angemeldeten (3)"),
        (0, "mindestens 1"),
        (-4, "mindestens 1"),
        (10_001, "höchstens 10000"),
        ("7", "ganze Zahl"),
        (2.5, "ganze Zahl"),
    ],
)
def test_impossible_capacities_are_refused_and_nothing_changes(db, series, org, value, message):
    session = factories.session(series, capacity=5)
    hr = factories.user(org, Role.HR_STAFF)
    for person in people(org, 3):
        service.enrol(person, session)
    db.session.commit()
    with pytest.raises(ServiceError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        service.change_capacity(session, value, actor=hr)
    db.session.rollback()
    assert refused.value.status_code == 422
    fresh = db.session.get(TrainingSession, session.id)
    assert fresh.capacity == 5 and fresh.seats_taken == 3


def test_employees_may_not_change_capacity(db, series, org):
    session = factories.session(series, capacity=5)
    with pytest.raises(NotAllowed):
        service.change_capacity(session, 6, actor=factories.user(org))


def test_organiser_cancels_a_session_and_the_enrolments_are_kept_as_cancelled(db, series, org):
    session = factories.session(series, capacity=1)
    lead = factories.user(org, Role.HR_LEAD)
    kim, lea = people(org, 2)
    seat = service.enrol(kim, session)
    waiting = service.enrol(lea, session)
    db.session.commit()
    service.cancel_session(session, actor=lead)
    db.session.commit()
    assert session.cancelled_at is not None and session.seats_taken == 0
    for e in (seat, waiting):
        assert e.state == EnrolmentState.CANCELLED
        assert e.cancel_reason == CancelReason.SESSION_CANCELLED
    with pytest.raises(Conflict, match="bereits abgesagt"):
        service.cancel_session(session, actor=lead)


def test_hr_staff_may_not_cancel_a_whole_session(db, series, org):
    session = factories.session(series)
    with pytest.raises(NotAllowed):
        service.cancel_session(session, actor=factories.user(org, Role.HR_STAFF))


def test_waiting_list_places_of_many_enrolments_come_from_one_query(app, db, org):
    series = factories.series(org, [org])
    sessions = [factories.session(series, capacity=1) for _ in range(3)]
    waiting = []
    for session in sessions:
        for person in people(org, 4):
            e = service.enrol(person, session)
            if e.state == EnrolmentState.WAITLISTED:
                waiting.append(e)
    db.session.commit()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for e in waiting:
            e.state  # noqa: B018 - load before counting
        statements.clear()
        places = service.waitlist_positions(waiting)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 1
    assert sorted(places.values()) == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_offers_say_what_each_person_can_do(db, series, org):
    open_session = factories.session(series, capacity=1)
    late = factories.session(series, starts_in=timedelta(hours=3))
    kim, lea = people(org, 2)
    service.enrol(kim, open_session)
    service.enrol(lea, open_session)
    db.session.commit()
    offers = service.offers(lea, [open_session, late])
    assert offers[open_session.id].is_waitlisted and offers[open_session.id].position == 1
    assert offers[open_session.id].is_full and offers[open_session.id].waitlist_length == 1
    assert offers[late.id].enrol_closed == "deadline"
    assert offers[late.id].enrolment is None


def test_promotion_news_is_marked_seen_only_for_the_person_herself(db, series, org):
    session = factories.session(series, capacity=1)
    kim, lea = people(org, 2)
    seat = service.enrol(kim, session)
    service.enrol(lea, session)
    promoted = service.cancel(seat, actor=kim)
    service.mark_promotions_seen(kim.id, [promoted.id])
    db.session.commit()
    db.session.refresh(promoted)
    assert promoted.promotion_seen_at is None
    service.mark_promotions_seen(lea.id, [promoted.id])
    db.session.commit()
    db.session.refresh(promoted)
    assert promoted.promotion_seen_at is not None
    assert promoted.promotion_seen_at <= utcnow()
