"""Checks of a ladder against its policy and its spec, and the escalating trigger a step fires.

Run when a policy is built (:func:`ladder_target_problems`: steps on a clock the policy does not
track at that urgency could never come due) and when it is attached to a machine
(:func:`ladder_problems`, through :meth:`SLAPolicy.problems`): an ``escalate`` step is checked
against every stage its clock can run in (read from the spec's marks, never from names). Two
escalating triggers from one such stage are ambiguous; a clock that runs in no stage from which
actor ``system`` may fire an escalating trigger makes the step one that could never act. Both
are errors before any worker starts. A stage where the clock runs without an escalating trigger
is allowed when another stage has one: a step that comes due there is recorded as skipped.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..marks import Mark
from ..models import Role, Urgency
from .clock_names import SLAClock
from .ladder import StepAction

if TYPE_CHECKING:
    from ..spec import MachineSpec, TransitionSpec
    from .policy import SLAPolicy

__all__ = ["clock_stages", "escalating_transitions", "ladder_problems", "ladder_target_problems"]

# Per clock: the marks whose transitions' destinations start a run, and the marks that end it.
_STARTS = {SLAClock.RESOLUTION: (Mark.REOPEN,), SLAClock.TIER2_UPDATE: (Mark.ESCALATE,),
           SLAClock.CUSTOMER_UPDATE: (Mark.ESCALATE,), SLAClock.PROMISED_RESPONSE: (Mark.PROMISE,),
           SLAClock.FIRST_RESPONSE: ()}
_ENDS = {SLAClock.RESOLUTION: (Mark.RESOLVE,),
         SLAClock.TIER2_UPDATE: (Mark.TIER_UPDATE, Mark.RESOLVE),
         SLAClock.CUSTOMER_UPDATE: (Mark.RESOLVE,),
         SLAClock.PROMISED_RESPONSE: (Mark.TIER_UPDATE, Mark.RESOLVE),
         SLAClock.FIRST_RESPONSE: ()}


def ladder_target_problems(policy: SLAPolicy) -> list[str]:
    """Steps on a clock that the policy does not track at that urgency (never due)."""
    return [f"ladder steps on {clock.value} at urgency {urgency.value}: the policy has no "
            f"{clock.value} target at that urgency, so they would never come due"
            for clock, per_urgency in policy.ladder.root.items()
            for urgency, steps in per_urgency.items()
            if steps and clock is not SLAClock.PROMISED_RESPONSE
            and policy.target(urgency, clock) is None]


def escalating_transitions(spec: MachineSpec, stage: str) -> list[TransitionSpec]:
    """The transitions from ``stage`` whose trigger is marked ``escalate``."""
    return [t for t in spec.transitions_from(stage) if Mark.ESCALATE in spec.marks_of(t.trigger)]


def clock_stages(spec: MachineSpec, clock: SLAClock, policy: SLAPolicy) -> set[str]:
    """The stages in which a run of ``clock`` can be running, read from the spec's marks.

    A first response runs only in the initial stage; the other clocks run from the stages their
    starting triggers enter, along every transition that does not end them, except in stages
    the policy pauses them in. (A ticket imported mid-way starts its clocks where it is.)
    """
    if clock is SLAClock.FIRST_RESPONSE:
        found = {spec.initial}
    else:
        starts = {spec.initial} if clock is SLAClock.RESOLUTION else set()
        starts |= {t.target for t in spec.transitions
                   if spec.marks_of(t.trigger) & set(_STARTS[clock])}
        ends = set(_ENDS[clock])
        found, queue = set(starts), deque(starts)
        while queue:
            for t in spec.transitions_from(queue.popleft()):
                if not spec.marks_of(t.trigger) & ends and t.target not in found:
                    found.add(t.target)
                    queue.append(t.target)
    return {stage for stage in found if clock not in policy.paused(stage)}


def ladder_problems(policy: SLAPolicy, spec: MachineSpec) -> list[str]:
    """Every problem of the policy's escalate steps under ``spec`` (empty: none)."""
    problems: list[str] = []
    checked: set[SLAClock] = set()
    for clock, _urgency, step in policy.ladder.every():
        if step.action is not StepAction.ESCALATE or clock in checked:
            continue
        checked.add(clock)
        stages = sorted(clock_stages(spec, clock, policy))
        usable = False
        for stage in stages:
            found = escalating_transitions(spec, stage)
            if len(found) > 1:
                problems.append(
                    f"ladder: escalate steps on {clock.value} are ambiguous in stage {stage!r}: "
                    f"triggers {', '.join(repr(t.trigger) for t in found)} are all marked "
                    f"escalate there (keep one)")
            usable = usable or any(Role.SYSTEM in t.roles for t in found)
        if not usable:
            problems.append(
                f"ladder: escalate steps on {clock.value} could never act: in the stages where "
                f"that clock runs ({', '.join(stages) or 'none'}) no trigger marked escalate "
                f"may be fired by role 'system' (allow it, or use a notify step)")
    return problems


def raised(urgency: Urgency) -> Urgency | None:
    """The next urgency up, or ``None`` at the top."""
    order = list(Urgency)
    position = order.index(urgency)
    return order[position + 1] if position + 1 < len(order) else None
