"""A person's own data (Art. 15 DSGVO) as a workbook she can read: German headings and words.

The JSON download stays the complete record for machines; this one shows the same facts
with labels instead of codes and dates as dates, one sheet per part.
"""

from __future__ import annotations

from datetime import datetime
from typing import IO

from flask_babel import force_locale

from tracker.exports.workbook import DATETIME_FORMAT, Column, Formatted, Sheet, write_workbook
from tracker.models import AttendanceStatus, CancelReason, EnrolmentState, Role
from tracker.services.audit import ACTION_LABELS


def _when(iso: str | None) -> datetime | None:
    """The export's local ISO time as the naive local datetime Excel shows."""
    return datetime.fromisoformat(iso).replace(tzinfo=None) if iso else None


def _word(enum_type, value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(enum_type(value).label)
    except ValueError:  # a value an older version stored
        return value


def _yes_no(value: bool) -> str:
    return "ja" if value else "nein"


def _person_rows(person: dict, created_at: str) -> list:
    def when(iso):
        return Formatted(_when(iso), DATETIME_FORMAT) if iso else "–"

    return [
        ["Auskunft erstellt am", when(created_at)],
        ["Vorname", person["vorname"]],
        ["Nachname", person["nachname"]],
        ["E-Mail-Adresse", person["email"]],
        ["Organisation", person["organisation"]],
        ["Rolle", _word(Role, person["rolle"])],
        ["Konto aktiv", _yes_no(person["aktiv"])],
        ["Konto angelegt am", when(person["angelegt_am"])],
        ["Koordiniert die Reihen", ", ".join(person["koordiniert_reihen"]) or "–"],
        ["Zeiten", "Alle Zeiten in deutscher Zeit (Europe/Berlin)."],
    ]


ENROLMENT_COLUMNS = [
    Column("Reihe", 30), Column("Termin", 34),
    Column("Beginn", 17, DATETIME_FORMAT), Column("Ende", 17, DATETIME_FORMAT),
    Column("Ort", 28), Column("Status", 26), Column("Organisation bei der Anmeldung", 30),
    Column("Angemeldet am", 17, DATETIME_FORMAT), Column("Platz erhalten am", 17, DATETIME_FORMAT),
    Column("Storniert am", 17, DATETIME_FORMAT), Column("Grund der Stornierung", 28),
    Column("Durch die Personalstelle angemeldet", 14), Column("Anwesenheit", 16),
    Column("Anwesenheit erfasst am", 17, DATETIME_FORMAT),
]


def _enrolment_rows(enrolments: list[dict]):
    for e in enrolments:
        mark = e["anwesenheit"] or {}
        yield [
            e["reihe"], e["termin"], _when(e["beginn"]), _when(e["ende"]), e["ort"] or "",
            _word(EnrolmentState, e["status"]), e["organisation_bei_anmeldung"] or "",
            _when(e["angemeldet_am"]), _when(e["platz_erhalten_am"]), _when(e["storniert_am"]),
            _word(CancelReason, e["stornogrund"]),
            _yes_no(e["durch_personalstelle_angemeldet"]),
            _word(AttendanceStatus, mark.get("status")), _when(mark.get("erfasst_am")),
        ]


def _audit_rows(entries: list[dict]):
    for entry in entries:
        label = ACTION_LABELS.get(entry["aktion"])
        yield [_when(entry["am"]), str(label) if label else entry["aktion"]]


def _link_rows(links: list[dict]):
    for link in links:
        yield [_when(link["erstellt_am"]), _when(link["gueltig_bis"]), _when(link["benutzt_am"])]


def _certificate_rows(certificates: list[dict]):
    for c in certificates:
        yield [_when(c["ausgestellt_am"]), c["reihe"] or "", c["termin"] or "", _when(c["beginn"]),
               c["fassung"], _when(c["ersetzt_am"]), _when(c["widerrufen_am"]), c["code"]]


def write_own_data_workbook(data: dict, target: str | IO[bytes]) -> dict[str, int]:
    """Write `data` (tracker.services.privacy.export_user_data) as a workbook to `target`."""
    # German like the HR workbooks, whatever language the page was in.
    with force_locale("de"):
        sheets = [
            Sheet("Person", [Column("Angabe", 32), Column("Wert", 60)],
                  _person_rows(data["person"], data["erstellt_am"]), data=False, mixed=True),
            Sheet("Anmeldungen", ENROLMENT_COLUMNS, list(_enrolment_rows(data["anmeldungen"]))),
            Sheet("Änderungen am Konto", [Column("Am", 17, DATETIME_FORMAT), Column("Änderung", 44)],
                  list(_audit_rows(data["protokoll"]))),
            Sheet("Passwort-Links", [Column("Erstellt am", 17, DATETIME_FORMAT),
                                     Column("Gültig bis", 17, DATETIME_FORMAT),
                                     Column("Benutzt am", 17, DATETIME_FORMAT)],
                  list(_link_rows(data["passwort_links"]))),
            Sheet("Bescheinigungen", [Column("Ausgestellt am", 17, DATETIME_FORMAT),
                                      Column("Reihe", 30), Column("Termin", 36),
                                      Column("Beginn", 17, DATETIME_FORMAT), Column("Fassung", 9),
                                      Column("Ersetzt am", 17, DATETIME_FORMAT),
                                      Column("Widerrufen am", 17, DATETIME_FORMAT),
                                      Column("Prüfcode", 36)],
                  list(_certificate_rows(data.get("bescheinigungen", [])))),
        ]
        return write_workbook(sheets, target)
