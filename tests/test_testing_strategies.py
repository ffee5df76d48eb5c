"""The strategies derived from a spec, on the default spec and on the custom Tier 3 spec."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import pytest
from annotated_types import Gt, Lt, MaxLen, MinLen
from custom_spec import HINTS, SPEC
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from escalation_fsm import (
    EscalationError,
    EscalationMachine,
    InvalidTransition,
    ManualClock,
    PermissionDenied,
    Ticket,
    TransitionRefused,
    default_spec,
)
from escalation_fsm.testing import (
    TriggerStep,
    actor_for,
    actors,
    invalid_payloads,
    new_tickets,
    payloads,
    roles_of,
    tickets,
    trigger_sequences,
    valid_payloads,
)
from escalation_fsm.testing.strategies import UNKNOWN_ROLE, value_strategy

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Each example walks the machine through several transitions: a few dozen suffice, whatever the
# profile (the "ci" profile's 200 would make these the slowest tests of the suite).
SLOW_OK = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                   deadline=None, max_examples=30)
MACHINES = {"default": EscalationMachine(clock=ManualClock(START)),
            "tier3": EscalationMachine(SPEC, clock=ManualClock(START))}


def replayed(machine: EscalationMachine, ticket: Ticket) -> Ticket:
    """Re-fire a ticket's history on its first version: a real history replays to the same ticket."""
    current = ticket.model_copy(update={"stage": machine.spec.initial, "history": (), "version": 0,
                                        "steps": (), "escalation": None, "solution": None,
                                        "feedback": None, "tags": (), "tier": 1,
                                        "priority": "normal"})
    for record in ticket.history:
        current = machine.fire(current, record.trigger,
                               actor=actor_for(record.actor_role), **record.payload)
    return current


@pytest.mark.parametrize(("name", "stage"), [
    (name, stage) for name in sorted(MACHINES)
    for stage in ("attempted", "escalated", "feedback", "tier3", "closed")
    if MACHINES[name].spec.has_stage(stage)
])
def test_tickets_reach_a_chosen_stage_with_a_real_history(name: str, stage: str) -> None:
    """The ticket is in the stage, and firing its history again from scratch gives it back."""
    machine = MACHINES[name]

    @SLOW_OK
    @given(tickets(machine, stage, hints=HINTS))
    def check(ticket: Ticket) -> None:
        assert ticket.stage == stage
        assert ticket.version == len(ticket.history) >= 1
        again = replayed(machine, ticket)
        assert again.stage == ticket.stage
        assert [(r.trigger, r.source, r.dest, r.payload) for r in again.history] == \
            [(r.trigger, r.source, r.dest, r.payload) for r in ticket.history]

    check()


@SLOW_OK
@given(tickets(MACHINES["default"]))
def test_tickets_without_a_stage_stop_anywhere(ticket: Ticket) -> None:
    """Any stage, any length, always consistent."""
    assert default_spec().has_stage(ticket.stage)
    assert ticket.version == len(ticket.history)


@SLOW_OK
@given(tickets(MACHINES["default"], "identified"))
def test_tickets_in_the_initial_stage_are_new(ticket: Ticket) -> None:
    """Nothing leads back to ``identified``: every record the walk made stays there."""
    assert ticket.stage == "identified"
    assert all(r.source == r.dest == "identified" for r in ticket.history)


@given(actors(SPEC, include_strangers=True))
def test_actors_have_the_roles_of_the_spec(actor: Any) -> None:
    """Actors of the spec's roles (tier3 included), or of no role at all when asked."""
    assert actor.role in (*roles_of(SPEC), UNKNOWN_ROLE)
    assert actor.id == f"{actor.role}-1"


def test_roles_are_read_from_the_spec() -> None:
    """The custom role appears; nothing is hard-coded to the default procedure."""
    assert "tier3" in roles_of(SPEC)
    assert "tier3" not in roles_of(default_spec())


@SLOW_OK
@given(st.data())
def test_valid_payloads_fire(data: st.DataObject) -> None:
    """For every allowed transition of a reached ticket, the payload drawn commits."""
    machine = MACHINES["tier3"]
    ticket = data.draw(tickets(machine, hints=HINTS))
    for transition in machine.spec.transitions_from(ticket.stage):
        if transition.trigger not in machine.allowed(ticket):
            continue
        actor = actor_for(sorted(transition.roles)[0])
        payload = data.draw(valid_payloads(machine, ticket, transition.trigger, actor, hints=HINTS))
        after = machine.fire(ticket, transition.trigger, actor=actor, **payload)
        assert after.version == ticket.version + 1


