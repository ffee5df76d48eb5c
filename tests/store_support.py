"""Shared helpers for the store tests: one way to open each backend, raw SQL access, PostgreSQL.

PostgreSQL tests run against a real server whose DSN is in ``ESCALATION_FSM_PG_DSN``. Without one
they are skipped with instructions, except under ``CI=true``, where a missing server fails the run.
Each test gets its own PostgreSQL schema (through ``search_path``), dropped afterwards.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from async_support import SyncView

from escalation_fsm import EscalationMachine
from escalation_fsm.stores import (
    AsyncPostgresStore,
    AsyncSQLiteStore,
    MemoryStore,
    PostgresStore,
    SQLiteStore,
    StoreBase,
)

PG_ENV = "ESCALATION_FSM_PG_DSN"
KINDS = ("memory", "sqlite", "postgres", "async_sqlite", "async_postgres")
"""Every store: the contract suite runs against all five (the async ones through a SyncView)."""
SQL_KINDS = ("sqlite", "postgres")
ASYNC_KINDS = ("async_sqlite", "async_postgres")

HOW_TO_START = (
    "to run them, start PostgreSQL (Debian, as root: apt-get install -y postgresql && "
    "pg_ctlcluster $(ls /usr/lib/postgresql | sort -V | tail -1) main start), give it a password and "
    f"a database, and export {PG_ENV}=postgresql://postgres:PASSWORD@127.0.0.1:5432/DBNAME; "
    "docs/stores.md has the exact steps (under CI=true a missing server fails instead of skipping)"
)

_pg_checked: dict[str, str] = {}


def _problem_with(dsn: str) -> str | None:
    """Why the server at ``dsn`` cannot be used for the tests, or ``None`` when it can."""
    if not dsn:
        return f"{PG_ENV} is not set"
    try:
        import psycopg
    except ImportError:
        return f"{PG_ENV} is set but psycopg is not installed (pip install -e '.[test,postgres]')"
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except Exception as exc:  # noqa: BLE001 (any failure means: no usable server)
        return f"cannot connect to {PG_ENV}: {type(exc).__name__}: {exc}"
    return None


def postgres_dsn() -> str:
    """The test server's DSN; skip (or, in CI, fail) when there is none or it does not answer."""
    dsn = os.environ.get(PG_ENV, "")
    if "problem" not in _pg_checked:  # probe once per test session
        _pg_checked["problem"] = _problem_with(dsn) or ""
    problem = _pg_checked["problem"]
    if not problem:
        return dsn
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the PostgreSQL store tests, but {problem}", pytrace=False)
    pytest.skip(f"{problem}; {HOW_TO_START}")


def processes() -> multiprocessing.context.BaseContext:
    """Worker processes by plain fork: they start at once with the library imported ("spawn" and
    "forkserver" re-import pytest in every child, ~0.5 s each on 2 cores). Callers close their
    own connections before starting workers; every worker opens its own."""
    return multiprocessing.get_context("fork")


def open_and_close(kind: str, target: str) -> None:
    """Open a store and close it again (run by many processes at once)."""
    open_store(kind, target).close()


def open_store(kind: str, target: str, machine: EscalationMachine | None = None,
               **options: Any) -> StoreBase:
    """Open a SQL store by kind on ``target`` (a file path or a DSN); used by worker processes too."""
    if kind == "sqlite":
        return SQLiteStore(target, machine=machine, **options)
    if kind == "postgres":
        return PostgresStore(target, machine=machine, **options)
    if kind == "async_sqlite":
        return SyncView(AsyncSQLiteStore(target, machine=machine, **options))  # type: ignore[return-value]
    if kind == "async_postgres":
        return SyncView(AsyncPostgresStore(target, machine=machine, **options))  # type: ignore[return-value]
    raise ValueError(kind)


