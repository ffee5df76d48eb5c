"""Safe retries (issue 15, problem 2): idempotency keys, expected versions, lost connections.

An ``apply`` with an idempotency key is applied at most once however often it is retried; one
with ``expected_version`` only to that version. A PostgreSQL store whose connection drops (after
COMMIT, before it, between calls, or because the server restarted) connects again and neither
loses nor doubles a transition. A lock not granted in time is a retryable ``LockTimeout``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from async_support import SyncView
from store_support import KINDS, SQL_KINDS, Backend, backend
from support import AGENT, HIGH, START, SYSTEM, new_ticket

from escalation_fsm import (
    Category,
    CommitOutcomeUnknown,
    ConcurrentUpdate,
    EscalationMachine,
    IdempotencyConflict,
    LockTimeout,
    ManualClock,
    Stage,
    StaleTicket,
    StoreError,
    Ticket,
    Trigger,
)
from escalation_fsm.stores import MemoryStore, StoreBase

RESTART_ENV = "ESCALATION_FSM_PG_RESTART"


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Backend]:
    with backend("postgres", tmp_path) as found:
        yield found


def desk() -> EscalationMachine:
    return EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=1)))


def attempted(store: StoreBase, ticket_id: str = "T-1") -> None:
    store.create(new_ticket(id=ticket_id))
    store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)


def keyed(store: StoreBase, key: str) -> list[int]:
    """The seq of every history record of T-1 stored with idempotency ``key``."""
    stored = store._stored("T-1", 0)  # white box: the key is stored beside the record
    assert stored is not None
    return [row.seq for row in stored.rows if row.key == key]


# -- idempotency keys -------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_committed_ticket(db: Backend) -> None:
    """The second call with a key returns what the first committed; nothing is applied again and
    no hook runs again; the key belongs to that record only."""
    machine = desk()
    paged: list[int] = []
    machine.after(Trigger.ESCALATE)(lambda event: paged.append(event.after.version))
    store = db.open(machine)
    attempted(store)
    store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="KB")
    payload = {"summary": "Needs Tier 2", "assessment": HIGH}
    first = store.apply("T-1", Trigger.ESCALATE, actor=AGENT, idempotency_key="esc-1", **payload)
    for reader in (store, db.open(machine)):
        again = reader.apply("T-1", Trigger.ESCALATE, actor=AGENT, idempotency_key="esc-1",
                             **payload)
        assert again == first
    assert store.get("T-1").version == 3 and paged == [3]
    assert keyed(store, "esc-1") == [3]
    assert store.stats.replayed == 1 and store.stats.commits == 3
    other = db.open(machine)
    other.create(new_ticket(id="T-2"))
    other.apply("T-2", Trigger.ATTEMPT, actor=AGENT, idempotency_key="esc-1")  # per ticket
    assert db.open().verify().ok


def test_a_retry_returns_the_ticket_its_call_made_even_after_later_ones(db: Backend) -> None:
    """A late retry gets the ticket as its own record left it, not the one after later calls."""
    store = db.open(desk())
    attempted(store)
    made = store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="one", idempotency_key="s-1")
    store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="two")
    assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="one",
                       idempotency_key="s-1") == made
    assert store.get("T-1").version == 3


@pytest.mark.parametrize(("call", "reason"), [
    ({"trigger": Trigger.RECORD_STEP, "actor": AGENT, "step": "other"}, "with another payload"),
    ({"trigger": Trigger.RESOLVE, "actor": AGENT, "solution": "x"}, "which fired 'record_step'"),
    ({"trigger": Trigger.RECORD_STEP, "actor": SYSTEM, "step": "one"}, "fired by 'a-1'"),
])
def test_a_key_reused_for_another_call_is_refused(db: Backend, call: dict[str, Any],
                                                  reason: str) -> None:
    """Same key, other trigger, actor or payload: IdempotencyConflict; nothing is written."""
    store = db.open(desk())
    attempted(store)
    store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="one", idempotency_key="s-1")
    with pytest.raises(IdempotencyConflict, match=reason) as info:
        store.apply("T-1", idempotency_key="s-1", **call)
    assert (info.value.key, info.value.seq) == ("s-1", 2)
    assert store.get("T-1").version == 2


def test_the_database_refuses_a_key_twice_even_when_the_lookup_missed_it(
        db: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unique index is the last word: a retry whose key lookup came too early (another
    handle committed in between) writes nothing and answers as the committed call did."""
    store = db.open(desk())
    attempted(store)
    made = store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="once", idempotency_key="k")
    missed = iter([None])
    if isinstance(store, SyncView):  # an async store: its primitive is a coroutine function
        target: Any = store.store
        find_async = target._find_key

        async def lookup(*args: Any) -> Any:
            return next(missed, None) or await find_async(*args)
        monkeypatch.setattr(target, "_find_key", lookup)
    else:
        find = store._find_key
        monkeypatch.setattr(store, "_find_key", lambda *args: next(missed, None) or find(*args))
    assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="once",
                       idempotency_key="k") == made
    assert keyed(store, "k") == [2] and db.open().get("T-1").version == 2
    assert db.open().verify().ok


