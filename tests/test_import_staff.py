"""HR departments import their staff lists: preview first, then all or nothing."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, update

from tests import factories
from tracker.models import AuditEntry, JobKind, Role, StoredJob, User, utcnow


def _previews(db) -> int:
    return db.session.scalar(select(func.count()).select_from(StoredJob)
                             .where(StoredJob.kind == JobKind.IMPORT_PREVIEW))


@pytest.fixture
def city(db):
    org = factories.organisation("Stadtverwaltung Dessau-Roßlau", short_name="Stadt")
    db.session.commit()
    return org


@pytest.fixture
def uba(db):
    org = factories.organisation("Umweltbundesamt", short_name="UBA")
    db.session.commit()
    return org


@pytest.fixture
def admin(auth, city):
    user = factories.user(city, Role.ADMIN, email="admin@tracker.example")
    auth.login(user)
    return user


GERMAN_CSV = (
    "Name;Vorname;E-Mail;Organisation\r\n"
    "Müller;Jürgen;J.Mueller@Stadt.example;Stadt\r\n"
    "Öztürk;Ayşe;a.oeztuerk@stadt.example;Stadtverwaltung Dessau-Roßlau\r\n"
    "Weiß;Sören;s.weiss@uba.example;UBA\r\n"
)


def _csv(text=GERMAN_CSV, encoding="utf-8-sig"):
    return text.encode(encoding)


def _xlsx(rows):
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _upload(client, data, filename="personal.csv"):
    return client.post("/verwaltung/import", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def _people(db):
    return db.session.scalar(select(func.count(User.id)))


def _confirm(client):
    with client.session_transaction() as s:
        token = s["staff_import"]
    return client.post("/verwaltung/import/uebernehmen", data={"token": token})


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (_csv(), "personal.csv"),  # UTF-8 with BOM, semicolons, CRLF
        (_csv(encoding="utf-8"), "personal.csv"),  # UTF-8 without BOM
        (_csv(GERMAN_CSV.replace("ş", "s"), encoding="cp1252"), "PERSONAL.CSV"),  # Windows-1252
        (_csv(GERMAN_CSV.replace(";", ",")), "personal.csv"),  # commas
    ],
)
def test_typical_german_csv_files_are_previewed_and_imported(client, db, admin, city, uba, data, filename):
    before = _people(db)
    response = _upload(client, data, filename)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/verwaltung/import/vorschau")
    preview = client.get("/verwaltung/import/vorschau").get_data(as_text=True)
    assert "Müller, Jürgen" in preview and "Weiß, Sören" in preview
    assert preview.count(">neu<") >= 3
    assert _people(db) == before  # the preview writes nothing
    assert _confirm(client).status_code == 303
    assert _people(db) == before + 3
    mueller = db.session.scalar(select(User).where(User.email == "j.mueller@stadt.example"))
    assert (mueller.first_name, mueller.last_name, mueller.organisation_id) == ("Jürgen", "Müller", city.id)
    assert db.session.scalar(select(User.organisation_id).where(User.email == "s.weiss@uba.example")) == uba.id


def test_reimporting_the_same_file_changes_nothing(client, db, admin, city, uba):
    _upload(client, _csv())
    _confirm(client)
    people, entries = _people(db), db.session.scalar(select(func.count(AuditEntry.id)))
    _upload(client, _csv().replace(b"J.Mueller@Stadt.example", b"j.mueller@STADT.example"))
    preview = client.get("/verwaltung/import/vorschau").get_data(as_text=True)
    assert preview.count(">unverändert<") == 4  # the summary badge and three rows
    assert "der Import würde nichts ändern" in preview
    response = _confirm(client)
    assert response.status_code == 303
    assert _people(db) == people
    assert db.session.scalar(select(func.count(AuditEntry.id))) == entries


def test_changed_rows_show_what_changes_and_are_applied(client, db, admin, city, uba):
    person = factories.user(city, email="j.mueller@stadt.example", first_name="Jürgen", last_name="Mueller")
    _upload(client, _csv())
    preview = client.get("/verwaltung/import/vorschau").get_data(as_text=True)
    assert ">geändert<" in preview and "Name: Mueller → Müller" in preview
    _confirm(client)
    db.session.refresh(person)
    assert person.last_name == "Müller"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "import.apply"))
    assert entry.details["new"] == 2 and entry.details["changed"] == 1


def test_xlsx_with_roles_is_imported(client, db, admin, city):
    data = _xlsx([["Name", "Vorname", "E-Mail", "Organisation", "Rolle"],
                  ["Lange", "Vera", "v.lange@stadt.example", "Stadt", "Personalleitung"],
                  ["Koch", "Ben", "b.koch@stadt.example", "Stadt", ""],
                  [None, None, None, None, None]])
    assert _upload(client, data, "Personal.xlsx").status_code == 303
    assert _confirm(client).status_code == 303
    roles = dict(db.session.execute(select(User.email, User.role).where(User.email.like("%@stadt.example"))).all())
    assert roles["v.lange@stadt.example"] == "hr_lead" and roles["b.koch@stadt.example"] == "employee"


def test_rows_with_errors_show_their_reason_and_nothing_is_imported(client, db, admin, city):
    factories.user(city, email="schon.da@stadt.example")
    text = ("Name;Vorname;E-Mail;Organisation;Rolle\n"
            "Gut;Anna;anna@stadt.example;Stadt;\n"
            ";Ohne;ohne.name@stadt.example;Stadt;\n"
            "Kaputt;Adresse;keine-adresse;Stadt;\n"
            "Doppelt;Eins;doppelt@stadt.example;Stadt;\n"
            "Doppelt;Zwei;DOPPELT@stadt.example;Stadt;\n"
            "Fremd;Org;fremd@x.example;Landratsamt;\n"
            "Rolle;Falsch;rolle@stadt.example;Stadt;Chef\n")
    _upload(client, text.encode())
    preview = client.get("/verwaltung/import/vorschau").get_data(as_text=True)
    for reason in ("Name oder Vorname fehlt.", "Ungültige E-Mail-Adresse.",
                   "Die E-Mail-Adresse kommt mehrfach in der Datei vor (Zeilen 5, 6).",
                   "Unbekannte Organisation „Landratsamt“.", "Unbekannte Rolle „Chef“."):
        assert reason in preview
    assert "import/uebernehmen" not in preview  # no confirm button
    before = _people(db)
    response = _confirm(client)
    assert response.status_code == 422
    assert "Es wurde nichts übernommen" in response.get_data(as_text=True)
    assert _people(db) == before
    assert db.session.scalar(select(User).where(User.email == "anna@stadt.example")) is None


def test_hr_lead_imports_into_her_own_organisation_only(client, auth, db, city, uba):
    auth.login(factories.user(city, Role.HR_LEAD))
    factories.user(uba, email="fremd@uba.example")
    text = ("Name;Vorname;E-Mail\nNeu;Nina;nina@stadt.example\n")
    _upload(client, text.encode())
    _confirm(client)
    assert db.session.scalar(select(User.organisation_id).where(User.email == "nina@stadt.example")) == city.id
    _upload(client, b"Name;Vorname;E-Mail;Organisation;Rolle\n"
                    b"X;Y;x@uba.example;UBA;\nF;G;fremd@uba.example;;\nA;B;a@stadt.example;;Administration\n")
    preview = client.get("/verwaltung/import/vorschau").get_data(as_text=True)
    assert "Sie dürfen nur Personen Ihrer eigenen Organisation importieren." in preview
    assert "Diese Rolle dürfen Sie nicht vergeben." in preview


def _preview_of(client, email: str) -> str:
    _upload(client, f"Name;Vorname;E-Mail\nGast;Greta;{email}\n".encode())
    html = client.get("/verwaltung/import/vorschau").get_data(as_text=True)
    return html.replace(email, "ADDRESS")


def test_hr_lead_preview_answers_an_address_of_another_organisation_like_a_free_one(client, auth, db, city, uba):
    auth.login(factories.user(city, Role.HR_LEAD))
    factories.user(uba, email="fremd@uba.example")
    strip_token = re.compile(r'name="token" value="[^"]+"')
    taken = strip_token.sub("", _preview_of(client, "fremd@uba.example"))
    free = strip_token.sub("", _preview_of(client, "frei@uba.example"))
    assert taken == free
    assert ">neu<" in taken

    # The save that would collide says one neutral thing, and saves nothing.
    _preview_of(client, "fremd@uba.example")
    before = _people(db)
    response = _confirm(client)
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "Zeilen 2: Diese E-Mail-Adresse kann nicht verwendet werden." in text
    assert "Umweltbundesamt" not in text and "UBA" not in text
    assert _people(db) == before


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"%PDF-1.4 binary \x00\x01\x02", "liste.pdf", "Bitte laden Sie eine .xlsx- oder .csv-Datei hoch."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "liste.csv", "Die Datei ist keine Tabelle"),
        (b"this is not a zip file", "liste.xlsx", "keine gültige Excel-Arbeitsmappe"),
        (b"PK\x03\x04 broken zip", "liste.xlsx", "keine gültige Excel-Arbeitsmappe"),
        (b"", "liste.csv", "Die Datei ist leer."),
        (b"\r\n;;\r\n", "liste.csv", "Die Datei ist leer."),
        (b"Name;Vorname;E-Mail\r\n", "liste.csv", "nur die Kopfzeile"),
        (b"Name;Vorname;Telefon\r\nA;B;123\r\n", "liste.csv", "In der Kopfzeile fehlen Spalten: E-Mail"),
        (b"Nachname,Telefon\nA,1\n", "liste.csv", "In der Kopfzeile fehlen Spalten: Vorname, E-Mail"),
        (b"old excel", "liste.xls", "Das alte Excel-Format .xls wird nicht unterstützt"),
    ],
)
def test_bad_files_are_refused_in_german_and_nothing_is_kept(client, db, admin, city, data, filename, message):
    before = _people(db)
    response = _upload(client, data, filename)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _people(db) == before
    with client.session_transaction() as s:
        assert "staff_import" not in s
    assert _previews(db) == 0


def test_an_empty_xlsx_and_one_without_the_columns_are_refused(client, db, admin):
    assert "Die Datei ist leer." in _upload(client, _xlsx([]), "leer.xlsx").get_data(as_text=True)
    html = _upload(client, _xlsx([["Spalte A", "Spalte B"], [1, 2]]), "x.xlsx").get_data(as_text=True)
    assert "In der Kopfzeile fehlen Spalten: Name, Vorname, E-Mail" in html


def _with_sheet(xlsx: bytes, sheet_xml: bytes) -> bytes:
    """The workbook with its first sheet's XML replaced, as a damaged or hostile file has it."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, sheet_xml if info.filename == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


