"""The stateful base: it passes on correct integrations and catches seeded bugs, minimal and replayable.

The seeded-bug tests run hypothesis's default search (100 runs of up to 50 steps), derandomized
so that they cannot flake. ``MyMachine.run()`` re-raises a failure as ``RunFailed`` naming the
check and the step, with the minimal run as a pytest function (``pytest -s`` prints it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from custom_spec import HINTS, SPEC, TIER3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from escalation_fsm import (
    Actor,
    EscalationMachine,
    PermissionDenied,
    SpecError,
    Ticket,
    TransitionEvent,
    TransitionRefused,
    TriggerSpec,
    default_spec,
)
from escalation_fsm.stores import SQLiteStore
from escalation_fsm.testing import (
    Call,
    CoverageIncomplete,
    EscalationStateMachine,
    Fire,
    InvariantViolated,
    Open,
    Outcome,
    RunFailed,
    host_rule,
    outcome_invariant,
    ticket_invariant,
)

# Passing runs: the default spec gets the loaded profile's example count ("ci": 200, "dev": 60);
# the variants (custom spec, store, vetoing hooks) at most 50, which keeps the suite's run time
# reasonable on 2 cores. Walks of 30 steps reach every stage of both specs.
PASSING = settings(deadline=None, stateful_step_count=30,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
VARIANT = settings(PASSING, max_examples=min(50, PASSING.max_examples))
# Runs that also assert what was exercised are derandomized: a suite must not fail on a lucky draw.
COUNTED = {"derandomize": True, "database": None}
SEEDED = settings(settings.get_profile("default"), database=None, derandomize=True, deadline=None,
                  suppress_health_check=list(HealthCheck))


def failure_of(machine_class: type[EscalationStateMachine]) -> RunFailed:
    """Run ``machine_class`` expecting the toolkit to fail; the minimal failure."""
    with pytest.raises(RunFailed) as caught:
        machine_class.run(SEEDED)
    print(f"\n--- {machine_class.__name__}: {caught.value}")
    return caught.value


def triggers(found: RunFailed) -> list[str]:
    return [step.trigger for step in found.steps if isinstance(step, Fire)]


# -- passing runs ---------------------------------------------------------------------------------


class DefaultProcedure(EscalationStateMachine):
    """The default spec, with a pager hook and host invariants, as a host would write it."""

    def register_hooks(self, machine: EscalationMachine) -> None:
        self.paged: list[str] = []
        machine.after("escalate")(lambda event: self.paged.append(event.after.id))

    @ticket_invariant
    def escalations_were_paged(self, ticket: Ticket) -> None:
        escalations = sum(1 for r in ticket.history if r.trigger == "escalate")
        assert self.paged.count(ticket.id) == escalations

    @ticket_invariant
    def tier2_tickets_are_tagged(self, ticket: Ticket) -> None:
        assert (ticket.escalation is None) == ("tier2-review" not in ticket.tags)


def test_the_default_procedure_holds_and_every_transition_and_guard_outcome_is_seen() -> None:
    """The base passes on the default spec, and its runs are not vacuous: every transition
    commits and every guard is seen passing and refusing."""
    report = DefaultProcedure.run(settings(PASSING, max_examples=150, stateful_step_count=50, **COUNTED))
    assert report.missing(["transitions", "guards"]) == []
    assert report.refusals["guard"] > report.refusals["undefined"]


class Tier3Procedure(EscalationStateMachine):
    """A custom spec with a Tier 3 stage and a closed stage; hints for the ENG-<n> format."""

    spec = SPEC
    hints = HINTS

    @ticket_invariant
    def tier3_tickets_are_at_tier_3(self, ticket: Ticket) -> None:
        assert ticket.stage != TIER3 or ticket.tier == 3

    @outcome_invariant
    def only_tier2_hands_to_tier3(self, outcome: Outcome) -> None:
        assert not (outcome.committed and outcome.trigger == "escalate_tier3") or \
            outcome.actor.role == "tier2"


def test_a_custom_spec_with_tier3_and_closed_holds() -> None:
    """The base passes on the custom spec and reaches its new stages (thanks to the hints)."""
    report = Tier3Procedure.run(settings(VARIANT, **COUNTED))
    assert report.transitions[("escalated", "escalate_tier3")] > 0
    assert report.transitions[("tier3", "resolve")] > 0
    assert report.transitions[("feedback", "close")] > 0


class FakeStore:
    """A tiny in-memory store with the TicketStore method names (duck typing, no import)."""

    def __init__(self, machine: EscalationMachine) -> None:
        self.machine = machine
        self.rows: dict[str, Ticket] = {}

    def create(self, ticket: Ticket) -> Ticket:
        self.rows[ticket.id] = ticket
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        return self.rows[ticket_id]

    def history(self, ticket_id: str) -> tuple[Any, ...]:
        return self.rows[ticket_id].history

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        new = self.machine.fire(self.rows[ticket_id], trigger, actor=actor, **payload)
        self.rows[ticket_id] = new
        return new

    def close(self) -> None:
        self.rows.clear()


class WithStore(EscalationStateMachine):
    """Triggers go through the store; the stored ticket and history must match."""

    def make_store(self, machine: EscalationMachine) -> FakeStore:
        return FakeStore(machine)


TestWithStore = WithStore.TestCase
TestWithStore.settings = VARIANT


class WithSQLiteAndHostRules(EscalationStateMachine):
    """A real store in the run's directory, reopened by a host rule; the clock moved by another."""

    def make_store(self, machine: EscalationMachine) -> SQLiteStore:
        return SQLiteStore(self.tmp_path / "tickets.db", machine=machine, synchronous="NORMAL")

    @host_rule()
    def reopen(self) -> None:
        self.reopen_store()

    @host_rule(minutes=st.integers(1, 600))
    def wait(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))


