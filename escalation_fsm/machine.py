"""The escalation machine: the spec's rules enforced through the ``transitions`` engine.

The engine is fenced off in :mod:`escalation_fsm.engine` (one shared engine per spec, guards as
its condition, a throw-away model per call). Firing is two public phases:
:meth:`EscalationMachine.transition` computes the new ticket (guards, roles, payload, effect,
marks, audit record, before-hooks) and returns it with the pending after-hook event;
:meth:`EscalationMachine.run_after_hooks` runs the after- and enter-hooks.
:meth:`EscalationMachine.fire` is both. Stores commit between the two.

Observers (:mod:`escalation_fsm.observe`) cost a fire nothing while none is registered, and one
counter step while none is watching: the machine asks them again every 256th call
(:data:`QUIET_CALLS`), not at every one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .clock import Clock, SystemClock
from .engine import ENGINE_LOGGER, Run, engine_of, moves_of, new_ticket_of
from .errors import (
    HookFailed,
    InconsistentTicket,
    InvalidTransition,
    PermissionDenied,
    SpecError,
    SpecMismatch,
    TransitionRefused,
)
from .hooks import H, HookRegistry
from .integrity import IntegrityProblem, verify_ticket
from .models import Actor, Ticket, validation_reasons
from .observe import (
    ObservedCall,
    attempt_computed,
    attempt_started,
    committed,
    current_call,
    observing,
)
from .payloads import NoPayload
from .policy import EscalationPolicy, GuardContext
from .procedure import default_spec
from .results import Explanation, TransitionResult
from .sla import Deadline, SLAPolicy, default_sla_policy
from .sla import deadlines as sla_deadlines
from .spec import MachineSpec, evaluate_guards
from .typing import Observer
from .versions import SpecVersions

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .migration import Migration

__all__ = ["EscalationMachine", "Explanation", "TransitionResult"]  # the last two: from .results

QUIET_CALLS = 255
"""While no observer watches, the calls (fires, store applies) that pass before they are asked again."""

# The engine's pieces under the names they had here (white-box tests and benchmarks use them).
_ENGINE_LOGGER, _engine, _moves = ENGINE_LOGGER, engine_of, moves_of


class EscalationMachine:
    """Fires triggers on tickets according to a :class:`MachineSpec`.

    Without a spec it enforces the default procedure. Tickets are values: every method leaves the
    ticket passed in unchanged.

    ``policy`` decides whether an assessment warrants escalation; ``clock`` stamps the history;
    ``sla`` sets the deadlines (:mod:`escalation_fsm.sla`; default: ``default_sla_policy()``).
    Every record it writes carries its spec's :attr:`fingerprint`; a ticket written under another
    version raises :class:`~escalation_fsm.errors.SpecMismatch` unless the spec continues it
    (``compatible_with``); ``migrations`` move such tickets when a store meets them
    (``docs/versions.md``).
    """

    def __init__(
        self,
        spec: MachineSpec | None = None,
        *,
        policy: EscalationPolicy | None = None,
        clock: Clock | None = None,
        sla: SLAPolicy | None = None,
        migrations: Iterable[Migration] = (),
    ) -> None:
        self.spec = default_spec() if spec is None else spec
        if sla is not None and (problems := sla.problems(self.spec)):
            raise SpecError(problems)
        self.sla = default_sla_policy() if sla is None else sla
        self.policy = EscalationPolicy() if policy is None else policy
        self.clock: Clock = SystemClock() if clock is None else clock
        self.hooks = HookRegistry()
        self.observers: list[Observer] = []
        """What watches every ``fire`` and store ``apply`` (:meth:`observe`)."""
        self._quiet = 0  # calls left before observers that were not watching are asked again
        self._moves = _moves(self.spec)
        # fire() skips the keyword-argument layer of transition() unless a subclass overrides it.
        self._plain = type(self).transition is EscalationMachine.transition
        self._events = _engine(self.spec).events
        self._initial = self.spec.initial
        self.versions = SpecVersions(self.spec)
        """The other versions of the spec this machine knows, and the tickets it goes on with."""
        self.fingerprint: str = self.versions.fingerprint
        """The fingerprint of the machine's spec, stamped on every record it writes."""
        self._accepted = self.versions.accepted
        for migration in migrations:
            self.versions.register(migration)

    # -- hooks ----------------------------------------------------------------------------------

    def before(self, trigger: str | None = None) -> Callable[[H], H]:
        """Decorator: run before ``trigger`` commits (``None``: every trigger); raising vetoes."""
        return self.hooks.decorator("before", trigger, self.spec.trigger_names)

    def after(self, trigger: str | None = None) -> Callable[[H], H]:
        """Decorator: run after ``trigger`` committed (``None``: every trigger)."""
        return self.hooks.decorator("after", trigger, self.spec.trigger_names)

    def on_enter(self, stage: str | None = None) -> Callable[[H], H]:
        """Decorator: run after a transition into ``stage`` committed (``None``: any stage)."""
        return self.hooks.decorator("enter", stage, self.spec.stage_names)

    def observe(self, observer: Observer) -> Observer:
        """Watch every ``fire`` of this machine and ``apply`` of a store using it (returns it).

        See :mod:`escalation_fsm.observe`; :class:`escalation_fsm.otel.Telemetry` is one.
        """
        if not callable(getattr(observer, "observe", None)) or not hasattr(observer, "watching"):
            raise TypeError(f"an observer needs an observe(call) method and a watching "
                            f"property, got {observer!r}")
        self.observers.append(observer)
        self._quiet = 0  # ask at the next call
        return observer

    def watched(self) -> bool:
        """Whether a call now is observed: whether one of :attr:`observers` is ``watching``.

        While one watches, they are asked at every call. When none does, the next
        ``QUIET_CALLS`` (255) calls answer ``False`` without asking (an observer that starts
        watching is seen within 256 calls; :meth:`observe` asks at the next call), so that an
        observer left idle, such as :class:`~escalation_fsm.otel.Telemetry` with no provider
        configured, costs a call one counter step.
        """
        if self._quiet > 0:
            self._quiet -= 1
            return False
        for observer in self.observers:
            if observer.watching:
                return True
        self._quiet = QUIET_CALLS
        return False

    # -- queries --------------------------------------------------------------------------------

    def new_ticket(self, **fields: Any) -> Ticket:
        """A new ticket in this spec's initial stage (fields as for :class:`Ticket`)."""
        return Ticket(**{"stage": self.spec.initial, **fields})

    def allowed(self, ticket: Ticket, actor: Actor | None = None) -> set[str]:
        """The triggers that would succeed now, given a valid payload.

        Roles are checked when ``actor`` is given; guards that look at the payload are skipped.
        None for a ticket whose stage does not follow from its history.
        """
        history = ticket.history
        if (history[-1].dest if history else self._initial) != ticket.stage:
            return set()  # fire would refuse the ticket itself (see verify)
        if history and history[-1].spec_fingerprint not in self._accepted:
            try:
                self.versions.check(ticket)
            except SpecMismatch:
                return set()  # written under another version of the procedure
        now = self.clock.now()
        moves = (self._moves[t.key] for t in self.spec.transitions_from(ticket.stage))
        return {
            move.trigger for move in moves
            if (actor is None or actor.role in move.roles)
            and evaluate_guards(move.guards, GuardContext(
                ticket=ticket, actor=actor or _ANYONE, payload=_NO_PAYLOAD, policy=self.policy,
                now=now, trigger=move.trigger), include_payload=False).ok
        }

    def explain(self, ticket: Ticket, trigger: str, *, actor: Actor, **payload: Any) -> Explanation:
        """Dry run of :meth:`fire`.

        Roles, payload and guards are evaluated; hooks are not run, nothing is raised and nothing
        changes.
        """
        trigger = str(trigger)
        try:
            ctx = self._prepare(ticket, trigger, actor, payload)
            verdict = evaluate_guards(ctx.move.guards, ctx)
        except InconsistentTicket as exc:
            return Explanation(trigger, ticket.stage, False, None, exc.problems, type(exc).__name__)
        except (InvalidTransition, PermissionDenied, SpecMismatch) as exc:
            return Explanation(trigger, ticket.stage, False, None, (str(exc),), type(exc).__name__)
        except ValidationError as exc:
            return Explanation(trigger, ticket.stage, False, None, validation_reasons(exc),
                               "ValidationError")
        except RecursionError:
            return Explanation(trigger, ticket.stage, False, None, (
                "the payload is nested too deeply to be read",), "ValidationError")
        if verdict.failed:
            return Explanation(trigger, ticket.stage, False, ctx.move.target, verdict.reasons,
                               "TransitionRefused", verdict.failed)
        passed = tuple(r for d in verdict.decisions.values() for r in d.reasons)
        return Explanation(trigger, ticket.stage, True, ctx.move.target, passed)

    def deadlines(self, ticket: Ticket, *, now: datetime | None = None) -> tuple[Deadline, ...]:
        """The ticket's SLA clocks as of ``now`` (default: the machine's clock), from its history.

        See :func:`escalation_fsm.sla.deadlines`.
        """
        return sla_deadlines(ticket, self.sla, self.spec,
                             now=self.clock.now() if now is None else now)

    def verify(self, ticket: Ticket) -> tuple[IntegrityProblem, ...]:
        """Every inconsistency between ``ticket`` and its history under this machine's spec.

        Empty when the ticket is what its audit records say: they chain from the initial stage,
        fire triggers the spec defines from those stages with roles it allows, and lead to the
        ticket's stage, version and tier. See :func:`escalation_fsm.integrity.verify_ticket`.
        """
        return verify_ticket(ticket, self.spec)

    # -- firing ---------------------------------------------------------------------------------

    def fire(self, ticket: Ticket, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        """Fire ``trigger`` on ``ticket`` as ``actor`` and return the new ticket.

        :meth:`transition` then :meth:`run_after_hooks`. Raises :class:`InvalidTransition` (not
        defined from this stage), :class:`PermissionDenied` (role), pydantic ``ValidationError``
        (payload shape), :class:`TransitionRefused` (guards, all reasons listed) or
        :class:`HookFailed` (see :mod:`escalation_fsm.hooks`). In every case but an after-hook
        failure nothing changed. A malformed custom spec (an effect that returns invalid fields)
        raises :class:`SpecError`; a clock returning naive datetimes raises ``ValueError``; an
        exception raised by a host guard or effect propagates as is.
        """
        if self.observers:  # usually none; watched()'s quiet counter inlined: fire's hot path
            if self._quiet > 0:
                self._quiet -= 1
            elif self.watched():
                return self._observed_fire(ticket, trigger, actor, payload)
        result = (self._transition(ticket, trigger, actor, payload) if self._plain
                  else self.transition(ticket, trigger, actor=actor, **payload))
        if result.event is not None:
            self.run_after_hooks(result)
        return result.ticket

    def transition(self, ticket: Ticket, trigger: str, *, actor: Actor,
                   **payload: Any) -> TransitionResult:
        """Compute the transition without running its after-hooks: phase one of :meth:`fire`.

        Checks the trigger, role, payload and guards, applies the effect and the marks, builds
        the audit record and runs the before-hooks (which may veto). Returns the new ticket with
        the pending after/enter-hook event; nothing is committed anywhere. Raises what
        :meth:`fire` raises, except after-hook failures. Stores call this, commit, then
        :meth:`run_after_hooks`; a subclass overriding it changes what stores and :meth:`fire`
        do too.
        """
        call = current_call() if self.observers else None
        if call is not None and call.machine is self:  # inside one of this machine's observed calls
            attempt_started(call, ticket.stage)
            result = self._transition(ticket, trigger, actor, payload)
            attempt_computed(call, result)
            return result
        return self._transition(ticket, trigger, actor, payload)

    def _observed_fire(self, ticket: Ticket, trigger: str, actor: Actor,
                       payload: dict[str, Any]) -> Ticket:
        with observing(self.observers, ObservedCall("fire", ticket.id, str(trigger), actor, self)):
            result = self.transition(ticket, trigger, actor=actor, **payload)
            self.run_after_hooks(result)
            return result.ticket

    def _transition(self, ticket: Ticket, trigger: str, actor: Actor,
                    payload: dict[str, Any]) -> TransitionResult:
        run = self._prepare(ticket, trigger, actor, payload)
        move = run.move
        if not move.event.trigger(run):
            verdict = run.verdict
            raise TransitionRefused(
                ticket_id=ticket.id, stage=ticket.stage, trigger=move.trigger,
                reasons=verdict.reasons, allowed=self.allowed(ticket, actor),
                failed_guards={name: verdict.decisions[name] for name in verdict.failed},
            )
        result = new_ticket_of(move, run, self.fingerprint, events=self.hooks.active)
        if result.event is not None:
            self.hooks.run_before(result.event)
        return result

    def run_after_hooks(self, result: TransitionResult) -> None:
        """Run the after- and enter-hooks of a committed transition: phase two of :meth:`fire`.

        Every hook runs; if any failed, :class:`HookFailed` (``phase="after"``) is raised with the
        committed ticket on ``.ticket``.
        """
        call = current_call() if self.observers else None
        if call is not None and call.machine is self:
            committed(call, result)
        if result.event is None:
            return
        failures = self.hooks.run_after(result.event)
        if failures:
            raise HookFailed(phase="after", trigger=result.event.trigger, ticket=result.ticket,
                             failures=failures) from failures[0][1]

    async def run_after_hooks_async(self, result: TransitionResult) -> None:
        """:meth:`run_after_hooks` for async callers: ``async def`` hooks are awaited, in order.

        What the async stores call after their commit; the rules are those of the sync phase.
        """
        call = current_call() if self.observers else None
        if call is not None and call.machine is self:
            committed(call, result)
        if result.event is None:
            return
        failures = await self.hooks.run_after_async(result.event)
        if failures:
            raise HookFailed(phase="after", trigger=result.event.trigger, ticket=result.ticket,
                             failures=failures) from failures[0][1]

    # -- internals shared by fire, explain and allowed ------------------------------------------

    def _prepare(self, ticket: Ticket, trigger: str, actor: Actor,
                 payload: dict[str, Any]) -> Run:
        stage = ticket.stage
        history = ticket.history
        # A ticket is its history: O(1) here, the whole replay in verify() and stores' create().
        if (history[-1].dest if history else self._initial) != stage:
            raise self._inconsistent(ticket)
        if history and history[-1].spec_fingerprint not in self._accepted:
            self.versions.check(ticket)  # written under another version: go on only if it fits
        move = self._moves.get((stage, trigger))
        if move is None:
            trigger = str(trigger)
            raise InvalidTransition(
                ticket_id=ticket.id, stage=ticket.stage, trigger=trigger,
                defined=(t.trigger for t in self.spec.transitions_from(ticket.stage)),
                known=self.spec.has_trigger(trigger),
            )
        if actor.role not in move.roles:
            raise PermissionDenied(
                ticket_id=ticket.id, stage=ticket.stage, trigger=move.trigger, actor_id=actor.id,
                role=actor.role, allowed_roles=move.roles,
            )
        model = _NO_PAYLOAD if not payload and move.payload is NoPayload else move.validate(payload)
        now = self.clock.now()
        if now.tzinfo is None:  # history timestamps must be aware; records skip re-validation
            raise ValueError(f"the machine's clock returned a naive datetime {now!r}; "
                             "a Clock must return timezone-aware datetimes")
        return Run(move, ticket, actor, model, self.policy, now)

    def _inconsistent(self, ticket: Ticket) -> InconsistentTicket:
        problems = [problem.message for problem in self.verify(ticket)]
        return InconsistentTicket(ticket_id=ticket.id, problems=problems)


_ANYONE = Actor(id="anyone", role="system")
_NO_PAYLOAD = NoPayload()