def test_an_xlsx_broken_after_its_first_rows_is_refused_as_damaged(client, db, admin, city):
    # The zip and the start of the sheet are fine; the XML breaks far into the rows, where
    # openpyxl only notices while reading them (a file cut off during a copy).
    rows = [["Name", "Vorname", "E-Mail"]] + [[f"N{i}", "V", f"p{i}@stadt.example"] for i in range(2000)]
    good = _xlsx(rows)
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    before = _people(db)
    response = _upload(client, _with_sheet(good, sheet[: len(sheet) * 3 // 4] + b"<<"), "liste.xlsx")
    assert response.status_code == 422
    assert "Die Excel-Arbeitsmappe ist beschädigt" in response.get_data(as_text=True)
    assert _people(db) == before
    with client.session_transaction() as s:
        assert "staff_import" not in s


def test_an_xlsx_with_an_entity_bomb_is_refused_without_expanding_it(client, db, admin):
    # A billion laughs: expat (2.4 and newer) stops the amplification, openpyxl's reading
    # of the workbook fails and the upload is refused like any file that is no workbook.
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10))
    sheet = (f'<?xml version="1.0"?><!DOCTYPE w [{entities}]>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&a9;</t></is></c></row>'
             "</sheetData></worksheet>").encode()
    response = _upload(client, _with_sheet(_xlsx([["Name"]]), sheet), "liste.xlsx")
    assert response.status_code == 422
    assert "keine gültige Excel-Arbeitsmappe" in response.get_data(as_text=True)


def test_an_xlsx_that_unpacks_to_more_than_the_limit_is_refused_unread(client, db, admin, monkeypatch):
    # A few hundred kilobytes that unpack to 60 MB of sheet: refused by the sizes the zip
    # declares, before any XML is parsed.
    from tracker.services import staff_import

    def unreachable(*args, **kwargs):
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr("openpyxl.load_workbook", unreachable)
    padding = b" " * (60 * 1024 * 1024)
    sheet = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             + padding + b"<sheetData/></worksheet>")
    data = _with_sheet(_xlsx([["Name"]]), sheet)
    assert len(data) < 1024 * 1024 < staff_import.MAX_UNPACKED_BYTES < len(sheet)
    response = _upload(client, data, "liste.xlsx")
    assert response.status_code == 422
    assert "entpackt zu groß" in response.get_data(as_text=True)


