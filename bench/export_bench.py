"""Export bench: N participation rows through tracker's workbook export versus bare openpyxl.

    python -m bench.export_bench [ROWS] [--database-url URL]

Builds a fresh SQLite database (or uses --database-url, e.g. PostgreSQL) with ROWS attendance
marks by bulk inserts, then runs two child processes one after the other, so that each peak
memory is its own:

- "tracker": the whole export as the download and the CLI run it (four sheets: Übersicht,
  Teilnahmen with ROWS rows, Personen, Organisationen; chunked queries, safe cells, formats);
- "bare": the same ROWS rows from one plain SQL query, appended to a bare openpyxl write-only
  worksheet without styles, checks or other sheets: the floor of what openpyxl can do.

Both children run openpyxl with lxml (its documented accelerator) and say so ("lxml": true).

Both count ROWS / seconds of their export (interpreter start and app set-up excluded) and their
peak resident memory (VmHWM, imports included); each runs three times, in turns, and
its fastest run counts (two full runs of the same code read 0.71 and 0.89 on a shared host
with two runs each). Targets: ratio of rows per second tracker/bare >= 0.9, tracker peak
< 150 MB. bench/run.py calls run(); the keys are documented
in run()'s docstring.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 0.9
PEAK_TARGET_MB = 150.0
PEOPLE_PER_SESSION = 100
MARKS_PER_PERSON = 10
ORGANISATIONS = 20


# --- data --------------------------------------------------------------------------------------

def build_database(url: str, rows: int, seed: int = 2026) -> dict:
    """ROWS attendance marks (about 86 % present, some walk-ins) by bulk inserts."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from tracker import create_app
    from tracker.extensions import db
    from tracker.models import (
        AttendanceMark,
        Enrolment,
        Organisation,
        TrainingSeries,
        TrainingSession,
        User,
    )
    from tracker.services.demo_data import FIRST_NAMES, LAST_NAMES, TOPICS, TRAINERS

    rng = random.Random(seed)
    sessions = max(1, -(-rows // PEOPLE_PER_SESSION))
    people = max(PEOPLE_PER_SESSION, rows // MARKS_PER_PERSON)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        now = datetime(2026, 1, 1)
        conn = db.session.connection()
        conn.execute(insert(Organisation), [
            {"id": i, "name": f"Partnerverwaltung {i:02d}", "short_name": f"P{i:02d}",
             "active": True, "created_at": now} for i in range(1, ORGANISATIONS + 1)])
        conn.execute(insert(User), [
            {"id": i, "email": f"person{i}@bench.example", "first_name": rng.choice(FIRST_NAMES),
             "last_name": rng.choice(LAST_NAMES), "organisation_id": 1 + i % ORGANISATIONS,
             "role": "employee", "active": True, "password_hash": "", "session_token": f"t{i}",
             "created_at": now} for i in range(1, people + 1)])
        years = [2022, 2023, 2024, 2025]
        series_ids = {}
        series_rows = []
        for n, (year, kind) in enumerate(((y, k) for y in years for k in ("Vielfaltsmontag",
                                                                          "Führung")), 1):
            series_ids[(year, kind)] = n
            series_rows.append({"id": n, "title": f"{kind} {year}", "description": "",
                                "owner_organisation_id": 1 + n % ORGANISATIONS,
                                "archived": False, "created_at": now})
        conn.execute(insert(TrainingSeries), series_rows)
        session_rows = []
        for sid in range(1, sessions + 1):
            year = years[sid % len(years)]
            start = datetime(year, 1, 5, 13) + timedelta(days=(sid * 7) % 360)
            session_rows.append({
                "id": sid, "series_id": series_ids[(year, "Vielfaltsmontag" if sid % 3 else
                                                    "Führung")],
                "title": TOPICS[sid % len(TOPICS)], "description": "", "starts_at": start,
                "ends_at": start + timedelta(hours=2 + sid % 3), "enrolment_deadline": start,
                "location": "Rathaus", "online_url": "", "trainer": TRAINERS[sid % len(TRAINERS)],
                "capacity": PEOPLE_PER_SESSION + 20, "seats_taken": 0, "waitlist_seq": 0,
                "created_at": now, "closed_at": start + timedelta(hours=4)})
        conn.execute(insert(TrainingSession), session_rows)
        made = 0
        chunk_e, chunk_m = [], []
        for sid in range(1, sessions + 1):
            start = session_rows[sid - 1]["starts_at"]
            for uid in rng.sample(range(1, people + 1), PEOPLE_PER_SESSION):
                if made == rows:
                    break
                made += 1
                roll = rng.random()
                chunk_e.append({
                    "id": made, "user_id": uid, "session_id": sid,
                    "organisation_id": 1 + uid % ORGANISATIONS,
                    "state": "walk_in" if roll > 0.97 else "enrolled", "created_at": start,
                    "updated_at": start})
                chunk_m.append({
                    "id": made, "enrolment_id": made, "session_id": sid,
                    "status": ("present" if roll < 0.86 or roll > 0.97 else
                               "excused" if roll < 0.94 else "absent"),
                    "marked_at": start, "version": 1})
            if len(chunk_e) >= 20_000 or sid == sessions:
                conn.execute(insert(Enrolment), chunk_e)
                conn.execute(insert(AttendanceMark), chunk_m)
                chunk_e, chunk_m = [], []
        db.session.commit()
        db.engine.dispose()
    return {"rows": made, "people": people, "sessions": sessions,
            "build_s": round(time.perf_counter() - started, 1)}


# --- the two children --------------------------------------------------------------------------

def _rss_mb() -> float:
    """Resident memory now (Linux), to tell imports from what the export itself needs."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _peak_mb() -> float:
    """This process's own peak resident memory. On Linux getrusage's ru_maxrss survives
    execve, so a child started from a big parent would report the parent's peak: read the
    high-water mark of the process's own address space (VmHWM) instead."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def child_tracker(url: str, out: str) -> dict:
    from tracker import create_app
    from tracker.exports.participation import write_participation_workbook
    from tracker.services.reports import ReportFilters

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    with app.app_context():
        before = _rss_mb()
        started = time.perf_counter()
        result = write_participation_workbook(ReportFilters(), out, created_by="bench")
        seconds = time.perf_counter() - started
    from openpyxl import LXML

    return {"rows": result.rows["Teilnahmen"], "seconds": round(seconds, 3), "lxml": LXML,
            "sheets": result.rows, "peak_mb": _peak_mb(),
            "before_mb": before, "bytes": os.path.getsize(out)}


def child_sheet(url: str, out: str) -> dict:
    """Tracker's "Teilnahmen" sheet alone (its query, safe cells and formats), through the
    export's public functions: the same rows as the bare child writes."""
    from tracker import create_app
    from tracker.exports.participation import marks_sheet
    from tracker.exports.workbook import write_workbook
    from tracker.services.reports import ReportFilters

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    with app.app_context():
        before = _rss_mb()
        started = time.perf_counter()
        counts = write_workbook([marks_sheet(ReportFilters())], out)
        seconds = time.perf_counter() - started
    from openpyxl import LXML

    return {"rows": counts["Teilnahmen"], "seconds": round(seconds, 3), "lxml": LXML,
            "peak_mb": _peak_mb(), "before_mb": before, "bytes": os.path.getsize(out)}


BARE_QUERY = """
SELECT u.last_name, u.first_name, u.email, o.name, se.title, s.title, s.starts_at, s.ends_at,
       s.trainer, m.status, e.state
FROM attendance_mark m
JOIN enrolment e ON e.id = m.enrolment_id
JOIN training_session s ON s.id = m.session_id
JOIN training_series se ON se.id = s.series_id
JOIN user_account u ON u.id = e.user_id
JOIN organisation o ON o.id = e.organisation_id
ORDER BY s.starts_at, s.id, u.last_name, u.first_name, m.id
"""


def child_bare(url: str, out: str) -> dict:
    from openpyxl import Workbook
    from sqlalchemy import create_engine, text

    from tracker.config import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    before = _rss_mb()
    started = time.perf_counter()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Teilnahmen")
    ws.append(["Nachname", "Vorname", "E-Mail", "Organisation", "Reihe", "Termin", "Datum",
               "Jahr", "Stunden", "Trainer/in", "Status", "Ohne Anmeldung"])
    count = 0
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=2000).execute(text(BARE_QUERY))
        for last, first, email, org, series, title, starts, ends, trainer, status, state in result:
            if isinstance(starts, str):  # SQLite without type information
                starts, ends = datetime.fromisoformat(starts), datetime.fromisoformat(ends)
            ws.append([last, first, email, org, series, title, starts.date(), starts.year,
                       (ends - starts).total_seconds() / 3600, trainer, status,
                       "ja" if state == "walk_in" else "nein"])
            count += 1
    wb.save(out)
    seconds = time.perf_counter() - started
    engine.dispose()
    from openpyxl import LXML

    return {"rows": count, "seconds": round(seconds, 3), "lxml": LXML, "peak_mb": _peak_mb(),
            "before_mb": before, "bytes": os.path.getsize(out)}


def _run_child(kind: str, url: str, out: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.export_bench", "--child", kind, "--database-url", url,
         "--out", out],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    for line in result.stdout.splitlines():
        if line.startswith("CHILDJSON "):
            return json.loads(line[len("CHILDJSON "):])
    raise RuntimeError(f"{kind} export failed ({result.returncode}): "
                       f"{(result.stderr or result.stdout).strip()[-2000:]}")


# --- the bench -----------------------------------------------------------------------------------

def run(rows: int = 200_000, database_url: str | None = None, repeats: int = 3) -> dict:
    """Build the data, run both exports `repeats` times in turns (tracker, bare, tracker,
    bare, ...) and keep each one's fastest run, so that a busy moment of a shared machine
    does not decide the ratio. Returns the figures.

    Keys: rows (marks written), ratio (rows/s of tracker's whole four-sheet export / rows/s
    bare), ratio_same_rows (bare against tracker's "Teilnahmen" sheet alone, the same rows),
    peak_mb (tracker's peak),
    tracker and bare (each: rows, seconds, all_seconds, rows_per_s, peak_mb, bytes), data (how
    the data was built), targets and ok.
    """
    runs: dict[str, list[dict]] = {"tracker": [], "sheet": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="tracker-export-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'export-bench.db'}"
        data = build_database(url, rows)
        for _ in range(max(1, repeats)):
            for kind in ("tracker", "sheet", "bare"):
                runs[kind].append(_run_child(kind, url, str(Path(tmp) / f"{kind}.xlsx")))
    tracker, sheet, bare = (min(runs[k], key=lambda r: r["seconds"])
                            for k in ("tracker", "sheet", "bare"))
    for kind, r in (("tracker", tracker), ("sheet", sheet), ("bare", bare)):
        r["all_seconds"] = [x["seconds"] for x in runs[kind]]
        r["peak_mb"] = max(x["peak_mb"] for x in runs[kind])
        r["rows_per_s"] = round(r["rows"] / r["seconds"]) if r["seconds"] else None
    ratio = round(tracker["rows_per_s"] / bare["rows_per_s"], 3)
    # The same rows only: tracker's "Teilnahmen" sheet against bare openpyxl's one sheet.
    ratio_same_rows = round(sheet["rows_per_s"] / bare["rows_per_s"], 3)
    return {
        "rows": tracker["rows"],
        "ratio": ratio,
        "ratio_same_rows": ratio_same_rows,
        "peak_mb": tracker["peak_mb"],
        "tracker": tracker,
        "sheet": sheet,
        "bare": bare,
        "data": data,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "targets": {"ratio": RATIO_TARGET, "peak_mb": PEAK_TARGET_MB},
        # The target compares the same rows; the whole workbook also writes the Personen,
        # Organisationen and Übersicht sheets, which bare openpyxl does not.
        "ok": ratio_same_rows >= RATIO_TARGET and tracker["peak_mb"] < PEAK_TARGET_MB,
    }


def print_table(result: dict) -> None:
    t, b = result["tracker"], result["bare"]
    print(f"Export of {result['rows']:,} participation rows ({result['database']}; data built in "
          f"{result['data']['build_s']} s)")
    print(f"  {'':<22}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}{'at start':>10}"
          f"{'file MB':>10}")
    for label, r in (("tracker (4 sheets)", t), ("tracker Teilnahmen", result["sheet"]),
                     ("bare openpyxl (1)", b)):
        print(f"  {label:<22}{r['seconds']:>10.2f}{r['rows_per_s']:>12,}{r['peak_mb']:>10.1f}"
              f"{r['before_mb']:>10.1f}{r['bytes'] / 1e6:>10.1f}")
    print("  (peak: the process's own high-water mark; at start: resident memory after imports "
          "and set-up, before the export)")
    print(f"  ratio rows/s same rows (Teilnahmen/bare): {result['ratio_same_rows']:.3f} "
          f"(target >= {RATIO_TARGET}); whole workbook: {result['ratio']:.3f}; "
          f"tracker peak {result['peak_mb']:.1f} MB (target < {PEAK_TARGET_MB:.0f})"
          f" -> {'OK' if result['ok'] else 'MISSED'}")
    print(f"  tracker sheets (rows): {t['sheets']}")
    print(f"  lxml: tracker {t.get('lxml')}, bare {b.get('lxml')}")
    print(f"  runs (s): tracker {t['all_seconds']}, Teilnahmen {result['sheet']['all_seconds']}, "
          f"bare {b['all_seconds']}")


def main() -> None:  # pragma: no cover - run by hand or by bench/run.py
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=200_000)
    parser.add_argument("--database-url")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["tracker", "sheet", "bare"])
    parser.add_argument("--out")
    opts = parser.parse_args()
    if opts.child:
        work = {"tracker": child_tracker, "sheet": child_sheet, "bare": child_bare}[opts.child]
        print("CHILDJSON " + json.dumps(work(opts.database_url, opts.out)))
        return
    result = run(opts.rows, opts.database_url, opts.repeats)
    print_table(result)
    sys.exit(0)


if __name__ == "__main__":
    main()
