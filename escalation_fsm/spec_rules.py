"""Whole-spec validation: every problem of a :class:`~escalation_fsm.spec.MachineSpec` at once.

Checked when a spec is built: declared names (duplicates, unknown stages, triggers and guards,
descriptions), exactly one initial stage and at least one final one, reachability from the
initial stage, no trap stage (every stage can reach a final one), payload fields the guards read,
and the marks (what triggers mean). python-statemachine's ``factory.py`` stops at the first
problem; a spec author here sees them all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .bounds import MIGRATE_TRIGGER
from .marks import Mark

if TYPE_CHECKING:
    from .spec import MachineSpec, TransitionSpec

__all__ = ["spec_problems"]


def _duplicates(names: Iterable[object]) -> list[object]:
    seen: set[object] = set()
    repeated: list[object] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def spec_problems(spec: MachineSpec) -> list[str]:
    """Every problem of ``spec`` as a sentence (empty: the spec is valid)."""
    problems: list[str] = []
    stage_names = [stage.name for stage in spec.stages]
    trigger_names = [trigger.name for trigger in spec.triggers]
    guard_names = [guard.name for guard in spec.guards]
    for kind, names in (("stage", stage_names), ("trigger", trigger_names), ("guard", guard_names)):
        problems += [f"{kind} {name!r} is declared more than once" for name in _duplicates(names)]
    problems += [
        f"transition (source, trigger) {key!r} is declared more than once"
        for key in _duplicates(t.key for t in spec.transitions)
    ]
    initials = [stage.name for stage in spec.stages if stage.initial]
    if len(initials) != 1:
        problems.append(f"exactly one stage must be initial; found {len(initials)}: {initials}")
    if not any(stage.final for stage in spec.stages):
        problems.append("no stage is final: mark at least one stage final=True")
    problems += [f"stage {s.name!r} has no description" for s in spec.stages
                 if not s.description.strip()]
    problems += [f"trigger {t.name!r} has no description" for t in spec.triggers
                 if not t.description.strip()]
    problems += [f"guard {g.name!r} has no requirement sentence" for g in spec.guards
                 if not g.requirement.strip()]

    stages, triggers, guards = set(stage_names), set(trigger_names), set(guard_names)
    for t in spec.transitions:
        where = f"transition {t.source!r} --{t.trigger}-->"
        if t.source not in stages:
            problems.append(f"{where}: unknown source stage {t.source!r}")
        if t.dest is not None and t.dest not in stages:
            problems.append(f"{where}: unknown destination stage {t.dest!r}")
        if t.trigger not in triggers:
            problems.append(f"{where}: unknown trigger {t.trigger!r}")
        problems += [f"{where}: unknown guard {g!r}" for g in t.guards if g not in guards]
        problems += _payload_problems(spec, t, where)
    problems += _mark_problems(spec)
    if MIGRATE_TRIGGER in trigger_names:
        problems.append(f"trigger {MIGRATE_TRIGGER!r} is reserved for the audit record of a "
                        f"migration between versions of a spec: choose another name")
    used = {t.trigger for t in spec.transitions}
    problems += [f"trigger {name!r} is used by no transition" for name in trigger_names
                 if name not in used]

    if len(initials) == 1:
        reachable = _closure(initials, spec, forward=True)
        problems += [f"stage {name!r} is unreachable from the initial stage {initials[0]!r}"
                     for name in stage_names if name not in reachable]
    finals = [stage.name for stage in spec.stages if stage.final]
    if finals:
        can_finish = _closure(finals, spec, forward=False)
        problems += [f"stage {name!r} is a trap: no final stage can be reached from it"
                     for name in stage_names if name not in can_finish]
    return problems


def _payload_problems(spec: MachineSpec, t: TransitionSpec, where: str) -> list[str]:
    """Guards that read payload fields the transition's trigger does not take."""
    trigger = next((tr for tr in spec.triggers if tr.name == t.trigger), None)
    if trigger is None:
        return []
    fields = set(trigger.payload.model_fields)
    problems = []
    for guard in spec.guards:
        missing = guard.reads - fields if guard.name in t.guards else set()
        if missing:
            problems.append(
                f"{where}: guard {guard.name!r} reads payload field(s) {sorted(missing)} that "
                f"trigger {t.trigger!r} ({trigger.payload.__name__}) does not take; "
                f"it takes: {sorted(fields) or 'nothing'}")
    return problems


def _mark_problems(spec: MachineSpec) -> list[str]:
    """Marks that contradict each other or what the trigger can carry."""
    problems: list[str] = []
    attempts = [t.name for t in spec.triggers if Mark.ATTEMPT in t.marks]
    if len(attempts) > 1:
        problems.append(f"at most one trigger may be marked {Mark.ATTEMPT.value!r} (it starts "
                        f"first-contact work); marked: {attempts}")
    for t in spec.triggers:
        if {Mark.ESCALATE, Mark.DE_ESCALATE} <= t.marks:
            problems.append(f"trigger {t.name!r} is marked both {Mark.ESCALATE.value!r} and "
                            f"{Mark.DE_ESCALATE.value!r}: a trigger moves one tier up or down")
        if Mark.PROMISE in t.marks and "eta" not in t.payload.model_fields:
            problems.append(f"trigger {t.name!r} is marked {Mark.PROMISE.value!r} but its payload "
                            f"{t.payload.__name__} has no 'eta' field for the promised response time")
        if Mark.INTERACTION in t.marks and "direction" not in t.payload.model_fields:
            problems.append(f"trigger {t.name!r} is marked {Mark.INTERACTION.value!r} but its "
                            f"payload {t.payload.__name__} has no 'direction' field (inbound or "
                            f"outbound)")
    interactions = {t.name for t in spec.triggers if Mark.INTERACTION in t.marks}
    problems += [f"transition {t.source!r} --{t.trigger}--> {t.dest!r}: a trigger marked "
                 f"{Mark.INTERACTION.value!r} records an interaction and may not change the stage"
                 for t in spec.transitions
                 if t.trigger in interactions and t.dest not in (None, t.source)]
    return problems


def _closure(start: Iterable[str], spec: MachineSpec, *, forward: bool) -> set[str]:
    """Stages reachable from ``start`` (``forward``) or that can reach ``start`` (backward)."""
    edges: dict[str, set[str]] = {}
    for t in spec.transitions:
        a, b = (t.source, t.target) if forward else (t.target, t.source)
        edges.setdefault(a, set()).add(b)
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
