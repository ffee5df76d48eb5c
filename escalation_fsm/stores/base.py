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

A store composes the machine's two public phases: ``machine.transition`` (everything up to the
new ticket, before-hooks included), its own compare-and-swap, then ``machine.run_after_hooks``. A
host's subclass overriding ``transition`` applies to stores too. It uses the machine live, so later
changes to its policy, clock or hooks count.

Derived state is folded, never recomputed: each ticket's SLA clocks
(:class:`~escalation_fsm.sla.ClockState`) are kept beside it, and a save folds the one new record
in and indexes the next deadline, so no save walks the history. The index belongs to one SLA
policy and trigger meaning, recorded in the store: opening it with another raises
:class:`~escalation_fsm.errors.SLAPolicyMismatch`, and :meth:`StoreBase.reindex` is the explicit
way to rebuild it. Reading (``get``, ``history``, ``query``, ``stream``, ``due``) needs no machine.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn, Self

from ..clock import Clock
from ..errors import ConcurrentUpdate, SLAPolicyMismatch, StoreReadOnly
from ..machine import EscalationMachine
from ..models import Actor, AuditRecord, Category, Ticket
from ..sla import ClockState, SLAPolicy, clock_state, meaning_of
from ..spec import MachineSpec
from ..typing import TicketStore

__all__ = ["DEFAULT_MAX_ATTEMPTS", "Known", "StoreBase", "StoreStats", "TicketFilter",
           "TicketStore", "index_key"]

DEFAULT_MAX_ATTEMPTS = 10
"""Lost races tolerated by one ``apply`` before :class:`ConcurrentUpdate` reaches the caller."""

_KNOWN_TICKETS = 256
"""Tickets a store remembers, so that a save needs no read and a re-read only the newer rows."""


def index_key(policy: SLAPolicy, spec: MachineSpec) -> str:
    """What a deadline index depends on: the SLA policy and what the spec's triggers mean to it.

    Equal across processes for an equal policy and equal clock meanings; trigger names, stage
    names and descriptions do not enter it, only the policy's content and the marks.
    """
    meaning = sorted(meaning_of(spec).items())
    digest = hashlib.sha256(json.dumps([policy.fingerprint, meaning]).encode("utf-8")).hexdigest()
    return f"{policy.fingerprint}-{digest[:8]}"


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


