"""The reports page's dashboard and the privacy threshold (issue 24, items 2 to 4).

The scene of tests/test_reports.py: in 2025 the city (the HR lead's organisation) has 5
participations, the agency 3, below the threshold of 5."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from lxml import etree

from tests import factories
from tests.test_exports import READERS, as_dicts, download, overview
from tests.test_reports import PRESENT, berlin, build_scene, mark
from tracker.services import reports
from tracker.services.disclosure import Withheld, protect_parts

YEAR_2025 = {"from": "2025-01-01", "to": "2025-12-31"}


@pytest.fixture
def scene(app):
    return build_scene()


def svgs(html: str) -> list[etree._Element]:
    """Every chart's SVG, parsed as XML: a broken one fails here."""
    return [etree.fromstring(m.group(0).encode())
            for m in re.finditer(r"<svg class=\"report-chart__svg\".*?</svg>", html, re.S)]


def chart_table(html: str, key: str) -> dict[str, list[str]]:
    """The table beside a chart: row label -> cells, as a person reads them."""
    section = html[html.index(f'id="chart-{key}"'):]
    section = section[:section.index("</figure>")]
    rows = {}
    for row in re.findall(r"<tr class=\"kern-table__row\">(.*?)</tr>", section, re.S)[1:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip()
                 for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


# --- the rule itself -------------------------------------------------------------------------

@pytest.mark.parametrize(("own", "others", "shown", "total"), [
    (10, {"b": 20, "c": 30}, {"b": 20, "c": 30}, 60),
    # One small count: the smallest visible one is withheld with it, the total stays exact.
    (10, {"b": 3, "c": 20, "d": 30}, {"b": Withheld(5), "c": Withheld(5), "d": 30}, 63),
    # The only other partner is small: the total is only a bound (own + 5).
    (5, {"b": 3}, {"b": Withheld(5)}, Withheld(10)),
    # Two small ones that add up to less than 5: a third is withheld so the sum is not small.
    (10, {"b": 1, "c": 2, "d": 30}, {"b": Withheld(5), "c": Withheld(5), "d": Withheld(5)}, 43),
    (10, {"b": 1, "c": 2}, {"b": Withheld(5), "c": Withheld(5)}, Withheld(15)),
    # Nobody: zero says nothing about a person.
    (4, {"b": 0, "c": 12}, {"b": 0, "c": 12}, 16),
])
def test_small_counts_are_withheld_and_cannot_be_subtracted_back(own, others, shown, total):
    assert protect_parts(own, others, exact=False, limit=5) == (shown, total)
    assert protect_parts(own, others, exact=True, limit=5) == (others, own + sum(others.values()))


def test_no_withheld_count_can_be_derived_from_the_total_and_the_visible_ones():
    rng = random.Random(24)
    for _ in range(2000):
        others = {k: rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 20]) for k in range(rng.randint(1, 5))}
        own = rng.randint(0, 30)
        shown, total = protect_parts(own, others, exact=False, limit=5)
        withheld = [k for k, v in shown.items() if isinstance(v, Withheld)]
        assert all(isinstance(shown[k], Withheld) for k, v in others.items() if 0 < v < 5)
        if isinstance(total, Withheld):
            assert own + sum(others.values()) < total.below
        elif withheld:
            # What subtraction gives is the sum of at least two, and not a small one.
            rest = total - own - sum(v for v in shown.values() if not isinstance(v, Withheld))
            assert len(withheld) >= 2 and rest >= 5


# --- the page --------------------------------------------------------------------------------

def test_an_hr_lead_sees_another_partners_small_count_only_as_below_the_threshold(
        client, auth, scene):
    auth.login(scene.lead)
    html = client.get("/auswertung/", query_string=YEAR_2025).get_data(as_text=True)
    organisations = chart_table(html, "organisations")
    assert organisations == {"Stadtverwaltung Dessau-Roßlau": ["5"], "Umweltbundesamt": ["&lt; 5"]}
    assert "Alle Partnerorganisationen zusammen: &lt; 10 Teilnahmen" in html
    # The chart draws the same: the agency's bar says only "< 5".
    drawn = svgs(html)[-1]
    values = [t.text for t in drawn.iter("{http://www.w3.org/2000/svg}text")
              if t.get("class") == "report-chart__value"]
    assert values == ["5", "< 5"]
    assert "Umweltbundesamt" in html and "Elif" not in html


def test_admins_and_the_series_coordinators_see_exact_figures(client, auth, scene, db):
    auth.login(scene.admin)
    html = client.get("/auswertung/", query_string=YEAR_2025).get_data(as_text=True)
    assert chart_table(html, "organisations")["Umweltbundesamt"] == ["3"]
    auth.logout()
    scene.vielfalt.coordinators.append(scene.lead)
    db.session.commit()
    auth.login(scene.lead)
    vielfalt = {**YEAR_2025, "series": scene.vielfalt.id}
    html = client.get("/auswertung/", query_string=vielfalt).get_data(as_text=True)
    # Vielfaltsmontag 2025: the agency's Elif (January) and Greta (March).
    assert chart_table(html, "organisations")["Umweltbundesamt"] == ["2"]
    assert "Alle Partnerorganisationen zusammen: 6 Teilnahmen" in html
    # Coordinating one series does not open the others' small counts.
    recruiting = {**YEAR_2025, "series": scene.recruiting.id}
    html = client.get("/auswertung/", query_string=recruiting).get_data(as_text=True)
    assert chart_table(html, "organisations")["Umweltbundesamt"] == ["&lt; 5"]


