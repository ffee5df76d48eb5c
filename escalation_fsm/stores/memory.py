"""An in-process store for tests and prototypes: the same contract, nothing durable."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from ..clock import Clock
from ..errors import TicketExists, TicketNotFound
from ..identity import SpecDescription
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from ._codec import INDEX_KEY, Sealed, StoredRecord, StoredTicket, utc_text
from ._history import CHANGES_SEPARATOR, RECORD_SEPARATOR, HistoryRow
from ._memory_follow_up import MemoryFollowUps
from ._types import KeyTaken, Known, Listing, TicketFilter, Write
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase

__all__ = ["MemoryStore", "MemoryTickets"]


@dataclass(slots=True)
class MemoryRow:
    """One ticket in memory, and its texts as a database would hold them.

    ``known`` is the ticket and what a save needs of it; the document and the history rows with
    their hashes are what ``verify`` and idempotent retries read.
    """

    known: Known
    updated_at: datetime
    document: str
    base_version: int
    doc_hash: str
    records: list[StoredRecord] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)


class MemoryTickets:
    """The shared state behind one or more :class:`MemoryStore` handles (a database in memory)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, MemoryRow] = {}
        # The deadline index: (next due time, id) kept sorted, and each ticket's entry in it.
        self.order: list[tuple[datetime, str]] = []
        self.due: dict[str, datetime] = {}
        # The ladder (docs/following-up.md): each ticket's next step, and who leased it until when.
        self.steps: dict[str, datetime] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        self.meta: dict[str, str] = {}
        """The SLA policy and trigger meaning the index was built with (as the SQL stores'
        meta table holds them)."""
        self.specs: dict[tuple[str, str, str], tuple[str, datetime]] = {}
        """The specs seen: (fingerprint, name, version) -> description JSON, when recorded."""

    def step(self, ticket_id: str, when: datetime | None) -> None:
        """Set the ticket's next ladder step (caller holds ``lock``)."""
        if when is None:
            self.steps.pop(ticket_id, None)
        else:
            self.steps[ticket_id] = when

    def index(self, ticket_id: str, due: datetime | None) -> None:
        """Set the ticket's next deadline (caller holds ``lock``)."""
        old = self.due.pop(ticket_id, None)
        if old is not None:
            del self.order[bisect.bisect_left(self.order, (old, ticket_id))]
        if due is not None:
            self.due[ticket_id] = due
            bisect.insort(self.order, (due, ticket_id))


