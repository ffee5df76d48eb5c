"""An in-process store for tests and prototypes: the same contract, nothing durable."""

from __future__ import annotations

import bisect
import threading
from datetime import datetime

from ..clock import Clock
from ..errors import TicketExists, TicketNotFound
from ..machine import EscalationMachine
from ..models import Ticket
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase, TicketFilter

__all__ = ["MemoryStore"]


class _Tickets:
    """The shared state behind one or more :class:`MemoryStore` handles."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, tuple[Ticket, datetime]] = {}
        # The deadline index: (next due time, id) kept sorted, and each ticket's entry in it.
        self.order: list[tuple[datetime, str]] = []
        self.due: dict[str, datetime] = {}
        self.fingerprint: str | None = None
        """The SLA policy the index was built with."""

    def index(self, ticket_id: str, due: datetime | None) -> None:
        """Set the ticket's next deadline (caller holds ``lock``)."""
        old = self.due.pop(ticket_id, None)
        if old is not None:
            del self.order[bisect.bisect_left(self.order, (old, ticket_id))]
        if due is not None:
            self.due[ticket_id] = due
            bisect.insort(self.order, (due, ticket_id))


class MemoryStore(StoreBase):
    """Tickets kept in a dict, thread-safe, with the same optimistic concurrency as the databases.

    Tickets are immutable values, so the store keeps them as they are. ``shared_with`` opens
    another handle on the same tickets (as a second process would open the same database), for
    example with a different machine.

    >>> from escalation_fsm import Actor, Category, Role, Ticket
    >>> store = MemoryStore()
    >>> _ = store.create(Ticket(id="T-1", customer_id="C-1", category=Category.OTHER, details="x"))
    >>> store.apply("T-1", "attempt", actor=Actor(id="a-1", role=Role.AGENT)).stage
    'attempted'
    """

    def __init__(self, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, shared_with: MemoryStore | None = None) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts)
        self._tickets: _Tickets = _Tickets() if shared_with is None else shared_with._tickets
        with self._tickets.lock:
            stale = self._tickets.fingerprint != self.machine.sla.fingerprint
        if stale:
            self._reindex()

    def close(self) -> None:
        """Nothing to release; the tickets stay readable through other handles."""

    def _insert(self, ticket: Ticket, updated_at: datetime) -> None:
        due = self._next_due_at(ticket)
        with self._tickets.lock:
            if ticket.id in self._tickets.rows:
                raise TicketExists(ticket.id)
            self._tickets.rows[ticket.id] = (ticket, updated_at)
            self._tickets.index(ticket.id, due)

    def _load(self, ticket_id: str) -> Ticket:
        with self._tickets.lock:
            row = self._tickets.rows.get(ticket_id)
        if row is None:
            raise TicketNotFound(ticket_id)
        return row[0]

    def _swap(self, expected_version: int, new: Ticket, updated_at: datetime) -> bool:
        due = self._next_due_at(new)
        with self._tickets.lock:
            stored, _ = self._tickets.rows[new.id]
            if stored.version != expected_version:
                return False
            self._tickets.rows[new.id] = (new, updated_at)
            self._tickets.index(new.id, due)
            return True

    def _query(self, where: TicketFilter, limit: int | None) -> list[Ticket]:
        with self._tickets.lock:
            rows = list(self._tickets.rows.values())
        found = sorted(((updated, ticket.id), ticket) for ticket, updated in rows
                       if where.matches(ticket, updated))
        return [ticket for _, ticket in found[:limit]]

    def _page(self, after: str | None, size: int) -> list[Ticket]:
        with self._tickets.lock:
            ids = sorted(key for key in self._tickets.rows if after is None or key > after)[:size]
            return [self._tickets.rows[key][0] for key in ids]

    def _due(self, by: datetime, limit: int | None) -> list[Ticket]:
        with self._tickets.lock:
            order = self._tickets.order
            end = bisect.bisect_right(order, by, key=lambda entry: entry[0])
            if limit is not None:
                end = min(end, limit)
            return [self._tickets.rows[ticket_id][0] for _, ticket_id in order[:end]]

    def _reindex(self) -> int:
        with self._tickets.lock:
            tickets = [ticket for ticket, _ in self._tickets.rows.values()]
            # Under the lock: a writer's index entry cannot be overwritten with a stale one.
            self._tickets.order.clear()
            self._tickets.due.clear()
            for ticket in tickets:
                self._tickets.index(ticket.id, self._next_due_at(ticket))
            self._tickets.fingerprint = self.machine.sla.fingerprint
        return len(tickets)
