"""Tickets in PostgreSQL for ``asyncio``: psycopg 3's async connections from a ``psycopg_pool``.

The statements and their semantics are :class:`~escalation_fsm.stores.PostgresStore`'s (the same
tables, the same single-statement reads, the same compare-and-swap under READ COMMITTED); only
the waiting differs: each call borrows a connection from an ``AsyncConnectionPool`` for the
length of one statement or transaction, so ``pool_size`` tasks talk to the server at once and the
rest wait for a connection without blocking the event loop.

Opening goes through one synchronous ``PostgresStore`` (the store's *core*): it creates or
migrates the schema, checks the SLA index against the machine, and later runs ``reindex``.

A lost connection (a server restart, say) is dropped by the pool, which connects again: a read
is run again once, and a write that was committing is looked up by the hash of the row it wrote,
so it is neither lost nor applied twice (:class:`~escalation_fsm.errors.CommitOutcomeUnknown`
only when that cannot be known).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Self, TypeVar

from ..clock import Clock
from ..errors import CommitOutcomeUnknown, PostgresUnavailable, StoreError, TicketExists
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from ._codec import Sealed, StoredTicket
from ._core import Core
from ._pg_rows import (
    APPEND_HISTORY,
    HISTORY_COLUMNS,
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
from ._sql import listing_of
from ._types import KeyTaken, Listing, TicketFilter, Write
from .async_base import AsyncStoreBase
from .base import DEFAULT_MAX_ATTEMPTS
from .postgres import PostgresStore, _psycopg

__all__ = ["AsyncPostgresStore"]

_T = TypeVar("_T")
_Conn = Any  # psycopg.AsyncConnection (an optional extra: not imported at module level)


class _PostgresCore(Core, PostgresStore):
    """The sync store that opens the database and keeps the rules (one connection of its own)."""

    def error(self, what: str, ticket_id: str | None, exc: Exception) -> StoreError:
        """The typed error for a driver's exception (``LockTimeout`` or ``StoreError``)."""
        return self._error(what, ticket_id, exc)


def _pool_module() -> Any:
    try:
        import psycopg_pool  # noqa: PLC0415 (optional dependency, imported on first use)
    except ImportError as exc:  # psycopg_pool comes with psycopg in the postgres extra
        raise PostgresUnavailable from exc
    return psycopg_pool


