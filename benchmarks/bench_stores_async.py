"""Eight writers in one process: async stores with 8 tasks against sync stores with 8 threads.

Run through ``python benchmarks/bench_stores.py --concurrency`` (or on its own, same options).
Each writer commits transitions on its own four tickets for ``--seconds``; the rows are measured
once per round, rounds interleave every row (this machine's speed drifts), and medians of
``--rounds`` rounds are printed:

* ``PostgresStore``, 8 threads sharing one store, ``pool_size=8`` and ``pool_size=1`` (the pool
  against one connection);
* ``AsyncPostgresStore``, 8 tasks, ``pool_size=8``, ``pool_min_size=8`` (goal: at least 80% of
  the sync store with 8 threads);
* the same for SQLite (``SQLiteStore`` threads, ``AsyncSQLiteStore`` tasks; one writer at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from escalation_fsm import Actor, Category, Role, Ticket, Trigger
from escalation_fsm.stores import (
    AsyncPostgresStore,
    AsyncSQLiteStore,
    AsyncStoreBase,
    PostgresStore,
    SQLiteStore,
    StoreBase,
)

AGENT = Actor(id="bench", role=Role.AGENT)
CYCLE = {"attempted": (Trigger.RECORD_STEP, Trigger.RECORD_STEP, Trigger.RESOLVE),
         "resolved": (Trigger.REOPEN,)}
FIELD = {Trigger.RECORD_STEP: "step", Trigger.RESOLVE: "solution", Trigger.REOPEN: "reason"}
WRITERS = 8


def _ticket(ticket_id: str) -> Ticket:
    return Ticket(id=ticket_id, customer_id="C-1", category=Category.TECHNICAL, details="bench")


def _next(stage: dict[str, str], ticket_ids: list[str], n: int) -> tuple[str, str, dict[str, str]]:
    ticket_id = ticket_ids[n % len(ticket_ids)]
    options = CYCLE[stage[ticket_id]]
    trigger = options[(n // len(ticket_ids)) % len(options)]
    return ticket_id, trigger, {FIELD[trigger]: f"x{n}"}


def _groups(tag: str) -> list[list[str]]:
    return [[f"{tag}-{w}-{i}" for i in range(4)] for w in range(WRITERS)]


def sync_rate(store: StoreBase, tag: str, seconds: float) -> float:
    """8 threads, each committing on its own four tickets through one shared store."""
    groups = _groups(tag)
    for ticket_id in (t for group in groups for t in group):
        store.create(_ticket(ticket_id))
        store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    counts = [0] * WRITERS
    start = threading.Barrier(WRITERS + 1)
    deadline = [0.0]

    def writer(w: int) -> None:
        stage = dict.fromkeys(groups[w], "attempted")
        start.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            ticket_id, trigger, payload = _next(stage, groups[w], n)
            stage[ticket_id] = store.apply(ticket_id, trigger, actor=AGENT, **payload).stage
            counts[w] += 1
            n += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


async def async_rate(store: AsyncStoreBase, tag: str, seconds: float) -> float:
    """8 tasks, each committing on its own four tickets through one shared async store."""
    groups = _groups(tag)
    for ticket_id in (t for group in groups for t in group):
        await store.create(_ticket(ticket_id))
        await store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    counts = [0] * WRITERS
    deadline = time.perf_counter() + seconds

    async def writer(w: int) -> None:
        stage = dict.fromkeys(groups[w], "attempted")
        n = 0
        while time.perf_counter() < deadline:
            ticket_id, trigger, payload = _next(stage, groups[w], n)
            stage[ticket_id] = (await store.apply(ticket_id, trigger, actor=AGENT, **payload)).stage
            counts[w] += 1
            n += 1

    began = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    return sum(counts) / (time.perf_counter() - began)


def _schema(dsn: str) -> tuple[str, Callable[[], None]]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
    return make_conninfo(dsn, options=f"-c search_path={schema}"), drop


def rows(pg_dsn: str, folder: Path) -> dict[str, Callable[[str, float], float]]:
    """Each row: a function of (tag, seconds) giving commits per second."""
    path = str(folder / "concurrency.db")
    found: dict[str, Callable[[str, float], float]] = {}

    def sqlite_sync(tag: str, seconds: float) -> float:
        with SQLiteStore(path) as store:
            return sync_rate(store, tag, seconds)

    def sqlite_async(tag: str, seconds: float) -> float:
        async def run() -> float:
            async with AsyncSQLiteStore(path) as store:
                return await async_rate(store, tag, seconds)
        return asyncio.run(run())

    found["SQLiteStore, 8 threads"] = sqlite_sync
    found["AsyncSQLiteStore, 8 tasks"] = sqlite_async
    if not pg_dsn:
        return found
    target, _ = _schema(pg_dsn)

    def pg_sync(pool: int) -> Callable[[str, float], float]:
        def rate(tag: str, seconds: float) -> float:
            with PostgresStore(target, pool_size=pool) as store:
                return sync_rate(store, tag, seconds)
        return rate

    def pg_async(tag: str, seconds: float) -> float:
        async def run() -> float:
            # A warm pool (the sync pool makes its connections at the first burst, at once).
            async with AsyncPostgresStore(target, pool_size=WRITERS,
                                          pool_min_size=WRITERS) as store:
                return await async_rate(store, tag, seconds)
        return asyncio.run(run())

    found["PostgresStore, 8 threads, pool_size=8"] = pg_sync(8)
    found["PostgresStore, 8 threads, pool_size=1 (one connection)"] = pg_sync(1)
    found["AsyncPostgresStore, 8 tasks, pool_size=8"] = pg_async
    return found


def concurrency(args: Any) -> dict[str, float]:
    """Print the table; return the medians by row."""
    print(f"\nEight writers in one process ({args.seconds:g} s per row, medians of {args.rounds} "
          f"interleaved rounds; commits per second)")
    with tempfile.TemporaryDirectory() as folder:
        table = rows(args.pg_dsn, Path(folder))
        samples: dict[str, list[float]] = {name: [] for name in table}
        for round_ in range(args.rounds):
            names = list(table) if round_ % 2 == 0 else list(reversed(table))
            for name in names:
                samples[name].append(table[name](f"r{round_}-{abs(hash(name)) % 10_000}",
                                                 args.seconds))
        if args.pg_dsn:
            _cleanup(args.pg_dsn)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in medians.items():
        print(f"  {value:10.0f} /s  {name}  (rounds: {', '.join(f'{v:.0f}' for v in samples[name])})")
    pairs = (("AsyncSQLiteStore, 8 tasks", "SQLiteStore, 8 threads", "async / sync threads"),
             ("AsyncPostgresStore, 8 tasks, pool_size=8", "PostgresStore, 8 threads, pool_size=8",
              "async / sync threads (goal >= 0.80)"),
             ("PostgresStore, 8 threads, pool_size=8",
              "PostgresStore, 8 threads, pool_size=1 (one connection)",
              "pool of 8 / one connection (goal > 1)"))
    for candidate, reference, what in pairs:
        if candidate in medians:
            print(f"  {medians[candidate] / medians[reference]:10.2f}     {what}")
    return medians


def _cleanup(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        for (schema,) in admin.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE "
                                       "'bench\\_%'").fetchall():
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg-dsn", default=os.environ.get("ESCALATION_FSM_PG_DSN", ""))
    concurrency(parser.parse_args())


if __name__ == "__main__":
    main()
