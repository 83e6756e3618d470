"""The rush hour: hundreds of people enrol in the same 30-seat session at the same moment.

Every attempt is a separate client (its own login, its own TCP connection, its own thread);
all start together behind a barrier and post the enrolment to the running gunicorn. Then the
database is asked what happened: exactly `capacity` enrolled, everyone else on the waiting list
with tickets 1..n without gap or repeat, in the order the database served them, and nobody
told a different place than the one stored.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter

from sqlalchemy import create_engine, select

from bench.loadgen import HOST, Login, percentile
from tracker.config import normalise_database_url
from tracker.models import Enrolment, TrainingSession, User

_PLACE = re.compile(r"Platz\s+(\d+)")


def attempt_all(port: int, session_id: int, logins: list[Login]) -> dict:
    """Fire one enrolment per login, all at once; returns statuses, latencies, wall time."""
    n = len(logins)
    barrier = threading.Barrier(n + 1)
    results: list[tuple[str, float, int | None] | None] = [None] * n
    path = f"/reihen/termine/{session_id}/anmelden"

    def attempt(i: int) -> None:
        login = logins[i]
        headers = {"Cookie": login.cookie, "X-CSRFToken": login.csrf, "HX-Request": "true",
                   "Content-Type": "application/x-www-form-urlencoded"}
        barrier.wait()
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=300)
        try:
            conn.request("POST", path, body=b"", headers=headers)
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            results[i] = (type(exc).__name__, time.perf_counter() - t0, None)
            return
        finally:
            conn.close()
        place = _PLACE.search(body)
        results[i] = (str(response.status), time.perf_counter() - t0,
                      int(place.group(1)) if place else None)

    threads = [threading.Thread(target=attempt, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    done = [r for r in results if r is not None]
    statuses = Counter(r[0] for r in done)
    latencies = [r[1] for r in done]
    places = [r[2] if r is not None else None for r in results]
    return {
        "attempts": n,
        "wall_s": round(wall, 3),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "statuses": dict(statuses),
        "server_errors": sum(n for code, n in statuses.items() if code.startswith("5")),
        "client_errors": sum(n for code, n in statuses.items() if code.startswith("4")),
        "transport_errors": sum(n for code, n in statuses.items() if not code[:1].isdigit()),
        "_places": places,  # the place each attempt was told, in the order of `logins`
    }


def verify(database_url: str, session_id: int, emails: list[str],
           told: list[int | None] | None = None) -> dict:
    """What the database says after the rush: seats, waiting list, order."""
    engine = create_engine(normalise_database_url(database_url))
    with engine.connect() as conn:
        session = conn.execute(
            select(TrainingSession.capacity, TrainingSession.seats_taken,
                   TrainingSession.waitlist_seq).where(TrainingSession.id == session_id)
        ).one()
        rows = conn.execute(
            select(Enrolment.id, User.email, Enrolment.state, Enrolment.waitlist_seq,
                   Enrolment.created_at)
            .join(User, User.id == Enrolment.user_id)
            .where(Enrolment.session_id == session_id)
        ).all()
    engine.dispose()
    states = Counter(r.state for r in rows)
    waiting = sorted((r for r in rows if r.state == "waitlisted"), key=lambda r: r.waitlist_seq)
    seqs = [r.waitlist_seq for r in waiting]
    per_person = Counter(r.email for r in rows if r.state != "cancelled")
    contiguous = seqs == list(range(1, len(seqs) + 1))
    # The queue's order is the order the database served the requests in: ticket order and
    # the time of the enrolment agree.
    in_time_order = all(a.created_at <= b.created_at for a, b in zip(waiting, waiting[1:], strict=False))
    mismatched_places = None
    if told is not None:
        by_email = {r.email: r.waitlist_seq for r in waiting}
        # Places shown to people who were waitlisted must be the ticket stored for them.
        mismatched_places = sum(
            1 for email, place in zip(emails, told, strict=True)
            if by_email.get(email) is not None and place != by_email[email]
        )
    expected_waiting = len(emails) - session.capacity
    checks = {
        "enrolled_equals_capacity": states.get("enrolled", 0) == session.capacity,
        "seats_taken_equals_enrolled": session.seats_taken == states.get("enrolled", 0),
        "rest_waitlisted": states.get("waitlisted", 0) == expected_waiting,
        "waitlist_contiguous": contiguous,
        "waitlist_in_time_order": in_time_order,
        "one_live_enrolment_each": len(per_person) == len(emails)
        and all(n == 1 for n in per_person.values()),
    }
    if mismatched_places is not None:
        checks["told_place_matches_stored"] = mismatched_places == 0
    return {
        "capacity": session.capacity,
        "enrolled": states.get("enrolled", 0),
        "waitlisted": states.get("waitlisted", 0),
        "other_states": {k: v for k, v in states.items() if k not in ("enrolled", "waitlisted")},
        "seats_taken": session.seats_taken,
        "waitlist_first_last": [seqs[0], seqs[-1]] if seqs else None,
        "checks": checks,
        "ok": all(checks.values()),
    }
