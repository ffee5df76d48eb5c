"""Hypothesis strategies derived from any :class:`~escalation_fsm.spec.MachineSpec`.

Nothing here knows the default procedure: stages, triggers, roles and payload shapes are read from
the spec, payload values from each trigger's pydantic payload model.

**How valid payloads are found.** A guard is an arbitrary predicate, so no strategy can be derived
from it. :func:`valid_payloads` therefore *searches*: it draws a few payloads from the model-derived
strategy, keeps the first one the machine accepts (``machine.explain(...).ok``), falls back to the
deterministic candidates of :func:`~escalation_fsm.testing.example_payloads`-style enumeration, and
only then rejects the example. Hosts whose guards a random search rarely satisfies pass ``hints``:
a strategy of payload dicts per trigger name, drawn instead of the model-derived one.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from hypothesis import assume
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ..machine import EscalationMachine
from ..models import Actor, Category, Ticket
from ..spec import MachineSpec
from ._cover import TriggerStep, actor_for
from ._examples import _bounds, example_payloads, flatten_annotated

__all__ = [
    "Hints",
    "actors",
    "invalid_payloads",
    "new_tickets",
    "payloads",
    "roles_of",
    "tickets",
    "trigger_sequences",
    "valid_payloads",
    "value_strategy",
]

Hints = Mapping[str, st.SearchStrategy[Mapping[str, Any]]]
"""Host-given payload strategies per trigger name, used instead of the model-derived ones."""

UNKNOWN_TRIGGER = "no_such_trigger"
"""A trigger name no spec declares (specs may not use it), for the "unknown trigger" case."""

UNKNOWN_ROLE = "stranger"
"""A role no transition allows (unless a spec declares it), for the "permission denied" case."""

SEARCH_TRIES = 4
"""Random payloads drawn per valid-payload search before the deterministic candidates."""

_TEXT = st.text(st.sampled_from("abc xyz019"), max_size=12)
"""Short text with blanks: non-blank text is likely, blank (refused by presence guards) too."""


def roles_of(spec: MachineSpec) -> tuple[str, ...]:
    """Every role some transition of ``spec`` allows, sorted."""
    return tuple(sorted({role for t in spec.transitions for role in t.roles}))


def actors(spec: MachineSpec, *, include_strangers: bool = False) -> st.SearchStrategy[Actor]:
    """Actors of each role of ``spec`` (ids as :func:`actor_for`); optionally of no role at all."""
    roles = [*roles_of(spec), *([UNKNOWN_ROLE] if include_strangers else [])]
    return st.sampled_from(roles).map(actor_for)


def _numbers(strategy: Any, metadata: Sequence[Any], low: Any = None, high: Any = None,
             **options: Any) -> st.SearchStrategy[Any]:
    """Numbers (or timedeltas) within the annotated bounds, else within ``low``..``high``."""
    ge, le, low_open, high_open = _bounds(metadata)
    ge = low if ge is None else ge
    le = high if le is None else le
    bounds = {k: v for k, v in (("min_value", ge), ("max_value", le)) if v is not None}
    drawn: st.SearchStrategy[Any] = strategy(**bounds, **options)
    return drawn.filter(lambda v: not (low_open and v == ge) and not (high_open and v == le))


def _simple(base: Any, meta: Sequence[Any]) -> st.SearchStrategy[Any] | None:
    """The strategy for a scalar type, or ``None`` if ``base`` is not one we know."""
    lengths = {type(m): m for m in meta if isinstance(m, (at.MinLen, at.MaxLen))}
    builders: dict[Any, Callable[[], st.SearchStrategy[Any]]] = {
        bool: st.booleans,
        int: lambda: _numbers(st.integers, meta),
        float: lambda: _numbers(st.floats, meta, allow_nan=False),  # NaN never compares equal
        timedelta: lambda: _numbers(st.timedeltas, meta, -timedelta(days=1), timedelta(days=30)),
        datetime: lambda: st.datetimes(timezones=st.just(UTC)),
        date: st.dates,
        str: lambda: _TEXT if not lengths else st.text(
            st.sampled_from("abc xyz019"),
            min_size=getattr(lengths.get(at.MinLen), "min_length", 0),
            max_size=getattr(lengths.get(at.MaxLen), "max_length", None)),
    }
    return builders[base]() if base in builders else None


def value_strategy(annotation: Any, metadata: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Values of a pydantic field annotation, honouring annotated-types bounds and lengths.

    Nested models are built field by field (hypothesis cannot see pydantic v2 constraints);
    unknown types fall back to ``st.from_type``.
    """
    base, meta = flatten_annotated(annotation, metadata)
    origin = get_origin(base)
    strategy: st.SearchStrategy[Any] | None
    if origin in (Union, types.UnionType):
        args = get_args(base)
        # Values first: ``one_of`` shrinks towards its first branch, and a value is more telling.
        strategy = st.one_of([value_strategy(a, meta) for a in args if a is not type(None)]
                             + ([st.none()] if type(None) in args else []))
    elif origin is Literal:
        strategy = st.sampled_from(get_args(base))
    elif origin in (tuple, list, set, frozenset):
        inner = value_strategy(get_args(base)[0]) if get_args(base) else st.none()
        strategy = st.lists(inner, max_size=3).map(origin)
    elif isinstance(base, type) and issubclass(base, BaseModel):
        strategy = _model_dicts(base).map(base.model_validate)
    elif isinstance(base, type) and issubclass(base, Enum):
        strategy = st.sampled_from(list(base))
    else:
        strategy = _simple(base, meta)
    return st.from_type(base) if strategy is None else strategy


