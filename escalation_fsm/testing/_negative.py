"""Negative-path cover: a shortest path to every refusal the procedure promises.

:func:`guard_cover` gives, for every guard of every transition, a shortest fireable path to a
ticket on which that transition is refused by **exactly** that guard (every other guard passes,
the role may fire it), with the reasons the guard gives. :func:`role_cover` gives, for every
transition and every role the procedure knows that may not fire it, the same transition attempted
by that role where it would otherwise fire. Like :func:`~escalation_fsm.testing.transition_cover`
they are plain data, made for ``pytest.mark.parametrize``: ``path.check(machine)`` replays the
path and asserts the refusal, one deterministic test each.

With ``reference=`` (an approved :class:`~escalation_fsm.testing.SpecSnapshot`, or another spec)
the guards and roles come from the reference while the paths are fired on the spec under test,
so a guard the spec dropped or a role it added by mistake fails its test.

Payload-free guards (a recorded step, a notified customer) are refused where the ticket lacks the
fact; those that read ticket fields set when a ticket is opened (a category, the details) are
reached from a start ticket without that field, when the guard declares ``ticket_fields``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from ..errors import EscalationError, InvariantViolated, PermissionDenied, SpecError, TransitionRefused
from ..machine import EscalationMachine
from ..models import Actor, Ticket
from ..policy import EscalationPolicy, GuardContext
from ..spec import GuardSpec, GuardVerdict, MachineSpec, evaluate_guards
from ._checks import Reference, ReferenceTransition
from ._cover import Examples, TriggerStep, actor_for, cover_machine, example_ticket, explore
from ._examples import _EXAMPLE_TIME, candidate_values, example_payloads

__all__ = ["RefusalPath", "guard_cover", "role_cover"]

_FIXED = frozenset({"id", "stage", "history", "version", "tier"})
_BASES = 64
"""Example payloads tried per role for one that passes every guard (to weaken one field of)."""


@dataclass(frozen=True, slots=True)
class RefusalPath:
    """Steps to a ticket, then one attempt that must be refused, and how.

    ``guard`` is the guard that must refuse alone (``None`` for a forbidden role), ``reasons`` what
    it says. ``str(path)`` names the goal, a readable ``pytest.mark.parametrize`` id.
    """

    goal: str
    source: str
    trigger: str
    guard: str | None
    steps: tuple[TriggerStep, ...]
    attempt: TriggerStep
    start: Ticket
    reasons: tuple[str, ...] = field(default=(), hash=False)

    def __str__(self) -> str:
        return self.goal

    @property
    def expected_error(self) -> type[EscalationError]:
        """:class:`~escalation_fsm.TransitionRefused` for a guard, else ``PermissionDenied``."""
        return TransitionRefused if self.guard is not None else PermissionDenied

    def check(self, machine: EscalationMachine, ticket: Ticket | None = None) -> EscalationError:
        """Fire the steps, then the attempt; assert it is refused as promised and changes nothing.

        Returns the refusal. Raises :class:`~escalation_fsm.testing.InvariantViolated` saying what
        happened instead (it committed, another error, other guards refused, other reasons).
        """
        current = self.start if ticket is None else ticket
        for step in self.steps:
            current = step.fire(machine, current)
        before = current.model_dump_json()
        try:
            new = self.attempt.fire(machine, current)
        except self.expected_error as exc:
            error = exc
        except Exception as exc:
            raise InvariantViolated(f"{self}: expected {self.expected_error.__name__}, got "
                                    f"{type(exc).__name__}: {exc}") from exc
        else:
            raise InvariantViolated(f"{self}: expected {self.expected_error.__name__}, but "
                                    f"{self.attempt} committed into {new.stage!r}")
        if current.model_dump_json() != before:
            raise InvariantViolated(f"{self}: the refused attempt changed the ticket")
        if isinstance(error, TransitionRefused):
            failed = tuple(error.failed_guards)
            if failed != (self.guard,) or error.reasons != self.reasons:
                raise InvariantViolated(f"{self}: refused by {failed or 'a hook'} with reasons "
                                        f"{list(error.reasons)}, expected {self.guard!r} with "
                                        f"{list(self.reasons)}")
        return error


def _frozen_key(payload: Mapping[str, Any]) -> str:
    return json.dumps(to_jsonable_python(dict(payload)), sort_keys=True, default=str)


def refusal_payloads(model: type[BaseModel], bases: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``bases``, then each with one field weakened, keeping what the model accepts.

    A weakened field is left out (its default), blank text, ``None`` or another of its candidate
    values: what makes exactly one guard that reads it say no, when the base passed them all.
    """
    found: dict[str, dict[str, Any]] = {}

    def add(data: dict[str, Any]) -> None:
        try:
            model.model_validate(data)
        except ValidationError:
            return
        found.setdefault(_frozen_key(data), data)

    for data in bases:
        add(dict(data))
    for data in bases[:2]:
        for name, info in model.model_fields.items():
            add({k: v for k, v in data.items() if k != name})
            for weak in ("", " ", None, *candidate_values(info.annotation, info.metadata, name)):
                add({**data, name: weak})
    return list(found.values())