TestWithSQLiteAndHostRules = WithSQLiteAndHostRules.TestCase
TestWithSQLiteAndHostRules.settings = settings(VARIANT, max_examples=min(25, VARIANT.max_examples))


class VetoingHooks(EscalationStateMachine):
    """Hooks that refuse or fail on purpose are allowed when the host says so."""

    allow_hook_failures = True

    def register_hooks(self, machine: EscalationMachine) -> None:
        def no_follow_up_at_night(event: TransitionEvent) -> None:
            if len(event.before.history) % 2:
                raise TransitionRefused(ticket_id=event.before.id, stage=event.source,
                                        trigger=event.trigger, reasons=("night shift",))

        def flaky_mailer(event: TransitionEvent) -> None:
            if len(event.after.history) % 3 == 0:
                raise ConnectionError("mail server down")

        machine.before("follow_up")(no_follow_up_at_night)
        machine.before("record_step")(flaky_mailer)
        machine.after("notify_customer")(flaky_mailer)


TestVetoingHooks = VetoingHooks.TestCase
TestVetoingHooks.settings = VARIANT


def test_the_test_case_runs_through_run_and_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    """``MyMachine.TestCase`` is what pytest collects: it runs ``run()`` and prints coverage."""
    case = WithStore.TestCase
    assert case is WithStore.TestCase and case.__name__ == "WithStore.TestCase"
    case.settings = settings(VARIANT, max_examples=5, derandomize=True, database=None)
    case().runTest()
    assert "coverage of spec 'customer-service-escalation'" in capsys.readouterr().out
    case.settings = VARIANT


def test_required_coverage_fails_a_run_that_missed_something() -> None:
    """``require_coverage`` turns "never exercised" into a failure listing what."""
    class Shallow(EscalationStateMachine):
        require_coverage = ("transitions",)

    with pytest.raises(CoverageIncomplete) as caught:
        Shallow.run(settings(VARIANT, max_examples=1, stateful_step_count=3, **COUNTED))
    assert "never committed" in str(caught.value)
    assert caught.value.missing


