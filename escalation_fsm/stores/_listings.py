"""What every store lists and checks: queries, streams, due tickets and ``verify``, alike.

The public reads that cover many tickets. They check their arguments the same way for every
store (:mod:`._args`), decode each ticket on its own, and report a row that does not decode
instead of failing for it (``TicketList.skipped``, ``TicketStream.skipped``, ``stats.skipped``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from ..machine import EscalationMachine
from ..models import Category, Ticket
from ._args import MAX_BATCH, MAX_LIMIT, checked_count, checked_query, checked_time
from ._codec import StoredTicket
from ._types import Listing, StoreStats, StoreVerification, TicketFilter, TicketList, TicketStream
from ._verify import check_stored

__all__ = ["Listings"]


class Listings(ABC):
    """The listing half of :class:`~escalation_fsm.stores.StoreBase` (see its docstring)."""

    stats: StoreStats

    @property
    @abstractmethod
    def machine(self) -> EscalationMachine:
        """The machine whose spec ``verify`` checks tickets against."""

    def query(
        self,
        *,
        stage: str | None = None,
        category: Category | str | None = None,
        tier: int | None = None,
        updated_before: datetime | None = None,
        updated_since: datetime | None = None,
        limit: int | None = None,
    ) -> TicketList:
        """Tickets matching every given filter (``None``: any), least recently updated first.

        ``stage`` is text, ``category`` a :class:`~escalation_fsm.Category` (or its value),
        ``tier`` a whole number; ``updated_before`` (exclusive) and ``updated_since`` (inclusive)
        timezone-aware datetimes. Anything else is an
        :class:`~escalation_fsm.errors.InvalidArgument`, the same in every store. The last update
        is the time of the newest history record (or of ``create`` for a ticket without history).
        At most ``limit`` rows are read; rows that do not decode are left out and listed in the
        result's ``skipped``.
        """
        where = checked_query(stage, category, tier, updated_before=updated_before,
                              updated_since=updated_since, limit=limit)
        return self._listed(self._query(where, limit))

    def stream(self, *, batch_size: int = 500) -> TicketStream:
        """Every ticket, ordered by id, read ``batch_size`` at a time.

        Each ticket is read consistently; tickets changed while the stream runs show the state of
        the moment their batch was read. No transaction stays open between batches. Rows that do
        not decode are left out and listed, as the stream goes, in its ``skipped``.
        """
        checked_count(batch_size, "batch_size", low=1, high=MAX_BATCH)
        return TicketStream(self._counted_page, batch_size)

    def _counted_page(self, after: str | None, size: int) -> Listing:
        listing = self._page(after, size)
        self.stats.skipped += len(listing.skipped)
        return listing

    def due(self, *, by: datetime, limit: int | None = None) -> TicketList:
        """Tickets whose next SLA deadline falls at or before ``by``, soonest first, then by id.

        For a follow-up worker. Each ticket's next deadline (the earliest due time of its open,
        running SLA clocks under the store's policy; see :meth:`ClockState.next_due
        <escalation_fsm.sla.ClockState.next_due>`) is indexed whenever the ticket is saved, so
        this reads only the tickets it returns. Tickets whose every clock is met or paused are
        never listed. ``by`` must be timezone-aware. Rows that do not decode are left out and
        listed in the result's ``skipped``.
        """
        checked_time(by, "by")
        if limit is not None:
            checked_count(limit, "limit", low=0, high=MAX_LIMIT)
        return self._listed(self._due(by, limit))

    def _listed(self, listing: Listing) -> TicketList:
        self.stats.skipped += len(listing.skipped)
        return TicketList(listing.tickets, tuple(listing.skipped))

    def verify(self, *, batch_size: int = 500) -> StoreVerification:
        """Check every stored ticket against its hash chain, its row and the store's spec.

        Reports each ticket whose row, document or history was changed outside the library
        (the first history row that does not match its hash), whose stored row disagrees with
        its history, or whose history the spec that wrote it does not allow (as
        :meth:`~escalation_fsm.EscalationMachine.verify` checks it; the store's recorded
        description for a ticket of an older version). Reads only; nothing the library writes
        fails it.
        """
        checked_count(batch_size, "batch_size", low=1, high=MAX_BATCH)
        self._teach(self.machine)  # the specs recorded: each ticket is checked under its own
        problems = []
        checked = 0
        after: str | None = None
        while True:
            batch = self._stored_page(after, batch_size)
            for stored in batch:
                checked += 1
                problems.extend(check_stored(stored, self.machine, self._live(stored.id)))
            if len(batch) < batch_size:
                return StoreVerification(checked, tuple(problems))
            after = batch[-1].id

    @abstractmethod
    def _teach(self, machine: EscalationMachine) -> None:
        """Tell ``machine`` the specs the store recorded."""

    def _live(self, ticket_id: str) -> Ticket | None:
        """The ticket object a store serves besides its stored texts (the memory store's)."""
        return None

    @abstractmethod
    def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        """Up to ``size`` tickets as stored (all their rows), ids greater than ``after``, by id."""

    @abstractmethod
    def _query(self, where: TicketFilter, limit: int | None) -> Listing:
        """Tickets passing ``where``, ordered by last update then id."""

    @abstractmethod
    def _page(self, after: str | None, size: int) -> Listing:
        """Up to ``size`` tickets with ids greater than ``after``, ordered by id."""

    @abstractmethod
    def _due(self, by: datetime, limit: int | None) -> Listing:
        """Tickets whose indexed next deadline is at or before ``by``, by deadline then id."""