def _guards_of(spec: MachineSpec, names: Sequence[str]) -> list[GuardSpec] | None:
    try:
        return [spec.guard(name) for name in names]
    except KeyError:
        return None


def _refusals(spec: MachineSpec, policy: EscalationPolicy, ticket: Ticket, *, move: ReferenceTransition,
              trigger: str, guards: list[GuardSpec], examples: Examples | None,
              ) -> Iterator[tuple[str, TriggerStep, tuple[str, ...]]]:
    """``(guard, attempt, reasons)`` for each guard some payload makes refuse alone on ``ticket``."""
    model = spec.trigger(trigger).payload
    wanted = {g.name for g in guards}
    candidates = example_payloads(model, examples, trigger)
    for role in sorted(map(str, move.roles)):
        actor = actor_for(role)

        def verdict(payload: Mapping[str, Any], actor: Actor = actor) -> GuardVerdict | None:
            ctx = GuardContext(ticket=ticket, actor=actor, payload=model.model_validate(payload),
                               policy=policy, now=_EXAMPLE_TIME, trigger=trigger)
            try:
                return evaluate_guards(guards, ctx)
            except Exception:  # noqa: BLE001 (a host guard may not expect this payload)
                return None

        passing = [p for p in candidates[:_BASES] if (v := verdict(p)) is not None and v.ok]
        for payload in refusal_payloads(model, passing[:2] or candidates[:2] or [{}]):
            found = verdict(payload)
            if found is not None and len(found.failed) == 1 and found.failed[0] in wanted:
                wanted.discard(found.failed[0])
                yield found.failed[0], TriggerStep(trigger, role, payload), found.reasons
            if not wanted:
                return


def _starts(spec: MachineSpec, start: Ticket | None) -> list[Ticket]:
    """The example ticket, then one without each opening field a guard declares it reads."""
    first = example_ticket(spec) if start is None else start
    starts = [first]
    for guard in spec.guards:
        for name in sorted(guard.ticket_fields or ()):
            info = Ticket.model_fields.get(name)
            if info is None or name in _FIXED or info.is_required():
                continue
            variant = first.model_copy(update={name: info.get_default(call_default_factory=True)})
            if variant != first and variant not in starts:
                starts.append(variant)
    return starts


