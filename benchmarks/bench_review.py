"""Review of a ticket store (issue 16): tickets per second and peak memory, by store size.

Run on demand:  python benchmarks/bench_review.py [--tickets 10000 100000 200000] [--rounds 3]
                [--folder DIR] [--kinds raw histories review]

Builds (once; kept in ``--folder`` between runs, keyed by the store's schema version) a SQLite
store of each size in ``--tickets`` (default 10,000, 100,000 and 200,000; one size N alone means
N / 10 and N), each ticket with about 10 records:
240 different histories (eight agents, three Tier 2 people, four categories, three priorities,
openings spread over two years; four paths: escalated and resolved with feedback, resolved at
first contact with interactions, resolved then reopened and escalated, still open at Tier 2) are
written through the store's public API (``create`` then one ``apply`` per trigger, so with the
patches, clocks and hash chains of a real store), then copied under fresh ids in one SQL
transaction, each copy's document and hash chain rewritten for its id. A sample of each store is
read back through ``get`` (hash chain, row) and checked with ``machine.verify``; the small store
passes ``store.verify()`` whole.

Then, each in a fresh process (so that its peak RSS is its own), ``--rounds`` times interleaved:

* ``raw rows``: the history rows read with one SQL query and parsed from JSON (the reference: the
  data read, nothing built);
* ``histories``: ``store.histories()``, the bulk read path (every record built);
* ``review``: ``review_store(store)``, with SLA breach rates and the training section (it reads
  the stores in brief: ``store.digests``, the values it needs pulled out by SQLite's JSON
  functions).

The goal is 10,000 tickets/s for ``review`` on one core (no worker processes), and a peak RSS
that does not grow with the number of tickets: the last lines print ``review``'s peak RSS per
size, each size's ratio to the smallest and the growth between the two largest (in MB and bytes
per ticket; flat means within noise, about 2 MB). Medians are printed with the load average
(this machine is shared: compare with the reference of the same run), in wall clock time and in
CPU time (``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from escalation_fsm import Actor, Assessment, EscalationMachine, ManualClock, Role, Ticket
from escalation_fsm.stores import SQLiteStore
from escalation_fsm.stores._chain import genesis, link
from escalation_fsm.stores._codec import SCHEMA_VERSION

START = datetime(2025, 1, 6, 9, tzinfo=UTC)
TEMPLATES = 240
FILL_FORMAT = 1
"""Bumped when the histories change (a new file name: a store built before is not reused)."""
KINDS = ("raw", "histories", "review")
"""What is measured: the rows read and parsed, ``store.histories()``, ``review_store``."""
CATEGORIES = ("technical", "billing", "account_access", "other")
HIGH = Assessment(complexity="high", frustration="high", urgency="high")
SYSTEM = Actor(id="mail", role=Role.SYSTEM)
CUSTOMER = Actor(id="C-1", role=Role.CUSTOMER)


def write_template(store: SQLiteStore, clock: ManualClock, number: int) -> None:
    """One history of about 10 records, written through the store's public API."""
    opened = START + timedelta(hours=71 * number)
    clock.set(opened + timedelta(minutes=20))
    agent = Actor(id=f"a-{number % 8}", role=Role.AGENT)
    tier2 = Actor(id=f"t2-{number % 3}", role=Role.TIER2)
    ticket_id = f"T-{number:07d}"
    store.create(Ticket(id=ticket_id, customer_id=f"C-{number}",
                        category=CATEGORIES[number % 4], details="printer on fire",
                        opened_at=opened, priority=("normal", "high", "low")[number % 3]))

    def fire(trigger: str, actor: Actor = agent, **payload: Any) -> None:
        clock.advance(timedelta(minutes=7 + number % 50))
        store.apply(ticket_id, trigger, actor=actor, **payload)

    def talk(direction: str) -> None:
        fire("record_interaction", channel=("phone", "email", "chat")[number % 3],
             direction=direction, summary="call")

    fire("attempt")
    fire("record_step", step="KB article 12")
    path = number % 4
    if path in (0, 3):  # escalated; 3: still open at Tier 2
        fire("escalate", summary="Tier 2 please", assessment=HIGH)
        fire("notify_customer", message="On it", eta=timedelta(hours=4))
        talk("inbound")
        talk("outbound")
        fire("follow_up", tier2, update="found it", customer_message="soon")
        if path == 0:
            fire("resolve", tier2, solution="fixed")
            fire("request_feedback", SYSTEM)
            fire("record_feedback", CUSTOMER, rating=1 + number % 5)
        else:
            fire("follow_up", tier2, update="still", customer_message="soon")
            talk("inbound")
            fire("follow_up", tier2, update="nearly", customer_message="soon")
    elif path == 1:  # resolved at first contact
        talk("inbound")
        fire("record_step", step="reset")
        talk("outbound")
        fire("record_step", step="check")
        talk("outbound")
        fire("resolve", solution="reset it")
        fire("request_feedback", SYSTEM)
        fire("record_feedback", CUSTOMER, rating=1 + number % 5, comment="ok")
    else:  # resolved, reopened, escalated, resolved
        fire("resolve", solution="reset it")
        fire("reopen", CUSTOMER, reason="back again")
        fire("record_step", step="again")
        talk("inbound")
        fire("escalate", summary="Tier 2 please", assessment=HIGH)
        fire("notify_customer", message="On it")
        fire("follow_up", tier2, update="found it", customer_message="soon")
        fire("resolve", tier2, solution="fixed")


