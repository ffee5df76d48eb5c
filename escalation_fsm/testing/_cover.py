"""Model-based coverage: a shortest concrete path to every transition and every stage of a spec.

The paths are searched on the real machine, not only on the graph: a graph-shortest path is often
not fireable (``escalate`` needs a recorded step first, ``resolve`` from ``escalated`` needs the
customer notified). The search is a breadth-first search over *abstract* states: the stage plus
the answer of every guard that does not look at a payload. Two tickets with the same abstract state
allow exactly the same triggers, so the search space stays small (stages x guard outcomes) and
every path it returns has been fired for real. Payloads come from :mod:`._examples` (or the host's
examples). This module does not import hypothesis: the pytest plugin's ticket factory uses it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..clock import ManualClock
from ..errors import EscalationError, SpecError
from ..machine import EscalationMachine
from ..models import Actor, Category, Ticket
from ..payloads import NoPayload
from ..policy import EscalationPolicy, GuardContext
from ..spec import MachineSpec, TransitionSpec, evaluate_guards
from ._examples import _EXAMPLE_TIME, example_payloads

__all__ = ["CoverPath", "Reached", "TriggerStep", "actor_for", "cover_machine", "example_ticket", "explore",
           "stage_cover", "transition_cover"]

MAX_DEPTH = 64
"""No cover path is longer than this (a guard that needs more is reported as not coverable)."""

Examples = Mapping[str, Sequence[Mapping[str, Any]]]
"""Host-given example payloads per trigger name, tried before the generated ones."""


def actor_for(role: str) -> Actor:
    """The actor the toolkit uses for ``role``: ``Actor(id="<role>-1", role=role)``."""
    return Actor(id=f"{role}-1", role=role)


def example_ticket(spec: MachineSpec, **fields: Any) -> Ticket:
    """A new ticket in ``spec``'s initial stage with a category and details (fields override)."""
    values: dict[str, Any] = {"id": "T-1", "customer_id": "C-1", "category": Category.OTHER,
                              "details": "Example details", **fields, "stage": spec.initial}
    return Ticket(**values)


@dataclass(frozen=True, slots=True)
class TriggerStep:
    """One trigger to fire: by an actor of ``role``, with ``payload`` as keyword arguments."""

    trigger: str
    role: str
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return f"{self.trigger} by {self.role}"

    def fire(self, machine: EscalationMachine, ticket: Ticket) -> Ticket:
        """Fire this step on ``ticket`` (as :func:`actor_for` ``role``) and return the new ticket."""
        return machine.fire(ticket, self.trigger, actor=actor_for(self.role), **self.payload)


@dataclass(frozen=True, slots=True)
class CoverPath:
    """A shortest fireable path from ``start`` that ends with ``transition`` or in ``stage``.

    ``str(path)`` names the goal, which makes it a readable ``pytest.mark.parametrize`` id.
    """

    goal: str
    stage: str
    steps: tuple[TriggerStep, ...]
    start: Ticket
    transition: TransitionSpec | None = None

    def __str__(self) -> str:
        return self.goal

    def replay(self, machine: EscalationMachine, ticket: Ticket | None = None) -> Ticket:
        """Fire every step on ``ticket`` (default: ``start``) and return the final ticket."""
        current = self.start if ticket is None else ticket
        for step in self.steps:
            current = step.fire(machine, current)
        return current


def _signature(machine: EscalationMachine, ticket: Ticket) -> tuple[object, ...]:
    """The stage, the tier and the payload-free guards' answers: what decides what may fire.

    Every payload-free guard of the spec is asked, not only those of the current stage, since two
    tickets that differ in a guard of a later stage lead to different futures.
    """
    ctx = GuardContext(ticket=ticket, actor=actor_for("system"), payload=NoPayload(),
                       policy=machine.policy, now=_EXAMPLE_TIME)
    answers: list[object] = [ticket.stage, ticket.tier]
    for guard in machine.spec.guards:
        if guard.uses_payload:
            continue
        try:
            answers.append(evaluate_guards((guard,), ctx).ok)
        except Exception:  # noqa: BLE001 (a host guard written for another stage may not apply here)
            answers.append(None)
    return tuple(answers)


def _fire_first(machine: EscalationMachine, ticket: Ticket, transition: TransitionSpec,
                examples: Examples) -> tuple[TriggerStep, Ticket] | None:
    """The first (role, payload) that fires ``transition`` on ``ticket``, if any."""
    model = machine.spec.trigger(transition.trigger).payload
    payloads = example_payloads(model, examples, transition.trigger)
    for role in sorted(map(str, transition.roles)):
        actor = actor_for(role)
        for payload in payloads:
            if machine.explain(ticket, transition.trigger, actor=actor, **payload).ok:
                step = TriggerStep(transition.trigger, role, payload)
                try:
                    return step, step.fire(machine, ticket)
                except EscalationError:  # the cover machine has no hooks; a guard changed its mind
                    continue
    return None


