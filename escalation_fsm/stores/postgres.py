"""Tickets in PostgreSQL through psycopg 3, for many app servers sharing one database.

psycopg is an optional extra (``pip install 'escalation-fsm[postgres]'``) imported only when a
:class:`PostgresStore` is opened, so ``import escalation_fsm.stores`` works without it.

The compare-and-swap is one ``UPDATE ... WHERE id = %s AND version = %s`` under READ COMMITTED:
when two writers race, PostgreSQL makes the second wait for the first to commit and then
re-checks the ``WHERE`` against the new row, so exactly one of them matches. Reads are single
statements (the history is aggregated in a sub-select), so they see one snapshot.

A lost connection (a server restart, a dropped network, an idle timeout) is replaced: a read is
run again on a new connection, and a write whose commit may or may not have happened is looked
up by the hash of the row it wrote, so it is neither lost nor applied twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..errors import CorruptTicket, PostgresUnavailable, StoreError, TicketExists
from ..identity import SpecDescription
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from ._codec import (
    INDEX_KEY,
    SCHEMA_VERSION,
    Sealed,
    StoredTicket,
    decode,
)
from ._history import HistoryRow
from ._history_sql import postgres_history_rows
from ._pg_connection import Connection
from ._pg_pool import Leasing, leasing
from ._pg_rows import (
    APPEND_HISTORY,
    INSERT_CREATED,
    INSERT_DOCUMENT,
    INSERT_TICKET,
    appended_row,
    created_rows,
    document_row,
    select,
    stored_of,
    swap_update,
    ticket_row,
)
from ._postgres_follow_up import PostgresFollowUps
from ._schema import POSTGRES_MIGRATIONS, POSTGRES_SCHEMA, schema_version_of
from ._sql import SQLStore
from ._types import Row, Write
from .base import DEFAULT_MAX_ATTEMPTS

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_LOCK_KEY = 0x65736366  # pg_advisory_xact_lock key ("escf"): one schema creator at a time




def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 (optional dependency, imported on first use)
    except ImportError as exc:  # a typed error: the CLI prints it as one line, status 2
        raise PostgresUnavailable from exc
    return psycopg


class PostgresStore(Leasing, Connection, PostgresFollowUps, SQLStore):
    """Tickets in a PostgreSQL database given by ``dsn`` (a libpq connection string or URL).

    Each store keeps a pool of up to ``pool_size`` connections (default 8), made as threads need
    them: open one store per process and share it between threads; each call leases a
    connection for its length, and a thread waits up to ``pool_timeout`` seconds for a free one
    (:mod:`._pg_pool`). The tables are
    created on first open (in the connection's ``search_path``, so a DSN with
    ``options=-csearch_path=...`` keeps them in a schema of your choice). ``readonly`` opens a
    read-only session that creates, migrates and writes nothing.

    When the connection is lost (the server restarted, say), the store connects again, trying
    for up to ``connect_timeout`` seconds: a read is run again; a write that was committing is
    looked up, and counts as done if it landed, or is applied afresh if it did not. Only if no
    connection can be made does a write raise
    :class:`~escalation_fsm.errors.CommitOutcomeUnknown` (retry it with the same idempotency
    key). A lock not granted in time is a :class:`~escalation_fsm.errors.LockTimeout`.
    """

    _mark = "%s"

    def __init__(self, dsn: str, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, connect_timeout: int = 10,
                 readonly: bool = False, pool_size: int = 8, pool_timeout: float = 30.0) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts, readonly=readonly)
        self._pg = _psycopg()
        self._connect_timeout = connect_timeout
        self._closed = False
        self._conninfo = dsn
        self._pool(self._connect, pool_size, pool_timeout)
        try:
            self._lanes.add(self._connect())
        except self._pg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._lanes.close()
            raise

    @property
    def pool_size(self) -> int:
        """The most connections the store holds at once."""
        return self._lanes.size

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        # autocommit: every transaction below is an explicit `with conn.transaction()`.
        connection: psycopg.Connection[tuple[Any, ...]] = self._pg.connect(
            self._conninfo, autocommit=True, connect_timeout=self._connect_timeout)
        if self.readonly:
            # A session setting, not connect(options=...): that would replace the DSN's own
            # options (a search_path, say).
            connection.execute("SET default_transaction_read_only = on")
        return connection

    def _where(self) -> str:
        return "the PostgreSQL database"

    @leasing
    def _open(self) -> None:
        with self._errors("open"):
            found = self._schema_version()
            if found is None and not self.readonly:
                with self._conn.transaction():
                    # Serialise concurrent first opens: CREATE ... IF NOT EXISTS alone is not safe
                    # against another process creating the same table at the same moment. The
                    # DDL is idempotent and runs even if the other process just finished it: a
                    # re-check here can miss its tables (stale catalog snapshot, seen in tests).
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    self._conn.execute(POSTGRES_SCHEMA)
                    self._conn.execute(
                        "INSERT INTO escalation_meta VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
                    found = self._schema_version()
            migrated = False
            while not self.readonly and found in POSTGRES_MIGRATIONS:
                found, migrated = self._migrate(found), True
            recorded = self._meta(INDEX_KEY) if found == SCHEMA_VERSION else None
        if found is None:
            raise StoreError("the PostgreSQL database has no escalation_fsm tables to read")
        if found != SCHEMA_VERSION:
            hint = (" (open it once writable to upgrade it)" if self.readonly
                    and found < SCHEMA_VERSION else " (upgrade escalation-fsm to open it)")
            raise StoreError(f"PostgreSQL database has schema version {found}; this release reads "
                             f"version {SCHEMA_VERSION}{hint}")
        if (self._check_index(recorded, self._where()) or migrated) and not self.readonly:
            self._reindex()

    def _migrate(self, found: int) -> int | None:
        """One schema version up (under the schema lock; another process may have done it)."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if self._schema_version() == found:
                for step in POSTGRES_MIGRATIONS[found]:
                    if isinstance(step, str):
                        self._conn.execute(step)
                    else:
                        step(self._conn)
                self._conn.execute("UPDATE escalation_meta SET value = %s WHERE key = 'schema_version'",
                                   (str(found + 1),))
            return self._schema_version()

    def _schema_version(self) -> int | None:
        exists = self._conn.execute("SELECT to_regclass('escalation_meta')").fetchone()
        if exists is None or exists[0] is None:
            return None
        return schema_version_of(self._meta("schema_version"), "PostgreSQL database")

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM escalation_meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _meta_value(self, key: str) -> str | None:
        return self._call("read", None, lambda: self._meta(key))

    def close(self) -> None:
        """Close the connections (idempotent); the store is not reconnected afterwards."""
        self._closed = True
        self._close_pool()

    # -- primitives -------------------------------------------------------------------------------

    def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        def write() -> None:
            with self._conn.transaction():
                inserted = self._conn.execute(INSERT_TICKET, ticket_row(
                    ticket, updated_at, clocks, due, self._step_of(ticket, clocks))).rowcount
                if inserted != 1:
                    raise TicketExists(ticket.id)
                self._conn.execute(INSERT_DOCUMENT, document_row(ticket, sealed))
                with self._conn.cursor() as cur:
                    cur.executemany(INSERT_CREATED, created_rows(ticket, sealed))

        def landed() -> bool:
            row = self._conn.execute("SELECT hash FROM escalation_documents WHERE ticket_id = %s",
                                     (ticket.id,)).fetchone()
            return row is not None and row[0] == sealed.doc_hash

        self._committed("create", ticket.id, trigger="create", key=None, write=write,
                        landed=landed)

    def _select(self, where: str, params: list[Any], order: str, *, limit: int | None = None,
                after: int = 0) -> list[StoredTicket]:
        subject = params[0] if where == "t.id = %s" else None
        return self._call("read", subject, lambda: self._fetch(where, params, order, limit=limit,
                                                               after=after))

    def _fetch(self, where: str, params: list[Any], order: str, *, limit: int | None = None,
               after: int = 0) -> list[StoredTicket]:
        sql, args = select(where, params, order, limit=limit, after=after)
        return [stored_of(row) for row in self._conn.execute(sql, args).fetchall()]

    def _history_rows(self, after: str | None, size: int) -> list[HistoryRow]:
        return self._call("read", None, lambda: postgres_history_rows(self._conn, after, size))

    def _find_key(self, ticket_id: str, key: str) -> int | None:
        row = self._call("read", ticket_id, lambda: self._conn.execute(
            "SELECT seq FROM escalation_history WHERE ticket_id = %s AND idempotency_key = %s",
            (ticket_id, key)).fetchone())
        return None if row is None else int(row[0])

    def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        record = write.record
        update, arguments = swap_update(current, new, write)

        def swap() -> bool:
            with self._conn.transaction():
                swapped = self._conn.execute(update, arguments).rowcount
                if swapped != 1:
                    return False  # another writer moved the version on: nothing was changed
                for row in write.rows:
                    self._append(new.id, row)
            return True

        def landed() -> bool:
            row = self._conn.execute("SELECT hash FROM escalation_history WHERE ticket_id = %s "
                                     "AND seq = %s", (new.id, record.seq)).fetchone()
            return row is not None and row[0] == write.hash

        done = self._committed("write", new.id, trigger=record.trigger, key=write.key,
                               write=swap, landed=landed)
        return True if done is None else done

    def _append(self, ticket_id: str, row: Row) -> None:
        """Insert one history row with its patch, key and hash (inside the caller's transaction)."""
        self._conn.execute(APPEND_HISTORY, appended_row(ticket_id, row))

    def _record_spec(self, description: SpecDescription, at: datetime) -> None:
        key = (description.fingerprint, description.name, description.version)

        def write() -> None:
            self._conn.execute(
                "INSERT INTO escalation_specs (fingerprint, name, version, description, "
                "recorded_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (*key, description.model_dump_json(), at))

        def landed() -> bool:
            return self._conn.execute(
                "SELECT 1 FROM escalation_specs WHERE fingerprint = %s AND name = %s AND "
                "version = %s", key).fetchone() is not None

        self._committed("write", description.name, trigger="record the spec", key=None,
                        write=write, landed=landed)

    def _spec_rows(self) -> list[tuple[str, str, str, str]]:
        return self._call("read", None, lambda: [tuple(row) for row in self._conn.execute(
            "SELECT fingerprint, name, version, description::text FROM escalation_specs "
            "ORDER BY recorded_at, fingerprint").fetchall()])

    def _spec_counts(self) -> list[tuple[str | None, bool, int]]:
        return self._call("read", None, lambda: [
            (spec, bool(history), int(count)) for spec, history, count in self._conn.execute(
                "SELECT spec, version > 0, count(*) FROM escalation_tickets GROUP BY 1, 2")])

    @leasing
    def _reindex(self) -> int:
        """Fold every ticket's clocks again; a writer's newer value is never overwritten."""
        meta = self._index_meta()
        with self._errors("re-index"), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            rows = self._fetch("TRUE", [], "t.id")
            updates = []
            for stored in rows:
                try:
                    ticket = decode(stored)[0]
                    clocks, due = self._fold(ticket)
                    state: str | None = clocks.to_json()
                    step = self._step_of(ticket, clocks)
                except CorruptTicket:
                    state, due, step = None, None, None  # unreadable: get() reports it; never due
                updates.append((state, due, step, stored.id, stored.version))
            with self._conn.cursor() as cur:
                # The version guard: a ticket saved since the read keeps the value its writer set.
                cur.executemany("UPDATE escalation_tickets SET clocks = %s, next_due_at = %s, "
                                "next_step_at = %s WHERE id = %s AND version = %s", updates)
            for key, value in meta:
                self._conn.execute("INSERT INTO escalation_meta VALUES (%s, %s) ON CONFLICT (key) "
                                   "DO UPDATE SET value = excluded.value", (key, value))
        return len(rows)