@dataclass
class Backend:
    """One fresh database of one kind; ``open`` gives as many store handles on it as needed."""

    kind: str
    target: str = ""
    _memory: MemoryStore | None = None
    _opened: list[StoreBase] = field(default_factory=list)

    def open(self, machine: EscalationMachine | None = None, **options: Any) -> StoreBase:
        if self.kind == "memory":
            store: StoreBase = MemoryStore(machine=machine, shared_with=self._memory, **options)
        else:
            store = open_store(self.kind, self.target, machine, **options)
        self._opened.append(store)
        return store

    @property
    def database(self) -> str:
        """The kind of database behind the store (an async store's is its sync twin's)."""
        return self.kind.removeprefix("async_")

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run raw SQL (``?`` placeholders) in its own committed transaction; return the rows."""
        if self.database == "sqlite":
            db = sqlite3.connect(self.target, isolation_level=None)
            try:
                cursor = db.execute(query, params)
                return cursor.fetchall() if cursor.description else []
            finally:
                db.close()
        if self.database == "postgres":
            import psycopg

            with psycopg.connect(self.target, autocommit=True) as conn:
                cur = conn.execute(query.replace("?", "%s"), params)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
        raise ValueError(f"no SQL for the {self.kind} backend")

    def drop_follow_up(self) -> None:
        """Take the schema-6 follow-up columns away, as a release before the ladder left them."""
        self.sql("DROP INDEX escalation_tickets_step")
        for column in ("next_step_at", "lease_owner", "lease_until"):
            self.sql(f"ALTER TABLE escalation_tickets DROP COLUMN {column}")

    def schema_version(self) -> int:
        """The schema version recorded in the database's meta table."""
        return int(self.sql("SELECT value FROM escalation_meta WHERE key = 'schema_version'")[0][0])

    def tamper_document(self, ticket_id: str, document: str) -> None:
        """Rewrite a ticket's stored document behind the store's back, as a foreign writer with
        SQL access could: first dropping the trigger that keeps documents write-once."""
        if self.database == "sqlite":
            self.sql("DROP TRIGGER IF EXISTS escalation_documents_no_update")
        else:
            self.sql("DROP TRIGGER IF EXISTS escalation_documents_write_once ON escalation_documents")
        self.sql("UPDATE escalation_documents SET document = ? WHERE ticket_id = ?",
                 (document, ticket_id))

    def reseal(self, ticket_id: str) -> None:
        """Recompute a ticket's whole hash chain from its rows as they are now, as a foreign
        writer who knows the format could (it makes a damaged row reach the decoder)."""
        from escalation_fsm.stores._chain import genesis, link

        if self.database == "sqlite":
            self.sql("DROP TRIGGER IF EXISTS escalation_documents_no_update")
            self.sql("DROP TRIGGER IF EXISTS escalation_history_no_update")
        else:
            self.sql("DROP TRIGGER IF EXISTS escalation_documents_write_once ON escalation_documents")
            self.sql("DROP TRIGGER IF EXISTS escalation_history_append_only ON escalation_history")
        [(base_version, document)] = self.sql(
            "SELECT base_version, CAST(document AS text) FROM escalation_documents "
            "WHERE ticket_id = ?", (ticket_id,))
        head = genesis(ticket_id, base_version, document)
        self.sql("UPDATE escalation_documents SET hash = ? WHERE ticket_id = ?", (head, ticket_id))
        for seq, record, changes, key in self.sql(
                "SELECT seq, CAST(record AS text), CAST(changes AS text), idempotency_key "
                "FROM escalation_history WHERE ticket_id = ? ORDER BY seq", (ticket_id,)):
            head = link(head, record, changes, key)
            self.sql("UPDATE escalation_history SET hash = ? WHERE ticket_id = ? AND seq = ?",
                     (head, ticket_id, seq))

    def close(self) -> None:
        for store in self._opened:
            store.close()


def back_to_schema_5(db: Backend) -> None:
    """Remove what schema 6 added (the ladder's step index and leases), as version 5 was."""
    db.drop_follow_up()
    db.sql("UPDATE escalation_meta SET value = '5' WHERE key = 'schema_version'")


def back_to_schema_4(db: Backend) -> None:
    """Remove what schemas 6 and 5 added (the ladder's columns; the specs seen, each ticket's
    spec column), as version 4 was."""
    back_to_schema_5(db)
    db.sql("DROP INDEX escalation_tickets_spec")
    db.sql("ALTER TABLE escalation_tickets DROP COLUMN spec")
    db.sql("DROP TABLE escalation_specs")
    db.sql("DELETE FROM escalation_meta WHERE key = 'sla_meaning_json'")
    db.sql("UPDATE escalation_meta SET value = '4' WHERE key = 'schema_version'")


