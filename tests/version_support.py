"""Versions of the procedure for the migration tests, and tickets in every stage to migrate.

* :func:`with_tier3_and_closed`: the issue's example, built from marks only (so it applies to the
  renamed procedure too): a Tier 3 stage reached from the stage the escalate-marked trigger enters,
  left by the resolve-marked trigger, and a ``closed`` stage after the final one (which stops
  being final). Version ``2``, compatible with ``1`` unless told otherwise.
* :func:`without_stage`: a version that drops a stage a history can pass through (some histories
  then break under it) and renames the step trigger.
* :func:`walked`: deterministic random walks through a spec, so that tickets stand in every stage.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from support import ACTORS, VALID, new_ticket

from escalation_fsm import (
    EscalationError,
    EscalationMachine,
    MachineSpec,
    Mark,
    StageSpec,
    Ticket,
    TransitionSpec,
    TriggerSpec,
    default_spec,
)

Names = Callable[[str], str]


def _same(name: str) -> str:
    return name


def _dest(spec: MachineSpec, mark: Mark) -> str:
    trigger = spec.marked(mark)[0]
    return next(t.dest for t in spec.transitions if t.trigger == trigger and t.dest)


def with_tier3_and_closed(spec: MachineSpec, names: Names = _same, *,
                          compatible: bool = True) -> MachineSpec:
    """``spec`` plus a Tier 3 and a ``closed`` stage after its final one (version 2)."""
    escalated = _dest(spec, Mark.ESCALATE)
    resolve = spec.marked(Mark.RESOLVE)[0]
    resolved = _dest(spec, Mark.RESOLVE)
    final = next(stage for stage in spec.stages if stage.final)
    tier2_roles = next(t.roles for t in spec.transitions
                       if t.source == escalated and t.trigger == resolve)
    return spec.extend(
        version="2", compatible_with=[spec.version] if compatible else [],
        stages=[StageSpec(name="tier3", description="With the engineering team."),
                final.model_copy(update={"final": False}),
                StageSpec(name=names("closed"), description="Nothing left to do.", final=True)],
        triggers=[TriggerSpec(name="escalate_tier3", description="Hand over to engineering.",
                              marks={Mark.ESCALATE}),
                  TriggerSpec(name=names("close"), description="Close the ticket for good.")],
        transitions=[
            TransitionSpec(trigger="escalate_tier3", source=escalated, dest="tier3",
                           roles=tier2_roles),
            TransitionSpec(trigger=resolve, source="tier3", dest=resolved, roles={"tier3"}),
            TransitionSpec(trigger=names("close"), source=final.name, dest=names("closed"),
                           roles={"supervisor", "system"}),
        ])


def without_stage(spec: MachineSpec, names: Names = _same, *, rename_step: bool = True
                  ) -> MachineSpec:
    """Version 3: ``spec`` without reopening from its final stage, the step trigger renamed.

    A ticket reopened from the final stage has a history this version refuses (the dry run says
    which record); every other history replays, with its steps under the new trigger name
    (``rename_step=False`` keeps the name: a store's SLA index refuses a spec that no longer
    says what a recorded trigger means).
    """
    final = next(stage for stage in spec.stages if stage.final)
    reopen = spec.marked(Mark.REOPEN)[0]
    step = spec.marked(Mark.STEP)[0] if rename_step else ""
    step_trigger = spec.trigger(step) if rename_step else None
    kept = [t.model_copy(update={"trigger": names("log_step")}) if t.trigger == step else t
            for t in spec.transitions if not (t.source == final.name and t.trigger == reopen)]
    return MachineSpec(
        name=spec.name, version="3", description=spec.description, stages=spec.stages,
        triggers=tuple(step_trigger.model_copy(update={"name": names("log_step")})
                       if t.name == step and step_trigger else t for t in spec.triggers),
        guards=spec.guards, transitions=tuple(kept))


def walked(machine: EscalationMachine, ticket_id: str, steps: int, rng: random.Random,
           default_name: Names = _same) -> Ticket:
    """A ticket after ``steps`` random allowed transitions (fewer where none is allowed).

    ``default_name`` maps the spec's trigger names to the default's (to find a payload).
    """
    spec = machine.spec
    ticket = machine.new_ticket(**new_ticket(id=ticket_id).model_dump(exclude={"stage"}))
    for _ in range(steps):
        moves = list(spec.transitions_from(ticket.stage))
        rng.shuffle(moves)
        for move in moves:
            payload: dict[str, Any] = dict(VALID.get(default_name(move.trigger), {}))
            actor = next((a for a in ACTORS if a.role in move.roles), None)
            if actor is None:
                continue
            try:
                ticket = machine.fire(ticket, move.trigger, actor=actor, **payload)
            except EscalationError:
                continue
            break
        else:
            break
    return ticket


def tickets_in_every_stage(machine: EscalationMachine, count: int, *, seed: int = 7,
                           prefix: str = "T", default_name: Names = _same) -> Iterator[Ticket]:
    """``count`` walked tickets of 0 to 14 steps (so some stand in every stage), ids in order."""
    rng = random.Random(seed)
    for n in range(count):
        yield walked(machine, f"{prefix}-{n:05d}", rng.randrange(15), rng, default_name)


# For the command line (``--to version_support:V2``): the default procedure's versions 2 and 3.
V2 = with_tier3_and_closed(default_spec(), compatible=False)
V3 = without_stage(default_spec(), rename_step=False)


def dry_run_targets() -> dict[str, MachineSpec]:
    """The new specs the dry-run tests migrate the default procedure to, by name.

    ``v2`` adds Tier 3 and ``closed`` (not declared compatible), ``v3`` drops a stage, ``v4``
    stops agents recording steps once a ticket is escalated (a refusal that names the actor).
    """
    v1 = default_spec()
    return {"v2": with_tier3_and_closed(v1, compatible=False),
            "v3": without_stage(v1, rename_step=False),
            "v4": v1.extend(version="4", transitions=[
                t.model_copy(update={"roles": t.roles - {"agent"}}) for t in v1.transitions
                if t.trigger == "record_step" and t.source == "escalated"])}
