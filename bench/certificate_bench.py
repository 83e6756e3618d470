"""Certificate bench: a 30-person session's certificates through tracker versus bare WeasyPrint.

    python -m bench.certificate_bench [PEOPLE]

Builds a fresh SQLite database with one closed session that PEOPLE (default 30) people of one
organisation attended, issues their certificates once and saves the HTML tracker renders for
them. Then two child processes run one after the other, so that each peak memory is its own:

- "tracker": an HR lead downloads the session's certificates through real HTTP (Flask's test
  client): as one PDF (`/anwesenheit/termine/<id>/bescheinigungen.pdf`) and as a zip of one
  PDF per person; access checks, the issue (the same facts give back the same certificates),
  the template, the QR codes and WeasyPrint;
- "bare": WeasyPrint alone writes the same saved HTML, one PDF per certificate with the same
  PDF/UA variant and one font configuration for all: the floor of what WeasyPrint can do
  with these pages.

Each child warms up once (imports, fonts) and then times one download; each runs three times,
in turns, and its fastest run counts. Targets: certificates per second tracker/bare >= 0.8 for
the single PDF, and the whole session in a few seconds. bench/run.py calls run().
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.export_bench import _peak_mb, _rss_mb

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 0.8
SECONDS_TARGET = 5.0  # "a few seconds" for a 30-person session
PASSWORD = "bench-passwort-1234"  # noqa: S105 - a throwaway bench database
LEAD = "personalleitung@bench.example"


def _app(url: str):
    from tracker import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                       "WTF_CSRF_ENABLED": False})


def build_database(url: str, people: int, html_file: Path) -> int:
    """The session and its participants; returns the session id. Saves the certificates'
    HTML as tracker renders it, for the bare child."""
    from flask_migrate import upgrade

    from tracker.extensions import db
    from tracker.models import (
        AttendanceMark,
        Enrolment,
        Organisation,
        Role,
        TrainingSeries,
        TrainingSession,
    )
    from tracker.services import accounts, certificates
    from tracker.services.demo_data import FIRST_NAMES, LAST_NAMES

    app = _app(url)
    with app.app_context():
        upgrade()
        city = Organisation(name="Stadtverwaltung Dessau-Roßlau", short_name="Stadt")
        db.session.add(city)
        db.session.flush()
        lead = accounts.create_user(email=LEAD, first_name="Petra", last_name="Lehmann",
                                    organisation=city, role=Role.HR_LEAD, password=PASSWORD)
        series = TrainingSeries(
            title="Vielfaltsmontag 2026", owner_organisation=city, open_to=[city],
            description="Monatlicher Workshop der Partnerverwaltungen zu Vielfalt, Inklusion "
                        "und Antidiskriminierung.")
        starts = datetime(2026, 11, 2, 13)
        session = TrainingSession(
            series=series, title="Vielfalt in der Personalauswahl", starts_at=starts,
            ends_at=starts + timedelta(hours=2), enrolment_deadline=starts - timedelta(days=1),
            capacity=people, seats_taken=people, waitlist_seq=0, trainer="Dr. Sabine Roth",
            location="Rathaus, Raum 2.14", closed_at=starts + timedelta(hours=3))
        db.session.add_all([series, session])
        db.session.flush()
        for n in range(people):
            person = accounts.create_user(
                email=f"person{n}@bench.example", first_name=FIRST_NAMES[n % len(FIRST_NAMES)],
                last_name=LAST_NAMES[(n * 7) % len(LAST_NAMES)], organisation=city,
                role=Role.EMPLOYEE, password=None)
            enrolment = Enrolment(user=person, session=session, organisation_id=city.id,
                                  state="enrolled")
            db.session.add(enrolment)
            db.session.add(AttendanceMark(enrolment=enrolment, session_id=session.id, status="present",
                                          marked_by=lead))
        db.session.commit()
        with app.test_request_context():
            issued = certificates.for_session(session, lead)
            db.session.commit()
            html_file.write_text(json.dumps([certificates.render_html(c) for c in issued]))
        return session.id


def child_tracker(url: str, session_id: int) -> dict:
    app = _app(url)
    client = app.test_client()
    response = client.post("/anmelden", data={"email": LEAD, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    figures: dict = {}
    for kind in ("pdf", "zip"):
        path = f"/anwesenheit/termine/{session_id}/bescheinigungen.{kind}"
        assert client.get(path).status_code == 200  # warm-up: imports, fonts, templates
        before = _rss_mb()
        started = time.perf_counter()
        response = client.get(path)
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        figures[kind] = {"seconds": round(seconds, 3), "bytes": len(response.data),
                         "before_mb": before}
    figures["peak_mb"] = _peak_mb()
    return figures


def child_bare(html_file: Path) -> dict:
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    pages = json.loads(html_file.read_text())
    static = str(ROOT / "static") + "/"
    # The fonts loaded once for all pages, as WeasyPrint documents for many documents:
    # without that, loading Fira Sans again costs most of each page.
    fonts = FontConfiguration()

    def write(page: str) -> bytes:
        return HTML(string=page, base_url=static).write_pdf(pdf_variant="pdf/ua-1",
                                                            font_config=fonts)

    write(pages[0])  # warm-up
    before = _rss_mb()
    started = time.perf_counter()
    size = sum(len(write(page)) for page in pages)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "bytes": size, "before_mb": before,
            "peak_mb": _peak_mb()}


def _run_child(tmp: str, *args: str) -> dict:
    # Every child, the builder too, is a process of its own with the queue file in `tmp`:
    # the bench's own process keeps its environment as it was.
    result = subprocess.run(
        [sys.executable, "-m", "bench.certificate_bench", "--child", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "PYTHONPATH": str(ROOT), "QUEUE_FILE": str(Path(tmp) / "queue.db")},
    )
    for line in result.stdout.splitlines():
        if line.startswith("CHILDJSON "):
            return json.loads(line[len("CHILDJSON "):])
    raise RuntimeError(f"certificate child {args[0]} failed ({result.returncode}): "
                       f"{(result.stderr or result.stdout).strip()[-2000:]}")


def run(people: int = 30, repeats: int = 3) -> dict:
    """Keys: people, ratio (certificates/s of tracker's one-PDF download / bare WeasyPrint),
    ratio_zip (the same for the zip), seconds (tracker's one-PDF download), peak_mb (tracker's
    peak), tracker and bare (each run's figures), targets and ok."""
    tracker_runs, bare_runs = [], []
    with tempfile.TemporaryDirectory(prefix="tracker-certificate-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'certificates.db'}"
        html_file = Path(tmp) / "certificates.json"
        session_id = _run_child(tmp, "build", url, str(people), str(html_file))["session_id"]
        for _ in range(max(1, repeats)):
            tracker_runs.append(_run_child(tmp, "tracker", url, str(session_id)))
            bare_runs.append(_run_child(tmp, "bare", str(html_file)))
    pdf = min((r["pdf"] for r in tracker_runs), key=lambda r: r["seconds"])
    archive = min((r["zip"] for r in tracker_runs), key=lambda r: r["seconds"])
    bare = min(bare_runs, key=lambda r: r["seconds"])
    ratio = round(bare["seconds"] / pdf["seconds"], 3)  # same count: rates invert the times
    peak = max(r["peak_mb"] for r in tracker_runs)
    return {
        "people": people,
        "ratio": ratio,
        "ratio_zip": round(bare["seconds"] / archive["seconds"], 3),
        "seconds": pdf["seconds"],
        "certificates_per_s": round(people / pdf["seconds"], 1),
        "bare_per_s": round(people / bare["seconds"], 1),
        "peak_mb": peak,
        "bare_peak_mb": max(r["peak_mb"] for r in bare_runs),
        "tracker": {"pdf": pdf, "zip": archive,
                    "all_seconds": [r["pdf"]["seconds"] for r in tracker_runs]},
        "bare": {**bare, "all_seconds": [r["seconds"] for r in bare_runs]},
        "targets": {"ratio": RATIO_TARGET, "seconds": SECONDS_TARGET},
        "ok": ratio >= RATIO_TARGET and pdf["seconds"] <= SECONDS_TARGET,
    }


def print_table(result: dict) -> None:
    pdf, archive, bare = result["tracker"]["pdf"], result["tracker"]["zip"], result["bare"]
    people = result["people"]
    print(f"Certificates of a {people}-person session")
    print(f"  {'':<30}{'seconds':>9}{'per s':>8}{'MB out':>8}")
    for label, r in (("tracker, one PDF (HTTP)", pdf), ("tracker, zip (HTTP)", archive),
                     ("bare WeasyPrint, one each", bare)):
        print(f"  {label:<30}{r['seconds']:>9.2f}{people / r['seconds']:>8.1f}"
              f"{r['bytes'] / 1e6:>8.2f}")
    print(f"  ratio certificates/s one PDF/bare: {result['ratio']:.3f} (target >= "
          f"{RATIO_TARGET}); zip/bare: {result['ratio_zip']:.3f}; tracker peak "
          f"{result['peak_mb']:.1f} MB, bare peak {result['bare_peak_mb']:.1f} MB"
          f" -> {'OK' if result['ok'] else 'MISSED'}")
    print(f"  runs (s): tracker {result['tracker']['all_seconds']}, "
          f"bare {bare['all_seconds']}")


def main() -> None:  # pragma: no cover - run by hand or by bench/run.py
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("people", nargs="?", type=int, default=30)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            figures = {"session_id": build_database(rest[0], int(rest[1]), Path(rest[2]))}
        elif kind == "tracker":
            figures = child_tracker(rest[0], int(rest[1]))
        else:
            figures = child_bare(Path(rest[0]))
        print("CHILDJSON " + json.dumps(figures))
        return
    result = run(args.people)
    print_table(result)


if __name__ == "__main__":
    main()
