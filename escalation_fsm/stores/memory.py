"""An in-process store for tests and prototypes: the same contract, nothing durable."""

from __future__ import annotations

import bisect
import threading
from datetime import datetime

from ..clock import Clock
from ..errors import TicketExists, TicketNotFound
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from .base import DEFAULT_MAX_ATTEMPTS, Known, StoreBase, TicketFilter

__all__ = ["MemoryStore", "MemoryTickets"]


class MemoryTickets:
    """The shared state behind one or more :class:`MemoryStore` handles (a database in memory)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, tuple[Ticket, datetime, Known]] = {}
        """Each ticket, its last update, and what a save needs of it (clocks, indexed deadline)."""
        # The deadline index: (next due time, id) kept sorted, and each ticket's entry in it.
        self.order: list[tuple[datetime, str]] = []
        self.due: dict[str, datetime] = {}
        self.index_key: str | None = None
        """The SLA policy and trigger meaning the index was built with."""
        self.policy_json: str | None = None

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
    example with a different machine; like a database, the tickets keep the SLA policy they were
    indexed under (:class:`~escalation_fsm.errors.SLAPolicyMismatch` otherwise).

    >>> from escalation_fsm import Actor, Category, Role, Ticket
    >>> store = MemoryStore()
    >>> _ = store.create(Ticket(id="T-1", customer_id="C-1", category=Category.OTHER, details="x"))
    >>> store.apply("T-1", "attempt", actor=Actor(id="a-1", role=Role.AGENT)).stage
    'attempted'
    """

    def __init__(self, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 shared_with: MemoryStore | MemoryTickets | None = None,
                 readonly: bool = False) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts, readonly=readonly)
        self.tickets: MemoryTickets = (
            MemoryTickets() if shared_with is None
            else shared_with.tickets if isinstance(shared_with, MemoryStore) else shared_with)
        with self.tickets.lock:
            recorded = self.tickets.index_key
            if self._check_index(recorded, "the memory store") and not readonly:
                self.tickets.index_key, self.tickets.policy_json = self._index_meta()

    def close(self) -> None:
        """Nothing to release; the tickets stay readable through other handles."""

    def _meta_policy(self) -> str | None:
        return self.tickets.policy_json

    def _insert(self, ticket: Ticket, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        with self.tickets.lock:
            if ticket.id in self.tickets.rows:
                raise TicketExists(ticket.id)
            self.tickets.rows[ticket.id] = (ticket, updated_at, Known(ticket, clocks, None, due, True))
            self.tickets.index(ticket.id, due)

    def _read(self, ticket_id: str) -> tuple[Ticket, ClockState]:
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
        if row is None:
            raise TicketNotFound(ticket_id)
        return row[0], row[2].clocks

    def _seen(self, ticket_id: str) -> Known | None:
        # Reading a dict is as cheap as remembering: always the current ticket.
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
        return None if row is None else row[2]

    def _remember(self, ticket: Ticket, clocks: ClockState, document: str | None = None, *,
                  due: datetime | None = None, due_known: bool = False) -> None:
        """Nothing to remember: the rows are the tickets themselves."""

    def _swap(self, current: Ticket, new: Ticket, clocks: ClockState, due: datetime | None,
              due_moved: bool) -> bool:
        with self.tickets.lock:
            stored = self.tickets.rows[new.id][0]
            if stored.version != current.version:
                return False
            self.tickets.rows[new.id] = (new, new.history[-1].at, Known(new, clocks, None, due, True))
            if due_moved:
                self.tickets.index(new.id, due)
            return True

    def _query(self, where: TicketFilter, limit: int | None) -> list[Ticket]:
        with self.tickets.lock:
            rows = list(self.tickets.rows.values())
        found = sorted(((updated, ticket.id), ticket) for ticket, updated, _ in rows
                       if where.matches(ticket, updated))
        return [ticket for _, ticket in found[:limit]]

    def _page(self, after: str | None, size: int) -> list[Ticket]:
        with self.tickets.lock:
            ids = sorted(key for key in self.tickets.rows if after is None or key > after)[:size]
            return [self.tickets.rows[key][0] for key in ids]

    def _due(self, by: datetime, limit: int | None) -> list[Ticket]:
        with self.tickets.lock:
            order = self.tickets.order
            end = bisect.bisect_right(order, by, key=lambda entry: entry[0])
            if limit is not None:
                end = min(end, limit)
            return [self.tickets.rows[ticket_id][0] for _, ticket_id in order[:end]]

    def _reindex(self) -> int:
        with self.tickets.lock:
            # Under the lock: a writer's index entry cannot be overwritten with a stale one.
            self.tickets.order.clear()
            self.tickets.due.clear()
            for ticket_id, (ticket, updated, _) in list(self.tickets.rows.items()):
                clocks, due = self._fold(ticket)
                self.tickets.rows[ticket_id] = (ticket, updated, Known(ticket, clocks, None, due, True))
                self.tickets.index(ticket_id, due)
            self.tickets.index_key, self.tickets.policy_json = self._index_meta()
            return len(self.tickets.rows)