def test_a_bad_coverage_part_is_named() -> None:
    """Asking for an unknown part of the report says which parts exist."""
    with pytest.raises(ValueError, match="known: transitions, guards, roles"):
        DefaultProcedure.coverage().missing(["everything"])


def test_the_report_is_of_the_spec_the_machine_had() -> None:
    """A host that builds its machine itself (another spec than ``spec``) gets its spec's report."""
    class OwnMachine(EscalationStateMachine):
        def make_machine(self) -> EscalationMachine:
            return EscalationMachine(SPEC, clock=self.clock)

    assert OwnMachine.coverage().spec == default_spec()          # before any run: ``spec``
    report = OwnMachine.run(settings(VARIANT, max_examples=3, **COUNTED))
    assert report.spec == SPEC and ("escalated", "escalate_tier3") in report.transitions


def test_plain_hypothesis_runs_still_work() -> None:
    """``run_state_machine_as_test`` (without the final pass) runs the same checks."""
    run_state_machine_as_test(WithStore, settings=settings(VARIANT, max_examples=5, **COUNTED))


# -- seeded bugs: the toolkit must fail, with a minimal example ---------------------------------


class HookAnnotatesTheAuditRecord(EscalationStateMachine):
    """A hook that "marks the record as synced" by mutating the committed history in place."""

    def register_hooks(self, machine: EscalationMachine) -> None:
        @machine.after("record_step")
        def mark_synced(event: TransitionEvent) -> None:
            event.record.payload["synced_to_crm"] = True


def test_a_hook_that_mutates_the_new_record_is_caught() -> None:
    """The hook's write into the record is refused (payloads are read-only history): the check
    names the hook, the minimal run is attempt then record_step."""
    found = failure_of(HookAnnotatesTheAuditRecord)
    assert found.check == "hook mark_synced"
    assert "TypeError: audit record payloads are read-only" in found.detail
    assert triggers(found) == ["attempt", "record_step"]
    assert found.step == len(found.steps) == 3


class HookRewritesAnEarlierRecord(EscalationStateMachine):
    """A hook that rewrites the actor of the previous record (frozen models do not stop it)."""

    def register_hooks(self, machine: EscalationMachine) -> None:
        @machine.after("record_step")
        def show_display_name(event: TransitionEvent) -> None:
            object.__setattr__(event.before.history[-1], "actor_id", "Alice from Tier 1")


def test_a_hook_that_mutates_earlier_history_is_caught() -> None:
    """The hook rewrote a record of the ticket passed in: reported with before and after."""
    found = failure_of(HookRewritesAnEarlierRecord)
    assert found.check == "unchanged-input"
    was, now = found.detail.split("\n  now ")
    assert '"actor_id":"agent-1","actor_role":"agent","trigger":"attempt"' in was
    assert '"actor_id":"Alice from Tier 1","actor_role":"agent","trigger":"attempt"' in now
    assert triggers(found) == ["attempt", "record_step"]


ESCALATE = default_spec().transition("attempted", "escalate")


def _without(guard: str) -> type[EscalationStateMachine]:
    assert ESCALATE is not None
    relaxed = ESCALATE.model_copy(update={"guards": tuple(g for g in ESCALATE.guards if g != guard)})
    return type(f"DroppedGuard_{guard}", (EscalationStateMachine,), {
        "spec": default_spec().extend(transitions=[relaxed]), "reference_spec": default_spec()})


@pytest.mark.parametrize(("guard", "expected"), [
    ("has_steps", ["attempt", "escalate"]),
    ("has_summary", ["attempt", "record_step", "escalate"]),
    ("escalation_warranted", ["attempt", "record_step", "escalate"]),
])
def test_a_spec_that_dropped_a_guard_from_escalate_is_caught(guard: str, expected: list[str]) -> None:
    """The refusal rule aims at the reference's guards, so the dropped one is tried: the run
    that shows it is the shortest one, whatever the guard."""
    found = failure_of(_without(guard))
    assert triggers(found) == expected
    if guard == "escalation_warranted":
        # Without its guard, escalate meets an assessment of None, which its effect refuses with
        # a SpecError, or commits one the policy rejects: either is reported on the escalation.
        assert found.check in ("table", "undeclared-error")
    else:
        assert found.check == "table"
        assert f"said no when it fired: {guard}:" in found.detail