def guard_cover(spec: MachineSpec, *, policy: EscalationPolicy | None = None, start: Ticket | None = None,
                examples: Examples | None = None, reference: Reference | None = None,
                strict: bool = True) -> tuple[RefusalPath, ...]:
    """For every guard of every transition, a shortest path to a refusal by exactly that guard.

    Guards come from ``reference`` when given (resolved by name in ``spec``), else from ``spec``.
    ``examples`` and ``start`` as for :func:`~escalation_fsm.testing.transition_cover`. Raises
    :class:`~escalation_fsm.errors.SpecError` listing every guard no path refuses alone, unless
    ``strict=False`` (then those are left out).
    """
    machine = cover_machine(spec, policy)
    ref: Reference = spec if reference is None else reference
    goals = [(t.source, t.trigger, g) for t in spec.transitions
             if (move := ref.transition(t.source, t.trigger)) is not None for g in move.guards]
    found: dict[tuple[str, str, str], RefusalPath] = {}
    for ticket, steps, _, start_ticket in explore(machine, _starts(spec, start), examples):
        for t in spec.transitions_from(ticket.stage):
            move = ref.transition(t.source, t.trigger)
            if move is None or all((t.source, t.trigger, g) in found for g in move.guards):
                continue
            guards = _guards_of(spec, move.guards)
            if guards is None:
                continue
            for guard, attempt, reasons in _refusals(spec, machine.policy, ticket, move=move,
                                                     trigger=t.trigger, guards=guards, examples=examples):
                found.setdefault((t.source, t.trigger, guard), RefusalPath(
                    goal=f"{t.source} --{t.trigger}--> {move.target} refused by {guard}",
                    source=t.source, trigger=t.trigger, guard=guard, steps=steps, attempt=attempt,
                    start=start_ticket, reasons=reasons))
        if len(found) == len(goals):
            break
    missing = [g for g in goals if g not in found]
    if missing and strict:
        raise SpecError([f"no reachable ticket lets guard {g!r} alone refuse {s} --{t}-->: pass "
                         f"examples={{{t!r}: [...]}}, another start ticket, or strict=False"
                         for s, t, g in missing])
    return tuple(found[g] for g in goals if g in found)


def role_cover(spec: MachineSpec, *, policy: EscalationPolicy | None = None, start: Ticket | None = None,
               examples: Examples | None = None, reference: Reference | None = None,
               roles: Sequence[str] | None = None) -> tuple[RefusalPath, ...]:
    """For every transition and every role that may not fire it, that role's attempt.

    Attempted where the transition would otherwise fire: it must raise
    :class:`~escalation_fsm.PermissionDenied`.

    ``roles`` are the roles to try (default: every role of ``spec`` and ``reference``); the roles
    allowed come from ``reference`` when given. Raises ``SpecError`` for a transition no path
    can fire (as :func:`~escalation_fsm.testing.transition_cover` does).
    """
    machine = cover_machine(spec, policy)
    ref: Reference = spec if reference is None else reference
    if roles is None:
        everyone = (*spec.transitions, *getattr(ref, "transitions", ()))
        known = sorted({str(r) for t in everyone for r in t.roles})
    else:
        known = list(roles)
    ready: dict[tuple[str, str], tuple[Ticket, tuple[TriggerStep, ...], TriggerStep]] = {}
    first = example_ticket(spec) if start is None else start
    for _, steps, transition, _ in explore(machine, [first], examples):
        if transition is not None and transition.key not in ready:
            ready[transition.key] = (first, steps[:-1], steps[-1])
    missing = [t for t in spec.transitions if t.key not in ready]
    if missing:
        raise SpecError([f"no fireable path reaches transition {t.source} --{t.trigger}--> {t.target}; "
                         f"pass examples= or another start ticket" for t in missing])
    paths = []
    for t in spec.transitions:
        move = ref.transition(t.source, t.trigger)
        if move is None:
            continue
        start_ticket, steps, fired = ready[t.key]
        paths += [RefusalPath(goal=f"{t.source} --{t.trigger}--> {move.target} denied to {role}",
                              source=t.source, trigger=t.trigger, guard=None, steps=steps,
                              attempt=TriggerStep(t.trigger, role, fired.payload), start=start_ticket)
                  for role in known if role not in move.roles]
    return tuple(paths)
