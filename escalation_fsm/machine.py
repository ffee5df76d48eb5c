"""The escalation machine: the spec's rules enforced through the ``transitions`` engine.

This is the only module that imports ``transitions``. The engine is fenced off:

* one ``transitions.Machine`` per spec, built once and shared (no per-ticket engine objects, no
  ``add_model``); each ``fire`` hands the engine a small throw-away adapter instead of the ticket,
  because the engine would otherwise ``setattr`` trigger methods onto our pydantic models;
* ``auto_transitions=False`` (its ``to_<stage>()`` methods bypass guards) and
  ``ignore_invalid_triggers=False``;
* the engine's silent ``False`` on a failed condition becomes :class:`TransitionRefused` with
  every failing guard's sentence;
* its INFO-level logging of every callback is quietened (it slowed triggers ~3x under a host
  logging at INFO), unless the host configured that logger itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from pydantic import ValidationError
from transitions import EventData, Machine, State

from .clock import Clock, SystemClock
from .effects import SHIPPED_EFFECTS
from .errors import HookFailed, InvalidTransition, PermissionDenied, SpecError, TransitionRefused
from .hooks import H, HookRegistry, TransitionEvent
from .models import Actor, AuditRecord, Ticket, evolve, freeze_json, trusted, validate_fields
from .payloads import NoPayload, Payload
from .policy import Decision, EscalationPolicy, GuardContext
from .procedure import default_spec
from .sla import Deadline, SLAPolicy, default_sla_policy
from .sla import deadlines as sla_deadlines
from .spec import Effect, GuardSpec, MachineSpec

__all__ = ["EscalationMachine", "Explanation"]

_ENGINE_LOGGER = logging.getLogger("transitions.core")
if _ENGINE_LOGGER.level == logging.NOTSET:
    # Only when the host has not chosen a level for this logger itself.
    _ENGINE_LOGGER.setLevel(logging.WARNING)

_RESERVED = frozenset({"stage", "history", "version", "id"})
_TICKET_FIELDS = frozenset(Ticket.model_fields)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The outcome of a dry run: would this trigger succeed now, and every reason if not.

    ``error`` names the exception ``fire`` would raise (``None`` when ``ok``).
    """

    trigger: str
    stage: str
    ok: bool
    dest: str | None
    reasons: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Move:
    """One transition of the spec, pre-resolved for the hot path (plain attributes, no lookups)."""

    trigger: str
    source: str
    target: str
    roles: frozenset[str]
    payload: type[Payload]
    guards: tuple[GuardSpec, ...]
    effect: Effect | None
    check_effect: bool
    """Validate what the effect returns: true for host effects, false for the shipped ones."""


@lru_cache(maxsize=32)
def _moves(spec: MachineSpec) -> dict[tuple[str, str], _Move]:
    moves = {}
    for t in spec.transitions:
        effect = spec.trigger(t.trigger).effect
        moves[t.key] = _Move(trigger=t.trigger, source=t.source, target=t.target, roles=t.roles,
                             payload=spec.trigger(t.trigger).payload,
                             guards=tuple(spec.guard(g) for g in t.guards), effect=effect,
                             check_effect=effect is not None and effect not in SHIPPED_EFFECTS)
    return moves


class _Run:
    """The engine's model for one ``fire``: holds the state the engine reads and writes.

    A fresh one per call keeps the shared engine free of per-ticket state.
    """

    __slots__ = ("ctx", "dest_ticket", "event", "machine", "move", "reasons", "state")

    def __init__(self, machine: EscalationMachine, move: _Move, ctx: GuardContext) -> None:
        self.state = move.source
        self.machine = machine
        self.move = move
        self.ctx = ctx
        self.reasons: tuple[str, ...] = ()
        self.dest_ticket: Ticket | None = None
        self.event: TransitionEvent | None = None


def _engine_condition(event: EventData) -> bool:
    run = cast("_Run", event.model)
    decisions, run.reasons = _evaluate(run.move, run.ctx, include_payload=True)
    run.ctx.decisions.update(decisions)
    return not run.reasons


def _engine_before(event: EventData) -> None:
    run = cast("_Run", event.model)
    run.dest_ticket, run.event = run.machine._commit(run.move, run.ctx)
    if run.event is not None:
        run.machine.hooks.run_before(run.event)


def _evaluate(move: _Move, ctx: GuardContext, *,
              include_payload: bool) -> tuple[dict[str, Decision], tuple[str, ...]]:
    """Every guard's decision (not just up to the first failure) and the failing reasons."""
    decisions: dict[str, Decision] = {}
    reasons: list[str] = []
    for guard in move.guards:
        if guard.uses_payload and not include_payload:
            continue
        decision = guard.check(ctx)
        decisions[guard.name] = decision
        if not decision.ok:
            reasons.extend(decision.reasons or (f"requirement not met: {guard.requirement}",))
    return decisions, tuple(reasons)


