"""HR leads and admins run series and sessions: create, edit, cancel, copy to a new period."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tracker.models import (
    AuditEntry,
    CancelReason,
    Enrolment,
    EnrolmentState,
    Role,
    TrainingSeries,
    TrainingSession,
    utcnow,
)
from tracker.timeutil import from_local, to_local


def _count(db, model):
    return db.session.scalar(select(func.count(model.id)))


def _session_form(**overrides):
    day = (to_local(utcnow()) + timedelta(days=30)).date()
    data = {
        "title": "Vielfalt als Stärke",
        "description": "",
        "day": day.isoformat(),
        "start_time": "14:00",
        "end_time": "16:30",
        "enrolment_deadline": f"{(day - timedelta(days=2)).isoformat()}T12:00",
        "location": "Rathaus, Raum 214",
        "online_url": "",
        "trainer": "Dr. Sabine Roth",
        "capacity": "20",
    }
    data.update(overrides)
    return data


@pytest.fixture
def lead(auth):
    org = factories.organisation("Stadtverwaltung")
    user = factories.user(org, Role.HR_LEAD)
    auth.login(user)
    return user


def test_hr_lead_creates_a_series_for_her_organisation_open_to_partners(client, db, lead):
    partner = factories.organisation("Umweltbundesamt")
    coordinator = factories.user(lead.organisation, Role.HR_STAFF, email="koordination@stadt.example")
    db.session.commit()
    response = client.post("/verwaltung/reihen/neu", data={
        "title": "Vielfaltsmontag 2026", "description": "Monatlich",
        "owner_organisation_id": lead.organisation_id,
        "open_to": [lead.organisation_id, partner.id],
        "coordinators": "Koordination@Stadt.example",
    })
    assert response.status_code == 303
    series = db.session.scalar(select(TrainingSeries))
    assert series.title == "Vielfaltsmontag 2026"
    assert series.owner_organisation_id == lead.organisation_id
    assert {o.id for o in series.open_to} == {lead.organisation_id, partner.id}
    assert [u.id for u in series.coordinators] == [coordinator.id]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "series.create"))
    assert entry.actor_id == lead.id and entry.organisation_id == lead.organisation_id


def test_hr_lead_cannot_create_a_series_for_another_organisation(client, db, lead):
    other = factories.organisation("Hochschule")
    db.session.commit()
    response = client.post("/verwaltung/reihen/neu", data={
        "title": "Fremde Reihe", "owner_organisation_id": other.id, "open_to": [other.id],
    })
    assert response.status_code == 422
    assert "Bitte wählen Sie einen Eintrag aus der Liste." in response.get_data(as_text=True)
    assert _count(db, TrainingSeries) == 0


def test_unknown_coordinator_email_is_refused_next_to_the_field(client, db, lead):
    response = client.post("/verwaltung/reihen/neu", data={
        "title": "Reihe", "owner_organisation_id": lead.organisation_id,
        "open_to": [lead.organisation_id], "coordinators": "niemand@example.org",
    })
    assert response.status_code == 422
    assert "Unbekannte E-Mail-Adresse: niemand@example.org" in response.get_data(as_text=True)
    assert _count(db, TrainingSeries) == 0


def test_hr_lead_learns_nothing_of_addresses_in_other_organisations_from_the_coordinators(client, db, lead):
    partner = factories.organisation("Umweltbundesamt")
    factories.user(partner, Role.HR_STAFF, email="koordination@uba.example")
    db.session.commit()

    def answer(email):
        response = client.post("/verwaltung/reihen/neu", data={
            "title": "Reihe", "owner_organisation_id": lead.organisation_id,
            "open_to": [lead.organisation_id, partner.id], "coordinators": email,
        })
        return response.status_code, response.get_data(as_text=True).replace(email, "ADDRESS")

    assert answer("koordination@uba.example") == answer("niemand@uba.example")
    assert answer("koordination@uba.example")[0] == 422
    assert _count(db, TrainingSeries) == 0


def test_hr_lead_keeps_the_partner_coordinators_an_admin_named(client, db, lead):
    partner = factories.organisation("Umweltbundesamt")
    coordinator = factories.user(partner, Role.HR_STAFF, email="koordination@uba.example")
    series = factories.series(lead.organisation, [lead.organisation, partner], title="Reihe",
                              coordinators=[coordinator])
    db.session.commit()
    page = client.get(f"/verwaltung/reihen/{series.id}/bearbeiten").get_data(as_text=True)
    assert "koordination@uba.example" in page
    response = client.post(f"/verwaltung/reihen/{series.id}/bearbeiten", data={
        "title": "Reihe, umbenannt", "owner_organisation_id": lead.organisation_id,
        "open_to": [lead.organisation_id, partner.id], "coordinators": "koordination@uba.example",
    })
    assert response.status_code == 303
    db.session.expire_all()
    assert [u.id for u in db.session.get(TrainingSeries, series.id).coordinators] == [coordinator.id]


def test_series_needs_at_least_one_open_organisation(client, db, lead):
    response = client.post("/verwaltung/reihen/neu", data={
        "title": "Reihe", "owner_organisation_id": lead.organisation_id,
    })
    assert response.status_code == 422
    assert "Bitte wählen Sie mindestens eine Organisation." in response.get_data(as_text=True)


def test_hr_lead_sees_only_her_organisations_series_and_gets_404_for_others(client, db, lead):
    own = factories.series(lead.organisation, title="Eigene Reihe")
    foreign = factories.series(factories.organisation("Andere"), title="Fremde Reihe")
    session = factories.session(foreign)
    listing = client.get("/verwaltung/reihen").get_data(as_text=True)
    assert "Eigene Reihe" in listing and "Fremde Reihe" not in listing
    assert client.get(f"/verwaltung/reihen/{own.id}").status_code == 200
    assert client.get(f"/verwaltung/reihen/{foreign.id}").status_code == 404
    assert client.get(f"/verwaltung/reihen/{foreign.id}/bearbeiten").status_code == 404
    assert client.post(f"/verwaltung/reihen/{foreign.id}/kopieren",
                       data={"title": "X", "offset_days": "7"}).status_code == 404
    assert client.get(f"/verwaltung/termine/{session.id}").status_code == 404
    assert client.post(f"/verwaltung/termine/{session.id}/absagen").status_code == 404
    db.session.refresh(session)
    assert session.cancelled_at is None


def test_admin_edits_a_series_and_the_change_is_audited(client, auth, db):
    admin = factories.user(role=Role.ADMIN)
    auth.login(admin)
    series = factories.series(title="Alt")
    partner = factories.organisation("Partner")
    db.session.commit()
    response = client.post(f"/verwaltung/reihen/{series.id}/bearbeiten", data={
        "title": "Neu", "owner_organisation_id": series.owner_organisation_id,
        "open_to": [series.owner_organisation_id, partner.id], "archived": "y",
    })
    assert response.status_code == 303
    db.session.refresh(series)
    assert series.title == "Neu" and series.archived and len(series.open_to) == 2
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "series.update"))
    assert entry.details["title"] == ["Alt", "Neu"]
    assert entry.details["archived"] == [False, True]


def test_the_reminder_is_set_per_series_and_bad_numbers_are_refused(client, auth, db):
    admin = factories.user(role=Role.ADMIN)
    auth.login(admin)
    series = factories.series(title="Reihe")
    db.session.commit()
    assert series.reminder_days == 2  # the default, also for series made before the field
    values = {"title": "Reihe", "owner_organisation_id": series.owner_organisation_id,
              "open_to": [series.owner_organisation_id]}
    for bad in ("-1", "31", "zwei"):
        answer = client.post(f"/verwaltung/reihen/{series.id}/bearbeiten",
                             data={**values, "reminder_days": bad})
        assert answer.status_code == 422, bad
        db.session.refresh(series)
        assert series.reminder_days == 2
    form = client.get(f"/verwaltung/reihen/{series.id}/bearbeiten").get_data(as_text=True)
    assert 'name="reminder_days"' in form and 'value="2"' in form
    answer = client.post(f"/verwaltung/reihen/{series.id}/bearbeiten",
                         data={**values, "reminder_days": "0"})
    assert answer.status_code == 303
    db.session.refresh(series)
    assert series.reminder_days == 0
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "series.update"))
    assert entry.details["reminder_days"] == [2, 0]


def test_session_is_created_with_berlin_times_and_empty_counters(client, db, lead):
    series = factories.series(lead.organisation)
    response = client.post(f"/verwaltung/reihen/{series.id}/termine/neu",
                           data=_session_form(day="2031-07-07", enrolment_deadline="2031-07-05T12:00"))
    assert response.status_code == 303
    session = db.session.scalar(select(TrainingSession))
    # 14:00 in Berlin in summer (CEST, UTC+2) is 12:00 UTC.
    assert session.starts_at == datetime(2031, 7, 7, 12, 0)
    assert session.ends_at == datetime(2031, 7, 7, 14, 30)
    assert session.enrolment_deadline == from_local(datetime(2031, 7, 5, 12, 0))
    assert (session.seats_taken, session.waitlist_seq, session.capacity) == (0, 0, 20)
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.object_id == session.id)) == "session.create"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end_time": "13:00"}, "Das Ende muss nach dem Beginn liegen."),
        ({"end_time": "14:00"}, "Das Ende muss nach dem Beginn liegen."),
        ({"capacity": "0"}, "Die Zahl der Plätze muss zwischen 1 und 10000 liegen."),
        ({"capacity": "-5"}, "Die Zahl der Plätze muss zwischen 1 und 10000 liegen."),
        ({"capacity": "viele"}, "Keine gültige, ganze Zahl."),
        ({"capacity": ""}, "Bitte geben Sie die Zahl der Plätze ein."),
        ({"location": "", "online_url": ""}, "Bitte geben Sie einen Ort oder einen Online-Link an."),
        ({"online_url": "javascript:alert(1)"}, "Bitte geben Sie eine vollständige Adresse mit https:// ein."),
        ({"day": "31.02.2030"}, "Kein gültiges Datum."),
        ({"start_time": "25:00"}, "Keine gültige Uhrzeit."),
        ({"title": ""}, "Bitte geben Sie einen Titel ein."),
    ],
)
def test_bad_session_input_is_refused_in_german_and_nothing_is_written(client, db, lead, overrides, message):
    series = factories.series(lead.organisation)
    response = client.post(f"/verwaltung/reihen/{series.id}/termine/neu", data=_session_form(**overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(db, TrainingSession) == 0
    assert _count(db, AuditEntry) == 0


def test_deadline_after_the_start_is_refused(client, db, lead):
    series = factories.series(lead.organisation)
    data = _session_form()
    data["enrolment_deadline"] = f"{data['day']}T15:00"
    response = client.post(f"/verwaltung/reihen/{series.id}/termine/neu", data=data)
    assert response.status_code == 422
    assert "Der Anmeldeschluss darf nicht nach dem Beginn liegen." in response.get_data(as_text=True)
    assert _count(db, TrainingSession) == 0


def test_a_new_session_in_the_past_is_refused(client, db, lead):
    series = factories.series(lead.organisation)
    response = client.post(f"/verwaltung/reihen/{series.id}/termine/neu",
                           data=_session_form(day="2020-01-06", enrolment_deadline="2020-01-05T12:00"))
    assert response.status_code == 422
    assert "Ein neuer Termin muss in der Zukunft liegen." in response.get_data(as_text=True)
    assert _count(db, TrainingSession) == 0


def _daytime_session(series, **kwargs):
    """A session from 10:00 to 12:00 Berlin time in two weeks. The edit form has one date
    for start and end, so the factory's default (now + 14 days, two hours) could not be saved
    unchanged when the tests run between 22:00 and midnight in Berlin."""
    day = to_local(utcnow()).date() + timedelta(days=14)
    return factories.session(series, starts_at=from_local(datetime(day.year, day.month,
                                                                     day.day, 10, 0)), **kwargs)


def _edit_data(session, **overrides):
    start, end = to_local(session.starts_at), to_local(session.ends_at)
    data = {
        "title": session.title, "description": session.description,
        "day": start.date().isoformat(), "start_time": start.strftime("%H:%M"),
        "end_time": end.strftime("%H:%M"),
        "enrolment_deadline": to_local(session.enrolment_deadline).strftime("%Y-%m-%dT%H:%M"),
        "location": session.location, "online_url": session.online_url,
        "trainer": session.trainer, "capacity": str(session.capacity),
    }
    data.update(overrides)
    return data


def test_raising_capacity_promotes_the_waiting_list_through_the_enrolment_rules(client, db, lead):
    series = factories.series(lead.organisation)
    session = _daytime_session(series, capacity=1)
    first = factories.user(lead.organisation)
    waiting = factories.user(lead.organisation)
    factories.enrolment(session, first)
    queued = factories.enrolment(session, waiting, EnrolmentState.WAITLISTED)
    response = client.post(f"/verwaltung/termine/{session.id}", data=_edit_data(session, capacity="2"))
    assert response.status_code == 303
    db.session.refresh(session)
    db.session.refresh(queued)
    assert session.capacity == 2 and session.seats_taken == 2
    assert queued.state == EnrolmentState.ENROLLED
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "session.capacity"))
    assert entry.details["capacity"] == [1, 2] and entry.details["promoted"] == [queued.id]


def test_lowering_capacity_below_the_enrolled_is_refused_and_nothing_changes(client, db, lead):
    series = factories.series(lead.organisation)
    session = _daytime_session(series, capacity=3, title="Alter Titel")
    for _ in range(2):
        factories.enrolment(session, factories.user(lead.organisation))
    response = client.post(f"/verwaltung/termine/{session.id}",
                           data=_edit_data(session, capacity="1", title="Neuer Titel"))
    assert response.status_code == 422
    assert "nicht unter die Zahl der Angemeldeten (2)" in response.get_data(as_text=True)
    db.session.expire_all()
    session = db.session.get(TrainingSession, session.id)
    assert session.capacity == 3 and session.title == "Alter Titel"
    assert _count(db, AuditEntry) == 0


def test_cancelling_a_session_keeps_the_enrolments_as_cancelled_by_the_organiser(client, db, lead):
    series = factories.series(lead.organisation)
    session = factories.session(series, capacity=1)
    seat = factories.enrolment(session, factories.user(lead.organisation))
    queued = factories.enrolment(session, factories.user(lead.organisation), EnrolmentState.WAITLISTED)
    assert client.get(f"/verwaltung/termine/{session.id}/absagen").status_code == 405
    response = client.post(f"/verwaltung/termine/{session.id}/absagen")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(TrainingSession, session.id).cancelled_at is not None
    for e in (seat, queued):
        e = db.session.get(Enrolment, e.id)
        assert e.state == EnrolmentState.CANCELLED
        assert e.cancel_reason == CancelReason.SESSION_CANCELLED
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "session.cancel"))
    assert entry.details == {"affected": 2}
    page = client.get(f"/verwaltung/reihen/{series.id}").get_data(as_text=True)
    assert "abgesagt" in page


def test_cancelling_twice_is_a_conflict(client, db, lead):
    session = factories.session(factories.series(lead.organisation))
    client.post(f"/verwaltung/termine/{session.id}/absagen")
    response = client.post(f"/verwaltung/termine/{session.id}/absagen")
    assert response.status_code == 409
    assert "bereits abgesagt" in response.get_data(as_text=True)


def test_copy_series_to_next_year_shifts_sessions_and_keeps_partners(client, db, lead):
    partner = factories.organisation("Partner")
    coordinator = factories.user(partner, Role.HR_STAFF)
    series = factories.series(lead.organisation, [lead.organisation, partner],
                              title="Vielfaltsmontag 2025", coordinators=[coordinator])
    first = factories.session(series, starts_at=from_local(datetime(2030, 3, 3, 14, 0)))
    factories.enrolment(first, factories.user(lead.organisation))
    factories.session(series, starts_at=from_local(datetime(2030, 4, 7, 14, 0)))
    cancelled = factories.session(series, starts_at=from_local(datetime(2030, 5, 5, 14, 0)))
    cancelled.cancelled_at = utcnow()
    db.session.commit()

    page = client.get(f"/verwaltung/reihen/{series.id}/kopieren").get_data(as_text=True)
    assert 'value="Vielfaltsmontag 2026"' in page
    response = client.post(f"/verwaltung/reihen/{series.id}/kopieren",
                           data={"title": "Vielfaltsmontag 2026", "offset_days": "364"})
    assert response.status_code == 303
    copy = db.session.scalar(select(TrainingSeries).where(TrainingSeries.title == "Vielfaltsmontag 2026"))
    assert {o.id for o in copy.open_to} == {lead.organisation_id, partner.id}
    assert [u.id for u in copy.coordinators] == [coordinator.id]
    starts = [to_local(s.starts_at).replace(tzinfo=None) for s in copy.sessions]
    # Same wall-clock time in Berlin, across the change to summer time.
    assert starts == [datetime(2031, 3, 2, 14, 0), datetime(2031, 4, 6, 14, 0)]
    assert all(s.seats_taken == 0 and s.waitlist_seq == 0 for s in copy.sessions)
    new_ids = [s.id for s in copy.sessions]
    assert db.session.scalar(select(func.count(Enrolment.id)).where(Enrolment.session_id.in_(new_ids))) == 0
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "series.copy"))
    assert entry.details["from_series"] == series.id and entry.details["sessions"] == 2


def test_copy_series_to_a_target_start_date(client, db, lead):
    series = factories.series(lead.organisation, title="Führung 2030")
    factories.session(series, starts_at=from_local(datetime(2030, 3, 3, 9, 0)))
    response = client.post(f"/verwaltung/reihen/{series.id}/kopieren",
                           data={"title": "Führung 2031", "first_day": "2031-03-10"})
    assert response.status_code == 303
    copy = db.session.scalar(select(TrainingSeries).where(TrainingSeries.title == "Führung 2031"))
    assert to_local(copy.sessions[0].starts_at).replace(tzinfo=None) == datetime(2031, 3, 10, 9, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "Kopie"}, "Bitte geben Sie ein neues Datum des ersten Termins oder eine Verschiebung in Tagen an."),
        ({"title": "Kopie", "offset_days": "7", "first_day": "2031-01-01"}, "Bitte geben Sie nur eines an"),
        ({"title": "Kopie", "offset_days": "-5000"}, "Höchstens 3650 Tage."),
        ({"title": "Kopie", "offset_days": "-3000"}, "lägen Termine in der Vergangenheit"),
        ({"title": "", "offset_days": "7"}, "Bitte geben Sie einen Titel ein."),
    ],
)
def test_bad_copy_input_is_refused_and_nothing_is_copied(client, db, lead, data, message):
    series = factories.series(lead.organisation)
    factories.session(series)
    response = client.post(f"/verwaltung/reihen/{series.id}/kopieren", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(db, TrainingSeries) == 1


def test_series_pages_render_for_an_admin(client, auth, db):
    auth.login(factories.user(role=Role.ADMIN))
    series = factories.series(title="Vielfaltsmontag 2025")
    session = factories.session(series)
    for url in ("/verwaltung/reihen", "/verwaltung/reihen/neu", f"/verwaltung/reihen/{series.id}",
                f"/verwaltung/reihen/{series.id}/bearbeiten", f"/verwaltung/reihen/{series.id}/kopieren",
                f"/verwaltung/reihen/{series.id}/termine/neu", f"/verwaltung/termine/{session.id}"):
        response = client.get(url)
        assert response.status_code == 200, url
    edit = client.get(f"/verwaltung/termine/{session.id}").get_data(as_text=True)
    local = to_local(session.starts_at)
    assert f'value="{local.strftime("%H:%M")}"' in edit
    assert date.today().year <= local.year


def test_people_affected_by_a_cancellation_see_it_in_meine_schulungen(app, client, db, lead):
    session = factories.session(factories.series(lead.organisation), title="Inklusion am Arbeitsplatz")
    person = factories.user(lead.organisation)
    factories.enrolment(session, person)
    assert client.post(f"/verwaltung/termine/{session.id}/absagen").status_code == 303
    theirs = app.test_client()
    theirs.post("/anmelden", data={"email": person.email, "password": factories.PASSWORD})
    page = theirs.get("/meine-schulungen/").get_data(as_text=True)
    assert "Inklusion am Arbeitsplatz" in page and "Abgesagt" in page
    # ... and the page offers the data-protection download.
    assert 'href="/meine-daten/export"' in page


# --- Copy with a look at the new dates, and regular sessions in one form ---------------------


def _page_text(response) -> str:
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def test_copy_shows_the_new_dates_first_and_leaves_unticked_sessions_behind(client, db, lead):
    series = factories.series(lead.organisation, title="Vielfaltsmontag 2030")
    regular = factories.session(series, starts_at=from_local(datetime(2030, 3, 4, 14, 0)),
                                title="Vorurteile erkennen")
    special = factories.session(series, starts_at=from_local(datetime(2030, 3, 8, 18, 0)),
                                title="Sondersitzung")
    db.session.commit()
    url = f"/verwaltung/reihen/{series.id}/kopieren"

    preview = client.post(url, data={"title": "Vielfaltsmontag 2031", "offset_days": "364",
                                     "action": "preview"})
    assert preview.status_code == 200
    text = _page_text(preview)
    # The new dates, in Berlin time, before anything is saved; every session ticked.
    assert "Mo., 03.03.2031, 14:00: Vorurteile erkennen" in text
    assert "Fr., 07.03.2031, 18:00: Sondersitzung" in text
    assert preview.get_data(as_text=True).count('checked') == 2
    assert _count(db, TrainingSeries) == 1

    response = client.post(url, data={"title": "Vielfaltsmontag 2031", "offset_days": "364",
                                      "previewed": "1", "sessions": [str(regular.id)],
                                      "action": "copy"})
    assert response.status_code == 303
    copy = db.session.scalar(select(TrainingSeries).where(TrainingSeries.title == "Vielfaltsmontag 2031"))
    assert [s.title for s in copy.sessions] == ["Vorurteile erkennen"]
    assert special.id not in {s.id for s in copy.sessions}


def test_copy_with_no_session_ticked_is_refused_and_nothing_is_copied(client, db, lead):
    series = factories.series(lead.organisation, title="Reihe 2030")
    factories.session(series, starts_at=from_local(datetime(2030, 3, 4, 14, 0)))
    db.session.commit()
    response = client.post(f"/verwaltung/reihen/{series.id}/kopieren", data={
        "title": "Reihe 2031", "offset_days": "364", "previewed": "1", "action": "copy"})
    assert response.status_code == 422
    assert "mindestens einen Termin" in response.get_data(as_text=True)
    assert _count(db, TrainingSeries) == 1


def _regular(**overrides):
    data = {"title": "Vielfaltsmontag", "rhythm": "1", "day_of_week": "0",
            "first_day": "2030-02-01", "last_day": "2030-11-30", "start_time": "14:00",
            "end_time": "16:00", "deadline_days": "2", "location": "Rathaus, Raum 214",
            "capacity": "25"}
    data.update(overrides)
    return data


def test_regular_sessions_are_shown_for_a_check_then_saved_in_berlin_time(client, db, lead):
    series = factories.series(lead.organisation, title="Vielfaltsmontag 2030")
    db.session.commit()
    url = f"/verwaltung/reihen/{series.id}/termine/regelmaessig"
    assert client.get(url).status_code == 200

    preview = client.post(url, data=_regular(action="preview"))
    assert preview.status_code == 200
    text = _page_text(preview)
    assert "10 Termine in diesem Zeitraum." in text
    assert "Montag, 4. Februar 2030" in text and "Montag, 4. November 2030" in text
    assert _count(db, TrainingSession) == 0

    # The admin drops one date (a holiday) and saves the rest at once.
    dates = ["2030-02-04", "2030-03-04", "2030-04-01", "2030-05-06", "2030-06-03",
             "2030-07-01", "2030-08-05", "2030-09-02", "2030-11-04"]
    response = client.post(url, data=_regular(action="create", previewed="1", dates=dates))
    assert response.status_code == 303
    sessions = list(db.session.scalars(select(TrainingSession).order_by(TrainingSession.starts_at)))
    assert [to_local(s.starts_at).date().isoformat() for s in sessions] == dates
    # 14:00 in Berlin is 13:00 UTC in winter and 12:00 UTC in summer.
    assert sessions[0].starts_at == datetime(2030, 2, 4, 13, 0)
    assert sessions[5].starts_at == datetime(2030, 7, 1, 12, 0)
    assert to_local(sessions[5].enrolment_deadline).replace(tzinfo=None) == datetime(2030, 6, 29, 14, 0)
    assert all(s.capacity == 25 and s.location == "Rathaus, Raum 214" for s in sessions)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"last_day": "2030-01-01"}, "Das Ende des Zeitraums liegt vor seinem Anfang."),
        ({"last_day": "2033-01-01"}, "höchstens zwei Jahre"),
        ({"rhythm": "weekly", "last_day": "2032-01-30"}, "höchstens 100 möglich"),
        ({"end_time": "13:00"}, "Das Ende muss nach dem Beginn liegen."),
        ({"rhythm": "fünfter"}, "Bitte wählen Sie einen Eintrag aus der Liste."),
        ({"capacity": "0"}, "zwischen 1 und 10000"),
        ({"first_day": "2020-01-01", "last_day": "2020-03-01", "action": "create",
          "previewed": "1", "dates": ["2020-01-06"]}, "in der Vergangenheit"),
        ({"action": "create", "previewed": "1", "dates": ["2030-02-05"]}, "Ungültige Auswahl."),
        ({"action": "create", "previewed": "1"}, "mindestens einen Termin"),
    ],
)
def test_bad_regular_sessions_input_is_refused_and_nothing_is_saved(client, db, lead, overrides, message):
    series = factories.series(lead.organisation, title="Reihe")
    db.session.commit()
    data = _regular(**({"action": "preview"} | overrides))
    response = client.post(f"/verwaltung/reihen/{series.id}/termine/regelmaessig", data=data)
    assert response.status_code == 422
    assert message in _page_text(response)
    assert _count(db, TrainingSession) == 0


def test_regular_sessions_of_another_organisations_series_answer_404(client, db, lead):
    other = factories.series(factories.organisation("Hochschule"), title="Fremd")
    db.session.commit()
    url = f"/verwaltung/reihen/{other.id}/termine/regelmaessig"
    assert client.get(url).status_code == 404
    assert client.post(url, data=_regular(action="create", previewed="1",
                                          dates=["2030-02-04"])).status_code == 404
    assert _count(db, TrainingSession) == 0


def test_a_session_without_a_deadline_closes_enrolment_two_days_before(client, db, lead):
    series = factories.series(lead.organisation)
    db.session.commit()
    data = _session_form(day="2031-07-07")
    data.pop("enrolment_deadline")
    response = client.post(f"/verwaltung/reihen/{series.id}/termine/neu", data=data)
    assert response.status_code == 303
    session = db.session.scalar(select(TrainingSession))
    start = to_local(session.starts_at).replace(tzinfo=None)
    assert to_local(session.enrolment_deadline).replace(tzinfo=None) == start - timedelta(days=2)