class LossyStore(FakeStore):
    """Saves only stage changes ("the rest is in the machine's return value anyway")."""

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        current = self.rows[ticket_id]
        new = self.machine.fire(current, trigger, actor=actor, **payload)
        if new.stage != current.stage:
            self.rows[ticket_id] = new
        return new


class WithLossyStore(EscalationStateMachine):
    def make_store(self, machine: EscalationMachine) -> LossyStore:
        return LossyStore(machine)


def test_a_store_that_loses_an_update_is_caught() -> None:
    """The stored ticket lags behind after the first self-loop: two triggers suffice."""
    found = failure_of(WithLossyStore)
    assert found.check == "store-matches"
    assert "the store holds a different ticket than the last one the machine returned" in found.detail
    assert triggers(found) == ["attempt", "record_step"]


def _breaking(effect: Callable[..., Any] | None = None, **attributes: Any
              ) -> type[EscalationStateMachine]:
    spec = default_spec()
    if effect is not None:
        spec = spec.extend(triggers=[TriggerSpec(name="attempt", description="Start.", effect=effect,
                                                 marks=spec.marks_of("attempt"))])
    return type("Broken", (EscalationStateMachine,), {"spec": spec, **attributes})


def test_an_undeclared_error_is_reported() -> None:
    """An effect that crashes escapes as an undeclared error, on the first attempt."""
    def crash(ctx: Any) -> dict[str, Any]:
        raise ZeroDivisionError("oops")
    found = failure_of(_breaking(crash))
    assert found.check == "undeclared-error"
    assert "undeclared error ZeroDivisionError: oops" in found.detail
    assert isinstance(found.__cause__, ZeroDivisionError)
    assert triggers(found) == ["attempt"]


def test_a_failing_hook_is_reported_unless_allowed() -> None:
    """Hooks that raise are bugs by default; the check names the hook."""
    class Failing(EscalationStateMachine):
        def register_hooks(self, machine: EscalationMachine) -> None:
            machine.on_enter("attempted")(lambda event: {}["missing"])
    found = failure_of(Failing)
    assert found.check == "hook <lambda>"
    assert "KeyError" in found.detail


def test_an_effect_that_forges_a_field_is_caught_by_the_spec() -> None:
    """An effect writing a reserved field is refused by the machine: an undeclared SpecError."""
    found = failure_of(_breaking(lambda ctx: {"version": 99}))
    assert found.check == "undeclared-error"
    assert "SpecError" in found.detail
    assert issubclass(SpecError, ValueError)


def test_a_refusal_that_changes_the_ticket_is_caught() -> None:
    """A before-hook that scribbles on the ticket's history and then vetoes."""
    class Scribbler(EscalationStateMachine):
        allow_hook_failures = True

        def register_hooks(self, machine: EscalationMachine) -> None:
            @machine.before("record_step")
            def scribble(event: TransitionEvent) -> None:
                object.__setattr__(event.before.history[-1], "actor_id", "tampered")
                raise TransitionRefused(ticket_id=event.before.id, stage=event.source,
                                        trigger=event.trigger, reasons=("no",))
    assert failure_of(Scribbler).check == "unchanged-input"


