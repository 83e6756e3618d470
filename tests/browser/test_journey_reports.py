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
    page.get_by_label("Reihe").select_option(label=series)
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
