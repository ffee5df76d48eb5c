"""The fence around the ``transitions`` engine: the only module that imports it.

:class:`~escalation_fsm.EscalationMachine` (:mod:`escalation_fsm.machine`) fires through what is
built here:

* one ``transitions.Machine`` per spec (:func:`engine_of`), built once and shared (no per-ticket
  engine objects, no ``add_model``); each call hands the engine a small throw-away :class:`Run`
  instead of the ticket, because the engine would otherwise ``setattr`` trigger methods onto our
  pydantic models;
* ``auto_transitions=False`` (its ``to_<stage>()`` methods bypass guards) and
  ``ignore_invalid_triggers=False``;
* the engine's condition runs the spec's guards through :func:`~escalation_fsm.spec.evaluate_guards`
  and keeps the verdict on the run, so that the machine turns the engine's silent ``False`` into
  :class:`~escalation_fsm.errors.TransitionRefused` naming every failing guard;
* its INFO-level logging of every callback is quietened (it slowed triggers ~3x under a host
  logging at INFO), unless the host configured that logger itself;
* :func:`moves_of` resolves every transition of a spec once into a
  :class:`~escalation_fsm.moves.Move` (what the hot path reads as plain attributes), and
  :func:`new_ticket_of` makes a move's new ticket and audit record once the guards passed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any

from transitions import EventData, Machine, State

from .bounds import text_limit_problems
from .effects import SHIPPED_EFFECTS
from .errors import SpecError
from .hooks import TransitionEvent
from .models import Actor, AuditRecord, FrozenDict, Ticket, evolve, nested_json, trusted_from
from .moves import (
    FLAT_DUMP,
    NATIVE_DUMP,
    NESTED_DUMP,
    Move,
    checked_updates,
    tier_rule,
    tier_updates,
)
from .payloads import Payload, flat_json, native_json
from .policy import EscalationPolicy, GuardContext
from .results import TransitionResult
from .spec import GuardVerdict, MachineSpec, evaluate_guards

__all__ = ["ENGINE_LOGGER", "Run", "engine_of", "moves_of", "new_ticket_of"]

ENGINE_LOGGER = logging.getLogger("transitions.core")
"""The engine's logger, set to WARNING unless the host chose its level first."""
if ENGINE_LOGGER.level == logging.NOTSET:
    # Only when the host has not chosen a level for this logger itself.
    ENGINE_LOGGER.setLevel(logging.WARNING)


@lru_cache(maxsize=32)
def moves_of(spec: MachineSpec) -> dict[tuple[str, str], Move]:
    """Every transition of ``spec`` by ``(source, trigger)``, resolved for firing (cached)."""
    if too_long := text_limit_problems({t.name: t.payload for t in spec.triggers}):
        raise SpecError(too_long)
    moves = {}
    for t in spec.transitions:
        trigger = spec.trigger(t.trigger)
        effect = trigger.effect
        moves[t.key] = Move(trigger=t.trigger, source=t.source, target=t.target, roles=t.roles,
                             payload=trigger.payload, guards=tuple(spec.guard(g) for g in t.guards),
                             effect=effect,
                             check_effect=effect is not None and effect not in SHIPPED_EFFECTS,
                             tier=tier_rule(trigger.marks), event=engine_of(spec).events[t.trigger],
                             validate=trigger.payload.__pydantic_validator__.validate_python,
                             dump=NATIVE_DUMP if native_json(trigger.payload)
                             else FLAT_DUMP if flat_json(trigger.payload) else NESTED_DUMP)
    return moves


class Run(GuardContext):
    """One call's guard context, which is also the engine's model (the state it reads and writes).

    A fresh one per call keeps the shared engine free of per-ticket state; being the guards'
    context too saves building two objects on every fire.
    """

    __slots__ = ("move", "state", "verdict")

    def __init__(self, move: Move, ticket: Ticket, actor: Actor, payload: Payload,  # noqa: PLR0917
                 policy: EscalationPolicy, now: datetime) -> None:
        # Every field set here, without the dataclass __init__ (fire's hot path).
        self.ticket = ticket
        self.actor = actor
        self.payload = payload
        self.policy = policy
        self.now = now
        self.trigger = move.trigger
        self.decisions = {}
        self.state = move.source
        self.move = move
        self.verdict: GuardVerdict  # set by the engine's condition, which always runs first


def _engine_condition(event: EventData) -> bool:
    run: Run = event.model  # type: ignore[assignment]  # the engine's model is always a Run
    verdict = run.verdict = evaluate_guards(run.move.guards, run)
    run.decisions = verdict.decisions  # what effects may read
    return not verdict.failed


@lru_cache(maxsize=32)
def engine_of(spec: MachineSpec) -> Machine:
    """The one ``transitions.Machine`` of ``spec`` (cached), without models of its own."""
    return Machine(
        model=None,
        states=[State(name) for name in spec.stage_names],
        initial=spec.initial,
        transitions=[
            {"trigger": t.trigger, "source": t.source, "dest": t.dest,
             "conditions": [_engine_condition]}
            for t in spec.transitions
        ],
        auto_transitions=False,
        ignore_invalid_triggers=False,
        send_event=True,
        name=f"{spec.name}: ",
    )


def new_ticket_of(move: Move, ctx: GuardContext, fingerprint: str, *,
                  events: bool) -> TransitionResult:
    """The transition ``move`` makes of ``ctx.ticket`` (which stays as it is).

    The effect's updates, the marks' tier, the audit record (stamped with ``fingerprint``), the
    stage and the version; with ``events`` (hooks are registered), the hooks' event too.
    """
    ticket = ctx.ticket
    # The shipped effects return a fresh dict, and are tested instead of checked.
    updates: dict[str, Any] = {} if move.effect is None else (
        checked_updates(move, dict(move.effect(ctx))) if move.check_effect
        else move.effect(ctx))  # type: ignore[assignment]  # shipped effects: fresh dicts
    if move.tier:
        updates.update(tier_updates(move.tier, updates.get("tags", ticket.tags), ticket.tier))
    if move.dump == NATIVE_DUMP:
        payload = FrozenDict(ctx.payload.__dict__)
    elif move.dump == FLAT_DUMP:
        payload = FrozenDict(ctx.payload.model_dump(mode="json"))
    else:
        payload = nested_json(ctx.payload)
    seq = ticket.version + 1
    record = trusted_from(AuditRecord, {
        "seq": seq, "at": ctx.now, "actor_id": ctx.actor.id, "actor_role": ctx.actor.role,
        "trigger": move.trigger, "source": move.source, "dest": move.target, "payload": payload,
        "spec_fingerprint": fingerprint})
    updates["stage"] = move.target
    updates["history"] = (*ticket.history, record)
    updates["version"] = seq
    new = evolve(ticket, updates)
    if not events:
        return _result(TransitionResult, (new, ticket, record, None))
    return TransitionResult(new, ticket, record, TransitionEvent(
        trigger=move.trigger, source=move.source, dest=move.target, actor=ctx.actor,
        payload=ctx.payload, before=ticket, after=new, record=record))


_result = tuple.__new__  # a NamedTuple without its Python-level __new__ (fire's hot path)
