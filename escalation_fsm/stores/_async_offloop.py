"""The async stores' batch and follow-up calls: the sync store's own rules, run off the loop.

Follow-up (``steps``, ``claim_due``, ``act_on``, ``release``), the versions of the procedure
(``specs``, ``migrate``, ``adopt``) and the bulk read path (``history_page``, and ``histories``
over it) are many statements or much decoding each, written once in the sync stores
(:mod:`._follow_up`, :mod:`._versions`). An async store runs them on its *core* (the sync store
of the same database, :mod:`._core`) off the event loop: ``AsyncSQLiteStore`` in its worker
thread (its statements stay one at a time), ``AsyncPostgresStore`` in a thread on the core's
own connection pool. The rows, leases and records are therefore exactly the sync stores'.

What differs, and why: these calls are not spread over the loop statement by statement, so a
call holds one thread (and, for SQLite, the store's worker) for its whole length; a host action
given to ``act_on`` (``perform``) is a plain function called in that thread, and the
after-hooks of an escalation a follow-up step fires run there too as in the sync stores (an
``async def`` after-hook is reported as failed in the outcome's ``detail``, the step staying
recorded). Run the follow-up *worker* (:class:`~escalation_fsm.stores.FollowUpWorker`, the
``escalation-fsm follow-up --run`` command) on a sync store: it is a loop of its own, not a
request handler.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CorruptTicket
from ._args import MAX_BATCH, checked_count, checked_id, checked_time
from ._follow_up import Claim, Perform, StepOutcome
from ._histories import HistoryPage
from ._history import TicketHistory
from ._reports import MigrationReport, SpecVersion

if TYPE_CHECKING:
    from ..migration import Migration
    from ..sla import DueStep
    from ..spec import MachineSpec
    from ._core import Core

__all__ = ["AsyncHistoryStream", "OffLoop"]

_T = TypeVar("_T")


class AsyncHistoryStream(AsyncIterator[TicketHistory]):
    """What an async store's ``histories`` returns: ``async for`` over the trusted histories.

    As :class:`~escalation_fsm.stores.HistoryStream`: ``skipped`` grows with one
    :class:`~escalation_fsm.errors.CorruptTicket` per ticket that could not be read, ``read``
    counts the tickets read. Each page is one ``await store.history_page(...)``.
    """

    def __init__(self, store: OffLoop, *, since: datetime | None, until: datetime | None,
                 page_size: int, after: str | None) -> None:
        self.skipped: list[CorruptTicket] = []
        self.read = 0
        self._items = self._pages(store, since, until, page_size, after)

    async def _pages(self, store: OffLoop, since: datetime | None, until: datetime | None,
                     size: int, after: str | None) -> AsyncIterator[TicketHistory]:
        while True:
            page = await store.history_page(after=after, size=size, since=since, until=until)
            self.skipped.extend(page.skipped)
            self.read += page.rows
            for history in page.histories:
                yield history
            if page.rows < size or page.last_id is None:
                return
            after = page.last_id

    async def __anext__(self) -> TicketHistory:
        return await anext(self._items)


class OffLoop:
    """The follow-up and versions calls of :class:`~escalation_fsm.stores.AsyncStoreBase`."""

    @property
    @abstractmethod
    def core(self) -> Core:
        """The sync store of the same database."""

    @abstractmethod
    async def _blocking(self, action: Callable[[], _T]) -> _T:
        """Run one of the core's blocking calls off the event loop."""

    # -- follow-up (docs/following-up.md) ---------------------------------------------------------

    async def steps(self, ticket_id: str) -> list[DueStep]:
        """The ticket's ladder steps not yet acted on, soonest first (as ``StoreBase.steps``)."""
        core = self.core
        return await self._blocking(lambda: core.steps(ticket_id))

    async def claim_due(self, worker_id: str, *, by: datetime | None = None, limit: int = 10,
                        lease: timedelta = timedelta(seconds=60)) -> list[Claim]:
        """Lease due ladder steps to ``worker_id`` (as ``StoreBase.claim_due``)."""
        core = self.core
        return await self._blocking(lambda: core.claim_due(worker_id, by=by, limit=limit,
                                                           lease=lease))

    async def release(self, claims: list[Claim]) -> int:
        """Give claims back before their lease ends (as ``StoreBase.release``)."""
        core = self.core
        return await self._blocking(lambda: core.release(claims))

    async def act_on(self, claim: Claim, *, perform: Perform | None = None) -> StepOutcome:
        """Act on ``claim``'s step and record it (as ``StoreBase.act_on``, in a thread).

        ``perform`` is a plain function, called in that thread; see the module for hooks.
        """
        core = self.core
        return await self._blocking(lambda: core.act_on(claim, perform=perform))

    # -- the bulk read path (docs/integrity.md) ---------------------------------------------------

    def histories(self, *, since: datetime | None = None, until: datetime | None = None,
                  page_size: int = 1000, after: str | None = None) -> AsyncHistoryStream:
        """Every stored ticket's history, by id, trusted: ``async for`` (as ``StoreBase``'s)."""
        checked_count(page_size, "page_size", low=1, high=MAX_BATCH)
        window: dict[str, Any] = {
            "since": None if since is None else checked_time(since, "since"),
            "until": None if until is None else checked_time(until, "until")}
        return AsyncHistoryStream(self, page_size=page_size,
                                  after=None if after is None else checked_id(after, "after"),
                                  **window)

    async def history_page(self, *, after: str | None = None, size: int = 1000,
                           since: datetime | None = None,
                           until: datetime | None = None) -> HistoryPage:
        """One page of :meth:`histories` (as ``StoreBase.history_page``, off the loop)."""
        core = self.core
        return await self._blocking(lambda: core.history_page(after=after, size=size,
                                                              since=since, until=until))

    # -- versions of the procedure (docs/versions.md) ---------------------------------------------

    async def specs(self) -> tuple[SpecVersion, ...]:
        """The versions of the procedure the store holds tickets of (as ``StoreBase.specs``)."""
        core = self.core
        return await self._blocking(core.specs)

    async def migrate(self, migration: Migration, *, dry_run: bool = False, batch_size: int = 500,
                      cache: bool = True) -> MigrationReport:
        """Judge every stored ticket under ``migration`` and, unless ``dry_run``, move them.

        As ``StoreBase.migrate``: each move its own compare-and-swap, so live writers (this
        store's tasks included) go on meanwhile.
        """
        core = self.core
        return await self._blocking(lambda: core.migrate(migration, dry_run=dry_run,
                                                         batch_size=batch_size, cache=cache))

    async def adopt(self, spec: MachineSpec | None = None, *,
                    dry_run: bool = False) -> MigrationReport:
        """Say that ``spec`` (default: the machine's) wrote the tickets of unknown spec."""
        core = self.core
        return await self._blocking(lambda: core.adopt(spec, dry_run=dry_run))