@dataclass(frozen=True, slots=True)
class Known:
    """What a store remembers of a ticket it read or wrote: the ticket, its clocks, its document.

    ``document`` is the stored document's text as last read (SQL stores): a re-read whose row
    still has this version and this document returns ``ticket`` without decoding anything.
    """

    ticket: Ticket
    clocks: ClockState
    document: str | None = None
    due: datetime | None = None
    """The ticket's indexed next deadline, as stored (when ``due_known``)."""
    due_known: bool = False


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

    Subclasses provide the storage primitives (``_insert``, ``_read``, ``_swap``, ...).
    ``machine`` is what triggers are fired through; without one, a store reads, and applies
    triggers of the default procedure under the SLA policy recorded in the store. ``clock``
    stamps the last-update time of tickets created without history (default: the machine's).
    ``readonly`` stores refuse every write with :class:`~escalation_fsm.errors.StoreReadOnly`.
    """

    def __init__(self, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, readonly: bool = False) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._machine = machine
        self._recorded_index: str | None = None
        self._clock = clock
        self.max_attempts = max_attempts
        self.readonly = readonly
        self.stats = StoreStats()
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._known_lock = threading.Lock()

    # -- the machine and the SLA index ----------------------------------------------------------

    @property
    def machine(self) -> EscalationMachine:
        """The machine triggers are fired through (built on first use when none was given)."""
        if self._machine is None:
            machine = EscalationMachine(sla=self.recorded_policy())
            # The recorded policy, but the default procedure's marks: if the index was built for
            # a spec whose triggers mean something else, folding with these would be wrong.
            current = index_key(machine.sla, machine.spec)
            if self._recorded_index is not None and current != self._recorded_index:
                raise SLAPolicyMismatch(where=f"{self._where()} (opened without a machine, so with "
                                              f"the default procedure)",
                                        recorded=self._recorded_index, current=current)
            self._machine = machine
        return self._machine

    @property
    def clock(self) -> Clock:
        """What stamps tickets created without history (default: the machine's clock)."""
        return self.machine.clock if self._clock is None else self._clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self._clock = value

    def recorded_policy(self) -> SLAPolicy | None:
        """The SLA policy the store's deadline index was built with (``None``: not recorded)."""
        text = self._meta_policy()
        return None if text is None else SLAPolicy.model_validate_json(text)

    def _check_index(self, recorded: str | None, where: str) -> bool:
        """Whether the index must be written for a new store; raise if it belongs to another policy.

        Called by subclasses when opening. A store opened without a machine adopts the recorded
        policy; one opened with a machine must match it.
        """
        self._recorded_index = recorded
        if recorded is None:
            return True
        if self._machine is not None:
            current = index_key(self._machine.sla, self._machine.spec)
            if current != recorded:
                raise SLAPolicyMismatch(where=where, recorded=recorded, current=current)
        return False

    def _index_meta(self) -> tuple[str, str]:
        """The index key and the policy JSON to record for the store's machine."""
        machine = self.machine
        return index_key(machine.sla, machine.spec), machine.sla.model_dump_json()

    def _refuse(self, what: str) -> NoReturn:
        raise StoreReadOnly(what, self._where())

    def _where(self) -> str:
        return type(self).__name__

    # -- the protocol -----------------------------------------------------------------------------

    def create(self, ticket: Ticket) -> Ticket:
        """Store a new ticket (with any history it already has) and return it.

        Raises :class:`~escalation_fsm.errors.TicketExists` if the id is taken (nothing written).
        """
        if self.readonly:
            self._refuse(f"create ticket {ticket.id!r}")
        machine = self.machine
        clocks = clock_state(ticket, machine.sla, machine.spec)
        updated_at = ticket.history[-1].at if ticket.history else self.clock.now()
        due = self._due_of(ticket, clocks)
        self._insert(ticket, updated_at, clocks, due)
        self._remember(ticket, clocks, due=due, due_known=True)
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        """The current ticket with its full history.

        Raises :class:`~escalation_fsm.errors.TicketNotFound` for an unknown id and
        :class:`~escalation_fsm.errors.CorruptTicket` for a row that does not decode.
        """
        return self._read(ticket_id)[0]

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        """Fire ``trigger`` on the stored ticket as ``actor`` and save the result atomically.

        Returns the new ticket. The machine's errors (``InvalidTransition``, ``PermissionDenied``,
        ``ValidationError``, ``TransitionRefused``, ``HookFailed`` from a before-hook) propagate
        with nothing written. A lost race is retried on a fresh read, up to ``max_attempts`` times
        in all, then :class:`~escalation_fsm.errors.ConcurrentUpdate` is raised. If an after-hook
        fails, the transition stays committed and ``HookFailed(phase="after")`` carries it.
        """
        trigger = str(trigger)
        if self.readonly:
            self._refuse(f"apply {trigger!r} to ticket {ticket_id!r}")
        machine = self.machine
        meaning = meaning_of(machine.spec)
        # The first attempt trusts what this store last read or wrote: the swap compares versions,
        # so a stale copy costs one lost race, and a lone writer never reads before writing.
        seen = self._seen(ticket_id)
        if seen is None:
            current, clocks = self._read(ticket_id)
            old_due = self._due_of(current, clocks)
        else:
            current, clocks = seen.ticket, seen.clocks
            old_due = seen.due if seen.due_known else self._due_of(current, clocks)
        for attempt in range(1, self.max_attempts + 1):
            result = machine.transition(current, trigger, actor=actor, **payload)
            new = result.ticket
            after = clocks.after(result.record, machine.sla, meaning)
            due = self._due_of(new, after)
            if self._swap(current, new, after, due, due != old_due):
                self.stats.commits += 1
                self._remember(new, after, due=due, due_known=True)
                machine.run_after_hooks(result)
                return new
            self.stats.conflicts += 1
            if attempt < self.max_attempts:
                if attempt > 1:
                    # Jittered, growing pause so that the writers that collided do not collide again.
                    time.sleep(random.uniform(0, 0.001 * attempt))  # noqa: S311 (jitter, not crypto)
                current, clocks = self._read(ticket_id)
                old_due = self._due_of(current, clocks)
        self.stats.gave_up += 1
        raise ConcurrentUpdate(ticket_id=ticket_id, trigger=trigger,
                               expected_version=current.version, attempts=self.max_attempts)

    def history(self, ticket_id: str) -> tuple[AuditRecord, ...]:
        """The ticket's audit records, oldest first (``TicketNotFound`` for an unknown id)."""
        return self.get(ticket_id).history

    def clocks(self, ticket_id: str) -> ClockState:
        """The ticket's folded SLA clock state, as stored (ask it for deadlines at any time)."""
        return self._read(ticket_id)[1]

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
        running SLA clocks under the store's policy; see :meth:`ClockState.next_due
        <escalation_fsm.sla.ClockState.next_due>`) is indexed whenever the ticket is saved, so
        this reads only the tickets it returns. Tickets whose every clock is met or paused are
        never listed. ``by`` must be timezone-aware.
        """
        if by.tzinfo is None:
            raise ValueError(f"by must be timezone-aware, got naive {by!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        return self._due(by, limit)

    def reindex(self, machine: EscalationMachine | None = None) -> int:
        """Rebuild every ticket's clock state and indexed deadline under ``machine``'s policy.

        The explicit way to move a store to another SLA policy (or trigger meaning): open the
        store without a machine, then ``store.reindex(EscalationMachine(sla=new_policy))``. It
        folds every history again, records the new policy, makes ``machine`` the store's machine
        (default: keep the current one) and returns how many tickets were re-indexed. Unreadable
        rows are left out of the index (``get`` reports them).
        """
        if self.readonly:
            self._refuse("re-index the SLA deadlines")
        if machine is not None:
            self._machine = machine
        with self._known_lock:
            self._known.clear()
        return self._reindex()

    def _fold(self, ticket: Ticket) -> tuple[ClockState, datetime | None]:
        """A ticket's clock state from its whole history, and its next deadline (re-indexing)."""
        machine = self.machine
        clocks = clock_state(ticket, machine.sla, machine.spec)
        return clocks, self._due_of(ticket, clocks)

    def _due_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None:
        """The value indexed for ``ticket``: it depends on its history and the policy only."""
        return clocks.next_due_at(self.machine.sla, ticket.priority)

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources; it may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- what this store has already read --------------------------------------------------------

    def _seen(self, ticket_id: str) -> Known | None:
        """The newest version of the ticket this store read or wrote, with its clock state.

        History rows are append-only (the SQL stores enforce it with triggers), so the history of
        a remembered ticket is a prefix of the stored one: a re-read needs only the newer rows.
        """
        with self._known_lock:
            return self._known.get(ticket_id)

    def _remember(self, ticket: Ticket, clocks: ClockState, document: str | None = None, *,
                   due: datetime | None = None, due_known: bool = False) -> None:
        """Remember ``ticket`` and its clock state (and document text, when read) for next time.

        A save does not change the stored document, so without ``document`` the one remembered
        for the ticket is kept. ``due`` is its indexed deadline, when the caller knows it (a read
        does not compute it: reading needs no machine); ``due_known`` says it is given.
        """
        with self._known_lock:
            if document is None and (old := self._known.get(ticket.id)) is not None:
                document = old.document
            self._known[ticket.id] = Known(ticket, clocks, document, due, due_known)
            self._known.move_to_end(ticket.id)
            if len(self._known) > _KNOWN_TICKETS:
                self._known.popitem(last=False)

    # -- storage primitives -------------------------------------------------------------------------

    @abstractmethod
    def _meta_policy(self) -> str | None:
        """The recorded SLA policy JSON, if any."""

    @abstractmethod
    def _insert(self, ticket: Ticket, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        """Write a new ticket row and all its history rows in one transaction."""

    @abstractmethod
    def _read(self, ticket_id: str) -> tuple[Ticket, ClockState]:
        """Read one ticket, its history and its clock state consistently (one snapshot)."""

    @abstractmethod
    def _swap(self, current: Ticket, new: Ticket, clocks: ClockState, due: datetime | None,
              due_moved: bool) -> bool:
        """Compare-and-swap ``new`` for ``current`` (by version) and append its last record.

        One transaction; ``False``, with nothing written, if another writer changed the version.
        A database store writes the record with what it changed (``encode_changes``), and sets
        only the row's columns that changed (``due_moved``: the indexed deadline did), so that
        unchanged index entries are not rewritten.
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
        """Fold every ticket's clocks again, index them, and record the machine's policy."""
