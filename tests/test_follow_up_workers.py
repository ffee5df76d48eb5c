"""Follow-up workers in real processes on one database: every due step acted on exactly once.

4 worker processes drain 2,000 tickets whose ladder steps are all due on a manual clock, on a
SQLite file and on a PostgreSQL server; a worker SIGKILLed while it holds leases loses them,
and its steps are acted on once by another worker after the lease ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from ladder_support import FOLLOW_UP_STEPS, claim_and_die, ladder_desk, new, work
from store_support import SQL_KINDS, Backend, backend, processes

from escalation_fsm import FOLLOW_UP_TRIGGER, Ticket

WORKERS = 4
TICKETS = 2_000
LEASE = 2.5
"""Seconds the killed worker's claims last (the early worker must finish within it)."""


@pytest.fixture(params=SQL_KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def _prepare(db: Backend, count: int) -> list[str]:
    machine, _clock = ladder_desk()
    options = {"synchronous": "NORMAL"} if db.kind == "sqlite" else {}  # setup only: speed
    store = db.open(machine, **options)
    ids = [f"T-{n:05d}" for n in range(count)]
    for ticket_id in ids:
        store.create(new(ticket_id))
    store.close()  # nothing open across the fork
    return ids


def _acted(ticket: Ticket) -> list[str]:
    return [str(r.payload["step"]) for r in ticket.history if r.trigger == FOLLOW_UP_TRIGGER]


def _check_every_step_once(db: Backend, ids: list[str]) -> Counter[str]:
    machine, _clock = ladder_desk()
    store = db.open(machine)
    found: Counter[str] = Counter()
    for ticket_id in ids:
        acted = _acted(store.get(ticket_id))
        assert sorted(acted) == sorted(FOLLOW_UP_STEPS), (ticket_id, acted)
        found.update(acted)
        assert store.steps(ticket_id) == []
    report = store.verify()
    assert report.ok, report.problems[:3]
    return found


def test_four_worker_processes_act_on_every_step_of_2000_tickets_exactly_once(
        db: Backend) -> None:
    """4 processes drain 2,000 tickets x 4 due steps: each step recorded once in its ticket's
    history, none missed, and every record the workers reported committed is the one there."""
    ids = _prepare(db, TICKETS)
    started = time.perf_counter()
    with processes().Pool(WORKERS) as pool:
        logs = pool.starmap(work, [(db.kind, db.target, f"w{n}", 30.0) for n in range(WORKERS)])
    elapsed = time.perf_counter() - started
    reported = [entry for log in logs for entry in log["recorded"]]
    assert len(reported) == len(set(reported)) == TICKETS * len(FOLLOW_UP_STEPS)
    found = _check_every_step_once(db, ids)
    assert found == dict.fromkeys(FOLLOW_UP_STEPS, TICKETS)
    assert all(log["recorded"] for log in logs), "every worker got a share"
    print(f"\n{db.kind}: {len(reported)} steps by {WORKERS} processes in {elapsed:.1f}s "
          f"({len(reported) / elapsed:.0f}/s); outcomes "
          f"{sum((Counter(log['outcomes']) for log in logs), Counter())}")


def test_a_worker_killed_holding_leases_loses_them_and_its_steps_are_acted_on_once(
        db: Backend, tmp_path: Path) -> None:
    """SIGKILL with 50 claims held: nobody can take them during the lease; after it, another
    worker acts on each exactly once, and the dead worker's name is on no record."""
    ids = _prepare(db, 60)
    ready = tmp_path / "claimed.txt"
    dying = processes().Process(target=claim_and_die,
                                args=(db.kind, db.target, "doomed", LEASE, str(ready)))
    dying.start()
    dying.join(60)
    assert dying.exitcode == -9
    held = ready.read_text(encoding="utf-8").splitlines()
    assert len(held) == 50

    early = work(db.kind, db.target, "early", 30.0)
    assert {ticket_id for ticket_id, _ in early["recorded"]} == set(ids[50:])  # leased ones skipped
    time.sleep(LEASE + 0.2)
    late = work(db.kind, db.target, "late", 30.0)
    assert {ticket_id for ticket_id, _ in late["recorded"]} == set(ids[:50])
    _check_every_step_once(db, ids)
    machine, _clock = ladder_desk()
    store = db.open(machine)
    workers = {r.payload["worker"] for t in ids for r in store.get(t).history
               if r.trigger == FOLLOW_UP_TRIGGER}
    assert workers == {"early", "late"}