@contextmanager
def backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty database of ``kind`` for one test."""
    if kind == "memory":
        memory = MemoryStore()
        found = Backend(kind, _memory=memory)
        found._opened.append(memory)
        try:
            yield found
        finally:
            found.close()
    elif kind in ("sqlite", "async_sqlite"):
        found = Backend(kind, str(tmp_path / "tickets.db"))
        try:
            yield found
        finally:
            found.close()
    else:
        yield from _postgres_backend(kind)


def _postgres_backend(kind: str = "postgres") -> Iterator[Backend]:
    dsn = postgres_dsn()
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    found = Backend(kind, make_conninfo(dsn, options=f"-c search_path={schema}"))
    try:
        yield found
    finally:
        found.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


# -- reliability: worker processes and the consistency check ------------------------------------

CYCLE = {  # triggers that keep tickets moving between attempted and resolved, forever
    "attempted": ("record_step", "record_step", "resolve"),
    "resolved": ("reopen",),
}
TOKEN_FIELD = {"record_step": "step", "resolve": "solution", "reopen": "reason"}


def hammer(kind: str, target: str, worker: int, ticket_ids: Sequence[str], commits: int,
           ) -> dict[str, Any]:
    """Fire transitions on shared tickets until ``commits`` of them committed; log every outcome.

    Each transition carries a unique token in its payload, so the history shows exactly which
    ones landed. The trigger is picked from the stage this worker last saw, which other workers
    keep changing: some fires then turn out invalid on the fresh read, some lose races.
    """
    import random

    from escalation_fsm import Actor, ConcurrentUpdate, InvalidTransition, Role

    rng = random.Random(worker)
    actor = Actor(id=f"w{worker}", role=Role.AGENT)
    seen = dict.fromkeys(ticket_ids, "attempted")
    log: dict[str, Any] = {"committed": [], "conflicts": [], "invalid": [], "attempts": 0}
    store = open_store(kind, target)
    try:
        while len(log["committed"]) < commits and log["attempts"] < commits * 8:
            ticket_id = rng.choice(ticket_ids)
            trigger = rng.choice(CYCLE[seen[ticket_id]])
            token = f"w{worker}-{log['attempts']}"
            log["attempts"] += 1
            try:
                new = store.apply(ticket_id, trigger, actor=actor, **{TOKEN_FIELD[trigger]: token})
            except ConcurrentUpdate:
                log["conflicts"].append((ticket_id, token))
            except InvalidTransition as exc:
                seen[ticket_id] = exc.stage
                log["invalid"].append((ticket_id, token))
            else:
                seen[ticket_id] = new.stage
                log["committed"].append((ticket_id, new.version, token))
        log["stats"] = (store.stats.commits, store.stats.conflicts, store.stats.gave_up)
    finally:
        store.close()
    return log


def check_consistent(db: Backend, ticket_ids: Sequence[str]) -> dict[str, Any]:
    """Assert the stored tickets are whole; return each ticket read back, by id.

    Checks the raw rows (version = number of history rows = highest seq, lowest seq 1), reads
    every ticket through a fresh store (which validates the gapless sequence and the document)
    and verifies the store (hash chains, rows, spec).
    """
    rows = db.sql("SELECT t.id, t.version, count(h.seq), min(h.seq), max(h.seq) "
                  "FROM escalation_tickets t LEFT JOIN escalation_history h ON h.ticket_id = t.id "
                  "GROUP BY t.id, t.version ORDER BY t.id")
    assert [row[0] for row in rows] == sorted(ticket_ids)
    for ticket_id, version, count, low, high in rows:
        assert version == count, (ticket_id, version, count)
        assert (low, high) == ((1, version) if version else (None, None)), (ticket_id, low, high)
    orphans = db.sql("SELECT count(*) FROM escalation_history h WHERE NOT EXISTS "
                     "(SELECT 1 FROM escalation_tickets t WHERE t.id = h.ticket_id)")
    assert orphans == [(0,)]
    store = db.open()
    tickets = {ticket_id: store.get(ticket_id) for ticket_id in ticket_ids}
    for ticket in tickets.values():
        assert ticket.version == len(ticket.history)
        assert [r.seq for r in ticket.history] == list(range(1, ticket.version + 1))
    report = store.verify()  # nothing the library writes fails verification, crashes or not
    assert report.ok and report.checked == len(ticket_ids), report.problems
    return tickets


def crash_writer(kind: str, target: str, ticket_id: str, log_path: str, die_at: int | None) -> None:
    """Commit record_step transitions forever, logging each one the moment apply returns.

    With ``die_at``, kill this process with SIGKILL inside the ``die_at``-th write transaction,
    after the ticket row was updated and before its history row is inserted.
    """
    import signal

    from escalation_fsm import Actor, Role

    store = open_store(kind, target)
    if die_at is not None:
        append = store._append  # type: ignore[attr-defined]
        calls = [0]

        def dying(*args: Any) -> None:
            calls[0] += 1
            if calls[0] == die_at:
                os.kill(os.getpid(), signal.SIGKILL)
            append(*args)

        store._append = dying  # type: ignore[attr-defined]
    actor = Actor(id="crash", role=Role.AGENT)
    with open(log_path, "a", encoding="utf-8") as log:  # noqa: PTH123
        for n in range(1_000_000):
            new = store.apply(ticket_id, "record_step", actor=actor, step=f"c-{n}")
            log.write(f"{new.version} c-{n}\n")
            log.flush()
