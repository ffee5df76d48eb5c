"""The extension points of escalation_fsm as Protocols, in one place.

Host code plugs in here: a :class:`Clock` (time is injected, so deadlines are testable without
sleeping), a :class:`Hook` (what the host system does when a ticket moves) and a
:class:`TicketStore` (where tickets live). The library's own classes (``SystemClock``,
``ManualClock``, ``MemoryStore``, ``SQLiteStore``, ``PostgresStore``) are reference
implementations; anything with the same methods works.

This module imports nothing from the package at run time, so every module may import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .hooks import TransitionEvent
    from .machine import EscalationMachine
    from .models import Actor, AuditRecord, Category, Ticket
    from .observe import ObservedCall

__all__ = ["Clock", "Hook", "Observer", "TicketStore"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now()`` returning a timezone-aware datetime."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class Hook(Protocol):
    """A host callback. Its return value is ignored; raising is how it reports failure."""

    def __call__(self, event: TransitionEvent, /) -> object:
        """React to a committed (or, for before-hooks, proposed) transition."""
        ...


class Observer(Protocol):
    """Watches fires and applies (:meth:`EscalationMachine.observe`; :mod:`escalation_fsm.observe`)."""

    @property
    def watching(self) -> bool:
        """Whether ``observe`` would record anything now (checked before every call)."""
        ...

    def observe(self, call: ObservedCall, /) -> AbstractContextManager[object]:
        """A context manager the call runs inside; ``call.outcome`` is set when it exits."""
        ...


@runtime_checkable
class TicketStore(Protocol):
    """Durable tickets with their history, changed only through the machine's rules."""

    @property
    def machine(self) -> EscalationMachine:
        """The machine the store fires triggers through."""
        ...

    def create(self, ticket: Ticket) -> Ticket:
        """Store a new ticket (with any history it already has); raise ``TicketExists`` if taken."""
        ...

    def get(self, ticket_id: str) -> Ticket:
        """The current ticket with its full history; raise ``TicketNotFound`` if unknown."""
        ...

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        """Fire ``trigger`` on the stored ticket and save the result atomically; return it."""
        ...

    def history(self, ticket_id: str) -> tuple[AuditRecord, ...]:
        """The ticket's audit records, oldest first."""
        ...

    def query(
        self,
        *,
        stage: str | None = None,
        category: Category | str | None = None,
        tier: int | None = None,
        updated_before: datetime | None = None,
        updated_since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Ticket]:
        """Tickets matching every given filter, least recently updated first."""
        ...

    def stream(self, *, batch_size: int = 500) -> Iterator[Ticket]:
        """Every ticket, by id, read in batches (each ticket consistent on its own)."""
        ...

    def due(self, *, by: datetime, limit: int | None = None) -> list[Ticket]:
        """Tickets whose next SLA deadline falls at or before ``by``, soonest first (indexed)."""
        ...

    def close(self) -> None:
        """Release the connection; the store may not be used afterwards."""
        ...