def test_the_threshold_is_configurable(client, auth, scene, app):
    app.config["PRIVACY_MIN_COUNT"] = 3
    auth.login(scene.lead)
    html = client.get("/auswertung/", query_string=YEAR_2025).get_data(as_text=True)
    assert chart_table(html, "organisations")["Umweltbundesamt"] == ["3"]
    assert "Alle Partnerorganisationen zusammen: 8 Teilnahmen" in html


def test_charts_show_the_selections_figures_and_follow_its_filters(client, auth, scene):
    auth.login(scene.lead)
    html = client.get("/auswertung/", query_string=YEAR_2025).get_data(as_text=True)
    charts = svgs(html)
    assert len(charts) == 5
    for svg in charts:  # an image with a text alternative
        assert svg.get("role") == "img"
        ns = {"s": "http://www.w3.org/2000/svg"}
        assert svg.find("s:title", ns).text and svg.find("s:desc", ns).text
    filters = reports.parse_filters(YEAR_2025, scene.lead)
    from tests.test_reports import expected

    want = expected(filters)
    per_month = Counter(m[5].month for m in want.present)
    months = chart_table(html, "months")
    assert len(months) == 12
    assert [int(v[0]) for v in months.values()] == [per_month[m] for m in range(1, 13)]
    marks_per_month = Counter(m[5].month for m in want.marks)
    assert chart_table(html, "rate")["März 2025"] == [
        f"{per_month[3] / marks_per_month[3] * 100:.1f}".replace(".", ",").replace(",0", "")]
    assert chart_table(html, "rate")["Juli 2025"] == ["–"]
    assert chart_table(html, "series") == {"Vielfaltsmontag": ["4"], "Recruiting": ["1"]}
    # 2025 against 2024: Anna in December 2024 (Vielfaltsmontag).
    years = chart_table(html, "years")
    assert years["Dezember"] == ["0", "1"] and years["Januar"] == ["2", "0"]
    # The series filter reaches every chart.
    html = client.get("/auswertung/", query_string={**YEAR_2025, "series": scene.recruiting.id}
                      ).get_data(as_text=True)
    assert chart_table(html, "series") == {"Recruiting": ["1"]}
    assert chart_table(html, "months")["Jan. 2025"] == ["0"]
    assert chart_table(html, "months")["Juni 2025"] == ["1"]


def test_a_period_without_data_draws_empty_charts_that_say_so(client, auth, scene):
    auth.login(scene.lead)
    response = client.get("/auswertung/", query_string={"from": "2031-01-01", "to": "2031-03-31"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    charts = svgs(html)
    assert len(charts) == 5
    for svg in charts:
        assert "Keine Daten in diesem Zeitraum." in "".join(svg.itertext())
    assert html.count("<table class=\"kern-table\">") == 0


def test_names_with_markup_stay_text_in_the_svg(client, auth, scene, db):
    scene.agency.name = 'Amt <script>alert(1)</script> & "Söhne"'
    db.session.commit()
    auth.login(scene.admin)
    html = client.get("/auswertung/", query_string=YEAR_2025).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    labels = ["".join(svg.itertext()) for svg in svgs(html)]
    assert any("Amt <script>" in text for text in labels)  # parsed back as text


def test_an_open_period_of_many_years_is_shown_per_year(client, auth, scene):
    auth.login(scene.admin)
    html = client.get("/auswertung/", query_string={"from": "1990-01-01", "to": ""}
                      ).get_data(as_text=True)
    assert list(chart_table(html, "months")) == ["2024", "2025", "2026"]
    assert "Teilnahmen je Jahr" in html


# --- the workbook ----------------------------------------------------------------------------

@pytest.mark.parametrize("reader", list(READERS))
def test_the_workbook_withholds_the_same_counts(client, auth, scene, reader):
    auth.login(scene.lead)
    sheets = READERS[reader](download(client, **YEAR_2025))
    rows = as_dicts(sheets["Organisationen"])
    agency = [r for r in rows if r["Organisation"] == "Umweltbundesamt"]
    assert agency and all(r["Teilnahmen"] == "< 5" and r["Personen"] == "< 5"
                          and r["Stunden"] == "–" for r in agency)
    city = [r for r in rows if r["Organisation"] == "Stadtverwaltung Dessau-Roßlau"]
    assert sum(r["Teilnahmen"] for r in city) == 5
    assert overview(sheets["Übersicht"])["Teilnahmen aller Partnerorganisationen"] == "< 10"
    auth.logout()
    auth.login(scene.admin)
    rows = as_dicts(READERS[reader](download(client, **YEAR_2025))["Organisationen"])
    assert sum(r["Teilnahmen"] for r in rows if r["Organisation"] == "Umweltbundesamt") == 3


def test_secondary_withholding_in_the_workbook_keeps_the_total_exact(client, auth, scene, db):
    """With enough of the agency's people in one series, its small other cell is withheld
    together with the smallest visible one, and the total stays exact and true."""
    june = factories.session(scene.recruiting, starts_at=berlin(2025, 6, 30), commit=False)
    for i in range(6):
        mark(june, factories.user(scene.agency, first_name=f"Neu{i}", commit=False), PRESENT)
    db.session.commit()
    auth.login(scene.lead)
    sheets = READERS["openpyxl"](download(client, **YEAR_2025))
    rows = as_dicts(sheets["Organisationen"])
    # The agency: Vielfaltsmontag 2 (small), Recruiting 1 + 6 = 7 (withheld with it).
    agency = {r["Reihe"]: r["Teilnahmen"] for r in rows if r["Organisation"] == "Umweltbundesamt"}
    assert agency == {"Vielfaltsmontag": "< 5", "Recruiting": "< 5"}
    assert overview(sheets["Übersicht"])["Teilnahmen aller Partnerorganisationen"] == 14
