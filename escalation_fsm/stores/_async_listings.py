"""The async stores' listings and whole-store reads: query, due, stream, verify, reindex.

As :class:`~escalation_fsm.stores.StoreBase`'s, awaited: the arguments are checked the same way,
undecodable rows are skipped and counted (``stats.skipped``), and each call is one or a few
awaited primitives of the store (:class:`~escalation_fsm.stores.AsyncStoreBase` mixes this in).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..models import Category, Ticket
from ._args import MAX_BATCH, MAX_LIMIT, checked_count, checked_query, checked_time
from ._types import Listing, StoreVerification, TicketFilter, TicketList
from ._verify import check_stored

if TYPE_CHECKING:
    from ..machine import EscalationMachine
    from ..sla import SLAPolicy
    from ._codec import StoredTicket
    from ._core import Core

__all__ = ["AsyncListings", "AsyncTicketStream"]


class AsyncTicketStream(AsyncIterator[Ticket]):
    """What :meth:`AsyncStoreBase.stream` returns: ``async for`` over every ticket, by id.

    ``skipped`` grows, as the stream goes, with one
    :class:`~escalation_fsm.errors.CorruptTicket` per row that does not decode.
    """

    def __init__(self, store: AsyncListings, batch_size: int) -> None:
        self.skipped: list[Any] = []
        self._tickets = self._pages(store, batch_size)

    async def _pages(self, store: AsyncListings, size: int) -> AsyncIterator[Ticket]:
        after: str | None = None
        while True:
            batch = await store.listed_page(after, size)
            self.skipped.extend(batch.skipped)
            for ticket in batch.tickets:
                yield ticket
            if batch.rows < size or batch.last_id is None:
                return
            after = batch.last_id

    async def __anext__(self) -> Ticket:
        return await anext(self._tickets)


class AsyncListings:
    """Listings and whole-store reads of :class:`~escalation_fsm.stores.AsyncStoreBase`."""

    readonly: bool
    _recorded: SLAPolicy | None

    @property
    @abstractmethod
    def core(self) -> Core:
        """The sync store of the same database."""

    @property
    @abstractmethod
    def machine(self) -> EscalationMachine:
        """The machine triggers are fired through."""

    @abstractmethod
    def _refuse(self, what: str) -> None:
        """Raise ``StoreReadOnly`` for ``what``."""

    async def query(self, *, stage: str | None = None, category: Category | str | None = None,
                    tier: int | None = None, updated_before: datetime | None = None,
                    updated_since: datetime | None = None, limit: int | None = None) -> TicketList:
        """Tickets matching every given filter, least recently updated first (as ``StoreBase``)."""
        where = checked_query(stage, category, tier, updated_before=updated_before,
                              updated_since=updated_since, limit=limit)
        return self._listed(await self._query(where, limit))

    async def due(self, *, by: datetime, limit: int | None = None) -> TicketList:
        """Tickets whose next SLA deadline falls at or before ``by``, soonest first (indexed)."""
        checked_time(by, "by")
        if limit is not None:
            checked_count(limit, "limit", low=0, high=MAX_LIMIT)
        return self._listed(await self._due(by, limit))

    def stream(self, *, batch_size: int = 500) -> AsyncTicketStream:
        """Every ticket, by id, read ``batch_size`` at a time: ``async for ticket in ...``."""
        checked_count(batch_size, "batch_size", low=1, high=MAX_BATCH)
        return AsyncTicketStream(self, batch_size)

    async def listed_page(self, after: str | None, size: int) -> Listing:
        """One batch of :meth:`stream` (tickets with ids after ``after``), counted in ``stats``."""
        listing = await self._page(after, size)
        self.core.stats.skipped += len(listing.skipped)
        return listing

    def _listed(self, listing: Listing) -> TicketList:
        self.core.stats.skipped += len(listing.skipped)
        return TicketList(listing.tickets, tuple(listing.skipped))

    async def verify(self, *, batch_size: int = 500) -> StoreVerification:
        """Check every stored ticket against its hash chain, its row and the spec (reads only)."""
        checked_count(batch_size, "batch_size", low=1, high=MAX_BATCH)
        problems = []
        checked = 0
        after: str | None = None
        machine = self.machine
        while True:
            batch = await self._stored_page(after, batch_size)
            for stored in batch:
                checked += 1
                problems.extend(check_stored(stored, machine))
            if len(batch) < batch_size:
                return StoreVerification(checked, tuple(problems))
            after = batch[-1].id

    async def reindex(self, machine: EscalationMachine | None = None) -> int:
        """Rebuild every ticket's clock state and deadline under ``machine``'s policy.

        As ``StoreBase.reindex``; returns how many tickets were re-indexed.
        """
        core = self.core
        if self.readonly:
            self._refuse("re-index the SLA deadlines")
        count = await asyncio.to_thread(core.reindex, machine)
        self._recorded = core.recorded_policy()
        return count

    # -- primitives -------------------------------------------------------------------------------

    @abstractmethod
    async def _query(self, where: TicketFilter, limit: int | None) -> Listing:
        """Tickets passing ``where``, ordered by last update then id."""

    @abstractmethod
    async def _due(self, by: datetime, limit: int | None) -> Listing:
        """Tickets whose indexed next deadline is at or before ``by``, by deadline then id."""

    @abstractmethod
    async def _page(self, after: str | None, size: int) -> Listing:
        """Up to ``size`` tickets with ids greater than ``after``, by id."""

    @abstractmethod
    async def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        """Up to ``size`` tickets as stored, ids greater than ``after``, by id."""