@cache  # strategies are immutable; building them per draw dominated the run time
def _model_dicts(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword dicts for ``model`` that validate (optional fields are sometimes left out)."""
    required = {n: value_strategy(f.annotation, f.metadata)
                for n, f in model.model_fields.items() if f.is_required()}
    optional = {n: value_strategy(f.annotation, f.metadata)
                for n, f in model.model_fields.items() if not f.is_required()}

    def valid(data: dict[str, Any]) -> bool:
        try:
            model.model_validate(data)
        except ValidationError:
            return False
        return True

    return st.fixed_dictionaries(required, optional=optional).filter(valid)


def payloads(spec: MachineSpec, trigger: str, *, hints: Hints | None = None
             ) -> st.SearchStrategy[dict[str, Any]]:
    """Payload dicts of the right *shape* for ``trigger`` (guards may still refuse them)."""
    if hints and trigger in hints:
        return hints[trigger].map(dict)
    return _model_dicts(spec.trigger(trigger).payload)


@st.composite
def valid_payloads(draw: st.DrawFn, machine: EscalationMachine, ticket: Ticket, trigger: str,
                   actor: Actor, *, hints: Hints | None = None, strict: bool = True) -> dict[str, Any]:
    """Payloads with which ``actor`` can fire ``trigger`` on ``ticket`` now (see module docs).

    When neither the search nor the candidates find one (for instance because a guard that does
    not look at the payload refuses), a ``strict`` draw rejects the example (``assume``); otherwise
    it returns the last payload drawn, which the machine will refuse.
    """
    shaped = payloads(machine.spec, trigger, hints=hints)
    payload: dict[str, Any] = {}
    for _ in range(SEARCH_TRIES):
        payload = draw(shaped)
        if machine.explain(ticket, trigger, actor=actor, **payload).ok:
            return payload
    fitting: list[dict[str, Any]] = []
    # When a payload-free guard or the role refuses, no payload can help: skip the candidates
    # (scanning them on every draw made shrinking such examples take seconds).
    if trigger in machine.allowed(ticket, actor):
        candidates = (p for p in _examples_of(machine.spec.trigger(trigger).payload)
                      if machine.explain(ticket, trigger, actor=actor, **p).ok)
        fitting = list(itertools.islice(candidates, 8))
    if not strict and not fitting:
        return payload
    assume(fitting)
    return draw(st.sampled_from(fitting))


_WRONG = st.one_of(st.lists(st.integers(), min_size=1, max_size=2),
                   st.dictionaries(st.just("x"), st.just(1), min_size=1),
                   st.integers(min_value=-(10**6), max_value=-1))
"""Values that few field types accept: lists, dicts, negative numbers."""


def _rejects(model: type[BaseModel], data: Mapping[str, Any]) -> bool:
    try:
        model.model_validate(dict(data))
    except ValidationError:
        return True
    return False


@cache
def _examples_of(model: type[BaseModel]) -> tuple[dict[str, Any], ...]:
    return tuple(example_payloads(model))


def invalid_payloads(spec: MachineSpec, trigger: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payload dicts that ``trigger``'s payload model rejects (pydantic ``ValidationError``).

    An unknown keyword (when the model forbids extras, as :class:`~escalation_fsm.Payload` does)
    or a value of the wrong type for one field. ``st.nothing()`` if there is no way to be wrong.
    """
    return _invalid_dicts(spec.trigger(trigger).payload)


@cache
def _invalid_dicts(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    options: list[st.SearchStrategy[dict[str, Any]]] = []
    if model.model_config.get("extra") == "forbid":
        options.append(st.fixed_dictionaries({"not_a_field": _TEXT}))
    options += [st.fixed_dictionaries({name: _WRONG}) for name in model.model_fields]
    if not options:
        return st.nothing()
    return st.one_of(options).filter(lambda data: _rejects(model, data))


def new_tickets(spec: MachineSpec, *, complete: bool = True,
                ids: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Ticket]:
    """New tickets in ``spec``'s initial stage (empty history).

    ``complete`` tickets have a category and non-blank details (what the default procedure's first
    guards ask for); otherwise either may be missing. ``ids`` defaults to ``T-<8 hex digits>``.
    """
    details = st.text(st.sampled_from("abc xyz"), min_size=1, max_size=20).filter(str.strip)
    categories = st.sampled_from(list(Category))
    return st.builds(
        Ticket,
        id=st.uuids().map(lambda u: f"T-{u.hex[:8]}") if ids is None else ids,
        customer_id=st.sampled_from(["C-1", "C-2", "C-3"]),
        category=categories if complete else st.none() | categories,
        details=details if complete else _TEXT,
        stage=st.just(spec.initial),
    )


@st.composite
def tickets(draw: st.DrawFn, machine: EscalationMachine, stage: str | None = None, *,
            max_steps: int = 12, hints: Hints | None = None) -> Ticket:
    """Tickets reached from a new ticket through a random walk of committed transitions.

    The history is real: every record was fired through ``machine`` (with its hooks). With
    ``stage`` the walk ends there (it only takes transitions from which ``stage`` stays reachable);
    without, it stops anywhere. Walks that cannot get there in ``max_steps`` are rejected.
    """
    spec = machine.spec
    distance = _distances_to(spec, stage) if stage is not None else None
    ticket = draw(new_tickets(spec))
    for _ in range(max_steps + 1):
        if stage is None and draw(st.booleans()):
            return ticket
        if ticket.stage == stage and (distance is None or draw(st.integers(0, 3)) == 0):
            return ticket
        permitted = machine.allowed(ticket)
        allowed = [t for t in spec.transitions_from(ticket.stage)
                   if t.trigger in permitted and (distance is None or t.target in distance)]
        assume(allowed)
        # Closest to the goal first: the walk shrinks towards a shortest path.
        if distance is not None:
            allowed.sort(key=lambda t: distance[t.target])
        transition = draw(st.sampled_from(allowed))
        actor = actor_for(draw(st.sampled_from(sorted(map(str, transition.roles)))))
        payload = draw(valid_payloads(machine, ticket, transition.trigger, actor, hints=hints))
        ticket = machine.fire(ticket, transition.trigger, actor=actor, **payload)
    assume(stage is None or ticket.stage == stage)
    return ticket


def _distances_to(spec: MachineSpec, stage: str) -> dict[str, int]:
    """Graph distance from each stage to ``stage`` (stages that cannot reach it are absent)."""
    distance = {stage: 0}
    frontier = [stage]
    while frontier:
        nxt = []
        for name in frontier:
            for t in spec.transitions:
                if t.target == name and t.source not in distance:
                    distance[t.source] = distance[name] + 1
                    nxt.append(t.source)
        frontier = nxt
    return distance


@st.composite
def trigger_sequences(draw: st.DrawFn, machine: EscalationMachine, ticket: Ticket | None = None, *,
                      max_size: int = 8, hints: Hints | None = None) -> list[TriggerStep]:
    """Sequences of steps mixing allowed and disallowed ones, simulated from ``ticket``.

    Each step is, at random: an allowed trigger with a valid payload; a trigger not defined from
    the current stage (or unknown); a permitted trigger fired by a role that may not; or a payload
    the model rejects. Allowed steps are fired while drawing, so the next step sees the new stage.
    """
    spec = machine.spec
    current = draw(new_tickets(spec)) if ticket is None else ticket
    steps: list[TriggerStep] = []
    for _ in range(draw(st.integers(0, max_size))):
        defined = list(spec.transitions_from(current.stage))
        allowed = [t for t in defined if t.trigger in machine.allowed(current)]
        kind = draw(st.sampled_from(["allowed", "undefined", "forbidden_role", "invalid_payload"]))
        if kind == "allowed" and allowed:
            t = draw(st.sampled_from(allowed))
            actor = actor_for(draw(st.sampled_from(sorted(map(str, t.roles)))))
            payload = draw(valid_payloads(machine, current, t.trigger, actor, hints=hints))
            steps.append(TriggerStep(t.trigger, actor.role, payload))
            current = machine.fire(current, t.trigger, actor=actor, **payload)
        elif kind == "forbidden_role" and defined:
            t = draw(st.sampled_from(defined))
            others = [r for r in (*roles_of(spec), UNKNOWN_ROLE) if r not in t.roles]
            steps.append(TriggerStep(t.trigger, draw(st.sampled_from(others)), {}))
        elif kind == "invalid_payload" and defined:
            t = draw(st.sampled_from(defined))
            steps.append(TriggerStep(t.trigger, sorted(map(str, t.roles))[0],
                                     draw(invalid_payloads(spec, t.trigger))))
        else:
            names = {t.trigger for t in defined}
            undefined = [n for n in (*spec.trigger_names, UNKNOWN_TRIGGER) if n not in names]
            steps.append(TriggerStep(draw(st.sampled_from(undefined)), roles_of(spec)[0], {}))
    return steps
