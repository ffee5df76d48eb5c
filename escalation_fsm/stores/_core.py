"""A synchronous store seen from an asynchronous one: its rules and primitives, as public methods.

The async stores (:mod:`.async_base`) keep one synchronous store of the same database as their
*core*: it opens the database (schema, migrations, the SLA index check), resolves the machine,
and holds the rules every store shares (admitting a ticket, the indexed deadline, telling an
idempotent retry from another call, what the store remembers). The async stores call these
through :class:`Core`, so there is one implementation of each rule, not one per flavour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..machine import EscalationMachine
from ..models import Actor, AuditRecord, Ticket
from ..results import TransitionResult
from ..sla import ClockState
from ._codec import Sealed, StoredTicket
from ._types import Known, Listing, TicketFilter, Write
from .base import StoreBase

__all__ = ["Core"]


class Core(StoreBase):
    """Public names for the protected rules and primitives of a store (mixed into a real one)."""

    def admit(self, ticket: Ticket) -> Ticket:
        """``ticket`` validated from scratch and verified against the spec (as ``create`` does)."""
        return self._admit(ticket)

    def due_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None:
        """The deadline indexed for ``ticket`` with ``clocks``."""
        return self._due_of(ticket, clocks)

    def step_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None:
        """The next ladder step indexed for ``ticket`` with ``clocks`` (``next_step_at``)."""
        return self._step_of(ticket, clocks)

    def prepared(self, machine: EscalationMachine, known: Known, trigger: str,  # noqa: PLR0917
                 actor: Actor, payload: dict[str, Any],
                 key: str | None) -> tuple[TransitionResult, Write]:
        """The transition of ``known``'s ticket and what saving it writes (as ``apply`` does).

        Reads the store only for a ticket written under a spec the machine does not accept
        (:meth:`needs_store`): it is moved along a registered migration or refused.
        """
        return self._prepared(machine, known, trigger, actor, payload, key)

    def needs_store(self, machine: EscalationMachine, ticket: Ticket) -> bool:
        """Whether preparing a write of ``ticket`` may read the store (its spec is not accepted)."""
        return bool(ticket.history) and (
            ticket.history[-1].spec_fingerprint not in machine.versions.accepted)

    def spec_noted(self, fingerprint: str | None) -> bool:
        """Whether :meth:`note_spec` has nothing to do for ``fingerprint`` (no store access)."""
        return fingerprint is None or fingerprint in self._noted or self.readonly

    def note_spec(self, machine: EscalationMachine, fingerprint: str | None) -> None:
        """Record the spec ``fingerprint`` names in the store, once per store object."""
        self._note_spec(machine, fingerprint)

    def fold(self, ticket: Ticket) -> tuple[ClockState, datetime | None]:
        """The ticket's clock state from its whole history, and its next deadline."""
        return self._fold(ticket)

    def other_call(self, record: AuditRecord, trigger: str, actor: Actor,
                   payload: dict[str, Any]) -> str:
        """How the call that wrote ``record`` differs from this one ("" if it does not)."""
        return self._other_call(record, trigger, actor, payload)

    def seen(self, ticket_id: str) -> Known | None:
        """What the store last read or wrote of the ticket."""
        return self._seen(ticket_id)

    def remember(self, known: Known) -> None:
        """Remember a ticket as read or written."""
        self._remember(known)

    def where(self) -> str:
        """The database, as error messages name it."""
        return self._where()

    # -- the primitives (an async store runs them in a thread when they block) ------------------

    def stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        """One ticket's rows as stored (history rows with ``seq > after``)."""
        return self._stored(ticket_id, after)

    def find_key(self, ticket_id: str, key: str) -> int | None:
        """The ``seq`` of the ticket's history row with idempotency key ``key``, if any."""
        return self._find_key(ticket_id, key)

    def swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        """The store's compare-and-swap (``KeyTaken`` if the key is used)."""
        return self._swap(current, new, write)

    def insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime, clocks: ClockState,
               due: datetime | None) -> None:
        """Write a new ticket in one transaction (``TicketExists`` if the id is taken)."""
        self._insert(ticket, sealed, updated_at, clocks, due)

    def query_rows(self, where: TicketFilter, limit: int | None) -> Listing:
        """Tickets passing ``where``, ordered by last update then id."""
        return self._query(where, limit)

    def due_rows(self, by: datetime, limit: int | None) -> Listing:
        """Tickets whose indexed next deadline is at or before ``by``."""
        return self._due(by, limit)

    def page(self, after: str | None, size: int) -> Listing:
        """Up to ``size`` tickets with ids greater than ``after``, by id."""
        return self._page(after, size)

    def stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        """Up to ``size`` tickets as stored, ids greater than ``after``, by id."""
        return self._stored_page(after, size)