def test_no_file_chosen_gets_a_message_next_to_the_field(client, admin):
    response = client.post("/verwaltung/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Bitte wählen Sie eine Datei aus." in response.get_data(as_text=True)


def test_a_file_over_the_limit_is_refused_with_413(client, admin):
    # The multipart body is built by hand so that no spooled temporary file is left open.
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gross.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\n" + b"x" * (11 * 1024 * 1024) + b"\r\n--xyz--\r\n")
    response = client.post("/verwaltung/import", data=body,
                           content_type="multipart/form-data; boundary=xyz")
    assert response.status_code == 413
    assert "Die hochgeladene Datei ist zu groß." in response.get_data(as_text=True)


def test_a_50_mb_upload_is_refused_without_reading_it(client, admin):
    class FiftyMegabytes(io.RawIOBase):
        """A 50 MB body that exists only as a size; counts what the server actually reads."""

        size = 50 * 1024 * 1024

        def __init__(self):
            self.position = 0
            self.read_bytes = 0

        def readable(self):
            return True

        def seekable(self):
            return True

        def tell(self):
            return self.position

        def seek(self, offset, whence=0):
            base = {0: 0, 1: self.position, 2: self.size}[whence]
            self.position = max(0, min(self.size, base + offset))
            return self.position

        def readinto(self, buffer):
            n = min(len(buffer), self.size - self.position)
            buffer[:n] = b"x" * n
            self.position += n
            self.read_bytes += n
            return n

    body = FiftyMegabytes()
    response = client.post("/verwaltung/import", input_stream=body,
                           content_type="multipart/form-data; boundary=xyz")
    assert response.status_code == 413
    assert "Die hochgeladene Datei ist zu groß." in response.get_data(as_text=True)
    assert body.read_bytes < 1024 * 1024


def test_preview_token_of_another_session_or_a_forged_one_is_refused(app, client, db, admin, city):
    _upload(client, _csv())
    other_admin = factories.user(city, Role.ADMIN)
    before = _people(db)
    response = client.post("/verwaltung/import/uebernehmen", data={"token": "../../etc/passwd"})
    assert response.status_code == 409
    other = app.test_client()
    other.post("/anmelden", data={"email": other_admin.email, "password": factories.PASSWORD})
    with client.session_transaction() as s:
        token = s["staff_import"]
    assert other.post("/verwaltung/import/uebernehmen", data={"token": token}).status_code == 409
    assert _people(db) == before


def test_discarding_a_preview_removes_the_stored_rows(client, db, admin, city):
    _upload(client, _csv())
    assert _previews(db) == 1
    with client.session_transaction() as s:
        token = s["staff_import"]
    assert client.post("/verwaltung/import/verwerfen", data={"token": token}).status_code == 303
    assert _previews(db) == 0
    assert client.get("/verwaltung/import/vorschau").status_code == 303


def test_preview_rechecks_the_database_at_confirmation(client, db, admin, city, uba):
    _upload(client, _csv())
    # Someone creates one of the people between preview and confirmation.
    factories.user(city, email="j.mueller@stadt.example", first_name="Jürgen", last_name="Müller")
    before = _people(db)
    assert _confirm(client).status_code == 303
    assert _people(db) == before + 2


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.HR_STAFF])
def test_employees_cannot_import(client, auth, db, role):
    auth.login(factories.user(role=role))
    assert _upload(client, _csv()).status_code == 403


