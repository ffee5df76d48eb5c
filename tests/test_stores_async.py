"""The async stores on their own terms: async hooks, many tasks in many processes, SIGKILL.

The contract they share with the sync stores runs in tests/test_stores*.py (KINDS has all five);
here are the guarantees only an event loop can show.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from async_support import async_crash_writer, async_hammer
from store_support import (
    ASYNC_KINDS,
    TOKEN_FIELD,
    Backend,
    backend,
    check_consistent,
    processes,
)
from support import AGENT, START

from escalation_fsm import (
    Category,
    EscalationMachine,
    HookFailed,
    ManualClock,
    StoreError,
    Ticket,
    TransitionEvent,
    Trigger,
)
from escalation_fsm.stores import AsyncPostgresStore, AsyncSQLiteStore, AsyncStoreBase

PROCESSES = 3
TASKS = 8
TICKETS = ["T-1", "T-2", "T-3", "T-4"]
COMMITS_PER_TASK = 25  # 3 processes x 8 tasks x 25 = 600 committed transitions, more fired


@pytest.fixture(params=ASYNC_KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def _store(db: Backend, machine: EscalationMachine | None = None, **options: object) -> AsyncStoreBase:
    if db.kind == "async_sqlite":
        return AsyncSQLiteStore(db.target, machine=machine, **options)  # type: ignore[arg-type]
    return AsyncPostgresStore(db.target, machine=machine, **options)  # type: ignore[arg-type]


def _ticket(ticket_id: str = "T-1") -> Ticket:
    return Ticket(id=ticket_id, customer_id="C-1", category=Category.TECHNICAL, details="d")


def _prepare(db: Backend, ticket_ids: list[str]) -> None:
    async def run() -> None:
        async with _store(db) as store:
            for ticket_id in ticket_ids:
                await store.create(_ticket(ticket_id))
                await store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    asyncio.run(run())


# -- hooks ------------------------------------------------------------------------------------


def test_async_after_hooks_are_awaited_once_after_the_commit(db: Backend) -> None:
    """An ``async def`` after-hook and enter-hook are awaited once per committed transition, in
    order, and already see the commit; lost races among concurrent tasks run none."""
    machine = EscalationMachine(clock=ManualClock(START))
    seen: list[tuple[str, int, int]] = []

    async def main() -> int:
        async with _store(db, machine) as store, _store(db) as observer:
            @machine.on_enter("attempted")
            async def entered(event: TransitionEvent) -> None:
                await asyncio.sleep(0)
                seen.append(("enter", event.after.version,
                             (await observer.get(event.after.id)).version))

            @machine.after()
            async def after(event: TransitionEvent) -> None:
                await asyncio.sleep(0)
                seen.append((event.trigger, event.after.version,
                             (await observer.get(event.after.id)).version))

            await store.create(_ticket())
            await store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
            results = await asyncio.gather(*(
                store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step=f"s{n}")
                for n in range(6)), return_exceptions=True)
            assert all(isinstance(result, Ticket) for result in results), results
            return store.stats.conflicts

    conflicts = asyncio.run(main())
    assert seen[:2] == [("enter", 1, 1), ("attempt", 1, 1)]
    steps = seen[2:]
    assert sorted(version for _, version, _ in steps) == [2, 3, 4, 5, 6, 7]  # once per commit
    assert all(trigger == "record_step" and stored >= version for trigger, version, stored in steps)
    assert conflicts > 0  # the tasks did race; the losers ran no hook


def test_a_failing_async_after_hook_keeps_the_commit_and_surfaces(db: Backend) -> None:
    """HookFailed('after') carries the committed ticket; every other hook still ran."""
    machine = EscalationMachine(clock=ManualClock(START))
    ran: list[str] = []

    @machine.after(Trigger.ATTEMPT)
    async def page(event: TransitionEvent) -> None:
        raise ConnectionError("pager unreachable")

    @machine.after()
    def log(event: TransitionEvent) -> None:
        ran.append(event.trigger)

    async def main() -> None:
        async with _store(db, machine) as store:
            await store.create(_ticket())
            with pytest.raises(HookFailed) as caught:
                await store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
            assert caught.value.phase == "after"
            assert isinstance(caught.value.__cause__, ConnectionError)
            assert await store.get("T-1") == caught.value.ticket
            assert caught.value.ticket.version == 1

    asyncio.run(main())
    assert ran == ["attempt"]


def test_a_sync_fire_reports_an_async_hook_instead_of_dropping_it() -> None:
    """fire cannot await: the async after-hook is a HookFailed(after) failure naming it (the
    transition is done), never a coroutine silently left unawaited."""
    machine = EscalationMachine(clock=ManualClock(START))
    ran: list[str] = []

    @machine.after()
    async def notify(event: TransitionEvent) -> None:
        ran.append("ran")  # pragma: no cover (must not run)

    with pytest.raises(HookFailed) as caught:
        machine.fire(_ticket(), Trigger.ATTEMPT, actor=AGENT)
    assert caught.value.phase == "after"
    assert caught.value.ticket.version == 1
    [(name, error)] = caught.value.failures
    assert "notify" in name and isinstance(error, TypeError)
    assert "run_after_hooks_async" in str(error)
    assert ran == []


def test_an_async_before_hook_is_refused_when_registered() -> None:
    """Before-hooks run inside the transition and may veto it: they must be plain functions."""
    machine = EscalationMachine()

    async def veto(event: TransitionEvent) -> None:
        """Never registered."""

    with pytest.raises(TypeError, match="before-hooks must be plain functions"):
        machine.before()(veto)
    assert not machine.hooks.active


def test_run_after_hooks_async_awaits_the_machines_hooks() -> None:
    """The machine's async phase two: transition, then await the hooks (sync and async)."""
    machine = EscalationMachine(clock=ManualClock(START))
    order: list[str] = []

    @machine.after()
    async def first(event: TransitionEvent) -> None:
        order.append("async")

    @machine.after()
    def second(event: TransitionEvent) -> None:
        order.append("sync")

    result = machine.transition(_ticket(), Trigger.ATTEMPT, actor=AGENT)
    assert order == []
    asyncio.run(machine.run_after_hooks_async(result))
    assert order == ["async", "sync"]