def test_refusals_of_the_wrong_kind_are_caught() -> None:
    """A machine that says "permission denied" for everything is caught on its first attempt."""
    class Paranoid(EscalationMachine):
        def fire(self, ticket: Ticket, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
            raise PermissionDenied(ticket_id=ticket.id, stage=ticket.stage, trigger=trigger,
                                   actor_id=actor.id, role=actor.role, allowed_roles=())

    class WithParanoid(EscalationStateMachine):
        def make_machine(self) -> EscalationMachine:
            return Paranoid(clock=self.clock)
    found = failure_of(WithParanoid)
    assert found.check == "refusal-kind"
    assert "PermissionDenied, but the role is allowed" in found.detail


def test_a_failing_host_invariant_is_named_and_its_assertion_chained() -> None:
    """The host's own check fails: named by its method, its AssertionError kept as the cause."""
    class NoSecondSteps(EscalationStateMachine):
        @ticket_invariant
        def at_most_one_step(self, ticket: Ticket) -> None:
            assert len(ticket.steps) < 2, "two steps"
    found = failure_of(NoSecondSteps)
    assert found.check == "at_most_one_step"
    assert isinstance(found.__cause__, AssertionError)
    assert triggers(found) == ["attempt", "record_step", "record_step"]


def test_skipped_checks_are_not_reported() -> None:
    """A host whose data legitimately differs skips a built-in check by name."""
    relaxed = _without("has_steps")
    relaxed.skip_checks = frozenset({"table"})
    relaxed.run(settings(VARIANT, max_examples=20, **COUNTED))


# -- replaying ------------------------------------------------------------------------------------


def test_the_printed_regression_test_replays_the_failure() -> None:
    """``test_source`` is a pytest function: it imports the class and fails the same way."""
    found = failure_of(WithLossyStore)
    assert "from escalation_fsm.testing import Fire, Open" in found.test_source
    assert "from test_testing_stateful import WithLossyStore" in found.test_source
    namespace: dict[str, Any] = {}
    exec(found.test_source, namespace)  # noqa: S102 (the toolkit's own output)
    with pytest.raises(RunFailed) as again:
        namespace["test_store_matches_regression"]()
    assert (again.value.check, again.value.step) == (found.check, found.step)
    assert "Draw" not in str(found)


def test_replay_runs_host_rules_and_returns_the_instance() -> None:
    """A list of steps with host rules replays without hypothesis."""
    done = WithSQLiteAndHostRules.replay([
        Open("T-1", customer_id="C-1", category="other", details="d"),
        Fire("T-1", "attempt", "agent"),
        Call("wait", minutes=90),
        Call("reopen"),
        Fire("T-1", "record_step", "agent", {"step": "Checked"}),
    ])
    ticket = done.tickets["T-1"]
    assert [r.trigger for r in ticket.history] == ["attempt", "record_step"]
    assert ticket.history[1].at - ticket.history[0].at == timedelta(minutes=91)
    assert [type(s).__name__ for s in done.steps] == ["Open", "Fire", "Call", "Call", "Fire"]


def test_replay_reports_steps_that_cannot_run() -> None:
    """A step on a ticket never opened is a plain error, not a silent no-op."""
    with pytest.raises(KeyError, match="T-9 was never opened"):
        WithStore.replay([Fire("T-9", "attempt", "agent")])
    with pytest.raises(TypeError, match="run_step executes Open and Fire steps"):
        WithStore().run_step(Call("reopen"))  # type: ignore[arg-type]


def test_a_failure_the_replay_cannot_reproduce_keeps_the_hypothesis_run() -> None:
    """A check that depends on state outside the steps (here: being inside hypothesis) fails in
    the run but not in a replay: the run is reported as hypothesis found it, uncut."""
    from hypothesis import currently_in_test_context

    class OutsideState(EscalationStateMachine):
        @outcome_invariant
        def only_outside_hypothesis(self, outcome: Outcome) -> None:
            assert outcome.trigger != "record_step" or not currently_in_test_context()

    found = failure_of(OutsideState)
    assert found.check == "only_outside_hypothesis"
    assert found.stats["replays"] == 1
    assert found.stats["final_steps"] == found.stats["shrunk_steps"]
    assert isinstance(found, InvariantViolated)