class Reached(NamedTuple):
    """A ticket :func:`explore` reached: how (``steps`` from ``start``), by which ``transition``."""

    ticket: Ticket
    steps: tuple[TriggerStep, ...]
    transition: TransitionSpec | None
    start: Ticket


def explore(machine: EscalationMachine, starts: Sequence[Ticket], examples: Examples | None = None,
            ) -> Iterator[Reached]:
    """Every abstract state reachable from ``starts``, breadth first: shortest paths first.

    Yields each start, then each ticket a fireable transition leads to, with the steps from its
    start ticket and the transition fired last. Transitions into a state already seen are yielded
    too (so callers see each transition at its shortest path), but not explored further.
    """
    seen: set[tuple[object, ...]] = set()
    queue: deque[Reached] = deque()
    for first in starts:
        key = _signature(machine, first)
        if key not in seen:
            seen.add(key)
            queue.append(Reached(first, (), None, first))
            yield queue[-1]
    while queue:
        ticket, path, _, start = queue.popleft()
        if len(path) >= MAX_DEPTH:
            continue
        for transition in machine.spec.transitions_from(ticket.stage):
            fired = _fire_first(machine, ticket, transition, examples or {})
            if fired is None:
                continue
            step, new = fired
            reached = Reached(new, (*path, step), transition, start)
            key = _signature(machine, new)
            if key not in seen:
                seen.add(key)
                queue.append(reached)
            yield reached


def cover_machine(spec: MachineSpec, policy: EscalationPolicy | None = None) -> EscalationMachine:
    """The hookless machine the covers search with (its clock is frozen at the example time)."""
    return EscalationMachine(spec, policy=policy, clock=ManualClock(_EXAMPLE_TIME))


def _search(spec: MachineSpec, policy: EscalationPolicy | None, start: Ticket | None,
            examples: Examples | None) -> tuple[Ticket, dict[tuple[str, str], tuple[TriggerStep, ...]],
                                                dict[str, tuple[TriggerStep, ...]]]:
    first = example_ticket(spec) if start is None else start
    transitions: dict[tuple[str, str], tuple[TriggerStep, ...]] = {}
    stages: dict[str, tuple[TriggerStep, ...]] = {}
    for ticket, steps, transition, _ in explore(cover_machine(spec, policy), [first], examples):
        if transition is not None:
            transitions.setdefault(transition.key, steps)
        stages.setdefault(ticket.stage, steps)
    return first, transitions, stages


def _goal(transition: TransitionSpec) -> str:
    return f"{transition.source} --{transition.trigger}--> {transition.target}"


def transition_cover(spec: MachineSpec, *, policy: EscalationPolicy | None = None,
                     start: Ticket | None = None, examples: Examples | None = None) -> tuple[CoverPath, ...]:
    """For every transition of ``spec`` (in declaration order), a shortest path that fires it.

    ``start`` is the new ticket the paths begin with (default :func:`example_ticket`); ``examples``
    maps trigger names to payloads to try before the generated ones. Raises
    :class:`~escalation_fsm.errors.SpecError` listing every transition no path could fire.
    """
    first, found, reached = _search(spec, policy, start, examples)
    missing = [t for t in spec.transitions if t.key not in found]
    if missing:
        raise SpecError([
            f"no fireable path reaches transition {_goal(t)}: "
            + (f"its guards were never satisfied; pass examples={{{t.trigger!r}: [...]}} or "
               f"another start ticket" if t.source in reached
               else f"its source stage {t.source!r} was never reached")
            for t in missing])
    return tuple(CoverPath(goal=_goal(t), stage=t.target, steps=found[t.key], start=first, transition=t)
                 for t in spec.transitions)


def stage_cover(spec: MachineSpec, *, policy: EscalationPolicy | None = None,
                start: Ticket | None = None, examples: Examples | None = None) -> tuple[CoverPath, ...]:
    """For every stage of ``spec`` (in declaration order), a shortest path that ends in it.

    The initial stage's path is empty. Arguments and errors as for :func:`transition_cover`.
    """
    first, _, found = _search(spec, policy, start, examples)
    missing = [name for name in spec.stage_names if name not in found]
    if missing:
        raise SpecError([f"no fireable path reaches stage {name!r}; pass examples= or another "
                         f"start ticket" for name in missing])
    return tuple(CoverPath(goal=name, stage=name, steps=found[name], start=first)
                 for name in spec.stage_names)
