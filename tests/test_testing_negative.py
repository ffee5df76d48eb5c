"""guard_cover / role_cover: a shortest path to every refusal the procedure promises, as data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from custom_spec import EXAMPLES, SPEC
from renamed_procedure import renamed_spec, translate

from escalation_fsm import (
    Category,
    Decision,
    EscalationMachine,
    GuardSpec,
    ManualClock,
    PermissionDenied,
    SpecError,
    TransitionRefused,
    TransitionSpec,
    default_spec,
)
from escalation_fsm.testing import (
    InvariantViolated,
    RefusalPath,
    SpecSnapshot,
    TriggerStep,
    guard_cover,
    role_cover,
    transition_cover,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
GUARD_PATHS = guard_cover(default_spec())
ROLE_PATHS = role_cover(default_spec())


def machine() -> EscalationMachine:
    return EscalationMachine(clock=ManualClock(START))


def test_every_guard_of_every_transition_has_a_refusal_path() -> None:
    """One path per (transition, guard), in declaration order, each refused by that guard alone."""
    expected = [(t.source, t.trigger, g) for t in default_spec().transitions for g in t.guards]
    assert [(p.source, p.trigger, p.guard) for p in GUARD_PATHS] == expected


@pytest.mark.parametrize("path", GUARD_PATHS, ids=str)
def test_each_guard_path_is_refused_by_exactly_its_guard(path: RefusalPath) -> None:
    """Replayed on the default machine: TransitionRefused, failed_guards == (guard,), the
    reasons the path promises, and nothing changed."""
    refusal = path.check(machine())
    assert isinstance(refusal, TransitionRefused)
    assert tuple(refusal.failed_guards) == (path.guard,)
    assert refusal.reasons == path.reasons and path.reasons


def test_guard_paths_are_shortest_and_take_the_guards_detours() -> None:
    """Payload-free guards are refused where the fact is missing; ticket-field guards from a
    start ticket without that field."""
    by_goal = {p.goal: p for p in GUARD_PATHS}
    category = by_goal["identified --attempt--> attempted refused by has_category"]
    assert (category.steps, category.start.category) == ((), None)
    details = by_goal["identified --attempt--> attempted refused by has_details"]
    assert details.start.details == ""
    steps = by_goal["attempted --escalate--> escalated refused by has_steps"]
    assert [str(s) for s in steps.steps] == ["attempt by agent"]
    summary = by_goal["attempted --escalate--> escalated refused by has_summary"]
    assert [str(s) for s in summary.steps] == ["attempt by agent", "record_step by agent"]
    assert "summary" not in summary.attempt.payload
    notified = by_goal["escalated --resolve--> resolved refused by customer_notified"]
    assert [s.trigger for s in notified.steps] == ["attempt", "record_step", "escalate"]
    solution = by_goal["escalated --resolve--> resolved refused by has_solution"]
    assert solution.steps[-1].trigger == "notify_customer"     # so that only has_solution says no


@pytest.mark.parametrize("path", ROLE_PATHS, ids=str)
def test_each_role_path_is_denied(path: RefusalPath) -> None:
    """The role's attempt where an allowed role would fire: PermissionDenied, nothing changed."""
    assert isinstance(path.check(machine()), PermissionDenied)


def test_role_paths_cover_every_other_role_of_every_transition() -> None:
    """For each transition, each role the spec knows that may not fire it."""
    roles = {r for t in default_spec().transitions for r in t.roles}
    expected = [(t.source, t.trigger, r) for t in default_spec().transitions for r in sorted(roles - t.roles)]
    assert [(p.source, p.trigger, p.attempt.role) for p in ROLE_PATHS] == expected
    assert str(ROLE_PATHS[0]) == "identified --attempt--> attempted denied to customer"
    assert role_cover(default_spec(), roles=["stranger"])[0].attempt.role == "stranger"


def test_a_check_that_fails_says_what_happened_instead() -> None:
    """Committed, another error, another guard: each is a readable InvariantViolated."""
    path = GUARD_PATHS[0]
    committing = RefusalPath(path.goal, path.source, path.trigger, path.guard, (),
                             TriggerStep("attempt", "agent"), path.start.model_copy(
                                 update={"category": Category.OTHER}), path.reasons)
    with pytest.raises(InvariantViolated, match="expected TransitionRefused, but attempt by agent "
                                                "committed into 'attempted'"):
        committing.check(machine())
    other_guard = RefusalPath(path.goal, path.source, path.trigger, "has_details", (),
                              path.attempt, path.start, path.reasons)
    with pytest.raises(InvariantViolated, match=r"refused by \('has_category',\) with reasons"):
        other_guard.check(machine())
    denied = RefusalPath(path.goal, path.source, path.trigger, path.guard, (),
                         TriggerStep("attempt", "customer"), path.start, path.reasons)
    with pytest.raises(InvariantViolated, match="expected TransitionRefused, got PermissionDenied"):
        denied.check(machine())
    assert committing.expected_error is TransitionRefused
    assert ROLE_PATHS[0].expected_error is PermissionDenied


