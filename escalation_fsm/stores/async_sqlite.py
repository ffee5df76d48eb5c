"""The embedded store for ``asyncio``: one SQLite file, its statements in a worker thread.

Why a thread, and not an "async SQLite driver": the standard library's ``sqlite3`` has no
non-blocking calls. A commit waits for the disk (``fsync``) and a writer may wait for another
process's write lock for up to ``timeout`` seconds; run on the event loop, either would stall
every other request. The async SQLite libraries (``aiosqlite``) do exactly this too (a thread per
connection), so one would add a dependency and a second copy of the SQL. Here the statements are
:class:`~escalation_fsm.stores.SQLiteStore`'s own (the same WAL mode, ``BEGIN IMMEDIATE`` writes,
busy timeout and typed errors), run one at a time in the store's worker thread, while the apply
loop, guards and hooks run on the event loop (:mod:`.async_base`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from os import PathLike
from typing import Literal, Self, TypeVar

from ..clock import Clock
from ..errors import StoreError
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from ._codec import Sealed, StoredTicket
from ._core import Core
from ._types import Listing, TicketFilter, Write
from .async_base import AsyncStoreBase
from .base import DEFAULT_MAX_ATTEMPTS
from .sqlite import SQLiteStore

__all__ = ["AsyncSQLiteStore"]

_T = TypeVar("_T")


class _SQLiteCore(Core, SQLiteStore):
    """The SQLite store whose statements the async one runs in its thread."""


class AsyncSQLiteStore(AsyncStoreBase):
    """Tickets in a SQLite file for ``asyncio`` code: ``await store.apply(...)``.

    Options as for :class:`~escalation_fsm.stores.SQLiteStore`. Open it with
    ``async with AsyncSQLiteStore(path) as store:``. One store may serve any number of tasks;
    its statements run one at a time (SQLite has one writer anyway), and several processes may
    open the same file.

    >>> import asyncio
    >>> from escalation_fsm import Actor, Category, Role, Ticket
    >>> async def main() -> str:
    ...     async with AsyncSQLiteStore(":memory:") as store:
    ...         await store.create(Ticket(id="T-1", customer_id="C-1", category=Category.OTHER,
    ...                                   details="x"))
    ...         new = await store.apply("T-1", "attempt", actor=Actor(id="a-1", role=Role.AGENT))
    ...         return new.stage
    >>> asyncio.run(main())
    'attempted'
    """

    def __init__(self, path: str | PathLike[str], *, machine: EscalationMachine | None = None,
                 clock: Clock | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL", timeout: float = 30.0,
                 readonly: bool = False) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts, readonly=readonly)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = str(path)
        self._options = (synchronous, timeout)
        self._thread: ThreadPoolExecutor | None = None

    async def open(self) -> Self:
        """Open (or create) the database in the store's worker thread; returns the store."""
        if self._core is None:
            thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="escalation-sqlite")
            synchronous, timeout = self._options
            try:
                core = await asyncio.get_running_loop().run_in_executor(thread, lambda: _SQLiteCore(
                    self.path, machine=self._given_machine, clock=self._given_clock,
                    max_attempts=self.max_attempts, synchronous=synchronous, timeout=timeout,
                    readonly=self.readonly))
                # Resolved now (the recorded policy, when opened without a machine), not on the loop.
                self._recorded = core.recorded_policy()
                _ = core.machine
            except BaseException:
                thread.shutdown(wait=False)
                raise
            self._thread, self._core = thread, core
        return self

    async def close(self) -> None:
        """Close the connection and stop the worker thread (idempotent)."""
        core, thread = self._core, self._thread
        if core is not None and thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, core.close)
            thread.shutdown(wait=True)
            self._thread = None

    async def _run(self, action: Callable[[], _T]) -> _T:
        thread = self._thread
        if thread is None:
            _ = self.core  # not open: says how to open it
            raise StoreError(f"the SQLite store {self.path!r} was closed")
        return await asyncio.get_running_loop().run_in_executor(thread, action)

    # -- primitives: the sync store's, in the worker thread ---------------------------------------

    async def _blocking(self, action: Callable[[], _T]) -> _T:
        return await self._run(action)

    async def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime,
                      clocks: ClockState, due: datetime | None) -> None:
        core = self.core
        await self._run(lambda: core.insert(ticket, sealed, updated_at, clocks, due))

    async def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        core = self.core
        return await self._run(lambda: core.stored(ticket_id, after))

    async def _find_key(self, ticket_id: str, key: str) -> int | None:
        core = self.core
        return await self._run(lambda: core.find_key(ticket_id, key))

    async def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        core = self.core
        return await self._run(lambda: core.swap(current, new, write))

    async def _query(self, where: TicketFilter, limit: int | None) -> Listing:
        core = self.core
        return await self._run(lambda: core.query_rows(where, limit))

    async def _due(self, by: datetime, limit: int | None) -> Listing:
        core = self.core
        return await self._run(lambda: core.due_rows(by, limit))

    async def _page(self, after: str | None, size: int) -> Listing:
        core = self.core
        return await self._run(lambda: core.page(after, size))

    async def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        core = self.core
        return await self._run(lambda: core.stored_page(after, size))