# --- Limits count real rows, and a file over them is refused whole --------------------------


def _staff_csv(n: int, *, blank_after_each: bool = False) -> bytes:
    lines = ["Name;Vorname;E-Mail;Organisation"]
    for i in range(n):
        lines.append(f"Muster{i};Person;person{i}@stadt.example;Stadt")
        if blank_after_each:
            lines.append("")
    return ("\r\n".join(lines) + "\r\n").encode()


def test_a_list_over_the_limit_with_blank_lines_between_is_refused_whole(client, db, admin, city):
    from tracker.services import staff_import

    # Blank lines used to count towards the limit, and the file was then offered cut short.
    response = _upload(client, _staff_csv(staff_import.MAX_ROWS + 1, blank_after_each=True))
    assert response.status_code == 422
    assert f"mehr als {staff_import.MAX_ROWS} Personen" in response.get_data(as_text=True)
    with client.session_transaction() as s:
        assert "staff_import" not in s
    assert client.get("/verwaltung/import/vorschau").status_code == 303


def test_a_list_at_the_limit_with_blank_lines_between_is_offered_whole(client, db, admin, city):
    from tracker.services import staff_import

    data = _staff_csv(staff_import.MAX_ROWS, blank_after_each=True)
    last = f"person{staff_import.MAX_ROWS - 1}@stadt.example".encode()
    response = _upload(client, data.replace(last, b"keine-adresse"))
    assert response.status_code == 303
    preview = " ".join(client.get("/verwaltung/import/vorschau").get_data(as_text=True).split())
    assert f">neu</span></span> <strong>{staff_import.MAX_ROWS - 1}</strong>" in preview
    # Line numbers are those of the file, blank lines included: the last person is on line
    # 2 * MAX_ROWS.
    assert f"1 fehlerhafte Zeile: Zeile {2 * staff_import.MAX_ROWS} der Datei." in preview


