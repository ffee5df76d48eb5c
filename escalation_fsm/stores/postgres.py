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

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..clock import Clock
from ..errors import CommitOutcomeUnknown, CorruptTicket, LockTimeout, StoreError, TicketExists
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from ._codec import (
    INDEX_KEY,
    POLICY_KEY,
    SCHEMA_VERSION,
    Sealed,
    StoredRecord,
    StoredTicket,
    changed_columns,
    decode,
    utc_text,
)
from ._pg_pool import Lanes
from ._schema import POSTGRES_MIGRATIONS, POSTGRES_SCHEMA
from ._sql import SQLStore
from ._types import KeyTaken, Write
from .base import DEFAULT_MAX_ATTEMPTS

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_LOCK_KEY = 0x65736366  # pg_advisory_xact_lock key ("escf"): one schema creator at a time

# Each history row comes back as [seq, record, changes, key, hash] (texts exactly as stored), in
# order, inside one JSON array.
_HISTORY = ("(SELECT coalesce(json_agg(json_build_array(h.seq, h.record::text, h.changes::text, "
            "h.idempotency_key, h.hash) ORDER BY h.seq), '[]')::text "
            "FROM escalation_history h WHERE h.ticket_id = t.id AND h.seq > %s)")

_COLUMNS = ("t.id, t.stage, t.version, t.category, t.tier, d.document::text, d.base_version, "
            "d.hash, t.clocks::text, t.updated_at, t.next_due_at")
# A left join: a ticket row without its document is corrupt, never silently left out.
_TICKETS = "escalation_tickets t LEFT JOIN escalation_documents d ON d.ticket_id = t.id"

# SQLSTATEs of a lock not granted in time: retryable, nothing was written.
_LOCK_STATES = frozenset({"55P03", "57014", "40P01", "40001"})

_T = TypeVar("_T")
_P = ParamSpec("_P")