def test_a_guard_that_never_refuses_alone_is_reported_unless_not_strict() -> None:
    """Two guards that always agree: neither can refuse alone, so both are named."""
    twin = GuardSpec(name="twin", requirement="a step is recorded", check=default_spec().guard(
        "has_steps").check, ticket_fields=frozenset({"steps"}))
    escalate = default_spec().transition("attempted", "escalate")
    assert escalate is not None
    spec = default_spec().extend(guards=[twin], transitions=[escalate.model_copy(
        update={"guards": ("has_steps", "twin", "has_summary", "escalation_warranted")})])
    with pytest.raises(SpecError) as caught:
        guard_cover(spec)
    assert caught.value.problems == (
        "no reachable ticket lets guard 'has_steps' alone refuse attempted --escalate-->: pass "
        "examples={'escalate': [...]}, another start ticket, or strict=False",
        "no reachable ticket lets guard 'twin' alone refuse attempted --escalate-->: pass "
        "examples={'escalate': [...]}, another start ticket, or strict=False")
    assert len(guard_cover(spec, strict=False)) == len(GUARD_PATHS) - 1    # +twin, -both


def test_role_cover_reports_a_transition_no_path_reaches() -> None:
    """A dead transition cannot be attempted where it would otherwise fire."""
    never = GuardSpec(name="never", requirement="never", check=lambda ctx: Decision.no("never"))
    dead = default_spec().extend(guards=[never], transitions=[TransitionSpec(
        trigger="request_feedback", source="resolved", dest="feedback", roles={"system"},
        guards=("never",))])
    with pytest.raises(SpecError, match="resolved --request_feedback--> feedback"):
        role_cover(dead)


def test_a_custom_spec_with_its_examples_is_covered() -> None:
    """The Tier 3 spec's own guard needs the host's examples, as for transition_cover."""
    paths = guard_cover(SPEC, examples=EXAMPLES)
    tier3 = [p for p in paths if p.trigger == "escalate_tier3"]
    assert [p.guard for p in tier3] == ["customer_notified", "has_engineering_ticket"]
    custom = EscalationMachine(SPEC, clock=ManualClock(START))
    for path in (*paths, *role_cover(SPEC, examples=EXAMPLES)):
        path.check(custom)


def test_the_renamed_procedure_gets_the_same_covers() -> None:
    """Marks, not names: the renamed procedure's refusal paths are the default's, translated."""
    renamed = {p.goal: [(s.trigger, s.role) for s in p.steps] for p in guard_cover(renamed_spec())}
    for path in GUARD_PATHS:
        twin = (f"{translate(path.source)} --{translate(path.trigger)}--> "
                f"{translate(path.goal.split('--> ')[1].split(' ')[0])} refused by {translate(path.guard or '')}")
        assert renamed[twin] == [(translate(s.trigger), s.role) for s in path.steps]
    assert len(role_cover(renamed_spec())) > len(ROLE_PATHS)


def test_a_reference_supplies_the_guards_and_roles() -> None:
    """With an approved snapshot as reference, a guard the spec dropped still gets its path,
    and a role the spec added still gets its denial: both fail their check on that spec."""
    approved = SpecSnapshot.from_spec(default_spec())
    escalate = default_spec().transition("attempted", "escalate")
    assert escalate is not None
    loose = default_spec().extend(transitions=[escalate.model_copy(update={
        "guards": ("has_summary", "escalation_warranted"),
        "roles": frozenset({"agent", "supervisor", "customer"})})])
    guards = guard_cover(loose, reference=approved)
    dropped = next(p for p in guards if p.guard == "has_steps")
    roles = role_cover(loose, reference=approved)
    added = next(p for p in roles if p.trigger == "escalate" and p.attempt.role == "customer")
    loose_machine = EscalationMachine(loose, clock=ManualClock(START))
    for path in (dropped, added):
        with pytest.raises(InvariantViolated, match="committed into 'escalated'"):
            path.check(loose_machine)


def test_covers_are_plain_data() -> None:
    """Paths compare equal when computed twice and print as their goal."""
    assert guard_cover(default_spec()) == GUARD_PATHS
    assert str(GUARD_PATHS[0]) == "identified --attempt--> attempted refused by has_category"
    assert len(transition_cover(default_spec())) == len(default_spec().transitions)


def test_the_covers_report_what_they_exercise() -> None:
    """Transition, guard and role covers together exercise everything in the spec; each alone
    misses what the others are for."""
    from escalation_fsm.testing import cover_report

    every = cover_report(default_spec(), transition_cover(default_spec()), GUARD_PATHS, ROLE_PATHS)
    assert every.missing() == []
    assert every.runs == len(default_spec().transitions) + len(GUARD_PATHS) + len(ROLE_PATHS)
    assert every.refusals == {"guard": len(GUARD_PATHS), "forbidden_role": len(ROLE_PATHS)}
    alone = cover_report(default_spec(), transition_cover(default_spec()))
    assert alone.missing(["transitions"]) == []
    assert alone.missing(["guards"]) and alone.missing(["roles"])