# -- opening ----------------------------------------------------------------------------------


def test_a_store_must_be_opened_before_use(db: Backend) -> None:
    """A call before ``open`` says how to open the store (and touches nothing)."""
    store = _store(db)
    with pytest.raises(StoreError, match="not open"):
        asyncio.run(store.get("T-1"))


def test_a_closed_store_says_so(db: Backend) -> None:
    """After close, a call is a StoreError naming the closed store (no thread, no pool left)."""
    async def main() -> None:
        store = await _store(db).open()
        await store.close()
        await store.close()  # idempotent
        with pytest.raises(StoreError, match="closed"):
            await store.get("T-1")

    asyncio.run(main())


def test_pool_size_is_checked() -> None:
    """A pool that could hold no connection is a configuration error, named."""
    with pytest.raises(ValueError, match="pool_size"):
        AsyncPostgresStore("postgresql://nowhere", pool_size=0)
    with pytest.raises(ValueError, match="pool_min_size"):
        AsyncPostgresStore("postgresql://nowhere", pool_size=2, pool_min_size=3)


def test_the_pool_bounds_the_connections_in_use(tmp_path: Path) -> None:
    """pool_size connections at most: 12 tasks reading at once through a pool of 2 never hold
    more than 2 server connections of the store's schema."""
    with backend("async_postgres", tmp_path) as db:
        _prepare(db, ["T-1"])

        async def main() -> dict[str, int]:
            async with AsyncPostgresStore(db.target, pool_size=2) as store:
                await asyncio.gather(*(store.get(f"T-{n % 1 + 1}") for n in range(12)))
                return dict(store._pool.get_stats())  # type: ignore[attr-defined]

        stats = asyncio.run(main())
        assert stats["connections_num"] <= 2      # never more than the pool's size opened
        assert stats.get("requests_queued", 0) > 0  # so some calls waited for a free one
        assert stats["requests_num"] >= 12


