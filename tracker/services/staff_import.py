"""Bulk import of staff lists (.xlsx and .csv) the way HR departments keep them.

Three steps: `read_upload` turns a file into raw rows (or refuses the whole file with a German
message); `classify` compares each row with the database (neu / geändert / unverändert /
Fehler, with the reason); `apply` writes every row or nothing. People are matched by e-mail,
case-insensitively, so importing the same file twice changes nothing the second time.

Between preview and confirmation the parsed rows are kept server-side, in the database
(`stored_job`), named by a random token that only the uploader's session knows. Nothing of
the file travels back through the browser, the confirmation re-checks every row against the
database as it is then, and a preview expires after an hour.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import asdict, dataclass, field

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tracker.extensions import db
from tracker.models import Organisation, Role, User
from tracker.services import Conflict, ServiceError, accounts, audit, jobs, people

MAX_ROWS = 5000
# What an .xlsx may unpack to, by the sizes its zip declares (zipfile never unpacks more than
# that), and how many columns and filled cells its first sheet may have. A staff list of
# MAX_ROWS people unpacks to a few megabytes of a handful of columns; a 0.2 MB upload of
# repeated cells can unpack to tens of megabytes that take seconds to parse.
MAX_UNPACKED_BYTES = 16 * 1024 * 1024
MAX_COLUMNS = 50
MAX_CELLS = (MAX_ROWS + 1) * 20

NEW, CHANGED, UNCHANGED, ERROR = "new", "changed", "unchanged", "error"

# Header spellings seen in German staff lists -> our field.
HEADERS = {
    "name": "last_name", "nachname": "last_name", "familienname": "last_name", "zuname": "last_name",
    "vorname": "first_name", "rufname": "first_name",
    "email": "email", "emailadresse": "email", "mail": "email", "dienstlicheemail": "email",
    "organisation": "organisation", "behorde": "organisation", "behörde": "organisation",
    "dienststelle": "organisation", "organisationseinheit": "organisation",
    "rolle": "role", "role": "role",
}
REQUIRED = {"last_name": "Name", "first_name": "Vorname", "email": "E-Mail"}

ROLE_WORDS = {
    "beschäftigte": Role.EMPLOYEE, "beschäftigter": Role.EMPLOYEE, "mitarbeiter": Role.EMPLOYEE,
    "mitarbeiterin": Role.EMPLOYEE, "employee": Role.EMPLOYEE,
    "personalsachbearbeitung": Role.HR_STAFF, "personalstelle": Role.HR_STAFF, "hr_staff": Role.HR_STAFF,
    "personalleitung": Role.HR_LEAD, "hr_lead": Role.HR_LEAD,
    "administration": Role.ADMIN, "admin": Role.ADMIN,
}


@dataclass
class ImportRow:
    line: int
    last_name: str
    first_name: str
    email: str
    organisation: str = ""
    role: str = ""
    status: str = ""
    reason: str = ""
    changes: dict = field(default_factory=dict)
    user_id: int | None = None
    organisation_id: int | None = None
    role_value: str | None = None


@dataclass
class Upload:
    filename: str
    sha256: str
    has_role: bool
    rows: list[ImportRow]


# --- Reading the file -----------------------------------------------------------------------


def _header_key(text: str) -> str:
    """"E-Mail-Adresse" -> "emailadresse": case, spaces and punctuation do not matter."""
    return re.sub(r"[\s_.:\-]", "", str(text or "").strip().lower())


def _map_headers(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = _header_key(cell)
        target = HEADERS.get(key)
        if target and target not in columns:
            columns[target] = index
    missing = [label for key, label in REQUIRED.items() if key not in columns]
    if missing:
        raise ServiceError(_(
            "In der Kopfzeile fehlen Spalten: %(columns)s. Erwartet werden „Name“, „Vorname“, "
            "„E-Mail“ und optional „Organisation“ und „Rolle“.",
            columns=", ".join(missing),
        ))
    return columns


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # Control characters and what XML 1.0 forbids have no place in a name or an address;
    # staff lists carry them from old systems, so they are dropped rather than refused.
    return accounts.clean_name(str(value))


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise ServiceError(_("Die Datei ist keine Tabelle (CSV oder Excel). Bitte prüfen Sie die Datei."))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ServiceError(
            _("Die Zeichenkodierung der Datei wurde nicht erkannt. Bitte speichern Sie sie als "
              "„CSV UTF-8“.")
        ) from exc


def _delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t").delimiter
    except csv.Error:
        first = next((line for line in text.splitlines() if line.strip()), "")
        counts = {d: first.count(d) for d in (";", ",", "\t")}
        return max(counts, key=counts.get) if max(counts.values()) else ";"


def _too_many_rows() -> ServiceError:
    return ServiceError(_("Die Datei enthält mehr als %(n)s Personen. Bitte teilen Sie sie auf.",
                          n=MAX_ROWS))


def _filled(row) -> list[str] | None:
    """The row's cells as clean text, or None for a row without content."""
    cells = [_cell(v) for v in row]
    return cells if any(cells) else None


