"""Committed transitions per second for each store, by ticket age, next to the limits, same run.

Usage::

    python benchmarks/bench_stores.py [--tickets 50] [--commits 1000] [--repeat 5]
                                      [--seconds 3] [--writers 8] [--pg-dsn DSN]
    python benchmarks/bench_stores.py --concurrency [--rounds 5] [--seconds 3] [--pg-dsn DSN]

``--concurrency`` prints only the in-process table of ``bench_stores_async.py``: the async stores
with 8 tasks against the sync ones with 8 threads, and the sync PostgreSQL pool against one
connection (it is also printed after the other tables).

**One writer, by history length.** Each store gets ``--tickets`` tickets that already hold 10 (then
1,000) history records, mostly steps, and one writer commits ``--commits`` transitions round-robin
over them (record_step / resolve / reopen, so steps keep growing). With the young tickets, the
database also holds 99 times as many untouched young tickets, so that both databases hold the
same number of history rows and only the age of the tickets written differs. Every figure is
measured once per round, rounds interleave everything (this machine's speed drifts), and the
medians of ``--repeat`` rounds are printed. Next to the stores, in each round:

* ``bare fire``: the same transitions through ``EscalationMachine.fire`` on the same tickets, no
  store (the reference for ``MemoryStore``);
* ``raw CAS+insert``: what a database can at best do per transition without the library: one
  compare-and-swap ``UPDATE`` of a ticket row (with a 400-byte column, the size of the folded
  clocks) and one ``INSERT`` of a 400-byte history row, per transaction.

Also printed, at 10 and 1,000 records: the bytes an apply writes (the history row's record,
patch, idempotency key and hash; the row's clock state; and what the apply adds to SQLite's
write-ahead log, pages included), against the ticket document a whole-ticket rewrite would have
written.

**Several writers** (``--writers`` processes, ``--seconds`` each): own tickets, or four shared
tickets where lost races are retried. The PostgreSQL rows need a server (``--pg-dsn`` or
``ESCALATION_FSM_PG_DSN``); without one they are left out.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalation_fsm import (
    Actor,
    Category,
    EscalationMachine,
    InvalidTransition,
    ManualClock,
    Role,
    Ticket,
    Trigger,
)
from escalation_fsm.stores import ConcurrentUpdate, MemoryStore, PostgresStore, SQLiteStore, StoreBase
from escalation_fsm.stores._codec import encode_document

AGENT = Actor(id="bench", role=Role.AGENT)
TIER2 = Actor(id="bench-t2", role=Role.TIER2)
CYCLE = {"attempted": (Trigger.RECORD_STEP, Trigger.RECORD_STEP, Trigger.RESOLVE),
         "resolved": (Trigger.REOPEN,)}
FIELD = {Trigger.RECORD_STEP: "step", Trigger.RESOLVE: "solution", Trigger.REOPEN: "reason"}
ROW_BYTES = 400


def fresh_ticket(ticket_id: str) -> Ticket:
    return Ticket(id=ticket_id, customer_id="C-1", category=Category.TECHNICAL, details="bench",
                  opened_at=datetime(2026, 1, 5, 9, tzinfo=UTC))


def aged(machine: EscalationMachine, ticket_id: str, records: int) -> Ticket:
    """A ticket holding ``records`` history records: an attempt, then steps."""
    ticket = machine.fire(fresh_ticket(ticket_id), Trigger.ATTEMPT, actor=AGENT)
    while ticket.version < records:
        ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT,
                              step=f"Checked knowledge-base article KB-{ticket.version}")
    return ticket


def machine() -> EscalationMachine:
    return EscalationMachine(clock=ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC),
                                               tick=timedelta(seconds=30)))


def commit_rate(apply: Callable[[str, str, dict[str, str]], str], ticket_ids: list[str],
                commits: int) -> float:
    """Commit ``commits`` transitions round-robin over ``ticket_ids``; commits per second."""
    stage = dict.fromkeys(ticket_ids, "attempted")
    started = time.perf_counter()
    for n in range(commits):
        ticket_id = ticket_ids[n % len(ticket_ids)]
        options = CYCLE[stage[ticket_id]]
        trigger = options[(n // len(ticket_ids)) % len(options)]
        stage[ticket_id] = apply(ticket_id, trigger, {FIELD[trigger]: f"x{n}"})
    return commits / (time.perf_counter() - started)


def store_rate(store: StoreBase, tickets: list[Ticket], commits: int,
               ballast: list[Ticket] = ()) -> float:  # type: ignore[assignment]
    """Create ``tickets`` (and ``ballast``, never touched) in ``store``, then commit transitions on
    ``tickets`` through it."""
    for ticket in (*ballast, *tickets):
        store.create(ticket)

    def apply(ticket_id: str, trigger: str, payload: dict[str, str]) -> str:
        return store.apply(ticket_id, trigger, actor=AGENT, **payload).stage

    try:
        return commit_rate(apply, [t.id for t in tickets], commits)
    finally:
        store.close()


def bare_rate(tickets: list[Ticket], commits: int) -> float:
    current = {t.id: t for t in tickets}
    fire = machine()

    def apply(ticket_id: str, trigger: str, payload: dict[str, str]) -> str:
        current[ticket_id] = fire.fire(current[ticket_id], trigger, actor=AGENT, **payload)
        return current[ticket_id].stage

    return commit_rate(apply, list(current), commits)


def raw_sqlite(path: str, synchronous: str, commits: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, version INTEGER, clocks TEXT)")
        db.execute("CREATE TABLE h (id TEXT, seq INTEGER, rec TEXT, PRIMARY KEY (id, seq))")
        db.execute("INSERT INTO t VALUES ('a', 0, '')")
        started = time.perf_counter()
        for n in range(commits):
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE t SET version = ?, clocks = ? WHERE id = 'a' AND version = ?",
                       (n + 1, "c" * ROW_BYTES, n))
            db.execute("INSERT INTO h VALUES ('a', ?, ?)", (n + 1, "r" * ROW_BYTES))
            db.execute("COMMIT")
        return commits / (time.perf_counter() - started)
    finally:
        db.close()


def raw_postgres(dsn: str, commits: int) -> float:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (id text PRIMARY KEY, version int, clocks json)")
        conn.execute("CREATE TEMP TABLE h (id text, seq int, rec json, PRIMARY KEY (id, seq))")
        conn.execute("INSERT INTO t VALUES ('a', 0, '{}')")
        clocks, rec = '{"c": "' + "c" * ROW_BYTES + '"}', '{"r": "' + "r" * ROW_BYTES + '"}'
        started = time.perf_counter()
        for n in range(commits):
            with conn.transaction():
                conn.execute("UPDATE t SET version = %s, clocks = %s WHERE id = 'a' AND version = %s",
                             (n + 1, clocks, n))
                conn.execute("INSERT INTO h VALUES ('a', %s, %s)", (n + 1, rec))
        return commits / (time.perf_counter() - started)


def line(label: str, value: float, unit: str = "/s", note: str = "") -> None:
    print(f"  {label:<52} {value:>10,.0f} {unit:<3} {note}")


def by_age(args: argparse.Namespace, tmp: Path) -> None:
    """One writer, tickets of 10 and of 1,000 records, every figure measured once per round.

    The rounds interleave everything (this machine's speed drifts by 2x over minutes), and each
    ratio is the median of the ratios measured within one round.
    """
    print(f"\nOne writer, {args.tickets} tickets, {args.commits} commits, {args.repeat} rounds "
          "(medians; ratios are medians of per-round ratios)")
    maker = machine()
    sizes = (10, 1_000)
    tickets = {size: [aged(maker, f"T-{i}", size) for i in range(args.tickets)] for size in sizes}
    # Databases of the same size for both: young tickets live beside untouched ones holding as
    # many history rows as the old tickets do, so only the age of the tickets written differs.
    ballast = {10: [aged(maker, f"B-{i}", 10) for i in range(args.tickets * 99)], 1_000: []}
    rounds: list[dict[tuple[str, int], float]] = []
    for round_ in range(args.repeat):
        figures: dict[tuple[str, int], float] = {}
        for size in sizes:
            here = tmp / f"round{round_}-{size}"
            here.mkdir()
            figures["bare fire", size] = bare_rate(tickets[size], args.commits)
            figures["MemoryStore", size] = store_rate(MemoryStore(machine=machine()), tickets[size],
                                                      args.commits, ballast[size])
            for sync in ("FULL", "NORMAL"):
                figures[f"raw SQLite {sync}", size] = raw_sqlite(str(here / f"raw-{sync}.db"), sync,
                                                                 args.commits)
                store = SQLiteStore(here / f"store-{sync}.db", machine=machine(),
                                    synchronous=sync)  # type: ignore[arg-type]
                figures[f"SQLiteStore {sync}", size] = store_rate(store, tickets[size], args.commits,
                                                                  ballast[size])
            if args.pg_dsn:
                figures["raw PostgreSQL", size] = raw_postgres(args.pg_dsn, args.commits)
                schema = f"bench_{os.getpid()}_{round_}_{size}"
                store = PostgresStore(_in_schema(args.pg_dsn, schema), machine=machine())
                figures["PostgresStore", size] = store_rate(store, tickets[size], args.commits,
                                                            ballast[size])
                _drop_schema(args.pg_dsn, schema)
        rounds.append(figures)
    references = {"MemoryStore": "bare fire", "SQLiteStore FULL": "raw SQLite FULL",
                  "SQLiteStore NORMAL": "raw SQLite NORMAL", "PostgresStore": "raw PostgreSQL"}
    names = list(dict.fromkeys(name for name, _ in rounds[0]))
    for size in sizes:
        print(f" tickets holding {size:,} records")
        for name in names:
            rate = statistics.median(r[name, size] for r in rounds)
            note = ""
            if name in references:
                ratio = statistics.median(r[name, size] / r[references[name], size] for r in rounds)
                note = f"{ratio:.0%} of {references[name]}"
            line(name, rate, note=note)
    print(" rate with 10 records / rate with 1,000 records (per round, median)")
    for name in names:
        ratio = statistics.median(r[name, 10] / r[name, 1_000] for r in rounds)
        print(f"  {name:<52} {ratio:10.2f}x")
    for size in (1_000, 10):
        mean, clocks, document, wal = written_bytes(tickets[size][0], args.commits)
        print(f" bytes per apply, tickets of {size:,} records: history row (record, patch, key, "
              f"hash) {mean:,.0f} B, clock state {clocks:,} B, write-ahead log {wal:,.0f} B; a "
              f"whole-document rewrite would be {document:,} B")


def _in_schema(dsn: str, schema: str) -> str:
    """``dsn`` with its tables in a fresh schema (dropped with the database's other test data)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # type: ignore[arg-type]
    return f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"


def _drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def written_bytes(ticket: Ticket, commits: int) -> tuple[float, int, int, float]:
    """Per save of ``ticket`` in a SQLite store: mean bytes of its history rows (record, patch,
    idempotency key and chained hash), its row's clock state, the document a whole-ticket rewrite
    would write, and the bytes the save adds to the write-ahead log (what reaches the disk)."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "bytes.db")
        store_rate(SQLiteStore(path, machine=machine(), synchronous="NORMAL"), [ticket],
                   min(commits, 200))
        db = sqlite3.connect(path)
        try:
            rows = db.execute("SELECT length(record) + coalesce(length(changes), 0) + "
                              "coalesce(length(idempotency_key), 0) + length(hash) FROM "
                              "escalation_history WHERE seq > ?", (ticket.version,)).fetchall()
            (clocks,) = db.execute("SELECT length(clocks) FROM escalation_tickets").fetchone()
        finally:
            db.close()
        with SQLiteStore(path) as store:
            document = len(encode_document(store.get(ticket.id)))
        saves = 20
        with SQLiteStore(path, machine=machine(), synchronous="NORMAL") as store:
            db = sqlite3.connect(path)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
            for n in range(saves):
                stage = store.get(ticket.id).stage
                trigger = CYCLE[stage][0]
                store.apply(ticket.id, trigger, actor=AGENT, **{FIELD[trigger]: f"w{n}"},
                            idempotency_key=f"bench-{n}")
            wal = (Path(path + "-wal").stat().st_size - 32) / saves  # less the WAL header
    return statistics.mean(r for (r,) in rows), clocks, document, wal


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


def many_writers(args: argparse.Namespace, tmp: Path) -> None:
    seconds, writers = args.seconds, args.writers
    print(f"\nSeveral writers ({writers} processes, {seconds:g} s per row)")
    targets = [("sqlite", str(tmp / "many-FULL.db"), "SQLiteStore FULL"),
               ("sqlite-normal", str(tmp / "many-NORMAL.db"), "SQLiteStore NORMAL")]
    if args.pg_dsn:
        targets.append(("postgres", args.pg_dsn, "PostgresStore"))
    for kind, target, name in targets:
        for count, shared in ((writers, False), (writers, True)):
            result = run(kind, target, count, shared=shared, seconds=seconds,
                         tag=f"{kind}{int(time.time())}{shared}")
            line(f"{name}, {count} writers, {'shared' if shared else 'own'} tickets",
                 result["commits"] / seconds,
                 note=f"lost races {result['conflicts']}, gave up {result['gave_up']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=50)
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--pg-dsn", default=os.environ.get("ESCALATION_FSM_PG_DSN", ""))
    parser.add_argument("--skip-many", action="store_true", help="only the one-writer tables")
    parser.add_argument("--concurrency", action="store_true",
                        help="only the async/sync table of bench_stores_async.py")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the concurrency table")
    args = parser.parse_args()
    from bench_stores_async import concurrency
    if args.concurrency:
        concurrency(args)
        return
    print(f"escalation_fsm store benchmark, {os.cpu_count()} CPUs"
          + ("" if args.pg_dsn else " (PostgreSQL rows skipped: pass --pg-dsn)"))
    with tempfile.TemporaryDirectory() as folder:
        by_age(args, Path(folder))
        if not args.skip_many:
            many_writers(args, Path(folder))
    concurrency(args)


if __name__ == "__main__":
    main()
