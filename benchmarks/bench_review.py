"""Review of a ticket store (issue 16): tickets per second and peak memory, by store size.

Run on demand:  python benchmarks/bench_review.py [--tickets 20000] [--db PATH]

Fills a SQLite store (kept at ``--db`` between runs) with tickets of 10 records each (attempt,
step, escalation, notification, two interactions, follow-up, resolution, feedback request and
feedback; four agents, two categories), then times, each in a fresh process so that its peak RSS
is its own, on the whole store and on a quarter of it:

* ``raw rows``: the history rows read with one SQL query and parsed from JSON (the floor: reading
  the data, no validation);
* ``stream``: ``store.stream()``, every ticket decoded and checked as the library reads it;
* ``review``: ``review_store(store)`` (with SLA breach rates and the training section).

The goal is 10,000 tickets/s for ``review`` on one core, and a peak RSS that does not grow with
the number of tickets (compare the two sizes).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalation_fsm import Actor, Assessment, EscalationMachine, ManualClock, Role, Ticket
from escalation_fsm.stores import SQLiteStore

START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def templates() -> list[Ticket]:
    """Eight 10-record histories: four agents, two categories."""
    found = []
    for number in range(8):
        machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=13)))
        agent = Actor(id=f"a-{number % 4}", role=Role.AGENT)
        t = Ticket(id="x", customer_id="C-1", category=("technical", "billing")[number // 4],
                   details="d", opened_at=START, priority="high")
        t = machine.fire(t, "attempt", actor=agent)
        t = machine.fire(t, "record_step", actor=agent, step="KB article 12")
        t = machine.fire(t, "escalate", actor=agent, summary="Tier 2 please",
                         assessment=Assessment(complexity="high", frustration="high",
                                               urgency="high"))
        t = machine.fire(t, "notify_customer", actor=agent, message="On it",
                         eta=timedelta(hours=4))
        for direction in ("inbound", "outbound"):
            t = machine.fire(t, "record_interaction", actor=agent, channel="phone",
                             direction=direction, summary="call")
        tier2 = Actor(id="t2-1", role=Role.TIER2)
        t = machine.fire(t, "follow_up", actor=tier2, update="found it", customer_message="soon")
        t = machine.fire(t, "resolve", actor=tier2, solution="fixed")
        t = machine.fire(t, "request_feedback", actor=Actor(id="mail", role=Role.SYSTEM))
        t = machine.fire(t, "record_feedback", actor=Actor(id="C-1", role=Role.CUSTOMER),
                         rating=4)
        found.append(t)
    return found


def fill(db: Path, tickets: int) -> None:
    if db.exists():
        with SQLiteStore(db) as store:  # writable: a store of an older schema is upgraded
            if sum(1 for _ in store.stream()) == tickets:
                return
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    pool = templates()
    started = time.perf_counter()
    with SQLiteStore(db, machine=EscalationMachine(clock=ManualClock(START))) as store:
        for number in range(tickets):
            store.create(pool[number % 8].model_copy(update={"id": f"T-{number:07d}"}))
    print(f"filled {tickets:,} tickets in {time.perf_counter() - started:.0f} s", flush=True)


def measure(kind: str, db: str) -> None:
    """One measurement, in this (fresh) process: prints tickets, seconds and peak RSS."""
    started = time.perf_counter()
    if kind == "raw":
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        count, last = 0, None
        for ticket_id, record in connection.execute(
                "SELECT ticket_id, record FROM escalation_history ORDER BY ticket_id, seq"):
            json.loads(record)
            if ticket_id != last:
                count, last = count + 1, ticket_id
    else:
        from escalation_fsm.review import review_store

        with SQLiteStore(db, readonly=True) as store:
            count = (sum(1 for _ in store.stream()) if kind == "stream"
                     else review_store(store).cases)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tickets": count, "seconds": seconds, "rss_mb": rss}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--db", type=Path,
                        default=Path(tempfile.gettempdir()) / "escalation_bench_review.db")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], args.measure[1])
        return
    print(__doc__.split("\n\n")[0])
    print(f"python {sys.version.split()[0]}; store {args.db}")
    sizes = {}
    for tickets in (args.tickets // 4, args.tickets):
        db = args.db.with_name(f"{args.db.stem}-{tickets}{args.db.suffix}")
        fill(db, tickets)
        sizes[tickets] = db
    print(f"{'what':10} {'tickets':>9} {'seconds':>8} {'tickets/s':>10} {'peak RSS':>9}")
    for db in sizes.values():
        for kind in ("raw", "stream", "review"):
            out = subprocess.run([sys.executable, __file__, "--measure", kind, str(db)],
                                 check=True, capture_output=True, text=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            rate = got["tickets"] / got["seconds"]
            print(f"{kind:10} {got['tickets']:>9,} {got['seconds']:>8.2f} {rate:>10,.0f} "
                  f"{got['rss_mb']:>7.0f}MB", flush=True)
    print("goal: review >= 10,000 tickets/s on one core; peak RSS flat across the two sizes")


if __name__ == "__main__":
    main()