def test_racing_retries_with_one_key_commit_once(db: Backend) -> None:
    """Eight handles apply the same keyed call at once: one record, and all get the same ticket."""
    store = db.open(desk())
    attempted(store)
    handles = [db.open(desk()) for _ in range(8)]
    results: list[Any] = []
    start = threading.Barrier(len(handles))

    def retry(handle: StoreBase) -> None:
        start.wait()
        try:
            results.append(handle.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="once",
                                        idempotency_key="same"))
        except ConcurrentUpdate as exc:  # pragma: no cover (never: a lost race finds the key)
            results.append(exc)

    threads = [threading.Thread(target=retry, args=(handle,)) for handle in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(result == results[0] for result in results)
    assert keyed(store, "same") == [2] and store.get("T-1").version == 2


# -- expected versions --------------------------------------------------------------------------


def test_expected_version_applies_only_to_the_version_read(db: Backend) -> None:
    """A caller acting on version n gets StaleTicket (never a retry) once the ticket moved on."""
    store = db.open(desk())
    attempted(store)
    seen = store.get("T-1")
    assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="a",
                       expected_version=seen.version).version == 2
    with pytest.raises(StaleTicket) as info:
        db.open().apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="x",
                        expected_version=seen.version)
    assert (info.value.expected_version, info.value.found_version) == (1, 2)
    assert isinstance(info.value, ConcurrentUpdate)
    assert store.get("T-1").version == 2


def test_expected_version_is_not_retried_after_a_lost_race(tmp_path: Path) -> None:
    """A colleague commits between the caller's read and its swap: StaleTicket, nothing written."""
    racing = desk()
    colleague = MemoryStore(machine=desk())
    worker = MemoryStore(machine=racing, shared_with=colleague)
    attempted(colleague)

    @racing.before(Trigger.RESOLVE)
    def colleague_acts_first(event: Any) -> None:
        if event.before.version == 1:
            colleague.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="meanwhile")

    with pytest.raises(StaleTicket, match="asked of version 1, but the ticket is at version 2"):
        worker.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="x", expected_version=1)
    assert worker.get("T-1").stage == Stage.ATTEMPTED and worker.stats.conflicts == 1


# -- lock timeouts ------------------------------------------------------------------------------


def test_a_sqlite_lock_timeout_is_retryable(tmp_path: Path) -> None:
    """Another process holds the write lock past the timeout: LockTimeout, nothing written; the
    same call succeeds once the lock is free."""
    with backend("sqlite", tmp_path) as db:
        store = db.open(desk(), timeout=0.2)
        attempted(store)
        holder = sqlite3.connect(db.target, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(LockTimeout) as info:
            store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x")
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, StoreError)
        holder.execute("ROLLBACK")
        holder.close()
        assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x").version == 2


