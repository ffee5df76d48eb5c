"""The async stores' contract: ``await store.apply(...)`` with the sync stores' guarantees.

:class:`AsyncStoreBase` is :class:`~escalation_fsm.stores.StoreBase` for ``asyncio``: the same
optimistic concurrency (compare-and-swap on ``version``, a lost race retried on a fresh read up
to ``max_attempts`` times, then :class:`~escalation_fsm.errors.ConcurrentUpdate`), the same typed
errors, idempotency keys and ``expected_version``, the same hash chain and listings. The rules
themselves (admitting a ticket, the deadline index, idempotent replays, what a store remembers)
are the sync store's, reached through its *core* (:mod:`._core`); this module holds only the
awaiting loop around them.

Hooks: the machine's transition (guards, effect, before-hooks) runs on the event loop, as plain
CPU work. After- and enter-hooks run once, after the commit, never for a lost race; ``async def``
ones are awaited (:meth:`~escalation_fsm.EscalationMachine.run_after_hooks_async`), sync ones are
called on the event loop (keep them short, or make them async).
"""

from __future__ import annotations

import asyncio
import functools
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn, Self, TypeVar

from ..clock import Clock
from ..errors import (
    ConcurrentUpdate,
    IdempotencyConflict,
    StaleTicket,
    StoreError,
    StoreReadOnly,
    TicketNotFound,
)
from ..machine import EscalationMachine
from ..models import Actor, AuditRecord, Ticket
from ..results import TransitionResult
from ..sla import ClockState, SLAPolicy, clock_state
from ._args import (
    MAX_LIMIT,
    checked_count,
    checked_id,
)
from ._async_listings import AsyncListings, AsyncTicketStream
from ._async_offloop import OffLoop
from ._codec import Sealed, StoredTicket, decode, decode_clocks, seal
from ._core import Core
from ._observed import observed_apply_async
from ._types import (
    KeyTaken,
    Known,
    StoreStats,
    Write,
)
from .base import DEFAULT_MAX_ATTEMPTS

__all__ = ["AsyncStoreBase", "AsyncTicketStream"]  # the stream: from ._async_listings

_T = TypeVar("_T")


