"""The :class:`TicketStore` protocol and the apply loop every store shares.

A store keeps tickets and their history durable, and applies triggers with optimistic
concurrency: read the ticket, fire the trigger through the machine (guards, roles, payload and
before-hooks, on that fresh read), then compare-and-swap on ``version``. When another writer won
the race the swap writes nothing, and :meth:`StoreBase.apply` starts over from a fresh read, so a
retry is judged against the state the other writer left (a ticket resolved meanwhile is not
escalated by a retry). After ``max_attempts`` lost races it raises
:class:`~escalation_fsm.errors.ConcurrentUpdate`.

After-hooks and enter-hooks run after the commit, once per committed transition and never for a
lost race: ``fire`` would run them before the store knows whether the swap wins, which could
notify a customer about a transition that is then thrown away (or notify twice after a retry).
They run in the committing process, so a crash between the commit and the hooks skips them
(at-most-once). If any fails, the transition stays committed and ``apply`` raises
:class:`~escalation_fsm.errors.HookFailed` (``phase="after"``) with the committed ticket on
``.ticket``, exactly like ``fire``.

A store calls its machine's ``fire`` (so a host's subclass of the machine applies) with the
after-hooks deferred (``_after_hooks_deferred``, per thread), and runs them once the transaction
committed. It uses the machine live, so later changes to its policy, clock, SLA or hooks count.
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from ..clock import Clock
from ..errors import ConcurrentUpdate
from ..machine import EscalationMachine
from ..models import Actor, AuditRecord, Category, Ticket
from ..sla import next_due

__all__ = ["StoreBase", "StoreStats", "TicketFilter", "TicketStore"]

DEFAULT_MAX_ATTEMPTS = 10
"""Lost races tolerated by one ``apply`` before :class:`ConcurrentUpdate` reaches the caller."""

_KNOWN_TICKETS = 256
"""Tickets a store remembers so that a re-read fetches only the history rows it has not seen."""


@runtime_checkable
class TicketStore(Protocol):
    """Durable tickets with their history, changed only through the machine's rules."""

    machine: EscalationMachine

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


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """The filters of :meth:`TicketStore.query`, normalised to plain values (``None``: any)."""

    stage: str | None = None
    category: str | None = None
    tier: int | None = None
    updated_before: datetime | None = None
    updated_since: datetime | None = None

    def matches(self, ticket: Ticket, updated_at: datetime) -> bool:
        """Whether ``ticket`` (last updated at ``updated_at``) passes every filter."""
        return (
            (self.stage is None or ticket.stage == self.stage)
            and (self.category is None or ticket.category == self.category)
            and (self.tier is None or ticket.tier == self.tier)
            and (self.updated_before is None or updated_at < self.updated_before)
            and (self.updated_since is None or updated_at >= self.updated_since)
        )


@dataclass(slots=True)
class StoreStats:
    """What one store object did since it was opened (per process, not per database)."""

    commits: int = 0
    """Transitions committed by ``apply``."""
    conflicts: int = 0
    """Compare-and-swaps lost to another writer (each one retried or reported)."""
    gave_up: int = 0
    """``apply`` calls that raised ``ConcurrentUpdate`` after ``max_attempts`` lost races."""


