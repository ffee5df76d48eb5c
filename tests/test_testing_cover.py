"""transition_cover / stage_cover: a shortest fireable path per transition and per stage."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from custom_spec import EXAMPLES, SPEC

from escalation_fsm import (
    EscalationMachine,
    EscalationPolicy,
    GuardSpec,
    MachineSpec,
    ManualClock,
    SpecError,
    Ticket,
    TransitionSpec,
    default_spec,
)
from escalation_fsm.policy import Decision
from escalation_fsm.testing import (
    CoverPath,
    TriggerStep,
    actor_for,
    example_payloads,
    example_ticket,
    stage_cover,
    transition_cover,
)
from escalation_fsm.testing._examples import candidate_values

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

DEFAULT_PATHS = transition_cover(default_spec())


def _graph_distance(spec: MachineSpec, transition: TransitionSpec) -> int:
    """Transitions needed to fire ``transition`` on the bare graph (guards ignored)."""
    distance = {spec.initial: 0}
    queue = deque([spec.initial])
    while queue:
        stage = queue.popleft()
        for t in spec.transitions_from(stage):
            if t.target not in distance:
                distance[t.target] = distance[stage] + 1
                queue.append(t.target)
    return distance[transition.source] + 1


def test_default_cover_has_one_path_per_transition() -> None:
    """100% transition coverage: every transition of the default spec has exactly one path."""
    spec = default_spec()
    assert [p.transition for p in DEFAULT_PATHS] == list(spec.transitions)
    assert {p.transition.key for p in DEFAULT_PATHS if p.transition} == {t.key for t in spec.transitions}


@pytest.mark.parametrize("path", DEFAULT_PATHS, ids=str)
def test_each_default_path_fires_its_transition(path: CoverPath) -> None:
    """Replayed through a fresh machine, each path ends by firing exactly its transition."""
    assert path.transition is not None
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=1)))
    ticket = path.replay(machine)
    last = ticket.history[-1]
    assert (last.source, last.trigger, last.dest) == (
        path.transition.source, path.transition.trigger, path.transition.target)
    assert ticket.stage == path.stage == path.transition.target
    assert ticket.version == len(path.steps)
    # Shortest: never shorter than the bare graph allows, and the guards' detours are known.
    assert len(path.steps) >= _graph_distance(default_spec(), path.transition)


def test_default_paths_take_the_guards_detours() -> None:
    """Graph-shortest paths are not fireable: escalate needs a step, resolve a notification."""
    by_goal = {str(p): [str(step) for step in p.steps] for p in DEFAULT_PATHS}
    assert by_goal["attempted --escalate--> escalated"] == [
        "attempt by agent", "record_step by agent", "escalate by agent"]
    assert by_goal["escalated --resolve--> resolved"][-2:] == [
        "notify_customer by agent", "resolve by supervisor"]


def test_stage_cover_reaches_every_stage() -> None:
    """Each stage path ends in its stage; the initial stage's path is empty."""
    machine = EscalationMachine(clock=ManualClock(START))
    paths = stage_cover(default_spec())
    assert [p.stage for p in paths] == list(default_spec().stage_names)
    assert paths[0].steps == ()
    for path in paths:
        assert path.replay(machine).stage == path.stage


def test_custom_spec_needs_examples_for_a_format_the_search_cannot_guess() -> None:
    """Without examples the Tier 3 transitions are reported, all at once; with them, covered."""
    with pytest.raises(SpecError) as refused:
        transition_cover(SPEC)
    assert refused.value.problems == (
        "no fireable path reaches transition escalated --escalate_tier3--> tier3: its guards were "
        "never satisfied; pass examples={'escalate_tier3': [...]} or another start ticket",
        "no fireable path reaches transition tier3 --notify_customer--> tier3: its source stage "
        "'tier3' was never reached",
        "no fireable path reaches transition tier3 --resolve--> resolved: its source stage 'tier3' "
        "was never reached",
    )
    paths = transition_cover(SPEC, examples=EXAMPLES)
    machine = EscalationMachine(SPEC, clock=ManualClock(START))
    assert {p.transition.key for p in paths if p.transition} == {t.key for t in SPEC.transitions}
    for path in paths:
        assert path.replay(machine).history[-1].trigger == path.steps[-1].trigger
    with pytest.raises(SpecError, match="stage 'tier3'"):
        stage_cover(SPEC)
    assert stage_cover(SPEC, examples=EXAMPLES)[-1].stage == "closed"


def test_policy_and_start_ticket_are_honoured() -> None:
    """A stricter policy changes the escalation payload; a given start ticket is kept."""
    strict = EscalationPolicy(min_signals=3)
    start = example_ticket(default_spec(), id="T-9", details="Printer on fire")
    path = next(p for p in transition_cover(default_spec(), policy=strict, start=start)
                if str(p) == "attempted --escalate--> escalated")
    assessment = path.steps[-1].payload["assessment"]
    assert strict.decide(assessment).ok
    assert path.start.id == "T-9"
    replayed = path.replay(EscalationMachine(policy=strict, clock=ManualClock(START)))
    assert replayed.id == "T-9"


def test_a_guard_nothing_satisfies_is_reported() -> None:
    """A dead transition (its guard never passes) makes the cover fail loudly."""
    never = GuardSpec(name="never", requirement="never", check=lambda ctx: Decision.no("never"))
    dead = default_spec().extend(
        guards=[never],
        transitions=[TransitionSpec(trigger="request_feedback", source="resolved", dest="feedback",
                                    roles={"system"}, guards=("never",))])
    with pytest.raises(SpecError, match="resolved --request_feedback--> feedback"):
        transition_cover(dead)


def test_steps_are_plain_data() -> None:
    """Paths compare, print and replay from data alone (usable as parametrize values)."""
    step = TriggerStep("record_step", "agent", {"step": "x"})
    assert step == TriggerStep("record_step", "agent", {"step": "x"})
    assert str(step) == "record_step by agent"
    assert actor_for("tier3").id == "tier3-1"
    assert transition_cover(default_spec()) == DEFAULT_PATHS
    ticket = Ticket(id="T-2", customer_id="C", category="other", details="d")
    assert DEFAULT_PATHS[0].replay(EscalationMachine(), ticket).id == "T-2"


def test_example_payloads_cover_field_types() -> None:
    """The deterministic candidates honour bounds, lengths, literals, collections and defaults."""
    from typing import Annotated, Literal

    from annotated_types import Gt, Le, MaxLen, MinLen
    from pydantic import BaseModel

    from escalation_fsm import Payload

    class Odd(Payload):
        kind: Literal["a", "b"]
        count: Annotated[int, Gt(2), Le(4)]
        ratio: Annotated[float, Le(0.5)] = 0.0
        code: Annotated[str, MinLen(20), MaxLen(25)] = "x" * 20
        tags: tuple[str, ...] = ()
        flag: bool = False
        when: object = None

    first = example_payloads(Odd)[0]
    assert first["kind"] == "a"
    assert first["count"] == 3
    assert 20 <= len(first["code"]) <= 25
    assert first["tags"] == ("Example tags",)
    assert first["flag"] is True
    assert "when" not in first
    assert candidate_values(Annotated[float, Le(0.5)]) == [0.5, 0.0]
    assert example_payloads(Odd, {"x": [{"kind": "b"}]}, trigger="x")[0] == {"kind": "b"}

    class Nested(BaseModel):
        inner: Odd | None
    assert candidate_values(Nested)[0].inner == Odd.model_validate(first)