# -- reliability: many tasks in several processes, SIGKILL --------------------------------------


def test_many_tasks_in_several_processes_lose_nothing_and_double_nothing(db: Backend) -> None:
    """3 processes x 8 tasks fire >= 600 transitions at 4 shared tickets: every commit a task
    saw is in the history exactly once at its version; conflicts and refusals left no trace."""
    _prepare(db, TICKETS)
    started = time.perf_counter()
    with processes().Pool(PROCESSES) as pool:
        logs = pool.starmap(async_hammer, [(db.kind, db.target, worker, TICKETS, TASKS,
                                            COMMITS_PER_TASK) for worker in range(PROCESSES)])
    elapsed = time.perf_counter() - started

    tickets = check_consistent(db, TICKETS)
    committed = [entry for log in logs for entry in log["committed"]]
    failed = [entry for log in logs for entry in (*log["conflicts"], *log["invalid"])]
    assert len(committed) >= PROCESSES * TASKS * COMMITS_PER_TASK * 0.9
    in_history = Counter(str(r.payload[TOKEN_FIELD[r.trigger]])
                         for ticket in tickets.values() for r in ticket.history[1:])
    assert sum(in_history.values()) == len(committed)          # nothing extra was written
    for ticket_id, version, token in committed:
        assert in_history[token] == 1, token                   # exactly once ...
        record = tickets[ticket_id].history[version - 1]       # ... where the task saw it land
        assert record.payload[TOKEN_FIELD[record.trigger]] == token
    for _, token in failed:
        assert in_history[token] == 0, token
    gave_up = sum(log["stats"][2] for log in logs)
    assert gave_up == sum(len(log["conflicts"]) for log in logs)
    print(f"\n{db.kind}: {len(committed)} commits by {PROCESSES} processes x {TASKS} tasks in "
          f"{elapsed:.1f}s; {sum(log['stats'][1] for log in logs)} lost races, {gave_up} "
          f"ConcurrentUpdate")


def _committed_lines(log_path: Path) -> list[tuple[int, str]]:
    if not log_path.exists():
        return []
    lines = log_path.read_text(encoding="utf-8").splitlines()
    return [(int(version), token) for version, token in (line.split() for line in lines if " " in line)]


def test_a_writer_with_many_tasks_killed_with_sigkill_leaves_a_consistent_store(
        db: Backend, tmp_path: Path) -> None:
    """SIGKILL while 6 tasks commit on one ticket: every reported commit is there once, at its
    version; at most one per task is unreported; the ticket is whole and still works."""
    _prepare(db, ["T-1"])
    log_path = tmp_path / "crash.log"
    tasks = 6
    writer = processes().Process(target=async_crash_writer, args=(
        db.kind, db.target, "T-1", str(log_path), tasks))
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while len(_committed_lines(log_path)) < 40 and writer.is_alive():
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.005)
        time.sleep(random.uniform(0, 0.05))
        os.kill(writer.pid or 0, signal.SIGKILL)
        writer.join(30)
    finally:
        if writer.is_alive():  # pragma: no cover (only when an assertion above failed)
            writer.kill()
            writer.join()
    assert writer.exitcode == -signal.SIGKILL

    reported = _committed_lines(log_path)
    ticket = check_consistent(db, ["T-1"])["T-1"]
    steps = [str(r.payload["step"]) for r in ticket.history[1:]]
    assert len(steps) == len(set(steps))                           # nothing doubled
    for version, token in reported:
        assert ticket.history[version - 1].payload["step"] == token  # nothing reported was lost
    assert len(steps) - len(reported) <= tasks                     # at most each task's last one
    if db.database == "sqlite":
        assert db.sql("PRAGMA integrity_check") == [("ok",)]

    async def again() -> int:
        async with _store(db) as store:
            return (await store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="after")).version

    assert asyncio.run(again()) == ticket.version + 1
