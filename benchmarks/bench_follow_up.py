"""Follow-up workers: claim_due + act + record per second, next to the store's multi-writer rate.

Usage::

    ESCALATION_FSM_PG_DSN=postgresql://... python benchmarks/bench_follow_up.py \\
        [--workers 4] [--seconds 5] [--repeat 3] [--tickets 1500] [--sqlite]

Each round, interleaved (this machine's speed drifts), on PostgreSQL (and SQLite with
``--sqlite``):

* ``multi-writer apply``: ``--workers`` processes commit ``record_step`` transitions with
  ``store.apply`` on their own tickets for ``--seconds`` (the store's multi-writer commit rate,
  with the same ladder policy, so the same clock and step indexing on every save);
* ``follow-up workers``: ``--workers`` processes run :class:`FollowUpWorker` passes (claim up to
  20 due steps under a lease with ``FOR UPDATE SKIP LOCKED``, act on each, record it with the
  compare-and-swap) on ``--tickets`` tickets whose 4 ladder steps are all due, for
  ``--seconds``.

Medians of ``--repeat`` rounds are printed with their ratio (the issue asks for at least 50%).
Then the claim statement's plan, with ``EXPLAIN (ANALYZE, BUFFERS)`` in a rolled-back
transaction, on a table where 50,000 more tickets have steps not yet due: the partial index
``escalation_tickets_step`` on ``(next_step_at, id)`` answers it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ladder_support import LATER, ladder_desk, new, noop

from escalation_fsm import Actor, Role, Trigger
from escalation_fsm.stores import FollowUpWorker, PostgresStore, SQLiteStore, StoreBase
from escalation_fsm.stores._postgres_follow_up import CLAIM_SQL

AGENT = Actor(id="bench", role=Role.AGENT)


def open_store(kind: str, target: str) -> StoreBase:
    machine, _clock = ladder_desk()
    if kind == "sqlite":
        return SQLiteStore(target, machine=machine)
    return PostgresStore(target, machine=machine)


def _apply_worker(kind: str, target: str, ids: list[str], seconds: float) -> int:
    store = open_store(kind, target)
    commits, n = 0, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        store.apply(ids[n % len(ids)], Trigger.RECORD_STEP, actor=AGENT, step=f"s{n}")
        n += 1
        commits += 1
    store.close()
    return commits


def _follow_worker(kind: str, target: str, name: str, seconds: float) -> int:
    store = open_store(kind, target)
    worker = FollowUpWorker(store, name, notify=noop, callbacks={"page": noop}, batch=20)
    recorded = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        done = worker.run_once(by=LATER)
        if not done.claims:
            break
        recorded += done.recorded
    store.close()
    return recorded


def _prepare(kind: str, target: str, ids: list[str], *, attempted: bool) -> None:
    store = open_store(kind, target)
    for ticket_id in ids:
        store.create(new(ticket_id))
        if attempted:
            store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    store.close()


def _pool(function: Any, arguments: list[tuple[Any, ...]]) -> tuple[int, float]:
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(len(arguments)) as pool:
        counts = pool.starmap(function, arguments)
    return sum(counts), time.perf_counter() - started


def one_round(kind: str, target: str, args: argparse.Namespace, tag: str) -> tuple[float, float]:
    own = [[f"{tag}-A{w}-{i}" for i in range(4)] for w in range(args.workers)]
    _prepare(kind, target, [t for group in own for t in group], attempted=True)
    applied, _ = _pool(_apply_worker, [(kind, target, group, args.seconds) for group in own])
    _prepare(kind, target, [f"{tag}-F{i:05d}" for i in range(args.tickets)], attempted=False)
    recorded, elapsed = _pool(_follow_worker, [(kind, target, f"{tag}-w{w}", args.seconds)
                                               for w in range(args.workers)])
    if elapsed < args.seconds * 0.9:
        print(f"  (the follow-up workers ran out of due steps after {elapsed:.1f}s: raise "
              f"--tickets)")
    return applied / args.seconds, recorded / min(elapsed, args.seconds)


def claim_plan(dsn: str) -> str:
    """The claim's plan with 50,000 more tickets whose next step is not due (rolled back)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
            "next_step_at) SELECT 'filler-' || n, 'identified', 'other', 1, 0, now(), "
            "%s::timestamptz + n * interval '1 minute' FROM generate_series(1, 50000) n",
            (LATER + timedelta(days=1),))
        conn.execute("ANALYZE escalation_tickets")
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + CLAIM_SQL,
                            {"by": LATER, "limit": 20, "worker": "plan",
                             "lease": timedelta(seconds=60)}).fetchall()
        conn.rollback()
    return "\n".join(f"    {row[0]}" for row in rows)


def _schema(dsn: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    return schema, f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"


def _drop(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tickets", type=int, default=1500)
    parser.add_argument("--sqlite", action="store_true", help="also measure a SQLite file")
    parser.add_argument("--pg-dsn", default=os.environ.get("ESCALATION_FSM_PG_DSN", ""))
    args = parser.parse_args()
    if not args.pg_dsn:
        parser.error("give --pg-dsn or set ESCALATION_FSM_PG_DSN")
    print(f"follow-up benchmark: {os.cpu_count()} CPUs, {args.workers} processes, "
          f"{args.seconds:g}s per figure, medians of {args.repeat} interleaved rounds")
    schema, dsn = _schema(args.pg_dsn)
    try:
        with tempfile.TemporaryDirectory() as folder:
            targets = [("postgres", dsn)] + ([("sqlite", str(Path(folder) / "f.db"))]
                                             if args.sqlite else [])
            figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind, _ in targets}
            for repeat in range(args.repeat):
                for kind, target in targets:
                    figures[kind].append(one_round(kind, target, args, f"r{repeat}"))
            for kind, rounds in figures.items():
                applied = statistics.median(a for a, _ in rounds)
                followed = statistics.median(f for _, f in rounds)
                print(f"{kind:>8}: multi-writer apply {applied:7.0f}/s   follow-up workers "
                      f"{followed:7.0f}/s   ratio {followed / applied:4.0%}   "
                      f"(rounds: {', '.join(f'{f:.0f}/{a:.0f}' for a, f in rounds)})")
        print("\nclaim plan (PostgreSQL, 50,000 tickets with steps not yet due):")
        print(claim_plan(dsn))
    finally:
        _drop(args.pg_dsn, schema)


if __name__ == "__main__":
    main()