def test_an_xlsx_over_the_limit_with_blank_rows_between_is_refused_whole(client, db, admin, city):
    from tracker.services import staff_import

    rows = [["Name", "Vorname", "E-Mail", "Organisation"]]
    for i in range(staff_import.MAX_ROWS + 1):
        rows += [[f"Muster{i}", "Person", f"person{i}@stadt.example", "Stadt"], []]
    response = _upload(client, _xlsx(rows), "liste.xlsx")
    assert response.status_code == 422
    assert f"mehr als {staff_import.MAX_ROWS} Personen" in response.get_data(as_text=True)


def test_an_xlsx_with_too_many_columns_or_cells_is_refused(client, db, admin, city):
    from tracker.services import staff_import

    wide = [["Name", "Vorname", "E-Mail"] + [f"Spalte {i}" for i in range(staff_import.MAX_COLUMNS)]]
    response = _upload(client, _xlsx(wide), "breit.xlsx")
    assert response.status_code == 422
    assert f"mehr als {staff_import.MAX_COLUMNS} Spalten" in response.get_data(as_text=True)

    # Few people, but a small file of many filled cells: refused by the cell count.
    columns = staff_import.MAX_COLUMNS - 1
    rows = [["Name", "Vorname", "E-Mail"] + ["x"] * (columns - 3)]
    rows += [[f"N{i}", "V", f"p{i}@stadt.example"] + ["x"] * (columns - 3)
             for i in range(staff_import.MAX_CELLS // columns + 1)]
    response = _upload(client, _xlsx(rows), "zellen.xlsx")
    assert response.status_code == 422
    assert "gefüllte Zellen" in response.get_data(as_text=True)
    assert client.get("/verwaltung/import/vorschau").status_code == 303


def test_other_people_can_write_while_an_upload_is_parsed(client, db, admin, city, monkeypatch):
    # Parsing a large file used to run inside the upload's write transaction: SQLite's write
    # lock was held for seconds and everybody's logins waited. While the file is read here,
    # a second connection must get the write lock at once.
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    import sqlite3

    from tracker.services import staff_import

    path = db.engine.url.database
    outcomes = []
    real = staff_import.read_upload

    def read_while_someone_writes(filename, data):
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            outcomes.append("written")
        except sqlite3.OperationalError as exc:
            outcomes.append(str(exc))
        finally:
            other.close()
        return real(filename, data)

    monkeypatch.setattr(staff_import, "read_upload", read_while_someone_writes)
    db.session.close()  # the request begins its own transaction, as in production
    response = _upload(client, _csv())
    assert response.status_code == 303
    assert outcomes == ["written"]


def test_preview_names_the_lines_of_the_file_that_have_errors(client, db, admin, city):
    text = ("Name;Vorname;E-Mail;Organisation\n"
            "\n"
            "Gut;Anna;anna@stadt.example;Stadt\n"
            "Kaputt;Adresse;keine-adresse;Stadt\n"
            "\n"
            ";Ohne;ohne.name@stadt.example;Stadt\n")
    _upload(client, text.encode())
    preview = " ".join(client.get("/verwaltung/import/vorschau").get_data(as_text=True).split())
    assert "2 fehlerhafte Zeilen: Zeilen 4, 6 der Datei." in preview


def test_characters_xml_forbids_are_dropped_from_imported_names(client, db, admin, city):
    text = ("Name;Vorname;E-Mail;Organisation\n"
            "Wei\ufffeß\uffff;\u0085Jo;jo.weiss@stadt.example;Stadt\n")
    _upload(client, text.encode())
    assert _confirm(client).status_code == 303
    person = db.session.scalar(select(User).where(User.email == "jo.weiss@stadt.example"))
    assert (person.last_name, person.first_name) == ("Weiß", "Jo")


def test_a_preview_made_on_one_app_server_is_confirmed_on_another(client, db, admin, city, uba,
                                                                 migrated):
    """The parsed rows wait in the database, not on the disk of the server that took the
    upload: a second app (another gunicorn host) confirms them."""
    from tests.conftest import make_app

    _upload(client, _csv())
    with client.session_transaction() as s:
        token = s["staff_import"]
    cookie = client.get_cookie("tracker_session")
    before = _people(db)
    other_server = make_app(migrated)
    with other_server.app_context():
        other = other_server.test_client()
        other.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        assert "j.mueller@stadt.example" in other.get("/verwaltung/import/vorschau").get_data(
            as_text=True)
        answer = other.post("/verwaltung/import/uebernehmen", data={"token": token})
        assert answer.status_code == 303, answer.get_data(as_text=True)[-3000:]
        db.session.remove()  # the second server's session and pool end with it
        db.engine.dispose()
    db.session.rollback()
    assert _people(db) > before
    assert _previews(db) == 0


def test_an_expired_preview_is_refused_and_nothing_is_imported(client, db, admin, city):
    _upload(client, _csv())
    db.session.execute(update(StoredJob).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    before = _people(db)
    answer = _confirm(client)
    assert answer.status_code == 409
    assert "abgelaufen" in answer.get_data(as_text=True)
    assert _people(db) == before
