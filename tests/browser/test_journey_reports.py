"""An HR lead reports upward, in a real browser, with and without JavaScript: she chooses a
series on the Auswertung page, reads the figures and downloads the workbook, which the test
opens with openpyxl and checks against the figures on the page."""

from __future__ import annotations

import re

import openpyxl
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HR_LEAD = "personalleitung@stadt-dessau.example"
ORGANISATION = "Stadtverwaltung Dessau-Roßlau"


def test_hr_lead_downloads_the_workbook_of_her_organisation(web_any, scene, tmp_path):
    web = web_any
    page = web.page
    year = int(scene.vielfalt_title.split()[-1]) - 1
    series = f"Vielfaltsmontag {year}"

    web.login(HR_LEAD)
    web.nav("Auswertung")
    web.check("reports page")

    page.get_by_role("link", name=f"Kalenderjahr {year}").click()
    expect(page.locator(".report-scope")).to_contain_text(f"31.12.{year}")
    page.get_by_label("Reihe", exact=True).select_option(label=series)
    page.get_by_role("button", name="Anzeigen").click()
    expect(page.locator(".report-scope")).to_contain_text(series)
    expect(page.locator(".report-scope")).to_contain_text(ORGANISATION)
    web.check("figures of one series")
    participations = int(re.sub(r"\D", "", page.locator("#figure-participations").inner_text()))
    assert participations > 0

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Excel-Datei herunterladen").click()
    download = download_info.value
    assert re.fullmatch(r"teilnahmen_.+\.xlsx", download.suggested_filename)
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    web.screenshot("after download")

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        assert workbook.sheetnames == ["Übersicht", "Teilnahmen", "Personen", "Organisationen"]
        rows = list(workbook["Teilnahmen"].iter_rows(values_only=True))
        header, data = rows[0], rows[1:]
        status = header.index("Status")
        organisation = header.index("Organisation (zum Zeitpunkt)")
        present = [r for r in data if r[status] == "anwesend"]
        assert len(present) == participations
        # Only her own organisation's people, by name.
        assert {r[organisation] for r in data} == {ORGANISATION}
        assert {r[header.index("Reihe")] for r in data} == {series}
    finally:
        workbook.close()


def _stored_export(live_server, **values) -> int:
    """A job as the worker leaves it mid-way, for the page's progress bar (scene set-up)."""
    import secrets
    from datetime import timedelta

    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import StoredJob, User, utcnow

    with live_server.app_context():
        lead = db.session.scalars(select(User).where(User.email == HR_LEAD)).one()
        now = utcnow()
        job = StoredJob(token=secrets.token_urlsafe(32), kind="export", user_id=lead.id,
                        title="Probelauf: alle Termine", filename="teilnahmen_probelauf.xlsx",
                        created_at=now, updated_at=now, expires_at=now + timedelta(hours=1),
                        **values)
        db.session.add(job)
        db.session.commit()
        return job.id


def _update_job(live_server, job_id: int, **values) -> None:
    from tracker.extensions import db
    from tracker.models import StoredJob

    with live_server.app_context():
        job = db.session.get(StoredJob, job_id)
        for key, value in values.items():
            setattr(job, key, value)
        db.session.commit()


def test_hr_lead_has_a_large_workbook_made_in_the_background(web_any, scene, live_server,
                                                             tmp_path):
    """All her organisation's marks are more than the live server's EXPORT_BACKGROUND_ROWS:
    the worker makes the file, the page shows its progress and then offers it."""
    web = web_any
    page = web.page
    web.login(HR_LEAD)
    web.nav("Auswertung")
    # Every date: the page opens on this calendar year, she empties the period.
    page.locator("#filter-from").fill("")
    page.locator("#filter-to").fill("")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page.locator(".report-scope")).to_contain_text("Alle Termine")
    request = page.get_by_role("button", name="Excel-Datei erstellen lassen")
    expect(request).to_be_visible()
    rows = int(re.sub(r"\D", "", page.locator("form.report-download .muted").inner_text()
                      .split("Zeilen")[0]))
    assert rows > 100
    request.click()
    exports = page.locator("#report-exports")
    expect(exports.get_by_role("heading", name="Ihre Excel-Dateien")).to_be_visible()
    web.check("export requested")

    # Newest first: the file just asked for (an earlier run's files are listed below it).
    newest = exports.locator("li.report-export").first
    download_link = newest.get_by_role("link", name=re.compile(r"teilnahmen_.+\.xlsx herunterladen"))
    if web.javascript:
        # htmx asks again every two seconds until the worker is done.
        expect(download_link).to_be_visible(timeout=30_000)
    else:
        for _ in range(60):
            if download_link.count():
                break
            refresh = page.get_by_role("link", name="Stand aktualisieren")
            if refresh.count():
                refresh.click()
            else:
                page.reload()
            page.wait_for_timeout(500)
        expect(download_link).to_be_visible()
    web.check("export ready")

    with page.expect_download() as download_info:
        download_link.click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        marks = list(workbook["Teilnahmen"].iter_rows(values_only=True))[1:]
        assert len(marks) == rows
    finally:
        workbook.close()

    # One that a worker is still writing: an accessible progress bar, announced by value.
    job_id = _stored_export(live_server, state="running", progress=40)
    try:
        web.goto("/auswertung/")
        progress = exports.locator("progress")
        expect(progress).to_have_attribute("aria-valuenow", "40")
        expect(exports.get_by_label("Fortschritt: 40 %")).to_be_visible()
        web.check("export in progress")
    finally:
        _update_job(live_server, job_id, state="failed",
                    error="Die Excel-Datei konnte nicht erstellt werden.")
    web.goto("/auswertung/")
    expect(exports).to_contain_text("fehlgeschlagen")
    expect(exports).to_contain_text("Die Excel-Datei konnte nicht erstellt werden.")
    web.check("export failed")