def test_a_postgres_lock_timeout_is_retryable(pg: Backend) -> None:
    """A row lock held past lock_timeout is a LockTimeout; nothing written; a retry succeeds."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    options = conninfo_to_dict(pg.target).get("options", "")
    store = pg.open(desk())
    attempted(store)
    impatient = type(store)(make_conninfo(pg.target, options=f"{options} -c lock_timeout=200"),
                            machine=desk())
    with psycopg.connect(pg.target) as holder:
        holder.execute("SELECT 1 FROM escalation_tickets WHERE id = 'T-1' FOR UPDATE")
        with pytest.raises(LockTimeout, match="timed out waiting for a lock"):
            impatient.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x")
    assert impatient.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x").version == 2
    impatient.close()


# -- PostgreSQL: lost connections --------------------------------------------------------------


class Dropping:
    """A connection that is lost around one transaction: ``after`` its COMMIT (the client never
    hears back) or ``before`` it (nothing committed); every other call goes to the real one."""

    def __init__(self, real: Any, *, after: bool) -> None:
        self._real = real
        self._after = after
        self.dropped = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        import psycopg

        drop = not self.dropped
        with self._real.transaction() as tx:
            yield tx
            if drop and not self._after:
                self.dropped = True
                self._real.close()
                raise psycopg.OperationalError("server closed the connection unexpectedly")
        if drop:
            self.dropped = True
            self._real.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize("after", [True, False], ids=["after-commit", "before-commit"])
def test_a_connection_lost_while_committing_neither_loses_nor_doubles(pg: Backend,
                                                                      after: bool) -> None:
    """Issue 15 (2): the store reconnects, finds out whether its row landed (by its hash), and
    returns the committed ticket or commits it now; a retry with the key changes nothing."""
    machine = desk()
    ran: list[int] = []
    machine.after(Trigger.RECORD_STEP)(lambda event: ran.append(event.after.version))
    store = pg.open(machine)
    attempted(store)
    # The test's thread keeps a dropping connection leased: every call of this thread uses it.
    store._conn = Dropping(store._lanes.take(), after=after)  # type: ignore[attr-defined]
    new = store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="once", idempotency_key="k")
    assert new.version == 2 and store.stats.reconnects == 1 and ran == [2]
    assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="once",
                       idempotency_key="k") == new
    assert [r.payload.get("step") for r in pg.open().history("T-1")] == [None, "once"]
    assert pg.open().verify().ok


def test_an_unknown_outcome_is_typed_and_the_keyed_retry_is_safe(pg: Backend) -> None:
    """No new connection after a drop past COMMIT: CommitOutcomeUnknown names the key; once the
    database is back, the retry with the key returns the committed ticket, applied once."""
    import psycopg

    store = pg.open(desk())
    attempted(store)
    connect = store._connect  # type: ignore[attr-defined]

    def refused() -> Any:
        raise psycopg.OperationalError("connection refused")

    store._conn = Dropping(store._lanes.take(), after=True)  # type: ignore[attr-defined]
    store._connect = refused  # type: ignore[attr-defined]
    store._connect_timeout = 0.3  # type: ignore[attr-defined]
    with pytest.raises(CommitOutcomeUnknown, match="retry with idempotency_key='k-7'") as info:
        store.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="Fixed", idempotency_key="k-7")
    assert (info.value.key, info.value.trigger) == ("k-7", "resolve")
    store._connect = connect  # type: ignore[attr-defined]
    retried = store.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="Fixed",
                          idempotency_key="k-7")
    assert retried.stage == Stage.RESOLVED and retried.version == 2
    assert [r.trigger for r in pg.open().history("T-1")] == ["attempt", "resolve"]


def test_a_terminated_connection_is_replaced(pg: Backend) -> None:
    """The server ends the store's session between calls (idle timeout, failover): the next
    read and write work on a new connection."""
    import psycopg

    store = pg.open(desk())
    attempted(store)
    [idle] = store._lanes._idle  # type: ignore[attr-defined]  # one thread: one pooled connection
    pid = idle.info.backend_pid
    with psycopg.connect(pg.target, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert store.get("T-1").version == 1
    assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x").version == 2
    assert store.stats.reconnects == 1
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("T-1")


def test_a_postgres_store_survives_a_server_restart(pg: Backend) -> None:
    """Issue 15 (2): after the test server restarts (the command in ESCALATION_FSM_PG_RESTART,
    which .ci/run sets), the same store object reads and writes again.

    Without the variable the test is skipped, except under CI=true, where it fails: CI must
    prove it. Locally, point it at a server nobody else is using (see docs/integrity.md).
    """
    command = os.environ.get(RESTART_ENV, "")
    if not command:
        message = f"{RESTART_ENV} is not set (a shell command that restarts the test server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the restart test, but {message}", pytrace=False)
        pytest.skip(message)
    store = pg.open(desk())
    attempted(store)
    subprocess.run(command, shell=True, check=True, timeout=120, capture_output=True)  # noqa: S602
    assert store.get("T-1").version == 1
    assert store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="after the restart",
                       idempotency_key="r-1").version == 2
    assert store.stats.reconnects >= 1
    assert pg.open().verify().ok


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_the_stored_key_survives_reopening(kind: str, tmp_path: Path) -> None:
    """Keys are stored with the record: a new process sees them (the retry of a crashed one)."""
    with backend(kind, tmp_path) as found:
        first = found.open(desk())
        attempted(first)
        made = first.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x", idempotency_key="k")
        first.close()
        again = found.open(desk())
        assert again.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x",
                           idempotency_key="k") == made
        assert again.get("T-1").version == 2


# -- PostgreSQL: the sync store's pool -----------------------------------------------------------


def test_threads_share_the_sync_postgres_pool_within_its_size(pg: Backend) -> None:
    """Eight threads through a pool of 3: all their transitions commit, and the store made 3
    connections at most, reused from call to call (not one per call, not one per thread)."""
    store = pg.open(desk(), pool_size=3)
    assert store.pool_size == 3
    for n in range(8):
        store.create(Ticket(id=f"P-{n}", customer_id="C", category=Category.TECHNICAL, details="d"))
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        store.apply(f"P-{n}", Trigger.ATTEMPT, actor=AGENT)
        for step in range(4):
            store.apply(f"P-{n}", Trigger.RECORD_STEP, actor=AGENT, step=f"s{step}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [store.get(f"P-{n}").version for n in range(8)] == [5] * 8
    lanes = store._lanes  # type: ignore[attr-defined]
    assert 1 <= lanes.opened <= 3 and store.stats.reconnects == 0
    store.close()
    assert lanes._made == 0  # closed: every connection


def test_a_sync_pool_size_must_be_positive(pg: Backend) -> None:
    """A pool that could hold no connection is refused before connecting."""
    with pytest.raises(ValueError, match="pool_size"):
        pg.open(desk(), pool_size=0)