class MemoryStore(MemoryFollowUps, StoreBase):
    """Tickets kept in a dict, thread-safe, with the same optimistic concurrency as the databases.

    Tickets are immutable values, so the store keeps them as they are, beside the texts a
    database would hold (and their hash chain), so that ``verify`` and idempotent retries work
    as they do in SQL. ``shared_with`` opens another handle on the same tickets (as a second
    process would open the same database), for example with a different machine; like a
    database, the tickets keep the SLA policy they were indexed under
    (:class:`~escalation_fsm.errors.SLAPolicyMismatch` otherwise).

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
            recorded = self.tickets.meta.get(INDEX_KEY)
            if self._check_index(recorded, "the memory store") and not readonly:
                self.tickets.meta.update(self._index_meta())

    def close(self) -> None:
        """Nothing to release; the tickets stay readable through other handles."""

    def _meta_value(self, key: str) -> str | None:
        return self.tickets.meta.get(key)

    def _record_spec(self, description: SpecDescription, at: datetime) -> None:
        with self.tickets.lock:
            self.tickets.specs.setdefault(
                (description.fingerprint, description.name, description.version),
                (description.model_dump_json(), at))

    def _spec_rows(self) -> list[tuple[str, str, str, str]]:
        with self.tickets.lock:
            return [(*key, text) for key, (text, _) in self.tickets.specs.items()]

    def _spec_counts(self) -> list[tuple[str | None, bool, int]]:
        with self.tickets.lock:
            found = Counter((row.known.ticket.spec_fingerprint, bool(row.known.ticket.history))
                            for row in self.tickets.rows.values())
        return [(spec, history, count) for (spec, history), count in found.items()]

    def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        records = [StoredRecord(record.seq, text, None, None, hash_)
                   for record, text, hash_ in sealed.records]
        with self.tickets.lock:
            if ticket.id in self.tickets.rows:
                raise TicketExists(ticket.id)
            self.tickets.rows[ticket.id] = MemoryRow(
                Known(ticket, clocks, sealed.document, due, sealed.head, due_known=True), updated_at,
                sealed.document, ticket.version, sealed.doc_hash, records)
            self.tickets.index(ticket.id, due)
            self.tickets.step(ticket.id, self._step_of(ticket, clocks))

    def _read(self, ticket_id: str) -> Known:
        # Reading a dict is as cheap as remembering: always the current ticket.
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
        if row is None:
            raise TicketNotFound(ticket_id)
        return row.known

    def _seen(self, ticket_id: str) -> Known | None:
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
        return None if row is None else row.known

    def _remember(self, known: Known) -> None:
        """Nothing to remember: the rows are the tickets themselves."""

    def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        with self.tickets.lock:
            row = self.tickets.rows[new.id]
            if row.known.ticket.version != current.version:
                return False
            if write.key is not None and write.key in row.keys:
                raise KeyTaken
            row.known = Known(new, write.clocks, row.document, write.due, write.hash, due_known=True)
            row.updated_at = write.record.at
            row.records += [StoredRecord(r.record.seq, r.text, r.changes, r.key, r.hash)
                            for r in write.rows]
            if write.key is not None:
                row.keys[write.key] = write.record.seq
            if write.due_moved:
                self.tickets.index(new.id, write.due)
            if write.step_moved:
                self.tickets.step(new.id, write.step)
            return True

    def _find_key(self, ticket_id: str, key: str) -> int | None:
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
            return None if row is None else row.keys.get(key)

    def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
            return None if row is None else _stored(ticket_id, row, after)

    def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        with self.tickets.lock:
            ids = sorted(key for key in self.tickets.rows if after is None or key > after)[:size]
            return [_stored(key, self.tickets.rows[key], 0) for key in ids]

    def _history_rows(self, after: str | None, size: int) -> list[HistoryRow]:
        with self.tickets.lock:
            ids = sorted(key for key in self.tickets.rows if after is None or key > after)[:size]
            return [_history_row(key, self.tickets.rows[key]) for key in ids]

    def _live(self, ticket_id: str) -> Ticket | None:
        with self.tickets.lock:
            row = self.tickets.rows.get(ticket_id)
        return None if row is None else row.known.ticket

    def _query(self, where: TicketFilter, limit: int | None) -> Listing:
        with self.tickets.lock:
            rows = [(row.known.ticket, row.updated_at) for row in self.tickets.rows.values()]
        found = sorted(((updated, ticket.id), ticket) for ticket, updated in rows
                       if where.matches(ticket, updated))
        return _listing([ticket for _, ticket in found[:limit]])

    def _page(self, after: str | None, size: int) -> Listing:
        with self.tickets.lock:
            ids = sorted(key for key in self.tickets.rows if after is None or key > after)[:size]
            return _listing([self.tickets.rows[key].known.ticket for key in ids])

    def _due(self, by: datetime, limit: int | None) -> Listing:
        with self.tickets.lock:
            order = self.tickets.order
            end = bisect.bisect_right(order, by, key=lambda entry: entry[0])
            if limit is not None:
                end = min(end, limit)
            return _listing([self.tickets.rows[ticket_id].known.ticket
                             for _, ticket_id in order[:end]])

    def _reindex(self) -> int:
        with self.tickets.lock:
            # Under the lock: a writer's index entry cannot be overwritten with a stale one.
            self.tickets.order.clear()
            self.tickets.due.clear()
            for ticket_id, row in self.tickets.rows.items():
                ticket = row.known.ticket
                clocks, due = self._fold(ticket)
                row.known = Known(ticket, clocks, row.document, due, row.known.head, due_known=True)
                self.tickets.index(ticket_id, due)
                self.tickets.step(ticket_id, self._step_of(ticket, clocks))
            self.tickets.meta.update(self._index_meta())
            return len(self.tickets.rows)


def _listing(tickets: list[Ticket]) -> Listing:
    return Listing(tickets=tickets, rows=len(tickets),
                   last_id=tickets[-1].id if tickets else None)


def _history_row(ticket_id: str, row: MemoryRow) -> HistoryRow:
    """A memory row as the SQL stores' bulk query returns one (caller holds the lock)."""
    ticket, records = row.known.ticket, row.records
    return HistoryRow(
        ticket_id, ticket.stage, ticket.version,
        None if ticket.category is None else str(ticket.category), ticket.tier, row.document,
        row.base_version, ",".join(str(r.seq) for r in records) or None,
        RECORD_SEPARATOR.join(r.record for r in records) or None,
        CHANGES_SEPARATOR.join(r.changes or "" for r in records) if records else None)


def _stored(ticket_id: str, row: MemoryRow, after: int) -> StoredTicket:
    """A memory row as a database would hold it (caller holds the lock)."""
    ticket, clocks, due = row.known.ticket, row.known.clocks, row.known.due
    return StoredTicket(
        ticket_id, ticket.stage, ticket.version,
        None if ticket.category is None else str(ticket.category), ticket.tier, row.document,
        row.base_version, row.doc_hash, clocks.to_json(), utc_text(row.updated_at),
        None if due is None else utc_text(due), ticket.spec_fingerprint,
        [r for r in row.records if r.seq > after])
