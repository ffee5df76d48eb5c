"""Committed transitions per second for each store, one writer and several, next to the limits.

Usage::

    python benchmarks/bench_stores.py [--seconds 5] [--writers 8] [--pg-dsn DSN]

The PostgreSQL rows need a server (``--pg-dsn`` or ``ESCALATION_FSM_PG_DSN``); without one they are
left out. Printed in the same run, for comparison:

* a bare ``EscalationMachine.fire`` in memory (the cost of the rules themselves);
* the raw write limit of each database: one compare-and-swap ``UPDATE`` of a ticket row plus one
  history ``INSERT`` per transaction, without the library (what a store can at best approach).

Each writer fires ``record_step`` / ``resolve`` / ``reopen`` in a cycle; with several writers each
one has its own tickets ("own") or all share four ("shared", where lost races are retried).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from escalation_fsm import Actor, Category, EscalationMachine, InvalidTransition, Role, Ticket, Trigger
from escalation_fsm.stores import ConcurrentUpdate, MemoryStore, PostgresStore, SQLiteStore, StoreBase

AGENT = Actor(id="bench", role=Role.AGENT)
CYCLE = {"attempted": (Trigger.RECORD_STEP, Trigger.RESOLVE), "resolved": (Trigger.REOPEN,)}
FIELD = {Trigger.RECORD_STEP: "step", Trigger.RESOLVE: "solution", Trigger.REOPEN: "reason"}


def fresh_ticket(ticket_id: str) -> Ticket:
    return Ticket(id=ticket_id, customer_id="C-1", category=Category.TECHNICAL, details="bench")


def open_store(kind: str, target: str) -> StoreBase:
    if kind == "sqlite":
        return SQLiteStore(target)
    if kind == "sqlite-normal":
        return SQLiteStore(target, synchronous="NORMAL")
    return PostgresStore(target)


def drive(store: StoreBase, ticket_ids: list[str], seconds: float, offset: int = 0) -> dict[str, int]:
    """Fire the cycle on ``ticket_ids`` for ``seconds``; count commits and failures."""
    stage = dict.fromkeys(ticket_ids, "attempted")
    counts = {"commits": 0, "gave_up": 0, "invalid": 0}
    deadline = time.perf_counter() + seconds
    n = offset
    while time.perf_counter() < deadline:
        n += 1
        ticket_id = ticket_ids[n % len(ticket_ids)]
        options = CYCLE[stage[ticket_id]]
        trigger = options[n % len(options)]
        try:
            new = store.apply(ticket_id, trigger, actor=AGENT, **{FIELD[trigger]: f"x{n}"})
        except ConcurrentUpdate:
            counts["gave_up"] += 1
        except InvalidTransition as exc:
            stage[ticket_id] = exc.stage
            counts["invalid"] += 1
        else:
            stage[ticket_id] = new.stage
            counts["commits"] += 1
    counts["conflicts"] = store.stats.conflicts
    return counts


def _worker(kind: str, target: str, ticket_ids: list[str], seconds: float, offset: int) -> dict[str, int]:
    store = open_store(kind, target)
    try:
        return drive(store, ticket_ids, seconds, offset)
    finally:
        store.close()


def prepare(kind: str, target: str, ticket_ids: list[str]) -> None:
    with open_store(kind, target) as store:
        for ticket_id in ticket_ids:
            store.create(fresh_ticket(ticket_id))
            store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)


def run(kind: str, target: str, writers: int, *, shared: bool, seconds: float, tag: str) -> dict[str, int]:
    if shared:
        groups = [[f"{tag}-S{i}" for i in range(4)]] * writers
        prepare(kind, target, groups[0])
    else:
        groups = [[f"{tag}-W{w}-{i}" for i in range(4)] for w in range(writers)]
        prepare(kind, target, [t for group in groups for t in group])
    context = multiprocessing.get_context("fork")
    with context.Pool(writers) as pool:
        results = pool.starmap(_worker, [(kind, target, group, seconds, w * 7)
                                         for w, group in enumerate(groups)])
    return {key: sum(r[key] for r in results) for key in results[0]}


def bare_fire(seconds: float) -> float:
    machine = EscalationMachine()
    ticket = machine.fire(fresh_ticket("F"), Trigger.ATTEMPT, actor=AGENT)
    start = ticket
    n, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n += 1
        ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step=f"x{n}")
        if n % 50 == 0:
            ticket = start  # keep the ticket small, like the stores' cycling tickets
    return n / seconds


def raw_sqlite(path: str, synchronous: str, seconds: float) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, version INTEGER, doc TEXT)")
        db.execute("CREATE TABLE h (id TEXT, seq INTEGER, rec TEXT, PRIMARY KEY (id, seq))")
        db.execute("INSERT INTO t VALUES ('a', 0, '')")
        n, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE t SET version = ?, doc = ? WHERE id = 'a' AND version = ?",
                       (n + 1, "d" * 600, n))
            db.execute("INSERT INTO h VALUES ('a', ?, ?)", (n + 1, "r" * 300))
            db.execute("COMMIT")
            n += 1
        return n / seconds
    finally:
        db.close()


def raw_postgres(dsn: str, seconds: float) -> float:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (id text PRIMARY KEY, version int, doc json)")
        conn.execute("CREATE TEMP TABLE h (id text, seq int, rec json, PRIMARY KEY (id, seq))")
        conn.execute("INSERT INTO t VALUES ('a', 0, '{}')")
        doc, rec = '{"d": "' + "d" * 600 + '"}', '{"r": "' + "r" * 300 + '"}'
        n, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            with conn.transaction():
                conn.execute("UPDATE t SET version = %s, doc = %s WHERE id = 'a' AND version = %s",
                             (n + 1, doc, n))
                conn.execute("INSERT INTO h VALUES ('a', %s, %s)", (n + 1, rec))
            n += 1
        return n / seconds


def line(label: str, rate: float, note: str = "") -> None:
    print(f"  {label:<44} {rate:>9,.0f} /s  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--pg-dsn", default=os.environ.get("ESCALATION_FSM_PG_DSN", ""))
    args = parser.parse_args()
    seconds, writers = args.seconds, args.writers
    print(f"escalation_fsm store benchmark: {seconds:g} s per row, {os.cpu_count()} CPUs")
    line("bare fire (in memory, no store)", bare_fire(seconds))
    memory = MemoryStore()
    for i in range(4):
        memory.create(fresh_ticket(f"M{i}"))
        memory.apply(f"M{i}", Trigger.ATTEMPT, actor=AGENT)
    counts = drive(memory, [f"M{i}" for i in range(4)], seconds)
    line("MemoryStore, 1 writer", counts["commits"] / seconds)

    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("FULL", "NORMAL"):
            kind = "sqlite" if sync == "FULL" else "sqlite-normal"
            line(f"raw SQLite WAL synchronous={sync} (CAS+insert)",
                 raw_sqlite(str(Path(tmp) / f"raw-{sync}.db"), sync, seconds))
            target = str(Path(tmp) / f"bench-{sync}.db")
            for count, shared in ((1, False), (writers, False), (writers, True)):
                result = run(kind, target, count, shared=shared, seconds=seconds,
                             tag=f"{sync}{count}{shared}")
                line(f"SQLiteStore {sync}, {count} writer(s){', shared' if shared else ', own'}",
                     result["commits"] / seconds,
                     f"lost races {result['conflicts']}, gave up {result['gave_up']}" if count > 1 else "")
    if not args.pg_dsn:
        print("  (PostgreSQL rows skipped: pass --pg-dsn or set ESCALATION_FSM_PG_DSN)")
        return
    line("raw PostgreSQL, 1 connection (CAS+insert)", raw_postgres(args.pg_dsn, seconds))
    tag = f"pg{int(time.time())}"
    for count, shared in ((1, False), (writers, False), (writers, True)):
        result = run("postgres", args.pg_dsn, count, shared=shared, seconds=seconds,
                     tag=f"{tag}{count}{shared}")
        line(f"PostgresStore, {count} writer(s){', shared' if shared else ', own'}",
             result["commits"] / seconds,
             f"lost races {result['conflicts']}, gave up {result['gave_up']}" if count > 1 else "")


if __name__ == "__main__":
    main()