class _Lost(Exception):
    """The connection broke under a statement (the pool drops it and connects again)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class AsyncPostgresStore(AsyncStoreBase):
    """Tickets in PostgreSQL (``dsn``: a libpq connection string or URL) for ``asyncio`` code.

    ``pool_size`` connections at most (default 10), opened as tasks wait for them, and at least
    ``pool_min_size`` (default 1) kept open (the pool grows one connection at a time: a service
    that takes bursts at once keeps more warm); ``pool_timeout`` is how long a call waits for a
    free connection before :class:`~escalation_fsm.errors.StoreError`. Other options as for
    :class:`~escalation_fsm.stores.PostgresStore`. Open it with
    ``async with AsyncPostgresStore(dsn) as store:`` (one per process, shared by every task).
    """

    def __init__(self, dsn: str, *, machine: EscalationMachine | None = None,
                 clock: Clock | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 pool_size: int = 10, pool_min_size: int = 1, pool_timeout: float = 30.0,
                 connect_timeout: int = 10, readonly: bool = False) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts, readonly=readonly)
        if type(pool_size) is not int or pool_size < 1:
            raise ValueError(f"pool_size must be a whole number of at least 1, got {pool_size!r}")
        if type(pool_min_size) is not int or not 1 <= pool_min_size <= pool_size:
            raise ValueError(f"pool_min_size must be a whole number from 1 to pool_size "
                             f"({pool_size}), got {pool_min_size!r}")
        self.pool_min_size = pool_min_size
        self._dsn = dsn
        self.pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._connect_timeout = connect_timeout
        self._pool: Any = None
        self._pg: Any = None

    async def open(self) -> Self:
        """Open the schema (through the core) and the connection pool; returns the store."""
        if self._core is not None:
            return self
        self._pg = _psycopg()
        pools = _pool_module()
        core = await asyncio.to_thread(lambda: _PostgresCore(
            self._dsn, machine=self._given_machine, clock=self._given_clock,
            max_attempts=self.max_attempts, connect_timeout=self._connect_timeout,
            readonly=self.readonly))
        try:
            self._recorded = await asyncio.to_thread(core.recorded_policy)
            _ = core.machine
            pool = pools.AsyncConnectionPool(
                self._dsn, min_size=self.pool_min_size, max_size=self.pool_size, open=False,
                timeout=self._pool_timeout, configure=self._configure,
                kwargs={"autocommit": True, "connect_timeout": self._connect_timeout})
            try:
                await pool.open(wait=True, timeout=float(self._connect_timeout))
            except self._pg.Error as exc:
                await pool.close()
                raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        except BaseException:
            core.close()
            raise
        self._pool, self._core = pool, core
        return self

    async def _configure(self, connection: _Conn) -> None:
        if self.readonly:
            await connection.execute("SET default_transaction_read_only = on")

    async def close(self) -> None:
        """Close the pool and the core's connection (idempotent)."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._core is not None:
            self._core.close()

    async def _blocking(self, action: Callable[[], _T]) -> _T:
        return await asyncio.to_thread(action)

    # -- errors and lost connections ------------------------------------------------------------

    def _connection(self) -> Any:
        if self._pool is None:
            _ = self.core  # not open: says how to open it
            raise StoreError("the PostgreSQL store was closed")
        return self._pool.connection()

    def _errors_of(self) -> _PostgresCore:
        core = self.core
        assert isinstance(core, _PostgresCore)  # noqa: S101 (open() made it)
        return core

    async def _once(self, action: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Run ``action`` on a pooled connection; ``_Lost`` if the connection broke under it."""
        async with self._connection() as conn:
            try:
                return await action(conn)
            except self._pg.Error as exc:
                if conn.broken or conn.closed:
                    raise _Lost(exc) from exc
                raise

    async def _recover(self) -> None:
        """After a lost connection: let the pool drop its other broken connections."""
        self.core.stats.reconnects += 1
        await self._pool.check()

    async def _call(self, what: str, ticket_id: str | None,
                    action: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Run statements that write nothing; after a lost connection, run them again once."""
        core = self._errors_of()
        for last in (False, True):
            try:
                return await self._once(action)
            except _Lost as lost:
                if last:
                    raise core.error(what, ticket_id, lost.cause) from lost.cause
                await self._recover()
            except self._pg.Error as exc:
                raise core.error(what, ticket_id, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _committed(self, what: str, ticket_id: str, *, trigger: str, key: str | None,
                         write: Callable[[_Conn], Awaitable[_T]],
                         landed: Callable[[_Conn], Awaitable[bool]]) -> _T | None:
        """A write transaction; if the connection broke under it, whether it ``landed``.

        As ``PostgresStore``: ``write``'s value; ``None`` when lost and known to have landed;
        ``write`` again once when known not to have; ``CommitOutcomeUnknown`` otherwise.
        """
        core = self._errors_of()
        detail = ""
        for _ in range(2):
            try:
                return await self._once(write)
            except self._pg.errors.UniqueViolation as exc:
                if "escalation_history_key" in str(exc):
                    raise KeyTaken from exc
                raise core.error(what, ticket_id, exc) from exc
            except _Lost as lost:
                detail = str(lost)
            except self._pg.Error as exc:
                raise core.error(what, ticket_id, exc) from exc
            try:
                await self._recover()
                done = await self._call("read", ticket_id, landed)
            except (StoreError, self._pg.Error) as exc:
                raise CommitOutcomeUnknown(ticket_id=ticket_id, trigger=trigger, key=key,
                                           detail=f"{detail}; then {exc}") from exc
            if done:
                return None
        raise CommitOutcomeUnknown(ticket_id=ticket_id, trigger=trigger, key=key, detail=detail)

    # -- primitives -------------------------------------------------------------------------------

    async def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime,
                      clocks: ClockState, due: datetime | None) -> None:
        row = ticket_row(ticket, updated_at, clocks, due, self.core.step_of(ticket, clocks))

        async def write(conn: _Conn) -> None:
            async with conn.transaction():
                inserted = (await conn.execute(INSERT_TICKET, row)).rowcount
                if inserted != 1:
                    raise TicketExists(ticket.id)
                await conn.execute(INSERT_DOCUMENT, document_row(ticket, sealed))
                async with conn.cursor() as cur:
                    await cur.executemany(INSERT_CREATED, created_rows(ticket, sealed))

        async def landed(conn: _Conn) -> bool:
            row = await (await conn.execute(
                "SELECT hash FROM escalation_documents WHERE ticket_id = %s",
                (ticket.id,))).fetchone()
            return row is not None and row[0] == sealed.doc_hash

        await self._committed("create", ticket.id, trigger="create", key=None, write=write,
                              landed=landed)

    async def _select(self, where: str, params: list[Any], order: str, *,
                      limit: int | None = None, after: int = 0) -> list[StoredTicket]:
        sql, args = select(where, params, order, limit=limit, after=after)

        async def fetch(conn: _Conn) -> list[StoredTicket]:
            rows = await (await conn.execute(sql, args)).fetchall()
            return [stored_of(row) for row in rows]

        return await self._call("read", params[0] if where == "t.id = %s" else None, fetch)

    async def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        found = await self._select("t.id = %s", [ticket_id], "t.id", after=after)
        return found[0] if found else None

    async def _find_key(self, ticket_id: str, key: str) -> int | None:
        async def find(conn: _Conn) -> Any:
            return await (await conn.execute(
                "SELECT seq FROM escalation_history WHERE ticket_id = %s AND idempotency_key = %s",
                (ticket_id, key))).fetchone()

        row = await self._call("read", ticket_id, find)
        return None if row is None else int(row[0])

    async def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        # The sync store's statements and values (postgres.swap_update, appended_row).
        record = write.record
        update, arguments = swap_update(current, new, write)
        rows = [appended_row(new.id, row) for row in write.rows]
        # One row (the usual write): one statement, so one round trip; the history row is
        # inserted only from the row the compare-and-swap updated. A statement is atomic, so a
        # refused key (unique violation) undoes the update too.
        statement = (f"WITH swapped AS ({update} RETURNING id) "  # noqa: S608 (fixed names)
                     f"INSERT INTO escalation_history ({HISTORY_COLUMNS}) "
                     f"SELECT id, %s, %s, %s, %s::json, %s::json, %s, %s FROM swapped")

        async def swap(conn: _Conn) -> bool:
            if len(rows) == 1:
                inserted = (await conn.execute(statement, (*arguments, *rows[0][1:]))).rowcount
                return bool(inserted == 1)  # 0: another writer moved the version on
            async with conn.transaction():  # migrated on the way: the migration's row too
                if (await conn.execute(update, arguments)).rowcount != 1:
                    return False
                async with conn.cursor() as cur:
                    await cur.executemany(APPEND_HISTORY, rows)
            return True

        async def landed(conn: _Conn) -> bool:
            row = await (await conn.execute(
                "SELECT hash FROM escalation_history WHERE ticket_id = %s AND seq = %s",
                (new.id, record.seq))).fetchone()
            return row is not None and row[0] == write.hash

        done = await self._committed("write", new.id, trigger=record.trigger, key=write.key,
                                     write=swap, landed=landed)
        return True if done is None else done

    async def _query(self, where: TicketFilter, limit: int | None) -> Listing:
        clauses, params = ["TRUE"], []
        for column, op, value in (("stage", "=", where.stage), ("category", "=", where.category),
                                  ("tier", "=", where.tier),
                                  ("updated_at", "<", where.updated_before),
                                  ("updated_at", ">=", where.updated_since)):
            if value is not None:
                clauses.append(f"t.{column} {op} %s")
                params.append(value)
        return listing_of(await self._select(" AND ".join(clauses), params, "t.updated_at, t.id",
                                             limit=limit))

    async def _due(self, by: datetime, limit: int | None) -> Listing:
        return listing_of(await self._select(
            "t.next_due_at IS NOT NULL AND t.next_due_at <= %s", [by], "t.next_due_at, t.id",
            limit=limit))

    async def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        if after is None:
            return await self._select("TRUE", [], "t.id", limit=size)
        return await self._select("t.id > %s", [after], "t.id", limit=size)

    async def _page(self, after: str | None, size: int) -> Listing:
        return listing_of(await self._stored_page(after, size))
