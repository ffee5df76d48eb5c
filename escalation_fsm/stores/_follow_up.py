"""Follow-up work on a store: claim due ladder steps under a lease, act on each exactly once.

:meth:`FollowUps.claim_due` leases the tickets whose next ladder step is due (the indexed
``next_step_at``) to one worker for ``lease``; another worker skips them until the lease
expires (a worker that died loses its claims that way). :meth:`FollowUps.act_on` acts on one
claimed step and records it in one transaction with the compare-and-swap on the ticket: the
ticket must still be at the claimed version and the lease still this worker's, or nothing is
written. The record is a history record with the reserved trigger
:data:`~escalation_fsm.models.FOLLOW_UP_TRIGGER` whose idempotency key names the step and run,
so the database itself refuses a second record of one step.

In-database actions (escalate, raise urgency) are exactly once. A host action (notify,
callback) runs before the commit, while the lease is held, after a fresh check of the version:
if the commit then fails (the lease expired meanwhile, or the ticket changed in the
milliseconds between), the step is judged again later, so a host action is at least once and
gets a stable :attr:`~escalation_fsm.sla.DueStep.key` to recognise a repeat.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from ..errors import (
    HookFailed,
    InvalidArgument,
    InvalidTransition,
    PermissionDenied,
    SpecMismatch,
    TransitionRefused,
)
from ..models import FOLLOW_UP_TRIGGER, Actor, AuditRecord, FrozenDict, Role, Ticket, freeze_json
from ..sla import ClockState, DueStep, StepAction, escalating_transitions, meaning_of, pending_steps
from ..sla.ladder_rules import raised
from ..sla.steps import next_step_at
from ._args import checked_id
from ._codec import encode_changes
from ._types import KeyTaken, Known, Write

if TYPE_CHECKING:
    from ..machine import EscalationMachine, TransitionResult

__all__ = ["MAX_CLAIMS", "MAX_LEASE", "SYSTEM_ACTOR", "Claim", "FollowUps", "Perform", "StepOutcome"]

SYSTEM_ACTOR = Actor(id="system", role=Role.SYSTEM)
"""Who follow-up workers act as: escalations they fire and the records they write."""

Perform = Callable[[Ticket, DueStep], None]
"""A host action for a notify or callback step: given the ticket and the step; raising fails it."""

_HOST_ACTIONS = frozenset({StepAction.NOTIFY, StepAction.CALLBACK})

MAX_CLAIMS = 10_000
MAX_LEASE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Claim:
    """A due ladder step leased to one worker until ``lease_until`` (the database's time).

    ``ticket`` is the ticket as claimed (``version``); acting on it needs the ticket still at
    that version and the lease still ``worker_id``'s.
    """

    ticket_id: str
    version: int
    worker_id: str
    lease_until: datetime
    step: DueStep
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What acting on a claim did.

    ``outcome``: ``done`` (acted and recorded), ``refused`` (an escalation the guards, roles or
    payload refused: recorded, never retried), ``skipped`` (nothing to do, e.g. no escalating
    trigger from the ticket's stage, or the urgency already at the top: recorded),
    ``failed`` (the host action raised: recorded with the error), ``stale`` (the ticket changed
    since the claim, or the step is no longer pending: nothing done or recorded), ``lost`` (the
    lease was no longer this worker's at commit: nothing recorded). ``ticket`` is the ticket as
    recorded (``None`` when nothing was).
    """

    claim: Claim
    outcome: str
    detail: str = ""
    ticket: Ticket | None = None
    records: tuple[AuditRecord, ...] = field(default=())

    @property
    def recorded(self) -> bool:
        """Whether a follow-up record was committed."""
        return self.ticket is not None


class FollowUps:
    """The follow-up half of :class:`~escalation_fsm.stores.StoreBase` (see the module)."""

    readonly: bool

    @property
    @abstractmethod
    def machine(self) -> EscalationMachine:
        """The machine escalations are fired through."""

    @abstractmethod
    def _read(self, ticket_id: str) -> Known: ...

    @abstractmethod
    def _remember(self, known: Known) -> None: ...

    @abstractmethod
    def _seen(self, ticket_id: str) -> Known | None: ...

    @abstractmethod
    def _due_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None: ...

    @abstractmethod
    def _refuse(self, what: str) -> NoReturn: ...

    # -- what stores index ------------------------------------------------------------------------

    def _step_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None:
        """The ticket's next ladder step's instant (indexed as ``next_step_at``)."""
        policy = self.machine.sla
        return next_step_at(clocks, policy, ticket.priority) if policy.ladder else None

    def _index_step(self, write: Write, current: Ticket, new: Ticket, clocks: ClockState) -> None:
        """Set ``write``'s next ladder step (an ``apply`` from ``current`` to ``new``)."""
        if self.machine.sla.ladder:
            write.step = self._step_of(new, write.clocks)
            write.step_moved = write.step != self._step_of(current, clocks)

    # -- the public calls -------------------------------------------------------------------------

    def steps(self, ticket_id: str) -> list[DueStep]:
        """The ticket's ladder steps not yet acted on, soonest first (read-only)."""
        known = self._read(checked_id(ticket_id))
        return pending_steps(known.clocks, self.machine.sla, known.ticket.priority)

    def claim_due(self, worker_id: str, *, by: datetime | None = None, limit: int = 10,
                  lease: timedelta = timedelta(seconds=60)) -> list[Claim]:
        """Lease up to ``limit`` tickets whose next ladder step is due by ``by`` to ``worker_id``.

        ``by`` defaults to the machine's clock; ``lease`` is how long the claims are this
        worker's (the database's clock measures it). One claim per ticket: its earliest due
        step. Tickets leased to another worker are skipped until their lease expires. Returns
        the claims, soonest first; act on each with :meth:`act_on` (or :meth:`release` them).
        """
        if self.readonly:
            self._refuse("claim follow-up steps")
        worker_id = checked_id(worker_id, "worker_id")
        when = self.machine.clock.now() if by is None else by
        if when.tzinfo is None:
            raise InvalidArgument(name="by", value=repr(when), allowed="a timezone-aware datetime")
        if type(limit) is not int or not 1 <= limit <= MAX_CLAIMS:
            raise InvalidArgument(name="limit", value=repr(limit),
                                  allowed=f"a whole number from 1 to {MAX_CLAIMS:,}")
        if not isinstance(lease, timedelta) or not timedelta(0) < lease <= MAX_LEASE:
            raise InvalidArgument(name="lease", value=repr(lease),
                                  allowed="a timedelta above zero and at most one day")
        claims = []
        unwanted = []
        for ticket_id, lease_until in self._claim_rows(worker_id, when, limit, lease):
            known = self._read(ticket_id)
            due = [step for step in pending_steps(known.clocks, self.machine.sla,
                                                  known.ticket.priority) if step.due_at <= when]
            if not due:  # acted on or changed since the index said so: not ours to keep
                unwanted.append(ticket_id)
                continue
            claims.append(Claim(ticket_id, known.ticket.version, worker_id, lease_until, due[0],
                                known.ticket))
        if unwanted:
            self._release_rows(worker_id, unwanted)
        claims.sort(key=lambda c: (c.step.due_at, c.ticket_id))
        return claims

    def release(self, claims: list[Claim]) -> int:
        """Give claims back before their lease ends (a worker shutting down); how many were ours."""
        if self.readonly:
            self._refuse("release follow-up claims")
        released = 0
        for worker_id in sorted({c.worker_id for c in claims}):
            released += self._release_rows(worker_id, [c.ticket_id for c in claims
                                                       if c.worker_id == worker_id])
        return released

    def act_on(self, claim: Claim, *, perform: Perform | None = None) -> StepOutcome:
        """Act on ``claim``'s step and record it, atomically with the compare-and-swap.

        Notify and callback steps call ``perform`` (the host's action) first; escalate steps fire
        the spec's escalating trigger from the ticket's stage through the machine as actor
        ``system`` (guards, roles and payload apply; a refusal is recorded, never retried);
        raise-urgency steps raise the priority one level. See :class:`StepOutcome`.
        """
        if self.readonly:
            self._refuse(f"act on follow-up step {claim.step.key!r}")
        # A host action is judged on a fresh read (it cannot be undone); an action in the
        # database may use the ticket as claimed: the compare-and-swap refuses a changed one.
        known = (None if claim.step.step.action in _HOST_ACTIONS
                 else self._seen(claim.ticket_id))
        if known is None or known.ticket.version != claim.version:
            known = self._read(claim.ticket_id)
        ticket = known.ticket
        if ticket.version != claim.version or claim.step.key not in {
                s.key for s in pending_steps(known.clocks, self.machine.sla, ticket.priority)}:
            self._release_rows(claim.worker_id, [claim.ticket_id])
            return StepOutcome(claim, "stale", f"ticket {ticket.id} is at version "
                                               f"{ticket.version} (claimed {claim.version})")
        outcome, detail, extra, result = self._perform(claim, ticket, perform)
        return self._record(claim, known, outcome=outcome, detail=detail, extra=extra,
                            result=result)

    # -- acting -----------------------------------------------------------------------------------

    def _perform(self, claim: Claim, ticket: Ticket, perform: Perform | None,
                 ) -> tuple[str, str, dict[str, Any], TransitionResult | None]:
        step = claim.step
        action = step.step.action
        extra: dict[str, Any] = {}
        if action in (StepAction.NOTIFY, StepAction.CALLBACK):
            if step.step.role is not None:
                extra["role"] = step.step.role
            if step.step.callback is not None:
                extra["callback"] = step.step.callback
            if perform is not None:
                try:
                    perform(ticket, step)
                except Exception as exc:  # noqa: BLE001 (a host action's failure is recorded)
                    return "failed", f"{type(exc).__name__}: {exc}", extra, None
            return "done", "", extra, None
        if action is StepAction.RAISE_URGENCY:
            up = raised(ticket.priority)
            if up is None:
                return "skipped", f"the urgency is already {ticket.priority.value}", extra, None
            return "done", "", {"from": ticket.priority.value, "to": up.value}, None
        return self._escalate(claim, ticket)

    def _escalate(self, claim: Claim, ticket: Ticket,
                  ) -> tuple[str, str, dict[str, Any], TransitionResult | None]:
        step = claim.step
        extra: dict[str, Any] = {}
        found = escalating_transitions(self.machine.spec, ticket.stage)
        if not found:
            return "skipped", f"no trigger marked escalate from stage {ticket.stage!r}", extra, None
        trigger = found[0].trigger
        extra["trigger"] = trigger
        try:
            result = self.machine.transition(ticket, trigger, actor=SYSTEM_ACTOR,
                                             **step.step.payload)
        except TransitionRefused as exc:
            return "refused", "; ".join(exc.reasons), extra, None
        except (InvalidTransition, PermissionDenied, HookFailed, SpecMismatch) as exc:
            return "refused", str(exc), extra, None
        except ValidationError as exc:
            return "refused", f"the step's payload: {exc.error_count()} problem(s): " + "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), extra, None
        return "done", "", extra, result

    def _record(self, claim: Claim, known: Known, *, outcome: str, detail: str,
                extra: dict[str, Any], result: TransitionResult | None) -> StepOutcome:
        machine = self.machine
        step = claim.step
        ticket = known.ticket
        base = ticket if result is None else result.ticket
        payload = {"clock": step.clock.value, "run": step.run_started_at.isoformat(),
                   "step": step.name, "action": step.step.action.value,
                   "due_at": step.due_at.isoformat(), "outcome": outcome, "worker": claim.worker_id,
                   **extra}
        if detail:
            payload["detail"] = detail[:2000]
        # Not a transition of the spec: the record keeps the spec the ticket is under.
        fingerprint = base.spec_fingerprint if base.history else machine.fingerprint
        record = AuditRecord(seq=base.version + 1, at=machine.clock.now(),
                             actor_id=SYSTEM_ACTOR.id, actor_role=SYSTEM_ACTOR.role,
                             trigger=FOLLOW_UP_TRIGGER, source=base.stage, dest=base.stage,
                             payload=FrozenDict(freeze_json(payload)),
                             spec_fingerprint=fingerprint)
        updates: dict[str, Any] = {"history": (*base.history, record), "version": record.seq}
        if "to" in extra and outcome == "done":
            updates["priority"] = extra["to"]
        new = Ticket.model_validate({**base.model_dump(), **updates})
        steps: list[tuple[Ticket, Ticket, AuditRecord, str | None]] = (
            [] if result is None else [(ticket, result.ticket, result.record, None)])
        steps.append((base, new, record, step.key))
        meaning = meaning_of(machine.spec)
        clocks, previous, writes = known.clocks, known.head or "", []
        old_due = self._due_of(ticket, known.clocks)
        for before, after, rec, key in steps:
            clocks = clocks.after(rec, machine.sla, meaning)
            due = self._due_of(after, clocks)
            write = Write((rec,), changes=encode_changes(before, after), key=key,
                          previous=previous, clocks=clocks, due=due, due_moved=due != old_due)
            writes.append(write)
            previous = write.hash
        step_at = self._step_of(new, clocks)
        try:
            swapped = self._act(claim, ticket, new, writes, step_at)
        except KeyTaken:
            return StepOutcome(claim, "stale", f"step {step.key!r} was already recorded")
        if not swapped:
            self._release_rows(claim.worker_id, [claim.ticket_id])  # if still ours: not blocked
            return StepOutcome(claim, "lost", "the lease was no longer this worker's, or the "
                                              "ticket changed, at commit: nothing recorded")
        self._remember(Known(new, clocks, known.document, writes[-1].due, writes[-1].hash,
                             due_known=True))
        records = tuple(w.record for w in writes)
        if result is not None:
            try:
                machine.run_after_hooks(result)
            except HookFailed as exc:
                detail = f"{detail}; after-hooks failed (committed): {exc}".lstrip("; ")
        return StepOutcome(claim, outcome, detail, new, records)

    # -- storage primitives -----------------------------------------------------------------------

    @abstractmethod
    def _claim_rows(self, worker_id: str, by: datetime, limit: int,
                    lease: timedelta) -> list[tuple[str, datetime]]:
        """Lease up to ``limit`` unleased (or expired) rows with ``next_step_at <= by``.

        One transaction; returns (ticket id, lease end) soonest step first.
        """

    @abstractmethod
    def _release_rows(self, worker_id: str, ticket_ids: list[str]) -> int:
        """Clear the leases ``worker_id`` holds on ``ticket_ids``; how many it held."""

    @abstractmethod
    def _act(self, claim: Claim, current: Ticket, new: Ticket, writes: list[Write],
             step_at: datetime | None) -> bool:
        """Swap ``new`` for ``current`` if the version and ``claim``'s lease hold; append ``writes``.

        One transaction: sets the row's changed columns, clocks, deadline and ``next_step_at``,
        clears the lease. ``False`` with nothing written if the CAS or the lease check fails;
        :class:`KeyTaken` if a key is already used.
        """