@lru_cache(maxsize=32)
def _engine(spec: MachineSpec) -> Machine:
    return Machine(
        model=None,
        states=[State(name) for name in spec.stage_names],
        initial=spec.initial,
        transitions=[
            {
                "trigger": t.trigger,
                "source": t.source,
                "dest": t.dest,
                "conditions": [_engine_condition],
                "before": [_engine_before],
            }
            for t in spec.transitions
        ],
        auto_transitions=False,
        ignore_invalid_triggers=False,
        send_event=True,
        name=f"{spec.name}: ",
    )


class EscalationMachine:
    """Fires triggers on tickets according to a :class:`MachineSpec`.

    Without a spec it enforces the default procedure. Tickets are values: every method leaves the
    ticket passed in unchanged.

    ``policy`` decides whether an assessment warrants escalation; ``clock`` stamps the history;
    ``sla`` sets the deadlines (:mod:`escalation_fsm.sla`; default: ``default_sla_policy()``).
    """

    def __init__(
        self,
        spec: MachineSpec | None = None,
        *,
        policy: EscalationPolicy | None = None,
        clock: Clock | None = None,
        sla: SLAPolicy | None = None,
    ) -> None:
        self.spec = default_spec() if spec is None else spec
        if sla is not None and (problems := sla.problems(self.spec)):
            raise SpecError(problems)
        self.sla = default_sla_policy() if sla is None else sla
        self.policy = EscalationPolicy() if policy is None else policy
        self.clock: Clock = SystemClock() if clock is None else clock
        self.hooks = HookRegistry()
        self._engine = _engine(self.spec)
        self._moves = _moves(self.spec)
        self._deferred = threading.local()
        self._events = self._engine.events

    # -- hooks ----------------------------------------------------------------------------------

    def before(self, trigger: str | None = None) -> Callable[[H], H]:
        """Decorator: run before ``trigger`` commits (``None``: every trigger); raising vetoes."""
        return self.hooks.decorator("before", self._hook_key("before", trigger, self.spec.trigger_names))

    def after(self, trigger: str | None = None) -> Callable[[H], H]:
        """Decorator: run after ``trigger`` committed (``None``: every trigger)."""
        return self.hooks.decorator("after", self._hook_key("after", trigger, self.spec.trigger_names))

    def on_enter(self, stage: str | None = None) -> Callable[[H], H]:
        """Decorator: run after a transition into ``stage`` committed (``None``: any stage)."""
        return self.hooks.decorator("enter", self._hook_key("on_enter", stage, self.spec.stage_names))

    @staticmethod
    def _hook_key(kind: str, name: object, known: tuple[str, ...]) -> str | None:
        # A typo in a trigger name, or @machine.after without parentheses, would otherwise
        # register a hook that silently never runs.
        if name is None:
            return None
        if callable(name) and not isinstance(name, str):
            raise TypeError(f"@machine.{kind} takes a name: write @machine.{kind}() for every "
                            f"{'stage' if kind == 'on_enter' else 'trigger'}, or @machine.{kind}(name)")
        if str(name) not in known:
            what = "stage" if kind == "on_enter" else "trigger"
            raise ValueError(f"cannot register a {kind} hook on unknown {what} {str(name)!r}; "
                             f"the spec's {what}s are: {', '.join(known)}")
        return str(name)

    # -- queries --------------------------------------------------------------------------------

    def new_ticket(self, **fields: Any) -> Ticket:
        """A new ticket in this spec's initial stage (fields as for :class:`Ticket`)."""
        return Ticket(**{"stage": self.spec.initial, **fields})

    def allowed(self, ticket: Ticket, actor: Actor | None = None) -> set[str]:
        """The triggers that would succeed now, given a valid payload.

        Roles are checked when ``actor`` is given; guards that look at the payload are skipped.
        """
        now = self.clock.now()
        moves = (self._moves[t.key] for t in self.spec.transitions_from(ticket.stage))
        return {
            move.trigger for move in moves
            if (actor is None or actor.role in move.roles)
            and not _evaluate(move, GuardContext(ticket=ticket, actor=actor or _ANYONE,
                                                 payload=_NO_PAYLOAD, policy=self.policy, now=now,
                                                 trigger=move.trigger), include_payload=False)[1]
        }

    def explain(self, ticket: Ticket, trigger: str, *, actor: Actor, **payload: Any) -> Explanation:
        """Dry run of :meth:`fire`.

        Roles, payload and guards are evaluated; hooks are not run, nothing is raised and nothing
        changes.
        """
        trigger = str(trigger)
        try:
            move, ctx = self._prepare(ticket, trigger, actor, payload)
        except (InvalidTransition, PermissionDenied) as exc:
            return Explanation(trigger, ticket.stage, False, None, (str(exc),), type(exc).__name__)
        except ValidationError as exc:
            reasons = tuple(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
                            for e in exc.errors())
            return Explanation(trigger, ticket.stage, False, None, reasons, "ValidationError")
        decisions, reasons = _evaluate(move, ctx, include_payload=True)
        if reasons:
            return Explanation(trigger, ticket.stage, False, move.target, reasons, "TransitionRefused")
        passed = tuple(r for d in decisions.values() for r in d.reasons)
        return Explanation(trigger, ticket.stage, True, move.target, passed)

    def deadlines(self, ticket: Ticket, *, now: datetime | None = None) -> tuple[Deadline, ...]:
        """The ticket's SLA clocks as of ``now`` (default: the machine's clock), from its history.

        See :func:`escalation_fsm.sla.deadlines`.
        """
        return sla_deadlines(ticket, self.sla, now=self.clock.now() if now is None else now)

    # -- firing ---------------------------------------------------------------------------------

    def fire(self, ticket: Ticket, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        """Fire ``trigger`` on ``ticket`` as ``actor`` and return the new ticket.

        Raises :class:`InvalidTransition` (not defined from this stage), :class:`PermissionDenied`
        (role), pydantic ``ValidationError`` (payload shape), :class:`TransitionRefused` (guards,
        all reasons listed) or :class:`HookFailed` (see :mod:`escalation_fsm.hooks`). In every
        case but an after-hook failure nothing changed. A malformed custom spec (an effect that
        returns invalid fields) raises :class:`SpecError`; a clock returning naive datetimes
        raises ``ValueError``; an exception raised by a host guard or effect propagates as is.
        """
        new, event = self._fire(ticket, trigger, actor, payload)
        if event is not None:
            deferred: list[TransitionEvent] | None = getattr(self._deferred, "events", None)
            if deferred is None:
                self._run_after_hooks(event)
            else:
                deferred.append(event)
        return new

    @contextmanager
    def _after_hooks_deferred(self) -> Iterator[list[TransitionEvent]]:
        """Collect, instead of run, the after-hooks of what ``fire`` commits in this thread.

        Stores use it: they run the collected hooks only once their write has won the race.
        """
        previous = getattr(self._deferred, "events", None)
        events: list[TransitionEvent] = []
        self._deferred.events = events
        try:
            yield events
        finally:
            self._deferred.events = previous

    def _fire(self, ticket: Ticket, trigger: str, actor: Actor,
              payload: dict[str, Any]) -> tuple[Ticket, TransitionEvent | None]:
        """Everything up to the commit; the caller runs the after-hooks (stores: after saving)."""
        move, ctx = self._prepare(ticket, trigger, actor, payload)
        run = _Run(self, move, ctx)
        if not self._events[move.trigger].trigger(run):
            raise TransitionRefused(
                ticket_id=ticket.id, stage=ticket.stage, trigger=move.trigger,
                reasons=run.reasons, allowed=self.allowed(ticket, actor),
            )
        assert run.dest_ticket is not None  # set by the engine's before-callback
        return run.dest_ticket, run.event

    def _run_after_hooks(self, event: TransitionEvent) -> None:
        """Run the after- and enter-hooks of a committed transition; raise if any failed."""
        failures = self.hooks.run_after(event)
        if failures:
            raise HookFailed(phase="after", trigger=event.trigger, ticket=event.after,
                             failures=failures) from failures[0][1]

    # -- internals shared by fire, explain and allowed ------------------------------------------

    def _prepare(self, ticket: Ticket, trigger: str, actor: Actor,
                 payload: dict[str, Any]) -> tuple[_Move, GuardContext]:
        move = self._moves.get((ticket.stage, trigger))
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
        model = _NO_PAYLOAD if not payload and move.payload is NoPayload else (
            move.payload.model_validate(payload))
        now = self.clock.now()
        if now.tzinfo is None:  # history timestamps must be aware; records skip re-validation
            raise ValueError(f"the machine's clock returned a naive datetime {now!r}; "
                             "a Clock must return timezone-aware datetimes")
        ctx = GuardContext(ticket=ticket, actor=actor, payload=model, policy=self.policy, now=now,
                           trigger=move.trigger)
        return move, ctx

    def _commit(self, move: _Move, ctx: GuardContext) -> tuple[Ticket, TransitionEvent | None]:
        """Build the new ticket (effect, audit record, stage, version) without touching the old."""
        ticket = ctx.ticket
        updates = dict(move.effect(ctx)) if move.effect is not None else {}
        if updates.keys() - _TICKET_FIELDS or updates.keys() & _RESERVED:
            raise SpecError([
                f"the effect of trigger {move.trigger!r} returned fields "
                f"{sorted(updates)}; allowed: {sorted(_TICKET_FIELDS - _RESERVED)}"
            ])
        if move.check_effect:
            updates, problems = validate_fields(Ticket, updates)
            if problems:
                raise SpecError([f"the effect of trigger {move.trigger!r} returned an invalid "
                                 f"{problem}" for problem in problems])
        record = trusted(
            AuditRecord, seq=ticket.version + 1, at=ctx.now, actor_id=ctx.actor.id, actor_role=ctx.actor.role,
            trigger=move.trigger, source=move.source, dest=move.target,
            payload=freeze_json(ctx.payload.model_dump(mode="json")),
        )
        updates.update(stage=move.target, history=(*ticket.history, record), version=record.seq)
        new = evolve(ticket, updates)
        if not self.hooks:
            return new, None
        return new, TransitionEvent(trigger=move.trigger, source=move.source, dest=move.target,
                                    actor=ctx.actor, payload=ctx.payload, before=ticket, after=new,
                                    record=record)


_ANYONE = Actor(id="anyone", role="system")
_NO_PAYLOAD = NoPayload()