def fill(db: Path, tickets: int) -> None:
    """The store of ``tickets`` tickets (templates written through the store, then copied)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    building = db.with_name(db.name + ".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    clock = ManualClock(START)
    with SQLiteStore(building, machine=EscalationMachine(clock=clock),
                     synchronous="NORMAL") as store:
        for number in range(min(TEMPLATES, tickets)):
            write_template(store, clock, number)
    con = sqlite3.connect(building, isolation_level=None)
    columns = [d[0] for d in con.execute("SELECT * FROM escalation_tickets LIMIT 0").description]
    rows = con.execute("SELECT * FROM escalation_tickets ORDER BY id").fetchall()
    documents = {r[0]: r for r in con.execute(
        "SELECT ticket_id, base_version, document FROM escalation_documents")}
    histories: dict[str, list[tuple[Any, ...]]] = {}
    for row in con.execute("SELECT ticket_id, seq, at, trigger, record, changes, idempotency_key "
                           "FROM escalation_history ORDER BY ticket_id, seq"):
        histories.setdefault(row[0], []).append(row[1:])
    insert_ticket = (f"INSERT INTO escalation_tickets ({', '.join(columns)}) "  # noqa: S608
                     f"VALUES ({', '.join('?' * len(columns))})")
    con.execute("BEGIN")
    for number in range(TEMPLATES, tickets):
        source = rows[number % TEMPLATES]
        old, new = source[0], f"T-{number:07d}"
        _, base, document = documents[old]
        document = document.replace(f'"id":"{old}"', f'"id":"{new}"', 1)
        head = genesis(new, base, document)
        con.execute(insert_ticket, (new, *source[1:]))
        con.execute("INSERT INTO escalation_documents (ticket_id, base_version, document, hash) "
                    "VALUES (?, ?, ?, ?)", (new, base, document, head))
        copied = []
        for seq, at, trigger, record, changes, key in histories[old]:
            head = link(head, record, changes, key)
            copied.append((new, seq, at, trigger, record, changes, key, head))
        con.executemany("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, "
                        "changes, idempotency_key, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", copied)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    check(building, whole=tickets <= 20_000)
    building.rename(db)
    for suffix in ("-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    print(f"built {db.name}: {tickets:,} tickets in {time.perf_counter() - started:.0f} s",
          flush=True)


def check(db: Path, *, whole: bool) -> None:
    """A sample read back through ``get`` and ``machine.verify`` (the whole ``verify()``)."""
    with SQLiteStore(db, readonly=True) as store:
        ids = [f"T-{n:07d}" for n in random.Random(1).sample(range(count(db)), 200)]
        for ticket_id in ids:
            problems = store.machine.verify(store.get(ticket_id))
            assert not problems, (ticket_id, problems)
        if whole:
            report = store.verify()
            assert report.ok, report.problems[:3]
    print(f"checked {db.name}: {'verify() whole' if whole else 'a sample of 200'} is clean",
          flush=True)


def count(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM escalation_tickets").fetchone()[0])
    finally:
        con.close()


def measure(kind: str, db: str) -> None:
    """One measurement, in this (fresh) process: prints tickets, seconds and peak RSS."""
    from escalation_fsm.review import review_store  # imported before the clock starts

    started, cpu = time.perf_counter(), time.process_time()
    if kind == "raw":
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        tickets, last = 0, None
        for ticket_id, record in connection.execute(
                "SELECT ticket_id, record FROM escalation_history ORDER BY ticket_id, seq"):
            json.loads(record)
            if ticket_id != last:
                tickets, last = tickets + 1, ticket_id
    else:
        with SQLiteStore(db, readonly=True) as store:
            tickets = (sum(1 for _ in store.histories()) if kind == "histories"
                       else review_store(store).cases)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = peak_rss_kb() / 1024
    print(json.dumps({"tickets": tickets, "seconds": seconds, "cpu": cpu, "rss_mb": rss}))


def peak_rss_kb() -> int:
    """This process's own peak RSS in kB. Not ``ru_maxrss`` alone: on Linux a child started by
    (v)fork and exec starts from its parent's peak, so every size showed the builder's 66.8 MB."""
    try:
        with Path("/proc/self/status").open() as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(kind: str, db: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--measure", kind, str(db)], check=True,
                         capture_output=True, text=True)
    found: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], args.measure[1])
        return
    print(__doc__.split("\n\n")[0])
    print(f"python {sys.version.split()[0]}; stores in {args.folder}")
    args.folder.mkdir(parents=True, exist_ok=True)
    wanted = args.tickets if len(args.tickets) > 1 else [args.tickets[0] // 10, args.tickets[0]]
    sizes = {}
    for tickets in sorted(set(wanted)):
        db = args.folder / f"escalation_bench_review-s{SCHEMA_VERSION}-f{FILL_FORMAT}-{tickets}.db"
        if not db.exists() or count(db) != tickets:
            fill(db, tickets)
        sizes[tickets] = db
    kinds = [kind for kind in KINDS if kind in args.kinds]
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}/{args.rounds}, load average {os.getloadavg()[0]:.2f}",
              flush=True)
        for tickets, db in sizes.items():
            for kind in kinds:
                results.setdefault((tickets, kind), []).append(run(kind, db))
    print(f"\nmedians of {args.rounds} rounds; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'what':10} {'tickets':>9} {'tickets/s':>10} {'vs raw':>7} {'CPU t/s':>9} "
          f"{'vs raw':>7} {'peak RSS':>9}")
    for tickets in sizes:
        raw = (statistics.median(r["tickets"] / r["seconds"] for r in results[tickets, "raw"])
               if "raw" in kinds else math.nan)
        raw_cpu = (statistics.median(r["tickets"] / r["cpu"] for r in results[tickets, "raw"])
                   if "raw" in kinds else math.nan)
        for kind in kinds:
            found = results[tickets, kind]
            rate = statistics.median(r["tickets"] / r["seconds"] for r in found)
            cpu_rate = statistics.median(r["tickets"] / r["cpu"] for r in found)
            rss = statistics.median(r["rss_mb"] for r in found)
            print(f"{kind:10} {int(found[0]['tickets']):>9,} {rate:>10,.0f} {rate / raw:>6.2f}x "
                  f"{cpu_rate:>9,.0f} {cpu_rate / raw_cpu:>6.2f}x {rss:>7.1f}MB", flush=True)
    print("tickets/s: wall clock; CPU t/s: tickets per second of this process's CPU time (the "
          "honest figure on a shared machine)")
    if "review" in kinds:
        flatness({tickets: [r["rss_mb"] for r in results[tickets, "review"]]
                  for tickets in sizes})
    print("goal: review >= 10,000 tickets/s on one core; its peak RSS flat across the sizes")


def flatness(rss: dict[int, list[float]]) -> None:
    """``review``'s peak RSS per size (median, min-max), against the smallest and between the
    two largest sizes."""
    sizes = sorted(rss)
    medians = {tickets: statistics.median(found) for tickets, found in rss.items()}
    smallest = medians[sizes[0]]
    print("review peak RSS by size (median of the rounds, min-max): " + "; ".join(
        f"{tickets:,}: {medians[tickets]:.1f} MB ({min(rss[tickets]):.1f}-{max(rss[tickets]):.1f}"
        f"), {medians[tickets] / smallest:.3f}x" for tickets in sizes))
    if len(sizes) > 1:
        low, high = sizes[-2], sizes[-1]
        grown = medians[high] - medians[low]
        print(f"from {low:,} to {high:,} tickets: {grown:+.1f} MB "
              f"({grown * 1024 * 1024 / (high - low):+.1f} bytes a ticket)")


if __name__ == "__main__":
    main()
