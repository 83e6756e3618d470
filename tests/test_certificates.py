"""Certificates of participation: the PDF a participant downloads, read back with pypdf, and
the public page that checks its code."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import func, select

from tests import factories
from tracker.models import AttendanceMark, Certificate, EnrolmentState, Role, User
from tracker.services import privacy

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "certificates"
CODE_IN_TEXT = re.compile(r"/nachweis/([A-Za-z0-9_-]+)")


@pytest.fixture
def city(app):
    return factories.organisation("Stadtverwaltung Dessau-Roßlau")


@pytest.fixture
def kim(city):
    return factories.user(city, first_name="Kim", last_name="Muster")


def attended(person, status: str = "present", *, title: str = "Vielfalt im Gespräch",
             state: EnrolmentState = EnrolmentState.ENROLLED):
    from tracker.extensions import db

    series = factories.series(person.organisation, [person.organisation],
                              title="Vielfaltsmontag 2026")
    series.description = "Wie Vielfalt den Arbeitsalltag in der Verwaltung prägt."
    session = factories.session(series, starts_in=-timedelta(days=7), hours=2.5, title=title)
    enrolment = factories.enrolment(session, person, state)
    db.session.add(AttendanceMark(enrolment=enrolment, session_id=session.id, status=status))
    db.session.commit()
    return enrolment


def download(client, enrolment) -> pypdf.PdfReader:
    response = client.get(f"/meine-schulungen/bescheinigungen/{enrolment.id}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert re.fullmatch(r'attachment; filename=teilnahmebescheinigung_\d{4}-\d\d-\d\d\.pdf',
                        response.headers["Content-Disposition"])
    return pypdf.PdfReader(io.BytesIO(response.data))


def text_of(reader: pypdf.PdfReader) -> str:
    return " ".join("\n".join(page.extract_text() for page in reader.pages).split())


def code_of(reader: pypdf.PdfReader) -> str:
    return CODE_IN_TEXT.search(text_of(reader).replace(" ", "")).group(1)


def test_a_participant_downloads_a_tagged_one_page_certificate(client, auth, kim):
    enrolment = attended(kim)
    auth.login(kim)
    page = client.get("/meine-schulungen/").get_data(as_text=True)
    assert f"/meine-schulungen/bescheinigungen/{enrolment.id}" in page

    reader = download(client, enrolment)
    assert len(reader.pages) == 1
    text = text_of(reader)
    for expected in ("Teilnahmebescheinigung", "Kim Muster", "Stadtverwaltung Dessau-Roßlau",
                     "Vielfaltsmontag 2026", "Vielfalt im Gespräch", "2,5 Stunden",
                     "Rathaus, Raum 1", "Dr. Test", "Arbeitsalltag in der Verwaltung",
                     "Fortbildungsverbund der Partnerverwaltungen"):
        assert expected in text, expected
    day = (enrolment.session.starts_at + timedelta(hours=1)).strftime("%d.%m.%Y")
    assert day in text
    assert "http://localhost:5000/nachweis/" in text.replace(" ", "")
    # Tagged PDF with its language and title: what screen readers and PDF/UA checkers read.
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "de"
    assert bool(root["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in root
    assert reader.metadata.title.startswith("Teilnahmebescheinigung")
    # KERN's typeface from static/, embedded: regular, semibold and bold only.
    fonts = {str(font.get_object()["/BaseFont"])
             for font in reader.pages[0]["/Resources"]["/Font"].values()}
    assert fonts and all("Fira-Sans" in font for font in fonts), fonts


def test_the_first_page_is_saved_as_an_image_for_a_person_to_look_at(client, auth, kim, tmp_path):
    assert shutil.which("pdftoppm"), ("pdftoppm is missing: `sudo apt-get install poppler-utils`"
                                      " (or `sudo bash .ci/run`)")
    enrolment = attended(kim)
    auth.login(kim)
    pdf = tmp_path / "bescheinigung.pdf"
    pdf.write_bytes(client.get(f"/meine-schulungen/bescheinigungen/{enrolment.id}").data)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf),
                    str(ARTIFACTS / "teilnahmebescheinigung")], check=True, timeout=60)
    image = ARTIFACTS / "teilnahmebescheinigung.png"
    assert image.stat().st_size > 10_000  # a page with text and a QR code, not a blank one


def test_the_public_page_confirms_only_what_the_certificate_shows(app, client, auth, kim):
    enrolment = attended(kim)
    auth.login(kim)
    code = code_of(download(client, enrolment))
    stranger = app.test_client()
    page = stranger.get(f"/nachweis/{code}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Diese Bescheinigung ist gültig." in body
    assert "Kim Muster" in body and "Vielfalt im Gespräch" in body
    assert kim.email not in body  # the certificate does not print it, nor does the page

    for unknown in (code[:-2] + ("AA" if not code.endswith("AA") else "BB"), "x" * 500, "ä!"):
        refused = stranger.get(f"/nachweis/{unknown}")
        assert refused.status_code == 404
        assert "keine Bescheinigung bekannt" in refused.get_data(as_text=True)
    assert stranger.get("/nachweis/..%2F..%2Fetc").status_code == 404


def test_asking_again_gives_the_same_certificate(client, auth, kim, db):
    enrolment = attended(kim)
    auth.login(kim)
    first, second = code_of(download(client, enrolment)), code_of(download(client, enrolment))
    assert first == second
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 1


def test_an_issued_certificate_keeps_its_text_and_a_new_version_replaces_it(
        app, client, auth, kim, db):
    enrolment = attended(kim)
    auth.login(kim)
    old = code_of(download(client, enrolment))
    db.session.get(User, kim.id).last_name = "Muster-Neu"
    db.session.commit()
    stranger = app.test_client()
    assert "Kim Muster " in stranger.get(f"/nachweis/{old}").get_data(as_text=True) + " "

    reader = download(client, enrolment)
    new = code_of(reader)
    assert new != old
    assert "Kim Muster-Neu" in text_of(reader)
    assert "ersetzt die Bescheinigung vom" in text_of(reader)
    replaced = stranger.get(f"/nachweis/{old}").get_data(as_text=True)
    assert "durch eine neuere Fassung ersetzt" in replaced
    assert "Diese Bescheinigung ist gültig." in stranger.get(f"/nachweis/{new}").get_data(
        as_text=True)


@pytest.mark.parametrize("status", ["excused", "absent", None])
def test_no_certificate_for_a_session_not_attended(client, auth, kim, status, db):
    enrolment = attended(kim, status or "present")
    if status is None:
        db.session.delete(db.session.scalars(select(AttendanceMark)).one())
        db.session.commit()
    auth.login(kim)
    page = client.get("/meine-schulungen/").get_data(as_text=True)
    assert f"/meine-schulungen/bescheinigungen/{enrolment.id}" not in page
    response = client.get(f"/meine-schulungen/bescheinigungen/{enrolment.id}")
    assert response.status_code == 409
    assert "nur für besuchte Termine" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_a_walk_in_gets_a_certificate_too(client, auth, kim):
    enrolment = attended(kim, state=EnrolmentState.WALK_IN)
    auth.login(kim)
    assert "Kim Muster" in text_of(download(client, enrolment))


def test_nobody_gets_another_persons_certificate(client, auth, kim, city):
    enrolment = attended(kim)
    colleague = factories.user(city, role=Role.HR_LEAD)
    auth.login(colleague)
    for path in (f"/meine-schulungen/bescheinigungen/{enrolment.id}",
                 "/meine-schulungen/bescheinigungen/999999"):
        response = client.get(path)
        assert response.status_code == 404
        assert "gibt es in Ihren Schulungen nicht" in response.get_data(as_text=True)
    assert client.get("/meine-schulungen/bescheinigungen/abc").status_code == 404


def test_a_certificate_needs_a_login(client, kim):
    enrolment = attended(kim)
    response = client.get(f"/meine-schulungen/bescheinigungen/{enrolment.id}")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


def test_markup_right_to_left_names_and_long_titles_make_a_clean_document(client, auth, city):
    person = factories.user(city, first_name="مريم <b>Ayşe</b>", last_name="Yılmaz & Co")
    enrolment = attended(person, title="Ü" * 200)
    auth.login(person)
    reader = download(client, enrolment)
    assert len(reader.pages) == 1
    text = text_of(reader)
    # The markup is text, not formatting (the Arabic name's direction reorders the run).
    assert "Ayşe</b>" in text and "<" in text and "Yılmaz & Co" in text
    assert "Ü" * 50 in text.replace(" ", "")


def test_a_certificate_in_english_for_a_person_who_chose_english(client, auth, kim, db):
    kim.locale = "en"
    db.session.commit()
    enrolment = attended(kim)
    auth.login(kim)
    reader = download(client, enrolment)
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert "Certificate of participation" in text_of(reader)
    assert "2.5 hours" in text_of(reader)


def test_anonymisation_revokes_the_certificates_without_personal_data(app, client, auth, kim,
                                                                     city, db):
    enrolment = attended(kim)
    auth.login(kim)
    code = code_of(download(client, enrolment))
    admin = factories.user(city, role=Role.ADMIN)
    person = db.session.get(User, kim.id)
    person.active = False
    privacy.anonymise(person, actor=admin)
    db.session.commit()
    page = app.test_client().get(f"/nachweis/{code}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "nicht mehr gültig" in body
    assert "Muster" not in body and "Vielfalt im Gespräch" not in body
    assert db.session.scalars(select(Certificate)).one().content == {}


class TestVerificationRateLimit:
    @pytest.fixture
    def app_settings(self):
        return {"RATELIMIT_ENABLED": True, "CERTIFICATE_VERIFY_RATE_LIMIT": "3 per minute"}

    def test_guessing_codes_is_rate_limited(self, client):
        statuses = [client.get(f"/nachweis/{'a' * 30}{i}").status_code for i in range(4)]
        assert statuses == [404, 404, 404, 429]


# --- HR: one, all of a session, all of a report period; the yearly record -------------------


@pytest.fixture
def agency(app):
    return factories.organisation("Umweltbundesamt")


@pytest.fixture
def workshop(city, agency, kim, db):
    """A closed session of the city's series: Kim and two colleagues attended, one colleague
    was excused, and someone from the agency came too."""
    from tracker.models import utcnow

    series = factories.series(city, [city, agency], title="Vielfaltsmontag 2026")
    session = factories.session(series, starts_in=-timedelta(days=3), hours=2,
                                title="Vielfalt in der Personalauswahl")
    people = [kim, factories.user(city, first_name="Jonas", last_name="Becker"),
              factories.user(city, first_name="Ayşe", last_name="Yılmaz"),
              factories.user(city, first_name="Lena", last_name="Krause"),
              factories.user(agency, first_name="Noah", last_name="Schmidt")]
    for person, status in zip(people, ["present", "present", "present", "excused", "present"],
                              strict=True):
        enrolment = factories.enrolment(session, person)
        db.session.add(AttendanceMark(enrolment=enrolment, session_id=session.id, status=status))
    session.closed_at = utcnow()
    db.session.commit()
    return session


def pdf_of(response) -> pypdf.PdfReader:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    return pypdf.PdfReader(io.BytesIO(response.data))


def test_hr_download_all_certificates_of_their_people_in_a_session_as_one_pdf(
        client, auth, city, workshop):
    auth.login(factories.user(city, role=Role.HR_STAFF))
    sheet = client.get(f"/anwesenheit/termine/{workshop.id}").get_data(as_text=True)
    assert f"/anwesenheit/termine/{workshop.id}/bescheinigungen.pdf" in sheet
    assert f"/anwesenheit/termine/{workshop.id}/bescheinigungen.zip" in sheet

    reader = pdf_of(client.get(f"/anwesenheit/termine/{workshop.id}/bescheinigungen.pdf"))
    assert len(reader.pages) == 3  # the three of the city who attended, one page each
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    for page, name in zip(pages, ["Kim Muster", "Jonas Becker", "Ayşe Yılmaz"], strict=True):
        assert name in page and "Vielfalt in der Personalauswahl" in page
    assert not any("Lena Krause" in p or "Noah Schmidt" in p for p in pages)
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "de" and "/StructTreeRoot" in root
    assert reader.metadata.title == "Teilnahmebescheinigungen: Vielfalt in der Personalauswahl"


def test_the_zip_holds_one_checkable_pdf_per_person(app, client, auth, city, agency, workshop):
    import zipfile

    auth.login(factories.user(agency, role=Role.HR_LEAD))
    response = client.get(f"/anwesenheit/termine/{workshop.id}/bescheinigungen.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert len(names) == 1 and "Noah_Schmidt" in names[0] and names[0].endswith(".pdf")
    reader = pypdf.PdfReader(io.BytesIO(archive.read(names[0])))
    assert "Noah Schmidt" in text_of(reader) and "Umweltbundesamt" in text_of(reader)
    code = code_of(reader)
    assert "Diese Bescheinigung ist gültig." in app.test_client().get(
        f"/nachweis/{code}").get_data(as_text=True)


def test_hr_download_one_certificate_of_their_people_only(client, auth, city, agency, workshop,
                                                          db):
    from tracker.models import Enrolment

    enrolments = {e.user.last_name: e for e in db.session.scalars(select(Enrolment))}
    auth.login(factories.user(city, role=Role.HR_STAFF))
    history = client.get(f"/anwesenheit/termine/{workshop.id}/eintraege/"
                         f"{enrolments['Muster'].id}/verlauf").get_data(as_text=True)
    assert f"/anwesenheit/bescheinigungen/{enrolments['Muster'].id}" in history
    reader = pdf_of(client.get(f"/anwesenheit/bescheinigungen/{enrolments['Muster'].id}"))
    assert "Kim Muster" in text_of(reader)
    # The agency's participant is not the city's to certify; the excused one has none.
    refused = client.get(f"/anwesenheit/bescheinigungen/{enrolments['Schmidt'].id}")
    assert refused.status_code == 404
    excused = client.get(f"/anwesenheit/bescheinigungen/{enrolments['Krause'].id}")
    assert excused.status_code == 409 and "nur für besuchte Termine" in excused.get_data(
        as_text=True)


def test_employees_do_not_get_a_sessions_certificates(client, auth, kim, workshop):
    auth.login(kim)
    for path in (f"/anwesenheit/termine/{workshop.id}/bescheinigungen.pdf",
                 f"/anwesenheit/termine/{workshop.id}/bescheinigungen.zip"):
        assert client.get(path).status_code == 403


def test_a_session_without_participations_of_her_people_has_no_certificates(
        client, auth, city, db):
    series = factories.series(city, [city])
    empty = factories.session(series, starts_in=-timedelta(days=2))
    auth.login(factories.user(city, role=Role.HR_STAFF))
    for path in (f"/anwesenheit/termine/{empty.id}/bescheinigungen.pdf",
                 f"/anwesenheit/termine/{empty.id}/bescheinigungen.zip"):
        response = client.get(path)
        assert response.status_code == 409
        assert "keine Teilnahme Ihrer Beschäftigten" in response.get_data(as_text=True)
    assert client.get("/anwesenheit/termine/999999/bescheinigungen.pdf").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_a_leads_reports_page_offers_the_certificates_of_the_period(client, auth, city, workshop):
    import zipfile

    auth.login(factories.user(city, role=Role.HR_LEAD))
    year = workshop.starts_at.year
    query = f"from={year}-01-01&to={year}-12-31"
    page = client.get(f"/auswertung/?{query}").get_data(as_text=True)
    assert "Bescheinigungen für diesen Zeitraum" in page
    assert "/auswertung/bescheinigungen.zip?" in page
    response = client.get(f"/auswertung/bescheinigungen.zip?{query}")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert len(names) == 3 and not any("Schmidt" in n for n in names)

    nothing = client.get(f"/auswertung/bescheinigungen.zip?from={year - 5}-01-01&to={year - 5}-12-31")
    assert nothing.status_code == 409 and "keine Teilnahme" in nothing.get_data(as_text=True)
    wrong = client.get("/auswertung/bescheinigungen.zip?from=31.02.2026")
    assert wrong.status_code == 422


def test_too_many_certificates_at_once_ask_for_a_shorter_period(app, client, auth, city, workshop,
                                                                 db):
    app.config["CERTIFICATES_PER_DOWNLOAD"] = 2
    auth.login(factories.user(city, role=Role.HR_LEAD))
    response = client.get("/auswertung/bescheinigungen.zip")
    assert response.status_code == 422
    assert "kürzeren Zeitraum" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_the_yearly_record_lists_every_participation_with_its_hours(client, auth, kim, workshop,
                                                                    db):
    other = attended(kim, title="Gendergerechte Sprache")  # 2.5 hours, a week ago
    attended(kim, "excused", title="Nicht besucht")
    year = (workshop.starts_at + timedelta(hours=1)).year
    auth.login(kim)
    page = client.get("/meine-schulungen/").get_data(as_text=True)
    assert f"/meine-schulungen/fortbildungsnachweis/{year}" in page
    response = client.get(f"/meine-schulungen/fortbildungsnachweis/{year}")
    reader = pdf_of(response)
    assert f"fortbildungsnachweis_{year}_Kim_Muster.pdf" in response.headers["Content-Disposition"]
    text = text_of(reader)
    assert f"Fortbildungsnachweis {year}" in text and "Kim Muster" in text
    assert "Vielfalt in der Personalauswahl" in text and other.session.title in text
    assert "Nicht besucht" not in text
    assert "2 Teilnahmen mit insgesamt 4,5 Stunden" in text
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "de" and "/StructTreeRoot" in root
    assert reader.metadata.title == f"Fortbildungsnachweis {year}: Kim Muster"

    empty = client.get(f"/meine-schulungen/fortbildungsnachweis/{year - 3}")
    assert empty.status_code == 409
    assert f"Im Jahr {year - 3} ist keine Teilnahme erfasst" in empty.get_data(as_text=True)
    assert client.get("/meine-schulungen/fortbildungsnachweis/99999").status_code == 404


def test_hr_get_the_yearly_record_of_their_people_only(client, auth, city, agency, kim, workshop):
    year = (workshop.starts_at + timedelta(hours=1)).year
    auth.login(factories.user(city, role=Role.HR_LEAD))
    person_page = client.get(f"/verwaltung/personen/{kim.id}").get_data(as_text=True)
    assert f"/verwaltung/personen/{kim.id}/fortbildungsnachweis/{year}" in person_page
    text = text_of(pdf_of(client.get(f"/verwaltung/personen/{kim.id}/fortbildungsnachweis/{year}")))
    assert "Kim Muster" in text and "1 Teilnahme mit insgesamt 2 Stunden" in text

    auth.logout()
    auth.login(factories.user(agency, role=Role.HR_STAFF))
    refused = client.get(f"/verwaltung/personen/{kim.id}/fortbildungsnachweis/{year}")
    assert refused.status_code == 404
    auth.logout()
    auth.login(factories.user(city))
    assert client.get(f"/verwaltung/personen/{kim.id}/fortbildungsnachweis/{year}").status_code == 403


def test_the_yearly_record_and_a_sessions_pdf_are_saved_as_images(client, auth, city, kim,
                                                                  workshop, tmp_path):
    assert shutil.which("pdftoppm"), "pdftoppm is missing: `sudo apt-get install poppler-utils`"
    year = (workshop.starts_at + timedelta(hours=1)).year
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    auth.login(factories.user(city, role=Role.HR_LEAD))
    for path, name in ((f"/verwaltung/personen/{kim.id}/fortbildungsnachweis/{year}",
                        "fortbildungsnachweis"),
                       (f"/anwesenheit/termine/{workshop.id}/bescheinigungen.pdf",
                        "bescheinigungen_eines_termins")):
        pdf = tmp_path / f"{name}.pdf"
        pdf.write_bytes(pdf_of(client.get(path)).stream.getvalue())
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf),
                        str(ARTIFACTS / name)], check=True, timeout=60)
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
