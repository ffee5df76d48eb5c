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
way to rebuild it (:mod:`._index`). Reading (``get``, ``history``, ``query``, ``stream``, ``due``)
needs no machine.

Every record carries the fingerprint of the spec it was written under, and the store keeps the
specs it has seen. ``apply`` on a ticket written under another version raises
:class:`~escalation_fsm.errors.SpecMismatch`, or moves it on the way along a migration registered
with the machine (both records in one commit); :meth:`StoreBase.migrate` moves them all, with a
dry run first (:mod:`._versions`, ``docs/versions.md``).

A ticket is its history (``docs/integrity.md``): ``create`` refuses a ticket the machine's
:meth:`~escalation_fsm.EscalationMachine.verify` finds fault with; every stored row carries a hash
chained to the one before, checked on every read and by :meth:`StoreBase.verify`; an ``apply``
with an ``idempotency_key`` is applied at most once however often it is retried, and one with
``expected_version`` only to the version its caller read. Listings skip a row that does not
decode and report it (``TicketList.skipped``), so one bad row never blocks the others.
"""

from __future__ import annotations

import random
import threading
import time
from abc import abstractmethod
from collections import OrderedDict
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from ..clock import Clock
from ..errors import (
    ConcurrentUpdate,
    IdempotencyConflict,
    InconsistentTicket,
    InvalidArgument,
    StaleTicket,
    TicketNotFound,
)
from ..machine import EscalationMachine
from ..models import EARLIEST, LATEST, Actor, AuditRecord, Ticket, thaw_json
from ..results import TransitionResult
from ..sla import ClockState, clock_state, meaning_of
from ..typing import TicketStore
from ._args import MAX_LIMIT, checked_count, checked_id
from ._codec import StoredTicket, decode, decode_clocks, encode_changes, seal
from ._follow_up import FollowUps
from ._histories import HistoryReads
from ._index import SLAIndex
from ._listings import Listings
from ._types import KeyTaken, Known, StoreStats, TicketFilter, Write, index_key
from ._versions import Versions

__all__ = ["DEFAULT_MAX_ATTEMPTS", "Known", "StoreBase", "StoreStats", "TicketFilter",
           "TicketStore", "Write", "index_key"]

DEFAULT_MAX_ATTEMPTS = 10
"""Lost races tolerated by one ``apply`` before :class:`ConcurrentUpdate` reaches the caller."""

_KNOWN_TICKETS = 256
"""Tickets a store remembers, so that a save needs no read and a re-read only the newer rows."""


class StoreBase(SLAIndex, Versions, FollowUps, Listings, HistoryReads):
    """What every store shares: the apply loop with bounded retries, hooks after commit, queries.

    Subclasses provide the storage primitives (``_insert``, ``_stored``, ``_swap``, ...).
    ``machine`` is what triggers are fired through; without one, a store reads, and applies
    triggers of the default procedure under the SLA policy recorded in the store. ``clock``
    stamps the last-update time of tickets created without history (default: the machine's).
    ``readonly`` stores refuse every write with :class:`~escalation_fsm.errors.StoreReadOnly`.
    """

    def __init__(self, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, readonly: bool = False) -> None:
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number of at least 1, got {max_attempts!r}")
        self._machine = machine
        self._recorded_index = None
        self._clock = clock
        self.max_attempts = max_attempts
        self.readonly = readonly
        self.stats = StoreStats()
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._known_lock = threading.Lock()
        self._noted: set[str] = set()

    # -- the protocol -----------------------------------------------------------------------------

    def create(self, ticket: Ticket) -> Ticket:
        """Store a new ticket (with any history it already has) and return it.

        The ticket is validated again (a ``model_construct``-ed one included) and checked against
        its history under the store's spec: :class:`~escalation_fsm.errors.InconsistentTicket`
        lists every problem (a ticket at a later stage without history, a record the spec does
        not allow, ...); records written under a version of the spec the machine does not go on
        with raise :class:`~escalation_fsm.errors.SpecMismatch`. Raises
        :class:`~escalation_fsm.errors.TicketExists` if the id is taken. Nothing is written in
        any of these cases.
        """
        if self.readonly:
            self._refuse(f"create ticket {getattr(ticket, 'id', '?')!r}")
        ticket = self._admit(ticket)
        machine = self.machine
        self._note_spec(machine, machine.fingerprint)
        self._note_spec(machine, ticket.spec_fingerprint)
        clocks = clock_state(ticket, machine.sla, machine.spec)
        updated_at = ticket.history[-1].at if ticket.history else self.clock.now()
        due = self._due_of(ticket, clocks)
        sealed = seal(ticket)
        self._insert(ticket, sealed, updated_at, clocks, due)
        self._remember(Known(ticket, clocks, sealed.document, due, sealed.head, due_known=True))
        return ticket

    def _admit(self, ticket: Ticket) -> Ticket:
        """``ticket`` validated from scratch and verified against the spec (``create``)."""
        if not isinstance(ticket, Ticket):
            raise InvalidArgument(name="ticket", value=type(ticket).__name__, allowed="a Ticket")
        try:
            data = ticket.model_dump(warnings=False)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(name="ticket", value=f"<{type(ticket).__name__}>",
                                  allowed=f"a valid Ticket (this one cannot be read: {exc})") from exc
        valid = Ticket.model_validate(data)
        machine = self.machine
        if valid.spec_fingerprint is not None:
            machine.versions.check(valid)  # written under a version the machine goes on with
        problems = machine.verify(valid)
        if problems:
            raise InconsistentTicket(ticket_id=valid.id, problems=[p.message for p in problems])
        return valid

    def get(self, ticket_id: str) -> Ticket:
        """The current ticket with its full history.

        Raises :class:`~escalation_fsm.errors.TicketNotFound` for an unknown id and
        :class:`~escalation_fsm.errors.CorruptTicket` for a row that does not decode or whose
        hash chain is broken (``.seq``: the first history row that does not match).
        """
        return self._read(checked_id(ticket_id)).ticket

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor,
              idempotency_key: str | None = None, expected_version: int | None = None,
              **payload: Any) -> Ticket:
        """Fire ``trigger`` on the stored ticket as ``actor`` and save the result atomically.

        Returns the new ticket. The machine's errors (``InvalidTransition``, ``PermissionDenied``,
        ``ValidationError``, ``TransitionRefused``, ``HookFailed`` from a before-hook,
        ``SpecMismatch`` for a ticket written under another version of the spec) propagate with
        nothing written. A ticket written under a version a registered migration moves is moved
        on the way: its migration record and the trigger's are committed together. A lost race is
        retried on a fresh read, up to ``max_attempts`` times in all, then
        :class:`~escalation_fsm.errors.ConcurrentUpdate` is raised. If an after-hook fails, the
        transition stays committed and ``HookFailed(phase="after")`` carries it.

        ``idempotency_key`` (unique per ticket, stored with the record) makes the call safe to
        retry: if a record with this key is already committed, the ticket as that record left it
        is returned and nothing is applied or run again
        (:class:`~escalation_fsm.errors.IdempotencyConflict` if the key belongs to another call).
        ``expected_version`` applies the trigger only to that version of the ticket (the one the
        caller read); otherwise :class:`~escalation_fsm.errors.StaleTicket`, never retried.
        """
        trigger = str(trigger)
        if self.readonly:
            self._refuse(f"apply {trigger!r} to ticket {ticket_id!r}")
        ticket_id = checked_id(ticket_id)
        key = None if idempotency_key is None else checked_id(idempotency_key, "idempotency_key")
        if expected_version is not None:
            checked_count(expected_version, "expected_version", low=0, high=MAX_LIMIT)
        machine = self.machine
        self._note_spec(machine, machine.fingerprint)  # once per store object
        # The first attempt trusts what this store last read or wrote: the swap compares versions,
        # so a stale copy costs one lost race, and a lone writer never reads before writing.
        known = self._seen(ticket_id)
        if known is None or (expected_version is not None
                             and known.ticket.version != expected_version):
            known = self._read(ticket_id)
        for attempt in range(1, self.max_attempts + 1):
            if key is not None and (seq := self._find_key(ticket_id, key)) is not None:
                return self._replay(ticket_id, key=key, seq=seq, trigger=trigger, actor=actor,
                                    payload=payload)
            current = known.ticket
            if expected_version is not None and current.version != expected_version:
                raise StaleTicket(ticket_id=ticket_id, trigger=trigger,
                                  expected_version=expected_version, found_version=current.version)
            result, write = self._prepared(machine, known, trigger, actor, payload, key)
            new = result.ticket
            try:
                swapped = self._swap(current, new, write)
            except KeyTaken:
                # Another call with this key committed since the lookup above: answer as it did.
                if (seq := self._find_key(ticket_id, key or "")) is None:  # pragma: no cover
                    raise ConcurrentUpdate(ticket_id=ticket_id, trigger=trigger,
                                           expected_version=current.version) from None
                return self._replay(ticket_id, key=key or "", seq=seq, trigger=trigger,
                                    actor=actor, payload=payload)
            if swapped:
                self.stats.commits += 1
                self._remember(Known(new, write.clocks, known.document, write.due, write.hash,
                                     due_known=True))
                machine.run_after_hooks(result)
                return new
            self.stats.conflicts += 1
            if expected_version is not None:
                found = self._read(ticket_id).ticket.version
                raise StaleTicket(ticket_id=ticket_id, trigger=trigger,
                                  expected_version=expected_version, found_version=found)
            if attempt < self.max_attempts:
                if attempt > 1:
                    # Jittered, growing pause so that the writers that collided do not collide again.
                    time.sleep(random.uniform(0, 0.001 * attempt))  # noqa: S311 (jitter, not crypto)
                known = self._read(ticket_id)
        self.stats.gave_up += 1
        raise ConcurrentUpdate(ticket_id=ticket_id, trigger=trigger,
                               expected_version=known.ticket.version, attempts=self.max_attempts)

    def _prepared(self, machine: EscalationMachine, known: Known, trigger: str,  # noqa: PLR0917
                  actor: Actor, payload: dict[str, Any],
                  key: str | None) -> tuple[TransitionResult, Write]:
        """The transition of ``known``'s ticket and what saving it writes (nothing written yet)."""
        current = known.ticket
        start = current
        if current.history and current.history[-1].spec_fingerprint not in machine.versions.accepted:
            start = self._onto_spec(current)  # migrated on the way, or SpecMismatch
        result = machine.transition(start, trigger, actor=actor, **payload)
        new = result.ticket
        records = new.history[current.version:]
        after, sla, meaning = known.clocks, machine.sla, meaning_of(machine.spec)
        for record in records:
            after = after.after(_in_range(record), sla, meaning)
        due = self._due_of(new, after)
        old_due = known.due if known.due_known else self._due_of(current, known.clocks)
        write = Write(records, changes=encode_changes(current, new), key=key,
                      previous=known.head or "", clocks=after, due=due, due_moved=due != old_due)
        self._index_step(write, current, new, known.clocks)  # the ladder (docs/following-up.md)
        return result, write

    def _replay(self, ticket_id: str, *, key: str, seq: int, trigger: str, actor: Actor,
                payload: dict[str, Any]) -> Ticket:
        """The ticket as the call that used ``key`` (record ``seq``) left it, if it was this call."""
        stored = self._stored(ticket_id, 0)
        if stored is None:
            raise TicketNotFound(ticket_id)
        ticket = decode(stored, upto=seq)[0]
        record = ticket.history[-1]
        reason = self._other_call(record, trigger, actor, payload)
        if reason:
            raise IdempotencyConflict(ticket_id=ticket_id, key=key, seq=seq, reason=reason)
        self.stats.replayed += 1
        return ticket

    def _other_call(self, record: AuditRecord, trigger: str, actor: Actor,
                    payload: dict[str, Any]) -> str:
        """How the call that wrote ``record`` differs from this one ("" if it does not)."""
        if record.trigger != trigger:
            return f"which fired {record.trigger!r}, not {trigger!r}"
        if (record.actor_id, record.actor_role) != (actor.id, actor.role):
            return (f"fired by {record.actor_id!r} ({record.actor_role}), not by {actor.id!r} "
                    f"({actor.role})")
        spec = self.machine.spec
        try:
            given = (spec.trigger(trigger).payload.model_validate(payload).model_dump(mode="json")
                     if spec.has_trigger(trigger) else payload)
        except ValueError as exc:
            return f"whose payload this call's does not match ({type(exc).__name__})"
        if given != thaw_json(record.payload):
            return "with another payload"
        return ""

    def head(self, ticket_id: str) -> str:
        """The hash the ticket's chain ends with (its newest history row's, or its document's).

        The chain proves every row up to it; to prove that no newest rows were removed (with the
        ticket row rewound to match), keep heads somewhere the database's writers cannot reach,
        and compare them later.
        """
        return self._read(checked_id(ticket_id)).head or ""

    def history(self, ticket_id: str) -> tuple[AuditRecord, ...]:
        """The ticket's audit records, oldest first (``TicketNotFound`` for an unknown id)."""
        return self.get(ticket_id).history

    def clocks(self, ticket_id: str) -> ClockState:
        """The ticket's folded SLA clock state, as stored (ask it for deadlines at any time)."""
        return self._read(checked_id(ticket_id)).clocks

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources; it may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- reading, and what this store has already read -------------------------------------------

    def _read(self, ticket_id: str) -> Known:
        """Read one ticket, its clocks and chain consistently, reading only rows not yet seen.

        History rows are append-only (the SQL stores enforce it with triggers, the chain proves
        it), so the history of a remembered ticket is a prefix of the stored one.
        """
        seen = self._seen(ticket_id)
        stored = self._stored(ticket_id, 0 if seen is None else seen.ticket.version)
        if stored is not None and seen is not None and (
                stored.version < seen.ticket.version or stored.document != seen.document):
            # Older than what this store saw (a restored backup, say), or its document changed
            # under us: read it all again and let decoding judge.
            seen, stored = None, self._stored(ticket_id, 0)
        if stored is None:
            raise TicketNotFound(ticket_id)
        if seen is not None and stored.version == seen.ticket.version and not stored.rows \
                and (stored.stage, stored.category, stored.tier) == (
                    seen.ticket.stage, seen.ticket.category, seen.ticket.tier):
            return seen  # unchanged since this store last read or wrote it
        ticket, head = decode(stored, None if seen is None else seen.ticket,
                              None if seen is None else seen.head)
        # No clock state: written by a migration not yet re-indexed; derive it, never trust none.
        clocks = (self._fold(ticket)[0] if stored.clocks is None
                  else decode_clocks(ticket.id, stored.clocks))
        # The indexed deadline is not derived here: reading needs no machine (apply derives it).
        known = Known(ticket, clocks, stored.document, None, head)
        self._remember(known)
        return known

    def _seen(self, ticket_id: str) -> Known | None:
        """The newest version of the ticket this store read or wrote, with its clocks and chain."""
        with self._known_lock:
            return self._known.get(ticket_id)

    def _remember(self, known: Known) -> None:
        """Remember a ticket as read or written, for next time (least recently used go first)."""
        with self._known_lock:
            self._known[known.ticket.id] = known
            self._known.move_to_end(known.ticket.id)
            if len(self._known) > _KNOWN_TICKETS:
                self._known.popitem(last=False)

    # -- storage primitives -------------------------------------------------------------------------

    @abstractmethod
    def _insert(self, ticket: Ticket, sealed: Any, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        """Write a new ticket row, its document and all its history rows in one transaction."""

    @abstractmethod
    def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        """One ticket's row, document and history rows with ``seq > after`` (one snapshot)."""

    @abstractmethod
    def _find_key(self, ticket_id: str, key: str) -> int | None:
        """The ``seq`` of the ticket's history row with idempotency key ``key``, if any."""

    @abstractmethod
    def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        """Compare-and-swap ``new`` for ``current`` (by version) and append ``write``'s rows.

        One transaction; ``False``, with nothing written, if another writer changed the version
        (or, after a lost connection, the write is known not to have landed); raises
        :class:`KeyTaken` if ``write.key`` is already used. Sets only the row's columns that
        changed (``write.due_moved``: the indexed deadline did), so unchanged index entries stay.
        """


def _in_range(record: AuditRecord) -> AuditRecord:
    """``record``, if its time can be stored and read back (a host clock may say anything)."""
    if not EARLIEST <= record.at < LATEST:
        raise ValueError(f"the machine's clock returned {record.at.isoformat()}, outside the "
                         f"times a ticket may hold ({EARLIEST:%Y} to {LATEST:%Y})")
    return record