def _leasing(method: Callable[Concatenate[PostgresStore, _P], _T],
             ) -> Callable[Concatenate[PostgresStore, _P], _T]:
    """Run ``method`` with a pooled connection leased to the calling thread."""
    @functools.wraps(method)
    def leased(self: PostgresStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._lease():
            return method(self, *args, **kwargs)
    return leased


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 (optional dependency, imported on first use)
    except ImportError as exc:
        raise ImportError(
            "PostgresStore needs psycopg 3, which is an optional extra: "
            "pip install 'escalation-fsm[postgres]'"
        ) from exc
    return psycopg


class PostgresStore(SQLStore):
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
        self._lanes = Lanes(self._connect, pool_size, pool_timeout)
        self._leased = threading.local()
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

    @property
    def _conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection the calling thread leased (inside a call; see ``_lease``)."""
        connection: psycopg.Connection[tuple[Any, ...]] = self._leased.conn
        return connection

    @_conn.setter
    def _conn(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._leased.conn = connection  # a reconnect replaces the leased connection

    @contextmanager
    def _lease(self) -> Iterator[None]:
        """Lease a pooled connection to this thread for one call (re-entrant within it)."""
        if getattr(self._leased, "conn", None) is not None:
            yield
            return
        self._leased.conn = self._lanes.take()
        try:
            yield
        finally:
            connection, self._leased.conn = self._leased.conn, None
            self._lanes.give(connection)

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

    @_leasing
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
        value = self._meta("schema_version")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise StoreError(f"PostgreSQL database has schema version {value!r}, which is not a "
                             f"number: it was not written by escalation-fsm") from None

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM escalation_meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _meta_policy(self) -> str | None:
        return self._call("read", None, lambda: self._meta(POLICY_KEY))

    def close(self) -> None:
        """Close the connections (idempotent); the store is not reconnected afterwards."""
        self._closed = True
        self._lanes.close()
        held = getattr(self._leased, "conn", None)  # leased to this thread outside a call
        if held is not None:
            self._leased.conn = None
            held.close()

    # -- errors and lost connections ------------------------------------------------------------

    def _error(self, what: str, ticket_id: str | None, exc: Exception) -> StoreError:
        subject = f"ticket {ticket_id!r}: " if ticket_id is not None else ""
        if getattr(exc, "sqlstate", None) in _LOCK_STATES:
            return LockTimeout(what=f"{subject}PostgreSQL {what}", where=self._where(),
                               detail=f"{type(exc).__name__}: {exc}")
        return StoreError(f"{subject}PostgreSQL {what} failed: {type(exc).__name__}: {exc}")

    @contextmanager
    def _errors(self, what: str, ticket_id: str | None = None) -> Iterator[None]:
        try:
            yield
        except self._pg.Error as exc:
            raise self._error(what, ticket_id, exc) from exc

    def _lost(self) -> bool:
        """Whether the connection broke under the last statement (and the store is not closed)."""
        return not self._closed and (self._conn.closed or self._conn.broken)

    def _reconnect(self) -> None:
        """Replace a lost connection, trying for up to ``connect_timeout`` seconds."""
        self._conn.close()
        deadline = time.monotonic() + self._connect_timeout
        while True:
            try:
                self._conn = self._connect()
            except self._pg.Error as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"lost the connection to PostgreSQL and could not connect "
                                     f"again within {self._connect_timeout} s: {exc}") from exc
                time.sleep(0.1)
            else:
                self.stats.reconnects += 1
                return

    @_leasing
    def _call(self, what: str, ticket_id: str | None, action: Callable[[], _T]) -> _T:
        """Run a statement that writes nothing; on a lost connection, reconnect and run it again."""
        if self._closed:
            raise StoreError("the PostgreSQL store was closed")
        try:
            return action()
        except self._pg.Error as exc:
            if not self._lost():
                raise self._error(what, ticket_id, exc) from exc
        self._reconnect()
        with self._errors(what, ticket_id):
            return action()

    @_leasing
    def _committed(self, what: str, ticket_id: str, *, trigger: str, key: str | None,
                   write: Callable[[], _T], landed: Callable[[], bool]) -> _T | None:
        """Run a write transaction; if the connection broke under it, whether it ``landed``.

        Returns ``write()``'s value, or ``None`` when the connection was lost and the write is
        known to have landed (``landed()`` on a new connection); runs ``write`` again once when it
        is known not to have. :class:`CommitOutcomeUnknown` when no new connection can be made.
        """
        if self._closed:
            raise StoreError("the PostgreSQL store was closed")
        for _ in range(2):
            try:
                return write()
            except self._pg.errors.UniqueViolation as exc:
                if "escalation_history_key" in str(exc):
                    raise KeyTaken from exc
                raise self._error(what, ticket_id, exc) from exc
            except self._pg.Error as exc:
                if not self._lost():
                    raise self._error(what, ticket_id, exc) from exc
                detail = f"{type(exc).__name__}: {exc}"
            try:
                self._reconnect()
                done = self._call("read", ticket_id, landed)
            except StoreError as exc:
                raise CommitOutcomeUnknown(ticket_id=ticket_id, trigger=trigger, key=key,
                                           detail=f"{detail}; then {exc}") from exc
            if done:
                return None
        raise CommitOutcomeUnknown(ticket_id=ticket_id, trigger=trigger, key=key, detail=detail)

    # -- primitives -------------------------------------------------------------------------------

    def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        def write() -> None:
            with self._conn.transaction():
                inserted = self._conn.execute(
                    "INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
                    "clocks, next_due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (id) DO NOTHING",
                    (ticket.id, ticket.stage, ticket.category, ticket.tier, ticket.version,
                     updated_at, clocks.to_json(), due),
                ).rowcount
                if inserted != 1:
                    raise TicketExists(ticket.id)
                self._conn.execute(
                    "INSERT INTO escalation_documents (ticket_id, base_version, document, hash) "
                    "VALUES (%s, %s, %s, %s)", (ticket.id, ticket.version, sealed.document,
                                                sealed.doc_hash))
                with self._conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, hash) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        [(ticket.id, r.seq, r.at, r.trigger, text, hash_)
                         for r, text, hash_ in sealed.records])

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
        sql = (f"SELECT {_COLUMNS}, {_HISTORY} FROM {_TICKETS} "  # noqa: S608 (fixed column names)
               f"WHERE {where} ORDER BY {order}")
        args = [after, *params]
        if limit is not None:
            sql, args = sql + " LIMIT %s", [*args, limit]
        rows = self._conn.execute(sql, args).fetchall()
        return [_stored(row) for row in rows]

    def _find_key(self, ticket_id: str, key: str) -> int | None:
        row = self._call("read", ticket_id, lambda: self._conn.execute(
            "SELECT seq FROM escalation_history WHERE ticket_id = %s AND idempotency_key = %s",
            (ticket_id, key)).fetchone())
        return None if row is None else int(row[0])

    def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        record = write.record
        state = write.clocks.to_json()
        columns = changed_columns(current, new)
        values: list[Any] = [getattr(new, name) for name in columns]
        if write.due_moved:
            columns, values = (*columns, "next_due_at"), [*values, write.due]

        def swap() -> bool:
            with self._conn.transaction():
                swapped = self._conn.execute(_update_sql(columns), (
                    new.version, record.at, state, *values, new.id, current.version)).rowcount
                if swapped != 1:
                    return False  # another writer moved the version on: nothing was changed
                self._append(new.id, write)
            return True

        def landed() -> bool:
            row = self._conn.execute("SELECT hash FROM escalation_history WHERE ticket_id = %s "
                                     "AND seq = %s", (new.id, record.seq)).fetchone()
            return row is not None and row[0] == write.hash

        done = self._committed("write", new.id, trigger=record.trigger, key=write.key,
                               write=swap, landed=landed)
        return True if done is None else done

    def _append(self, ticket_id: str, write: Write) -> None:
        """Insert one history row with its patch, key and hash (inside the caller's transaction)."""
        record = write.record
        self._conn.execute(
            "INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, changes, "
            "idempotency_key, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (ticket_id, record.seq, record.at, record.trigger, write.text, write.changes,
             write.key, write.hash))

    @_leasing
    def _reindex(self) -> int:
        """Fold every ticket's clocks again; a writer's newer value is never overwritten."""
        index, policy = self._index_meta()
        with self._errors("re-index"), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            rows = self._fetch("TRUE", [], "t.id")
            updates = []
            for stored in rows:
                try:
                    clocks, due = self._fold(decode(stored)[0])
                    state: str | None = clocks.to_json()
                except CorruptTicket:
                    state, due = None, None  # unreadable anyway: get() reports it; never listed as due
                updates.append((state, due, stored.id, stored.version))
            with self._conn.cursor() as cur:
                # The version guard: a ticket saved since the read keeps the value its writer set.
                cur.executemany("UPDATE escalation_tickets SET clocks = %s, next_due_at = %s "
                                "WHERE id = %s AND version = %s", updates)
            for key, value in ((INDEX_KEY, index), (POLICY_KEY, policy)):
                self._conn.execute("INSERT INTO escalation_meta VALUES (%s, %s) ON CONFLICT (key) "
                                   "DO UPDATE SET value = excluded.value", (key, value))
        return len(rows)


_UPDATES: dict[tuple[str, ...], str] = {}


def _update_sql(columns: tuple[str, ...]) -> Any:
    """The compare-and-swap setting version, update time, clocks and ``columns`` (fixed names).

    Only what changed: an update that leaves every indexed column alone can be a HOT update.
    """
    sql = _UPDATES.get(columns)
    if sql is None:
        sets = "".join(f", {name} = %s" for name in columns)
        sql = _UPDATES[columns] = (f"UPDATE escalation_tickets SET version = %s, updated_at = %s, "  # noqa: S608
                                   f"clocks = %s{sets} WHERE id = %s AND version = %s")
    return sql


def _stored(row: Any) -> StoredTicket:
    """A ticket as stored, from one row of the select (times as UTC text, history parsed)."""
    *columns, updated_at, next_due_at, history = row
    rows = [StoredRecord(*item) for item in json.loads(history)]
    return StoredTicket._make((*columns, None if updated_at is None else utc_text(updated_at),
                              None if next_due_at is None else utc_text(next_due_at), rows))
