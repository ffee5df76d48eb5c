"""The extension points of escalation_fsm as Protocols, in one place.

Host code plugs in here: a :class:`Clock` (time is injected, so deadlines are testable without
sleeping), a :class:`Hook` (what the host system does when a ticket moves) and a
:class:`TicketStore` (where tickets live). The library's own classes (``SystemClock``,
``ManualClock``, ``MemoryStore``, ``SQLiteStore``, ``PostgresStore``) are reference
implementations; anything with the same methods works. :class:`SpecShape` is what a spec and a
stored description of one (:class:`~escalation_fsm.identity.SpecDescription`) both answer.

This module imports nothing from the package at run time, so every module may import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .hooks import TransitionEvent
    from .machine import EscalationMachine
    from .marks import Mark
    from .models import Actor, AuditRecord, Category, Ticket
    from .observe import ObservedCall

__all__ = ["Clock", "Hook", "Observer", "SpecShape", "TicketStore"]


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
        """Whether ``observe`` would record anything now.

        Checked before every call while an observer of the machine watches; while none does,
        before every 256th (:meth:`EscalationMachine.watched`).
        """
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


class _Stage(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def initial(self) -> bool: ...
    @property
    def final(self) -> bool: ...


class _Transition(Protocol):
    @property
    def trigger(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def guards(self) -> tuple[str, ...]: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def target(self) -> str: ...
    @property
    def key(self) -> tuple[str, str]: ...


class _Described(Protocol):
    @property
    def description(self) -> str: ...


class _Required(Protocol):
    @property
    def requirement(self) -> str: ...


class SpecShape(Protocol):
    """The shape of a procedure: what specs and stored descriptions of them both answer.

    A :class:`~escalation_fsm.spec.MachineSpec` and a
    :class:`~escalation_fsm.identity.SpecDescription` (no guard or effect code) have it: enough
    to verify a history (:func:`~escalation_fsm.integrity.verify_ticket`) and to draw a diagram
    (:mod:`escalation_fsm.diagrams`) of a version whose code is gone.
    """

    @property
    def name(self) -> str:
        """The spec's name."""
        ...

    @property
    def version(self) -> str:
        """Its version label."""
        ...

    @property
    def initial(self) -> str:
        """The initial stage."""
        ...

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in declaration order."""
        ...

    @property
    def stages(self) -> Sequence[_Stage]:
        """The stages in declaration order."""
        ...

    @property
    def transitions(self) -> Sequence[_Transition]:
        """The transitions in declaration order."""
        ...

    def has_stage(self, name: str) -> bool:
        """Whether ``name`` is a stage."""
        ...

    def has_trigger(self, name: str) -> bool:
        """Whether ``name`` is a trigger."""
        ...

    def transition(self, source: str, trigger: str) -> _Transition | None:
        """The transition ``trigger`` fires from ``source``, if any."""
        ...

    def marks_of(self, trigger: str) -> frozenset[Mark]:
        """What ``trigger`` means."""
        ...

    def trigger(self, name: str) -> _Described:
        """The trigger called ``name``."""
        ...

    def guard(self, name: str) -> _Required:
        """The guard called ``name``."""
        ...
