"""Deterministic payload choices for the stateful base: one that fires, one that one guard refuses.

Hypothesis draws *numbers* (which ticket, which transition, which guard, which role); this module
turns them into payloads without further draws of varying shape, so that a shrunk run stays
aligned when the shrinker deletes a step. Candidates are the payload model's example payloads
(:mod:`._examples`) and the host's ``examples``, as JSON-ready data so that the printed
regression test is plain Python literals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from ..machine import EscalationMachine
from ..models import Actor, Ticket
from ..policy import GuardContext
from ..spec import GuardSpec, evaluate_guards
from ._cover import Examples
from ._examples import example_payloads
from ._negative import refusal_payloads

__all__ = ["Chooser", "as_json"]

_PASSING = 8
"""Passing candidates kept per (ticket, trigger, actor): enough variety, bounded cost."""


def as_json(model: type[BaseModel], payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` as JSON data when that validates to the same model (else as it is).

    Firing the JSON form is what makes a recorded run replay from the printed literals.
    """
    data = to_jsonable_python(dict(payload), fallback=repr)
    try:
        same = model.model_validate(data) == model.model_validate(dict(payload))
    except ValidationError:
        try:
            model.model_validate(dict(payload))
        except ValidationError:
            return dict(data) if _literal(data) else dict(payload)  # invalid either way
        return dict(payload)
    return dict(data) if same else dict(payload)


def _literal(data: object) -> bool:
    if isinstance(data, dict):
        return all(isinstance(k, str) and _literal(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_literal(v) for v in data)
    return data is None or isinstance(data, (str, int, float, bool))


@cache
def _candidates(model: type[BaseModel]) -> tuple[dict[str, Any], ...]:
    return tuple(as_json(model, p) for p in example_payloads(model))


class Chooser:
    """Payload choices for one machine (its spec, policy and the host's examples)."""

    def __init__(self, machine: EscalationMachine, examples: Examples | None = None) -> None:
        self.machine = machine
        self.examples = dict(examples or {})

    def candidates(self, trigger: str) -> list[dict[str, Any]]:
        """The host's examples for ``trigger``, then the model's example payloads."""
        model = self.machine.spec.trigger(trigger).payload
        given = [as_json(model, p) for p in self.examples.get(trigger, ())]
        return given + list(_candidates(model))

    def passing(self, ticket: Ticket, trigger: str, actor: Actor) -> list[dict[str, Any]]:
        """Candidates with which ``actor`` can fire ``trigger`` on ``ticket`` now (a few)."""
        if trigger not in self.machine.allowed(ticket, actor):
            return []  # a payload-free guard or the role refuses: no payload can help
        explain = self.machine.explain
        found = []
        for payload in self.candidates(trigger):
            if explain(ticket, trigger, actor=actor, **payload).ok:
                found.append(payload)
                if len(found) == _PASSING:
                    break
        return found

    def refusal(self, ticket: Ticket, trigger: str, guards: Sequence[GuardSpec], guard: str,
                actor: Actor) -> dict[str, Any] | None:
        """A payload with which ``guard`` (one of ``guards``) refuses ``trigger`` on ``ticket``.

        ``guards`` are the reference's guards of the transition (the spec's own by default):
        a payload that makes exactly ``guard`` say no is preferred. ``None`` when no candidate
        makes it say no (a payload-free guard that passes now).
        """
        model = self.machine.spec.trigger(trigger).payload
        bases: Sequence[Mapping[str, Any]] = (self.passing(ticket, trigger, actor)[:2]
                                              or self.candidates(trigger)[:2] or [{}])
        fallback = None
        for payload in refusal_payloads(model, bases):
            ctx = GuardContext(ticket=ticket, actor=actor, payload=model.model_validate(payload),
                               policy=self.machine.policy, now=self.machine.clock.now(), trigger=trigger)
            try:
                failed = evaluate_guards(guards, ctx).failed
            except Exception:  # noqa: BLE001, S112 (a host guard may not expect this payload)
                continue
            if guard in failed:
                if failed == (guard,):
                    return as_json(model, payload)
                fallback = fallback or as_json(model, payload)
        return fallback
