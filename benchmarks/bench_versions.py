"""Migrating a store: the dry run's tickets per second, and the apply against the commit rate.

Usage::

    python benchmarks/bench_versions.py [--tickets 10000] [--repeat 5] [--commits 1000]
                                        [--pg-dsn DSN]

Setup (not timed): ``--tickets`` tickets are created empty in a SQLite store and moved through
it by ``store.apply``, one random allowed transition at a time, 5 to 15 of them (about 10 records
each, in every stage; 1 in 20 stays new, without history); the file is kept as the base of
every round. With a PostgreSQL server (``--pg-dsn`` or ``ESCALATION_FSM_PG_DSN``), one round is
run there too (its setup is slow).

Each round, interleaved (this machine's speed drifts), on a fresh copy of the base:

* ``dry run``: ``store.migrate(Migration(v1, v2), dry_run=True)`` with a new ``Migration`` (a
  cold prefix cache), tickets judged per second; and the same with ``cache=False`` (every
  history replayed in full), for reference;
* ``commit``: the store's single-writer commit rate: ``--commits`` ``record_step`` transitions
  round-robin over the tickets in ``attempted``/``escalated``, one ``apply`` each;
* ``apply``: ``store.migrate(Migration(v1, v2))`` on another fresh copy: tickets migrated per
  second (each its own compare-and-swap commit), and its ratio to the commit rate.

Medians of ``--repeat`` rounds are printed. v2 is the issue's example: a Tier 3 and ``closed``
(tests/version_support.py).

Measured (2026-12-03 18:05-18:21 UTC, shared 2-core machine, load average 6.1 at the start, 6.4
after the SQLite rounds), ``python benchmarks/bench_versions.py --tickets 10000 --repeat 3
--commits 1000 --pg-tickets 2000``::

    medians of 3 round(s), 10000 tickets:
      sqlite dry run (prefix cache), tickets/s       6,153.17
      sqlite dry run, tickets per CPU second        12,307.74
      sqlite dry run (no cache), tickets/s             465.48
      sqlite single-writer commits/s                   119.89
      sqlite apply, tickets migrated/s                 115.22
      sqlite apply / commit rate                         0.93
    postgres, one round, 2000 tickets:
      postgres dry run, tickets/s                    1,756.09
      postgres dry run (no cache), tickets/s           281.13
      postgres single-writer commits/s                  69.51
      postgres apply, tickets migrated/s                62.56
      postgres apply / commit rate                       0.90

The apply goal (>= 0.5 x the commit rate) is met; the dry-run goal (>= 20,000 tickets/s) is not:
6,153 tickets/s of wall-clock time, 12,308 per CPU second, the reading thread's CPU included
(docs/versions.md, Speed, has the comparison with the previous release in the same conditions).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import ACTORS, VALID, new_ticket
from version_support import V2

from escalation_fsm import EscalationError, EscalationMachine, ManualClock, Migration, default_spec
from escalation_fsm.stores import MigrationReport, PostgresStore, SQLiteStore, StoreBase

V1 = default_spec()


def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC), tick=timedelta(seconds=30))


def fill(store: StoreBase, count: int, seed: int = 7) -> int:
    """Create ``count`` tickets and walk each through the store; return the records written."""
    rng = random.Random(seed)
    spec = store.machine.spec
    records = 0
    for n in range(count):
        ticket = store.create(new_ticket(id=f"T-{n:05d}"))
        for _ in range(rng.randrange(5, 16) if n % 20 else 0):  # 1 in 20 stays new
            moves = list(spec.transitions_from(ticket.stage))
            rng.shuffle(moves)
            for move in moves:
                actor = next((a for a in ACTORS if a.role in move.roles), None)
                if actor is None:
                    continue
                try:
                    ticket = store.apply(ticket.id, move.trigger, actor=actor,
                                         **VALID.get(move.trigger, {}))
                except EscalationError:
                    continue
                break
        records += ticket.version
    return records


def commit_rate(store: StoreBase, commits: int) -> float:
    busy = [t.id for t in store.stream() if t.stage in ("attempted", "escalated")]
    agent = ACTORS[0]
    started = time.perf_counter()
    for n in range(commits):
        store.apply(busy[n % len(busy)], "record_step", actor=agent, step=f"bench {n}")
    return commits / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--pg-dsn", default=os.environ.get("ESCALATION_FSM_PG_DSN"))
    parser.add_argument("--pg-tickets", type=int, default=None,
                        help="tickets for the PostgreSQL round (default: --tickets)")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    work = Path(tempfile.mkdtemp(prefix="bench-versions-"))
    base = work / "base.db"
    started = time.perf_counter()
    store = SQLiteStore(base, machine=EscalationMachine(V1, clock=clock()), synchronous="NORMAL")
    records = fill(store, args.tickets)
    stages = {entry.stage for entry in store.stream()}
    store.close()
    print(f"setup: {args.tickets} tickets, {records / args.tickets:.1f} records each, stages "
          f"{sorted(stages)}, {time.perf_counter() - started:.0f} s")
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    for round_ in range(args.repeat):
        copy = work / f"r{round_}.db"
        shutil.copy(base, copy)
        store = SQLiteStore(copy, machine=EscalationMachine(V2, clock=clock()))
        report = dry_runs(store, note)
        store.close()
        writer = SQLiteStore(copy, machine=EscalationMachine(V1, clock=clock()))
        commits = commit_rate(writer, args.commits)
        note("sqlite single-writer commits/s", commits)
        writer.close()
        shutil.copy(base, copy)
        store = SQLiteStore(copy, machine=EscalationMachine(V2, clock=clock()))
        applied = store.migrate(Migration(V1, V2))
        rate = applied.migrated / applied.seconds
        note("sqlite apply, tickets migrated/s", rate)
        note("sqlite apply / commit rate", rate / commits)
        store.close()
        print(f"round {round_ + 1}: dry run {len(report.plans) / report.seconds:,.0f}/s, "
              f"commits {commits:,.0f}/s, apply {rate:,.0f}/s ({applied.migrated} migrated, "
              f"counts {report.counts})", flush=True)
    print(f"\nmedians of {args.repeat} round(s), {args.tickets} tickets:")
    for name, values in figures.items():
        print(f"  {name:<42} {statistics.median(values):>12,.2f}")
    print("goals: dry run >= 20,000 tickets/s on SQLite; apply >= 0.5 x the commit rate")
    print(f"load average after the SQLite rounds: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(work)
    if args.pg_dsn:
        pg_figures: dict[str, list[float]] = {}
        pg_round(args, lambda name, value: pg_figures.setdefault(name, []).append(value))
        print(f"postgres, one round, {args.pg_tickets or args.tickets} tickets:")
        for name, values in pg_figures.items():
            print(f"  {name:<42} {values[0]:>12,.2f}")


def dry_runs(store: StoreBase, note: Callable[[str, float], object]) -> MigrationReport:
    """The dry run with a cold cache (wall and CPU time), then without cache; equal plans."""
    cpu = time.process_time()
    report = store.migrate(Migration(V1, V2), dry_run=True)
    cpu = time.process_time() - cpu
    note("sqlite dry run (prefix cache), tickets/s", len(report.plans) / report.seconds)
    note("sqlite dry run, tickets per CPU second", len(report.plans) / cpu)
    full = store.migrate(Migration(V1, V2), dry_run=True, cache=False)
    note("sqlite dry run (no cache), tickets/s", len(full.plans) / full.seconds)
    assert report.plans == full.plans
    return report


def pg_round(args: argparse.Namespace, note: Callable[[str, float], object]) -> None:
    """One PostgreSQL round (its setup is slow): dry run, commit rate, apply."""
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    dsn = make_conninfo(args.pg_dsn, options=f"-c search_path={schema}")
    try:
        store = PostgresStore(dsn, machine=EscalationMachine(V1, clock=clock()))
        fill(store, args.pg_tickets or args.tickets)
        commits = commit_rate(store, args.commits)
        store.close()
        store = PostgresStore(dsn, machine=EscalationMachine(V2, clock=clock()))
        report = store.migrate(Migration(V1, V2), dry_run=True)
        full = store.migrate(Migration(V1, V2), dry_run=True, cache=False)
        assert report.plans == full.plans
        applied = store.migrate(Migration(V1, V2))
        store.close()
        rate = applied.migrated / applied.seconds
        for name, value in (("postgres dry run, tickets/s", len(report.plans) / report.seconds),
                            ("postgres dry run (no cache), tickets/s",
                             len(full.plans) / full.seconds),
                            ("postgres single-writer commits/s", commits),
                            ("postgres apply, tickets migrated/s", rate),
                            ("postgres apply / commit rate", rate / commits)):
            note(name, value)
    finally:
        with psycopg.connect(args.pg_dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