def _csv_table(data: bytes) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every row with content: blank lines do not count towards the
    limit, and a file over it is refused whole rather than read up to it."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    table = []
    try:
        for row in reader:
            cells = _filled(row)
            if cells is None:
                continue
            if len(table) > MAX_ROWS:  # the header and MAX_ROWS people are already in
                raise _too_many_rows()
            table.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ServiceError(_("Die CSV-Datei ist beschädigt und kann nicht gelesen werden.")) from exc
    return table


def _not_a_workbook() -> ServiceError:
    return ServiceError(
        _("Die Datei ist keine gültige Excel-Arbeitsmappe (.xlsx). Bitte prüfen Sie die Datei.")
    )


def _unpacked_size(data: bytes) -> int:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _not_a_workbook() from exc


def _xlsx_table(data: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    if _unpacked_size(data) > MAX_UNPACKED_BYTES:
        raise ServiceError(_(
            "Die Excel-Arbeitsmappe ist entpackt zu groß (mehr als %(mb)s MB). Bitte laden Sie "
            "nur die Personalliste hoch, zum Beispiel als .csv-Datei.",
            mb=MAX_UNPACKED_BYTES // (1024 * 1024)))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # BadZipFile, KeyError, openpyxl's InvalidFileException, ...
        raise _not_a_workbook() from exc
    too_wide = ServiceError(_(
        "Die erste Tabelle der Arbeitsmappe hat mehr als %(n)s Spalten oder mehr als "
        "%(cells)s gefüllte Zellen. Bitte laden Sie nur die Personalliste hoch.",
        n=MAX_COLUMNS, cells=f"{MAX_CELLS:,}".replace(",", ".")))
    try:
        if not workbook.worksheets:
            return []
        sheet = workbook.worksheets[0]
        table, cells_seen = [], 0
        for line, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if len(row) > MAX_COLUMNS and any(v is not None for v in row[MAX_COLUMNS:]):
                raise too_wide
            cells = _filled(row[:MAX_COLUMNS])
            if cells is None:
                continue
            cells_seen += sum(1 for v in cells if v)
            if cells_seen > MAX_CELLS:
                raise too_wide
            if len(table) > MAX_ROWS:
                raise _too_many_rows()
            table.append((line, cells))
        return table
    except ServiceError:
        raise
    except Exception as exc:  # the sheet's XML is read only here: ParseError, ValueError, ...
        raise ServiceError(_(
            "Die Excel-Arbeitsmappe ist beschädigt und kann nicht gelesen werden. Bitte "
            "speichern Sie sie erneut oder laden Sie die Liste als .csv-Datei hoch.")) from exc
    finally:
        workbook.close()


def read_upload(filename: str, data: bytes) -> Upload:
    """Raw rows of an uploaded staff list; refuses files that cannot be a staff list."""
    name = (filename or "").strip().lower()
    if not data:
        raise ServiceError(_("Die Datei ist leer."))
    if name.endswith(".xls"):
        raise ServiceError(_("Das alte Excel-Format .xls wird nicht unterstützt. Bitte speichern "
                             "Sie die Datei als .xlsx oder .csv."))
    if data[:4] == b"PK\x03\x04":
        if not name.endswith((".xlsx", ".xlsm")):
            raise ServiceError(_("Bitte laden Sie eine .xlsx- oder .csv-Datei hoch."))
        table = _xlsx_table(data)
    elif name.endswith((".csv", ".txt")):
        table = _csv_table(data)
    elif name.endswith((".xlsx", ".xlsm")):
        raise ServiceError(
            _("Die Datei ist keine gültige Excel-Arbeitsmappe (.xlsx). Bitte prüfen Sie die Datei.")
        )
    else:
        raise ServiceError(_("Bitte laden Sie eine .xlsx- oder .csv-Datei hoch."))

    if not table:
        raise ServiceError(_("Die Datei ist leer."))
    (_header_line, header), rows = table[0], table[1:]
    columns = _map_headers(header)
    data_rows = []
    for line, row in rows:
        def get(key, row=row):
            index = columns.get(key)
            return row[index] if index is not None and index < len(row) else ""
        data_rows.append(ImportRow(
            line=line, last_name=get("last_name"), first_name=get("first_name"),
            email=get("email"), organisation=get("organisation"), role=get("role"),
        ))
    if not data_rows:
        raise ServiceError(_("Die Datei enthält nur die Kopfzeile und keine Personen."))
    return Upload(filename=filename or "", sha256=hashlib.sha256(data).hexdigest(),
                  has_role="role" in columns, rows=data_rows)


# --- Comparing with the database ------------------------------------------------------------


def _find_organisation(text: str, orgs: list[Organisation]) -> Organisation | None:
    key = text.strip().lower()
    for org in orgs:
        if key in (org.name.lower(), (org.short_name or "").lower()):
            return org
    return None


def _error(row: ImportRow, reason: str) -> None:
    row.status, row.reason = ERROR, reason


def classify(upload: Upload, *, actor: User) -> list[ImportRow]:
    """Mark every row new / changed / unchanged / error (with a German reason). Read only."""
    rows = [ImportRow(**{k: v for k, v in asdict(r).items()
                         if k in ("line", "last_name", "first_name", "email", "organisation", "role")})
            for r in upload.rows]
    orgs = list(db.session.scalars(select(Organisation)))
    emails = [accounts.normalise_email(r.email) for r in rows]
    # An HR lead's preview compares with her own organisation only: whether an address is in
    # use elsewhere is not hers to learn (such a row shows as new, and the save refuses it
    # with one neutral message).
    known = select(User).where(User.email.in_([e for e in emails if e]))
    if not actor.is_admin:
        known = known.where(User.organisation_id == actor.organisation_id)
    existing = {u.email: u for u in db.session.scalars(known)} if any(emails) else {}
    seen: dict[str, list[int]] = {}
    for row, email in zip(rows, emails, strict=True):
        if email:
            seen.setdefault(email, []).append(row.line)
    allowed_roles = {r.value for r in _assignable(actor)}

    for row, email in zip(rows, emails, strict=True):
        row.email = email
        if not row.last_name or not row.first_name:
            _error(row, _("Name oder Vorname fehlt."))
            continue
        if len(row.last_name) > 100 or len(row.first_name) > 100:
            _error(row, _("Name oder Vorname ist zu lang (höchstens 100 Zeichen)."))
            continue
        if not email:
            _error(row, _("E-Mail-Adresse fehlt."))
            continue
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            _error(row, _("Ungültige E-Mail-Adresse."))
            continue
        if len(seen[email]) > 1:
            _error(row, _("Die E-Mail-Adresse kommt mehrfach in der Datei vor (Zeilen %(lines)s).",
                          lines=", ".join(map(str, seen[email]))))
            continue

        if row.organisation:
            org = _find_organisation(row.organisation, orgs)
            if org is None:
                _error(row, _("Unbekannte Organisation „%(name)s“.", name=row.organisation))
                continue
        elif actor.is_admin:
            _error(row, _("Organisation fehlt."))
            continue
        else:
            org = actor.organisation
        if not actor.is_admin and org.id != actor.organisation_id:
            _error(row, _("Sie dürfen nur Personen Ihrer eigenen Organisation importieren."))
            continue
        if not org.active:
            _error(row, _("Die Organisation „%(name)s“ ist deaktiviert.", name=org.name))
            continue
        row.organisation_id = org.id

        role = None
        if row.role:
            role = ROLE_WORDS.get(row.role.strip().lower())
            if role is None:
                _error(row, _("Unbekannte Rolle „%(name)s“.", name=row.role))
                continue
            if role.value not in allowed_roles:
                _error(row, _("Diese Rolle dürfen Sie nicht vergeben."))
                continue

        user = existing.get(email)
        if user is None:
            row.status, row.role_value = NEW, (role or Role.EMPLOYEE).value
            continue
        row.user_id = user.id
        if user.anonymised_at is not None:
            _error(row, _("Die E-Mail-Adresse gehört zu einer anonymisierten Person."))
            continue
        if not actor.is_admin and (user.organisation_id != actor.organisation_id
                                   or user.role == Role.ADMIN):
            _error(row, _("Die E-Mail-Adresse gehört zu einer Person, die Sie nicht verwalten."))
            continue
        wanted = {"first_name": row.first_name, "last_name": row.last_name,
                  "organisation_id": org.id}
        if role is not None:
            wanted["role"] = role.value
        changes = audit.changes(user, wanted)
        if "role" in changes and user.id == actor.id:
            _error(row, _("Ihre eigene Rolle können Sie nicht ändern."))
            continue
        if "organisation_id" in changes:
            names = {o.id: o.name for o in orgs}
            changes["organisation"] = [names.get(user.organisation_id), org.name]
            del changes["organisation_id"]
        row.changes = changes
        row.role_value = role.value if role is not None else None
        row.status = CHANGED if changes else UNCHANGED
    return rows


def _assignable(actor: User):
    from tracker.services.access import assignable_roles

    return assignable_roles(actor)


def counts(rows: list[ImportRow]) -> dict[str, int]:
    result = {NEW: 0, CHANGED: 0, UNCHANGED: 0, ERROR: 0}
    for row in rows:
        result[row.status] += 1
    return result


# --- Writing --------------------------------------------------------------------------------


def apply(upload: Upload, *, actor: User) -> dict[str, int]:
    """Write every new and changed row, or nothing: any error refuses the whole file."""
    rows = classify(upload, actor=actor)
    summary = counts(rows)
    if summary[ERROR]:
        raise ServiceError(_(
            "Die Liste enthält %(n)s fehlerhafte Zeilen. Es wurde nichts übernommen; "
            "bitte korrigieren Sie die Datei und laden Sie sie erneut hoch.",
            n=summary[ERROR],
        ))
    if not summary[NEW] and not summary[CHANGED]:
        return summary
    new_emails = [row.email for row in rows if row.status == NEW]
    taken = set(db.session.scalars(select(User.email).where(User.email.in_(new_emails))))
    if taken:
        lines = [str(row.line) for row in rows if row.status == NEW and row.email in taken]
        raise Conflict(_(
            "Zeilen %(lines)s: Diese E-Mail-Adresse kann nicht verwendet werden. Es wurde nichts "
            "übernommen; bitte korrigieren Sie die Datei und laden Sie sie erneut hoch.",
            lines=", ".join(lines[:30])))
    orgs = {o.id: o for o in db.session.scalars(select(Organisation))}
    created: list[User] = []
    try:
        for row in rows:
            org = orgs[row.organisation_id]
            if row.status == NEW:
                user = accounts.create_user(email=row.email, first_name=row.first_name,
                                            last_name=row.last_name, organisation=org,
                                            role=row.role_value)
                audit.record(actor, "user.create", "user", user.id, organisation_id=org.id,
                             details={"email": user.email, "first_name": user.first_name,
                                      "last_name": user.last_name, "role": user.role,
                                      "via": "import"})
                created.append(user)
            elif row.status == CHANGED:
                user = db.session.get(User, row.user_id)
                user.first_name, user.last_name = row.first_name, row.last_name
                if user.organisation_id != org.id:
                    user.organisation = org
                    accounts.rotate_session_token(user)
                if row.role_value and user.role != row.role_value:
                    user.role = row.role_value
                    accounts.rotate_session_token(user)
                audit.record(actor, "user.update", "user", user.id, organisation_id=org.id,
                             details={**row.changes, "via": "import"})
        db.session.flush()
    except IntegrityError as exc:
        raise Conflict(_("Während des Imports wurden dieselben Personen anderweitig angelegt. "
                         "Es wurde nichts übernommen; bitte laden Sie die Datei erneut hoch.")) from exc
    # Every new person is invited by mail, in the same transaction as her account.
    for user in created:
        people.invite(user, actor=actor)
    audit.record(actor, "import.apply", "import", None,
                 organisation_id=None if actor.is_admin else actor.organisation_id,
                 details={"file": upload.filename[:200], "sha256": upload.sha256, **summary})
    return summary


# --- Keeping the parsed file between preview and confirmation -------------------------------


def store(upload: Upload, *, actor: User) -> str:
    """Keep the parsed rows server-side (in the database, so any app server can confirm
    them); returns the random token that names them. The caller commits."""
    payload = {"filename": upload.filename, "sha256": upload.sha256,
               "has_role": upload.has_role, "rows": [asdict(r) for r in upload.rows]}
    return jobs.store_preview(payload, actor)


def load(token: str | None, *, actor: User) -> Upload | None:
    """The stored upload for this token and person, or None when gone, expired or foreign."""
    payload = jobs.load_preview(token, actor)
    if payload is None:
        return None
    return Upload(filename=payload["filename"], sha256=payload["sha256"],
                  has_role=payload["has_role"],
                  rows=[ImportRow(**row) for row in payload["rows"]])


def discard(token: str | None) -> None:
    jobs.discard_preview(token)