class AsyncStoreBase(AsyncListings, OffLoop, ABC):
    """What both async stores share: the awaiting apply loop, hooks after commit, listings.

    Open a store with ``async with Store(...) as store:`` or ``store = await Store(...).open()``
    (then ``await store.close()``). Subclasses provide the awaitable primitives.
    """

    def __init__(self, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, readonly: bool = False) -> None:
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number of at least 1, got {max_attempts!r}")
        self._given_machine = machine
        self._given_clock = clock
        self.max_attempts = max_attempts
        self.readonly = readonly
        self._core: Core | None = None

    # -- opening, closing -----------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> Self:
        """Connect and check (or create) the schema; returns the store itself. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release the store's connections; it may not be used afterwards."""

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def core(self) -> Core:
        """The synchronous store of the same database whose rules this one applies."""
        if self._core is None:
            raise StoreError(f"{type(self).__name__} is not open: use `async with` or "
                             f"`await store.open()` first")
        return self._core

    @property
    def machine(self) -> EscalationMachine:
        """The machine triggers are fired through (as for the sync stores)."""
        return self.core.machine

    @property
    def clock(self) -> Clock:
        """What stamps tickets created without history (default: the machine's clock)."""
        return self.core.clock

    @property
    def stats(self) -> StoreStats:
        """What this store object did since it was opened."""
        return self.core.stats

    def recorded_policy(self) -> SLAPolicy | None:
        """The SLA policy the store's deadline index was built with (read when opened)."""
        return self._recorded

    _recorded: SLAPolicy | None = None

    def _refuse(self, what: str) -> NoReturn:
        raise StoreReadOnly(what, self.core.where())

    # -- the protocol -----------------------------------------------------------------------------

    async def create(self, ticket: Ticket) -> Ticket:
        """Store a new ticket (with any history it already has) and return it.

        As :meth:`StoreBase.create <escalation_fsm.stores.StoreBase.create>`:
        ``InconsistentTicket`` or ``TicketExists``, and nothing is written.
        """
        core = self.core
        if self.readonly:
            self._refuse(f"create ticket {getattr(ticket, 'id', '?')!r}")
        ticket = core.admit(ticket)
        machine = core.machine
        await self._note_spec(machine.fingerprint)
        await self._note_spec(ticket.spec_fingerprint)
        clocks = clock_state(ticket, machine.sla, machine.spec)
        updated_at = ticket.history[-1].at if ticket.history else core.clock.now()
        due = core.due_of(ticket, clocks)
        sealed = seal(ticket)
        await self._insert(ticket, sealed, updated_at, clocks, due)
        core.remember(Known(ticket, clocks, sealed.document, due, sealed.head, due_known=True))
        return ticket

    async def get(self, ticket_id: str) -> Ticket:
        """The current ticket with its full history (``TicketNotFound``, ``CorruptTicket``)."""
        return (await self._read(checked_id(ticket_id))).ticket

    async def history(self, ticket_id: str) -> tuple[AuditRecord, ...]:
        """The ticket's audit records, oldest first."""
        return (await self.get(ticket_id)).history

    async def clocks(self, ticket_id: str) -> ClockState:
        """The ticket's folded SLA clock state, as stored."""
        return (await self._read(checked_id(ticket_id))).clocks

    async def head(self, ticket_id: str) -> str:
        """The hash the ticket's chain ends with (see ``StoreBase.head``)."""
        return (await self._read(checked_id(ticket_id))).head or ""

    @observed_apply_async
    async def apply(self, ticket_id: str, trigger: str, *, actor: Actor,
                    idempotency_key: str | None = None, expected_version: int | None = None,
                    **payload: Any) -> Ticket:
        """Fire ``trigger`` on the stored ticket as ``actor`` and save the result atomically.

        Exactly :meth:`StoreBase.apply <escalation_fsm.stores.StoreBase.apply>`, awaited: the
        machine's errors with nothing written, lost races retried on a fresh read, then
        ``ConcurrentUpdate``; ``idempotency_key`` and ``expected_version`` as there. After- and
        enter-hooks run once after the commit (``async def`` ones awaited); if any fails, the
        transition stays committed and ``HookFailed(phase="after")`` carries it.
        """
        trigger = str(trigger)
        core = self.core
        if self.readonly:
            self._refuse(f"apply {trigger!r} to ticket {ticket_id!r}")
        ticket_id = checked_id(ticket_id)
        key = None if idempotency_key is None else checked_id(idempotency_key, "idempotency_key")
        if expected_version is not None:
            checked_count(expected_version, "expected_version", low=0, high=MAX_LIMIT)
        machine = core.machine
        await self._note_spec(machine.fingerprint)  # once per store object
        stats = core.stats
        known = core.seen(ticket_id)
        if known is None or (expected_version is not None
                             and known.ticket.version != expected_version):
            known = await self._read(ticket_id)
        for attempt in range(1, self.max_attempts + 1):
            if key is not None and (seq := await self._find_key(ticket_id, key)) is not None:
                return await self._replay(ticket_id, key, seq, trigger, actor, payload)
            current = known.ticket
            if expected_version is not None and current.version != expected_version:
                raise StaleTicket(ticket_id=ticket_id, trigger=trigger,
                                  expected_version=expected_version, found_version=current.version)
            result, write = await self._prepared(known, trigger, actor, payload, key)
            new = result.ticket
            try:
                swapped = await self._swap(current, new, write)
            except KeyTaken:
                # Another call with this key committed since the lookup above: answer as it did.
                if (seq := await self._find_key(ticket_id, key or "")) is None:  # pragma: no cover
                    raise ConcurrentUpdate(ticket_id=ticket_id, trigger=trigger,
                                           expected_version=current.version) from None
                return await self._replay(ticket_id, key or "", seq, trigger, actor, payload)
            if swapped:
                stats.commits += 1
                core.remember(Known(new, write.clocks, known.document, write.due, write.hash,
                                    due_known=True))
                await machine.run_after_hooks_async(result)
                return new
            stats.conflicts += 1
            if expected_version is not None:
                found = (await self._read(ticket_id)).ticket.version
                raise StaleTicket(ticket_id=ticket_id, trigger=trigger,
                                  expected_version=expected_version, found_version=found)
            if attempt < self.max_attempts:
                if attempt > 1:
                    # Jittered, growing pause so that the writers that collided do not collide again.
                    await asyncio.sleep(random.uniform(0, 0.001 * attempt))  # noqa: S311 (jitter)
                known = await self._read(ticket_id)
        stats.gave_up += 1
        raise ConcurrentUpdate(ticket_id=ticket_id, trigger=trigger,
                               expected_version=known.ticket.version, attempts=self.max_attempts)

    async def _prepared(self, known: Known, trigger: str, actor: Actor,
                        payload: dict[str, Any], key: str | None) -> tuple[TransitionResult, Write]:
        """The sync stores' ``_prepared`` (records, spec fingerprints, clocks, deadline).

        On the event loop, unless the ticket was written under a spec the machine does not
        accept: moving it along a migration (or refusing it) may read the store.
        """
        core = self.core
        machine = core.machine
        if core.needs_store(machine, known.ticket):
            return await self._blocking(functools.partial(
                core.prepared, machine, known, trigger, actor, payload, key))
        return core.prepared(machine, known, trigger, actor, payload, key)

    async def _note_spec(self, fingerprint: str | None) -> None:
        """Record the spec in the store as the sync stores do (in a thread: it may write)."""
        core = self.core
        if not core.spec_noted(fingerprint):
            machine = core.machine
            await self._blocking(lambda: core.note_spec(machine, fingerprint))

    async def _replay(self, ticket_id: str, key: str, seq: int, trigger: str,  # noqa: PLR0917
                      actor: Actor, payload: dict[str, Any]) -> Ticket:
        """The ticket as the call that used ``key`` (record ``seq``) left it, if it was this call."""
        stored = await self._stored(ticket_id, 0)
        if stored is None:
            raise TicketNotFound(ticket_id)
        ticket = decode(stored, upto=seq)[0]
        reason = self.core.other_call(ticket.history[-1], trigger, actor, payload)
        if reason:
            raise IdempotencyConflict(ticket_id=ticket_id, key=key, seq=seq, reason=reason)
        self.core.stats.replayed += 1
        return ticket

    async def _read(self, ticket_id: str) -> Known:
        """Read one ticket, reading only the history rows this store has not seen.

        As the sync stores do (``StoreBase._read``).
        """
        core = self.core
        seen = core.seen(ticket_id)
        stored = await self._stored(ticket_id, 0 if seen is None else seen.ticket.version)
        if stored is not None and seen is not None and (
                stored.version < seen.ticket.version or stored.document != seen.document):
            seen, stored = None, await self._stored(ticket_id, 0)
        if stored is None:
            raise TicketNotFound(ticket_id)
        if seen is not None and stored.version == seen.ticket.version and not stored.rows \
                and (stored.stage, stored.category, stored.tier) == (
                    seen.ticket.stage, seen.ticket.category, seen.ticket.tier):
            return seen
        ticket, head = decode(stored, None if seen is None else seen.ticket,
                              None if seen is None else seen.head)
        clocks = (core.fold(ticket)[0] if stored.clocks is None
                  else decode_clocks(ticket.id, stored.clocks))
        known = Known(ticket, clocks, stored.document, None, head)
        core.remember(known)
        return known

    # -- primitives -----------------------------------------------------------------------------

    @abstractmethod
    async def _blocking(self, action: Callable[[], _T]) -> _T:
        """Run one of the core's blocking calls off the event loop."""

    @abstractmethod
    async def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime,
                      clocks: ClockState, due: datetime | None) -> None:
        """Write a new ticket row, its document and its history rows in one transaction."""

    @abstractmethod
    async def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        """One ticket's rows, with its history rows of ``seq > after`` (one snapshot)."""

    @abstractmethod
    async def _find_key(self, ticket_id: str, key: str) -> int | None:
        """The ``seq`` of the ticket's history row with idempotency key ``key``, if any."""

    @abstractmethod
    async def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        """The compare-and-swap of ``StoreBase._swap``, awaited."""
