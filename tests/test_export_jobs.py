"""Large exports made by the worker: the page offers them, shows their progress, and hands
the file to the person who asked and nobody else, until it expires."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tests.test_exports import check_workbook_equals_database, read_calamine, read_openpyxl
from tests.test_reports import build_scene
from tracker.exports import participation
from tracker.models import JobState, Role, StoredJob, utcnow
from tracker.services import jobs, reports

ROOT = Path(__file__).resolve().parents[1]
YEAR = {"from": "2025-01-01", "to": "2025-12-31"}


@pytest.fixture
def app_settings():
    # The scene has a handful of marks: anything above three is "large" here.
    return {"EXPORT_BACKGROUND_ROWS": 3}


@pytest.fixture
def scene(app):
    return build_scene()


def all_jobs(db) -> list[StoredJob]:
    db.session.expire_all()
    return list(db.session.scalars(select(StoredJob).order_by(StoredJob.id)))


def ask_for_export(client, **filters):
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/auswertung/", query_string=filters).get_data(as_text=True))
    return client.post("/auswertung/exporte", data={**filters, "csrf_token": token[1]})


def test_a_large_selection_is_made_in_the_background_and_downloaded(client, auth, db, scene,
                                                                    app):
    app.config["PRIVACY_MIN_COUNT"] = 1  # exact figures: the threshold has tests of its own
    auth.login(scene.lead)
    page = client.get("/auswertung/", query_string=YEAR).get_data(as_text=True)
    assert "Excel-Datei erstellen lassen" in page
    assert "/auswertung/export.xlsx" not in page
    # The direct download of a large selection sends the person to the page instead.
    direct = client.get("/auswertung/export.xlsx", query_string=YEAR)
    assert direct.status_code == 303 and "/auswertung/" in direct.headers["Location"]

    answer = ask_for_export(client, **YEAR)
    assert answer.status_code == 303
    [job] = all_jobs(db)
    assert job.state == JobState.QUEUED and job.user_id == scene.lead.id
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Die Excel-Datei wird erstellt" in page
    # While it is being made, the list polls and shows an accessible progress bar.
    assert 'hx-trigger="every 2s"' in page
    assert re.search(r'<progress[^>]*aria-valuenow="0"', page)

    assert jobs.run_export(job.id) == "done"
    fragment = client.get("/auswertung/exporte/stand").get_data(as_text=True)
    assert "hx-trigger" not in fragment  # finished: no more polling
    assert 'id="report-exports-status"' in fragment and "ist fertig" in fragment
    link = re.search(r'href="(/auswertung/exporte/[^"]+/datei)"', fragment)[1]
    with client.get(link) as response:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert "teilnahmen_2025-01-01_2025-12-31.xlsx" in response.headers["Content-Disposition"]
        data = response.data
    filters = reports.parse_filters(YEAR, scene.lead)
    for reader in (read_openpyxl, read_calamine):
        check_workbook_equals_database(reader(data), filters)


def test_the_file_is_only_for_the_person_who_asked(app, client, auth, db, scene):
    auth.login(scene.lead)
    ask_for_export(client, **YEAR)
    [job] = all_jobs(db)
    jobs.run_export(job.id)
    colleague = factories.user(scene.city, Role.HR_LEAD)
    other = app.test_client()
    other.post("/anmelden", data={"email": colleague.email, "password": factories.PASSWORD})
    refused = other.get(f"/auswertung/exporte/{job.token}/datei")
    assert refused.status_code == 404
    assert "gibt es nicht (mehr)" in refused.get_data(as_text=True)
    assert job.token not in other.get("/auswertung/", query_string=YEAR).get_data(as_text=True)
    # One character changed: never the token itself, whatever its last character is.
    changed = job.token[:-1] + ("B" if job.token.endswith("A") else "A")
    for forged in ("../../etc/passwd", "x" * 200, changed):
        assert client.get(f"/auswertung/exporte/{forged}/datei").status_code == 404


def test_an_expired_file_is_gone_and_the_nightly_prune_removes_it(client, auth, db, scene):
    auth.login(scene.lead)
    ask_for_export(client, **YEAR)
    [job] = all_jobs(db)
    jobs.run_export(job.id)
    job.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"/auswertung/exporte/{job.token}/datei").status_code == 404
    assert job.token not in client.get("/auswertung/", query_string=YEAR).get_data(as_text=True)
    jobs.prune()
    db.session.commit()
    assert all_jobs(db) == []


def test_the_page_sees_the_progress_while_the_worker_writes(client, auth, db, scene,
                                                            monkeypatch):
    auth.login(scene.lead)
    ask_for_export(client, **YEAR)
    [job] = all_jobs(db)
    total = reports.mark_count(reports.parse_filters(YEAR, scene.lead))
    monkeypatch.setattr(jobs, "PROGRESS_EVERY", 2)
    seen = []
    rows_of = participation._mark_rows  # noqa: SLF001 - our own module, watched from outside

    def watched(filters):
        for n, row in enumerate(rows_of(filters), 1):
            if n == 3:  # two rows written: what does any other app server read now?
                with Session(db.engine) as elsewhere:
                    seen.append(elsewhere.execute(
                        select(StoredJob.state, StoredJob.progress)).one())
            yield row

    monkeypatch.setattr(participation, "_mark_rows", watched)
    jobs.run_export(job.id)
    assert seen == [(JobState.RUNNING, 2 * 95 // total)]
    assert all_jobs(db)[0].progress == 100


def test_a_lead_who_lost_her_role_gets_no_file(client, auth, db, scene):
    auth.login(scene.lead)
    ask_for_export(client, **YEAR)
    [job] = all_jobs(db)
    scene.lead.role = Role.EMPLOYEE
    db.session.commit()
    assert jobs.run_export(job.id) == "failed"
    [job] = all_jobs(db)
    assert job.state == JobState.FAILED and job.content is None
    assert "nicht mehr" in job.error


def test_a_failing_export_is_shown_as_failed_with_a_german_message(client, auth, db, scene,
                                                                   monkeypatch):
    def broken(_filters, **_kwargs):
        yield from ()
        raise RuntimeError("database went away")

    monkeypatch.setattr(reports, "person_totals", broken)
    auth.login(scene.lead)
    ask_for_export(client, **YEAR)
    [job] = all_jobs(db)
    assert jobs.run_export(job.id) == "failed"
    page = client.get("/auswertung/", query_string=YEAR).get_data(as_text=True)
    assert "fehlgeschlagen" in page and "konnte nicht erstellt werden" in page
    assert "database went away" not in page
    # Running it again (a second worker, a retry) changes nothing.
    assert jobs.run_export(job.id) == "skipped"


def test_a_worker_that_died_leaves_a_job_marked_failed_not_spinning(client, auth, db, scene):
    auth.login(scene.lead)
    ask_for_export(client, **YEAR)
    [job] = all_jobs(db)
    job.state = JobState.RUNNING
    job.updated_at = utcnow() - timedelta(minutes=30)
    db.session.commit()
    jobs.prune()
    db.session.commit()
    [job] = all_jobs(db)
    assert job.state == JobState.FAILED and "unterbrochen" in job.error
    assert "hx-trigger" not in client.get("/auswertung/exporte/stand").get_data(as_text=True)


def test_three_at_a_time_then_a_clear_409_and_bad_filters_422(client, auth, db, scene):
    auth.login(scene.lead)
    for _ in range(3):
        assert ask_for_export(client, **YEAR).status_code == 303
    fourth = ask_for_export(client, **YEAR)
    assert fourth.status_code == 409
    assert "bereits 3 Excel-Dateien" in fourth.get_data(as_text=True)
    bad = ask_for_export(client, **{"from": "2025-13-45", "to": ""})
    assert bad.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(StoredJob)) == 3


def test_another_organisation_cannot_be_asked_for(client, auth, db, scene):
    auth.login(scene.lead)
    answer = ask_for_export(client, **YEAR, organisation=str(scene.agency.id))
    assert answer.status_code == 403
    assert all_jobs(db) == []


def test_a_small_selection_still_downloads_at_once(app, client, auth, db, scene):
    app.config["EXPORT_BACKGROUND_ROWS"] = 10_000
    auth.login(scene.lead)
    page = client.get("/auswertung/", query_string=YEAR).get_data(as_text=True)
    assert "/auswertung/export.xlsx" in page and "erstellen lassen" not in page
    with client.get("/auswertung/export.xlsx", query_string=YEAR) as response:
        assert response.status_code == 200 and response.data.startswith(b"PK")
    assert all_jobs(db) == []


@pytest.mark.slow
def test_a_real_worker_makes_the_file_the_page_then_offers(app, client, auth, db, scene,
                                                           migrated, tmp_path):
    env = {**os.environ, "DATABASE_URL": migrated, "SECRET_KEY": "x" * 32,
           "EXPORT_BACKGROUND_ROWS": "3", "PRIVACY_MIN_COUNT": "1"}
    log = tmp_path / "worker.log"
    auth.login(scene.lead)
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "tracker", "worker"],
                                  env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            ask_for_export(client, **YEAR)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                db.session.rollback()  # each poll reads afresh, as its own request would
                fragment = client.get("/auswertung/exporte/stand").get_data(as_text=True)
                if "herunterladen" in fragment:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(log.read_text())
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    link = re.search(r'href="(/auswertung/exporte/[^"]+/datei)"', fragment)[1]
    with client.get(link) as response:
        data = response.data
    check_workbook_equals_database(read_openpyxl(data), reports.parse_filters(YEAR, scene.lead))
    with Session(db.engine) as fresh:
        assert fresh.scalar(select(StoredJob.state)) == JobState.DONE
