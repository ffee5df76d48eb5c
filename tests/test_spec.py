"""MachineSpec is validated as a whole and reports every problem at once."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from escalation_fsm import (
    Decision,
    GuardSpec,
    MachineSpec,
    Role,
    SpecError,
    Stage,
    StageSpec,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    default_spec,
)

ROLES = frozenset({Role.AGENT})


def stage(name: str, **kw: Any) -> StageSpec:
    return StageSpec(name=name, description=f"the {name} stage", **kw)


def trigger(name: str, **kw: Any) -> TriggerSpec:
    return TriggerSpec(name=name, description=f"the {name} trigger", **kw)


def move(trig: str, source: str, dest: str | None, **kw: Any) -> TransitionSpec:
    return TransitionSpec(trigger=trig, source=source, dest=dest, roles=kw.pop("roles", ROLES), **kw)


def tiny(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "tiny",
        "stages": (stage("open", initial=True), stage("done", final=True)),
        "triggers": (trigger("finish"),),
        "transitions": (move("finish", "open", "done"),),
    }
    return {**spec, **overrides}


def problems_of(**overrides: Any) -> tuple[str, ...]:
    with pytest.raises(SpecError) as info:
        MachineSpec(**tiny(**overrides))
    return info.value.problems


def test_a_valid_tiny_spec() -> None:
    """The smallest sensible spec builds and answers questions about itself."""
    spec = MachineSpec(**tiny())
    assert (spec.initial, spec.finals, spec.stage_names) == ("open", {"done"}, ("open", "done"))
    assert spec.transition("open", "finish") == move("finish", "open", "done")
    assert spec.transition("done", "finish") is None


def test_default_spec_shape() -> None:
    """The shipped spec follows the procedure: five stages, identified first, feedback final."""
    spec = default_spec()
    assert spec.stage_names == tuple(Stage)
    assert spec.initial == Stage.IDENTIFIED
    assert spec.finals == {Stage.FEEDBACK}
    assert set(spec.trigger_names) == set(Trigger)
    assert default_spec() is spec  # built once


def test_spec_error_is_a_value_error_listing_every_problem() -> None:
    """Several problems come back together in .problems and in the message."""
    problems = problems_of(
        stages=(stage("open"), stage("done"), stage("open")),
        transitions=(move("finish", "open", "gone"), move("jump", "open", "done", guards=("nope",))),
    )
    assert set(problems) == {
        "stage 'open' is declared more than once",
        "exactly one stage must be initial; found 0: []",
        "no stage is final: mark at least one stage final=True",
        "transition 'open' --finish-->: unknown destination stage 'gone'",
        "transition 'open' --jump-->: unknown trigger 'jump'",
        "transition 'open' --jump-->: unknown guard 'nope'",
    }
    with pytest.raises(ValueError, match=r"6 problem\(s\)"):
        MachineSpec(**tiny(stages=(stage("open"), stage("done"), stage("open")),
                           transitions=(move("finish", "open", "gone"),
                                        move("jump", "open", "done", guards=("nope",)))))


def test_two_initial_stages() -> None:
    """Exactly one initial stage."""
    assert problems_of(stages=(stage("open", initial=True), stage("done", initial=True, final=True))) == (
        "exactly one stage must be initial; found 2: ['open', 'done']",)


def test_unreachable_and_trap_stages() -> None:
    """A stage nothing leads to is unreachable; a stage that leads nowhere final is a trap."""
    problems = problems_of(
        stages=(stage("open", initial=True), stage("stuck"), stage("island"), stage("done", final=True)),
        triggers=(trigger("finish"), trigger("wander")),
        transitions=(move("finish", "open", "done"), move("wander", "open", "stuck"),
                     move("wander", "island", "done")),
    )
    assert problems == ("stage 'island' is unreachable from the initial stage 'open'",
                        "stage 'stuck' is a trap: no final stage can be reached from it")


def test_undocumented_unused_and_duplicate_items() -> None:
    """Triggers, stages and guards must be documented; triggers used; (source, trigger) unique."""
    guard = GuardSpec(name="g", requirement=" ", check=lambda ctx: Decision.yes())
    problems = problems_of(
        stages=(stage("open", initial=True), StageSpec(name="done", description="", final=True)),
        triggers=(trigger("finish"), TriggerSpec(name="idle", description="")),
        transitions=(move("finish", "open", "done"), move("finish", "open", "done")),
        guards=(guard,),
    )
    assert set(problems) == {
        "transition (source, trigger) ('open', 'finish') is declared more than once",
        "stage 'done' has no description",
        "trigger 'idle' has no description",
        "guard 'g' has no requirement sentence",
        "trigger 'idle' is used by no transition",
    }


def test_names_must_be_identifiers_and_roles_non_empty() -> None:
    """Names end up in diagrams and code: lower-case identifiers only; every move needs a role."""
    with pytest.raises(ValidationError, match="pattern"):
        StageSpec(name="Closed Stage", description="x")
    with pytest.raises(ValidationError, match="roles"):
        TransitionSpec(trigger="finish", source="open", dest="done", roles=frozenset())


def test_roles_are_stored_as_plain_strings() -> None:
    """Role members and strings give equal transitions."""
    assert move("finish", "open", "done", roles={Role.AGENT}) == move("finish", "open", "done",
                                                                       roles={"agent"})


def test_extend_adds_replaces_and_removes() -> None:
    """extend() returns a new validated spec; same-named items replace; keys can be removed."""
    base = default_spec()
    spec = base.extend(
        stages=[StageSpec(name="feedback", description="asked"),
                StageSpec(name="closed", description="closed", final=True)],
        triggers=[trigger("close")],
        transitions=[move("close", "feedback", "closed"),
                     move("escalate", "attempted", "escalated", guards=("has_summary",))],
        remove_transitions=[("feedback", "reopen")],
    )
    assert spec.finals == {"closed"}
    assert spec.transition("attempted", "escalate").guards == ("has_summary",)  # type: ignore[union-attr]
    assert spec.transition("feedback", "reopen") is None
    assert base.finals == {"feedback"}  # the original is untouched
    assert base.transition("attempted", "escalate").guards == (  # type: ignore[union-attr]
        "has_steps", "has_summary", "escalation_warranted")


def test_extend_rejects_removing_unknown_transitions() -> None:
    """Removing a transition that does not exist is an error, not a silent no-op."""
    with pytest.raises(SpecError, match="cannot remove unknown transition"):
        default_spec().extend(remove_transitions=[("identified", "resolve")])


def test_extend_that_breaks_the_graph_is_refused() -> None:
    """Dropping the only way into a stage makes it unreachable: refused."""
    with pytest.raises(SpecError, match="'escalated' is unreachable"):
        default_spec().extend(remove_transitions=[("attempted", "escalate")])


def test_transition_target_and_self_loops() -> None:
    """dest=None means the ticket stays where it is."""
    loop = default_spec().transition("attempted", "record_step")
    assert loop is not None and loop.dest is None and loop.target == "attempted"