class StoreBase(ABC):
    """What every store shares: the apply loop with bounded retries, hooks after commit, queries.

    Subclasses provide the storage primitives (``_insert``, ``_load``, ``_swap``, ...).
    ``machine`` is what triggers are fired through (default: the default procedure); ``clock``
    stamps the last-update time of tickets created without history (default: the machine's).
    """

    def __init__(self, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.machine = EscalationMachine() if machine is None else machine
        self.clock: Clock = self.machine.clock if clock is None else clock
        self.max_attempts = max_attempts
        self.stats = StoreStats()
        self._known: OrderedDict[str, tuple[Ticket, str]] = OrderedDict()
        self._known_lock = threading.Lock()

    # -- the protocol -----------------------------------------------------------------------------

    def create(self, ticket: Ticket) -> Ticket:
        """Store a new ticket (with any history it already has) and return it.

        Raises :class:`~escalation_fsm.errors.TicketExists` if the id is taken (nothing written).
        """
        updated_at = ticket.history[-1].at if ticket.history else self.clock.now()
        self._insert(ticket, updated_at)
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        """The current ticket with its full history.

        Raises :class:`~escalation_fsm.errors.TicketNotFound` for an unknown id and
        :class:`~escalation_fsm.errors.CorruptTicket` for a row that does not decode.
        """
        return self._load(ticket_id)

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        """Fire ``trigger`` on the stored ticket as ``actor`` and save the result atomically.

        Returns the new ticket. The machine's errors (``InvalidTransition``, ``PermissionDenied``,
        ``ValidationError``, ``TransitionRefused``, ``HookFailed`` from a before-hook) propagate
        with nothing written. A lost race is retried on a fresh read, up to ``max_attempts`` times
        in all, then :class:`~escalation_fsm.errors.ConcurrentUpdate` is raised. If an after-hook
        fails, the transition stays committed and ``HookFailed(phase="after")`` carries it.
        """
        trigger = str(trigger)
        for attempt in range(1, self.max_attempts + 1):
            current = self._load(ticket_id)
            with self.machine._after_hooks_deferred() as committed:
                new = self.machine.fire(current, trigger, actor=actor, **payload)
            if self._swap(current.version, new, new.history[-1].at):
                self.stats.commits += 1
                for event in committed:
                    self.machine._run_after_hooks(event)
                return new
            self.stats.conflicts += 1
            if attempt < self.max_attempts:
                # Jittered, growing pause so that the writers that collided do not collide again.
                time.sleep(random.uniform(0, 0.001 * attempt))  # noqa: S311 (jitter, not crypto)
        self.stats.gave_up += 1
        raise ConcurrentUpdate(ticket_id=ticket_id, trigger=trigger,
                               expected_version=current.version, attempts=self.max_attempts)

    def history(self, ticket_id: str) -> tuple[AuditRecord, ...]:
        """The ticket's audit records, oldest first (``TicketNotFound`` for an unknown id)."""
        return self._load(ticket_id).history

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
        """Tickets matching every given filter (``None``: any), least recently updated first.

        ``updated_before`` is exclusive and ``updated_since`` inclusive; both must be
        timezone-aware. The last update is the time of the newest history record (or of
        ``create`` for a ticket without history).
        """
        for name, when in (("updated_before", updated_before), ("updated_since", updated_since)):
            if when is not None and when.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware, got naive {when!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        where = TicketFilter(
            stage=None if stage is None else str(stage),
            category=None if category is None else Category(category).value,
            tier=tier, updated_before=updated_before, updated_since=updated_since,
        )
        return self._query(where, limit)

    def stream(self, *, batch_size: int = 500) -> Iterator[Ticket]:
        """Every ticket, ordered by id, read ``batch_size`` at a time.

        Each ticket is read consistently; tickets changed while the stream runs show the state of
        the moment their batch was read. No transaction stays open between batches.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        after: str | None = None
        while True:
            batch = self._page(after, batch_size)
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].id

    def due(self, *, by: datetime, limit: int | None = None) -> list[Ticket]:
        """Tickets whose next SLA deadline falls at or before ``by``, soonest first, then by id.

        For a follow-up worker. Each ticket's next deadline (the earliest due time of its open,
        running SLA clocks under ``machine.sla``; see :func:`escalation_fsm.sla.next_due`) is
        indexed whenever the ticket is saved, so this reads only the tickets it returns. Tickets
        whose every clock is met or paused are never listed. ``by`` must be timezone-aware.
        """
        if by.tzinfo is None:
            raise ValueError(f"by must be timezone-aware, got naive {by!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        return self._due(by, limit)

    def reindex_deadlines(self) -> int:
        """Recompute every ticket's indexed next deadline under ``machine.sla``; return the count.

        Opening a store does this by itself when its SLA policy differs from the one the index was
        built with (all writers of one database should share one policy), and after the schema
        migration that added the index.
        """
        return self._reindex()

    def _next_due_at(self, ticket: Ticket) -> datetime | None:
        """The value indexed for ``ticket``: it depends on its history and the policy only."""
        found = next_due(ticket, self.machine.sla)
        return None if found is None else found.due_at

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources; it may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- what this store has already read --------------------------------------------------------

    def _seen(self, ticket_id: str) -> tuple[Ticket, str] | None:
        """The newest version of the ticket this store read or wrote, with its document's JSON.

        History rows are append-only (the SQL stores enforce it with triggers), so the history of
        a remembered ticket is a prefix of the stored one: a re-read needs only the newer rows.
        When the stored version and document text are still the remembered ones, the remembered
        ticket is returned without decoding it again (it was validated when first read).
        """
        with self._known_lock:
            return self._known.get(ticket_id)

    def _remember(self, ticket: Ticket, document: str) -> Ticket:
        """Remember ``ticket`` (whose stored document is ``document``) for the next read."""
        with self._known_lock:
            self._known[ticket.id] = (ticket, document)
            self._known.move_to_end(ticket.id)
            if len(self._known) > _KNOWN_TICKETS:
                self._known.popitem(last=False)
        return ticket

    # -- storage primitives -------------------------------------------------------------------------

    @abstractmethod
    def _insert(self, ticket: Ticket, updated_at: datetime) -> None:
        """Write a new ticket row and all its history rows in one transaction."""

    @abstractmethod
    def _load(self, ticket_id: str) -> Ticket:
        """Read one ticket and its history consistently (one snapshot)."""

    @abstractmethod
    def _swap(self, expected_version: int, new: Ticket, updated_at: datetime) -> bool:
        """Compare-and-swap ``new`` and its last history record against ``expected_version``.

        One transaction; ``False``, with nothing written, if another writer changed the version.
        """

    @abstractmethod
    def _query(self, where: TicketFilter, limit: int | None) -> list[Ticket]:
        """Tickets passing ``where``, ordered by last update then id."""

    @abstractmethod
    def _page(self, after: str | None, size: int) -> list[Ticket]:
        """Up to ``size`` tickets with ids greater than ``after``, ordered by id."""

    @abstractmethod
    def _due(self, by: datetime, limit: int | None) -> list[Ticket]:
        """Tickets whose indexed next deadline is at or before ``by``, by deadline then id."""

    @abstractmethod
    def _reindex(self) -> int:
        """Recompute the deadline index of every ticket and record the policy's fingerprint."""