def test_valid_payloads_fall_back_to_candidates_or_reject() -> None:
    """A ticket-level guard that refuses: a non-strict draw returns a payload that is refused."""
    machine = MACHINES["default"]
    attempted = machine.fire(Ticket(id="T", customer_id="C", category="other", details="d"),
                             "attempt", actor=actor_for("agent"))
    agent = actor_for("agent")
    # escalate needs a recorded step: no payload can help.
    quick = settings(max_examples=10, database=None)
    lenient = find(valid_payloads(machine, attempted, "escalate", agent, strict=False),
                   lambda p: True, settings=quick)
    assert not machine.explain(attempted, "escalate", actor=agent, **lenient).ok
    # With the random draws shrunk to blanks, the deterministic candidates still find one.
    solved = find(valid_payloads(machine, attempted, "resolve", agent), lambda p: True, settings=quick)
    assert solved == {"solution": "Example solution"}


@given(st.data())
def test_invalid_payloads_are_refused_by_the_model(data: st.DataObject) -> None:
    """Every invalid payload raises ValidationError through fire, and changes nothing."""
    spec = default_spec()
    trigger = data.draw(st.sampled_from(spec.trigger_names))
    payload = data.draw(invalid_payloads(spec, trigger))
    with pytest.raises(ValidationError):
        spec.trigger(trigger).payload.model_validate(payload)


def test_invalid_payloads_of_a_model_that_accepts_anything_is_empty() -> None:
    """No way to be wrong, no examples (rather than a strategy that always fails)."""
    from pydantic import ConfigDict

    from escalation_fsm import Payload, TriggerSpec

    class Anything(Payload):
        model_config = ConfigDict(extra="allow")

    spec = SPEC.extend(triggers=[TriggerSpec(name="close", payload=Anything, description="Close.")])
    assert invalid_payloads(spec, "close").is_empty
    assert not invalid_payloads(spec, "resolve").is_empty


@given(payloads(default_spec(), "record_feedback"))
def test_payloads_have_the_model_shape(payload: dict[str, Any]) -> None:
    """Shaped payloads validate (guards may still refuse them)."""
    assert 1 <= payload["rating"] <= 5


@given(payloads(SPEC, "escalate_tier3", hints=HINTS))
def test_hints_replace_the_derived_strategy(payload: dict[str, Any]) -> None:
    """A hinted trigger draws from the hint."""
    assert payload["engineering_ticket"].startswith("ENG-")


@SLOW_OK
@given(st.data())
def test_trigger_sequences_mix_allowed_and_refused_steps(data: st.DataObject) -> None:
    """Replayed, allowed steps commit and the others raise a declared error, changing nothing."""
    machine = MACHINES["default"]
    start = data.draw(new_tickets(machine.spec))
    steps = data.draw(trigger_sequences(machine, start))
    ticket = start
    for step in steps:
        try:
            after = step.fire(machine, ticket)
        except (EscalationError, ValidationError):
            continue
        assert after.version == ticket.version + 1
        ticket = after


def test_trigger_sequences_contain_every_kind_of_step() -> None:
    """Some sequence mixes committed steps with each kind of refusal."""
    machine = MACHINES["default"]

    def kinds(steps: list[TriggerStep]) -> set[str]:
        found: set[str] = set()
        ticket = Ticket(id="T-1", customer_id="C", category="other", details="d")
        for step in steps:
            try:
                ticket = step.fire(machine, ticket)
                found.add("committed")
            except (InvalidTransition, PermissionDenied, TransitionRefused, ValidationError) as exc:
                found.add(type(exc).__name__)
        return found

    start = Ticket(id="T-1", customer_id="C", category="other", details="d")
    example = find(trigger_sequences(machine, start, max_size=8),
                   lambda steps: kinds(steps) >= {"committed", "InvalidTransition",
                                                  "PermissionDenied", "ValidationError"},
                   settings=settings(max_examples=2000, deadline=None, database=None))
    assert len(example) >= 4


@given(new_tickets(default_spec(), complete=False))
def test_incomplete_new_tickets_may_miss_category_or_details(ticket: Ticket) -> None:
    """New tickets are always in the initial stage with an empty history."""
    assert ticket.stage == "identified"
    assert ticket.history == ()


@given(st.data())
def test_value_strategy_honours_annotations(data: st.DataObject) -> None:
    """Bounds, lengths, literals, collections and scalars of pydantic field annotations."""
    assert 0 < data.draw(value_strategy(Annotated[float, Gt(0), Lt(1)])) < 1
    assert 2 <= len(data.draw(value_strategy(Annotated[str, MinLen(2), MaxLen(3)]))) <= 3
    assert data.draw(value_strategy(Literal["x", "y"])) in {"x", "y"}
    assert all(isinstance(v, int) for v in data.draw(value_strategy(list[int])))
    assert isinstance(data.draw(value_strategy(tuple)), tuple)
    assert isinstance(data.draw(value_strategy(bool)), bool)
    assert isinstance(data.draw(value_strategy(date)), date)
    assert data.draw(value_strategy(datetime)).tzinfo is not None
    assert data.draw(value_strategy(Annotated[timedelta, Gt(timedelta(0))])) > timedelta(0)
    assert isinstance(data.draw(value_strategy(bytes)), bytes)  # falls back to st.from_type


def test_import_escalation_fsm_does_not_import_hypothesis() -> None:
    """The core stays free of the testing extra's dependency."""
    code = "import sys, escalation_fsm; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
