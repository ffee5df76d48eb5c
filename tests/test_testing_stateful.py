"""The stateful base: it passes on correct integrations and catches seeded bugs, shrunk.

The seeded-bug tests run with hypothesis's default search settings (100 examples of up to 50
steps), derandomized so that they cannot flake, and without the "explain" phase, which only
annotates the report (it took 40 s per failure here). Each prints the minimal example hypothesis
shrank to (``pytest -s`` shows it) and asserts its exact steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from custom_spec import HINTS, SPEC, TIER3
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from escalation_fsm import (
    Actor,
    EscalationMachine,
    SpecError,
    Ticket,
    TransitionEvent,
    TransitionRefused,
    TriggerSpec,
    default_spec,
)
from escalation_fsm.testing import (
    EscalationStateMachine,
    InvariantViolated,
    Outcome,
    outcome_invariant,
    ticket_invariant,
)

# Passing runs: the default spec gets the loaded profile's example count ("ci": 200, "dev": 60);
# the variants (custom spec, store, vetoing hooks) at most 50, which keeps the suite's run time
# reasonable on 2 cores. Walks of 30 steps reach every stage of both specs.
PASSING = settings(deadline=None, stateful_step_count=30,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
VARIANT = settings(PASSING, max_examples=min(50, PASSING.max_examples))
# The two runs that also assert which transitions fired are derandomized: a random run reaches
# the rarest ones (escalated -> tier3 needs attempt, a step, escalate, notify first) 5-18 times
# in 50 examples, and a suite must not fail on a lucky draw. TestWithStore and TestVetoingHooks
# stay random, exploring new runs each time.
COUNTED = {"derandomize": True, "database": None}
SEEDED = settings(settings.get_profile("default"), database=None, derandomize=True, deadline=None,
                  report_multiple_bugs=False, phases=[p for p in Phase if p is not Phase.explain])


def failure_of(machine_class: type[EscalationStateMachine]) -> tuple[str, list[str]]:
    """Run ``machine_class`` expecting the toolkit to fail.

    Returns the failure message and the committed steps of the shrunk example (from the notes).
    """
    with pytest.raises(InvariantViolated) as caught:
        run_state_machine_as_test(machine_class, settings=SEEDED)
    notes = list(getattr(caught.value, "__notes__", []))
    print(f"\n--- {machine_class.__name__}: {caught.value}\n" + "\n".join(notes))
    committed = [line for line in notes if " -> committed" in line and line.startswith("T-")]
    return str(caught.value), committed


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

    @outcome_invariant
    def count(self, outcome: Outcome) -> None:
        if outcome.committed:
            FIRED.add((outcome.before.stage, outcome.trigger))


FIRED: set[tuple[str, str]] = set()
"""(source, trigger) of every transition committed by the runs, across examples."""


def test_the_default_procedure_holds_and_every_transition_fires() -> None:
    """The base passes on the default spec, and its runs are not vacuous: all transitions fire."""
    FIRED.clear()
    run_state_machine_as_test(DefaultProcedure, settings=settings(PASSING, **COUNTED))
    assert {t.key for t in default_spec().transitions} == FIRED


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
        if outcome.committed:
            FIRED.add((outcome.before.stage, outcome.trigger))


def test_a_custom_spec_with_tier3_and_closed_holds() -> None:
    """The base passes on the custom spec and reaches its new stages (thanks to the hints)."""
    FIRED.clear()
    run_state_machine_as_test(Tier3Procedure, settings=settings(VARIANT, **COUNTED))
    assert {("escalated", "escalate_tier3"), ("tier3", "resolve"), ("feedback", "close")} <= FIRED


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

    max_tickets = 2

    def make_store(self, machine: EscalationMachine) -> FakeStore:
        return FakeStore(machine)


TestWithStore = WithStore.TestCase
TestWithStore.settings = VARIANT


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


# -- seeded bugs: the toolkit must fail, with a minimal example ---------------------------------


class HookAnnotatesTheAuditRecord(EscalationStateMachine):
    """(a) A hook that "marks the record as synced" by mutating the committed history in place."""

    def register_hooks(self, machine: EscalationMachine) -> None:
        @machine.after("record_step")
        def mark_synced(event: TransitionEvent) -> None:
            event.record.payload["synced_to_crm"] = True


class HookRewritesAnEarlierRecord(EscalationStateMachine):
    """(a') A hook that rewrites the actor of the previous record (frozen models do not stop it)."""

    def register_hooks(self, machine: EscalationMachine) -> None:
        @machine.after("record_step")
        def show_display_name(event: TransitionEvent) -> None:
            object.__setattr__(event.before.history[-1], "actor_id", "Alice from Tier 1")


def test_a_hook_that_mutates_the_new_record_is_caught() -> None:
    """The hook's write into the record is refused (payloads are read-only history) and the
    toolkit reports the failing hook at the second step."""
    message, fired = failure_of(HookAnnotatesTheAuditRecord)
    assert "a hook failed" in message
    assert "mark_synced: TypeError: audit record payloads are read-only" in message
    assert "'record_step' by 'agent'" in message  # the step whose hook failed
    steps = [line.split(" -> ")[0].split(": ", 1)[1].split(" with ")[0] for line in fired]
    assert steps[0] == "'attempt' by 'agent'"


def test_a_hook_that_mutates_earlier_history_is_caught() -> None:
    """The hook rewrote a record of the ticket passed in: reported with before and after."""
    message, fired = failure_of(HookRewritesAnEarlierRecord)
    assert "the ticket passed in was changed" in message
    was, now = message.split("\n  now ")
    assert '"actor_id":"agent-1","actor_role":"agent","trigger":"attempt"' in was
    assert '"actor_id":"Alice from Tier 1","actor_role":"agent","trigger":"attempt"' in now
    triggers = [line.split(": ", 1)[1].split(" by ")[0] for line in fired]
    # The minimum is attempt, record_step. Hypothesis's shrinker does not promise the global
    # minimum, so only the shape is pinned: it starts with attempt and ends with record_step.
    assert triggers[0] == "'attempt'"
    assert triggers[-1] == "'record_step'"


ESCALATE = default_spec().transition("attempted", "escalate")


def _without(guard: str) -> type[EscalationStateMachine]:
    assert ESCALATE is not None
    relaxed = ESCALATE.model_copy(update={"guards": tuple(g for g in ESCALATE.guards if g != guard)})

    class DroppedGuard(EscalationStateMachine):
        """(b) ``escalate`` lost one of its guards; the reference spec is the default one."""

        spec = default_spec().extend(transitions=[relaxed])
        reference_spec = default_spec()

    DroppedGuard.__name__ = f"DroppedGuard_{guard}"
    return DroppedGuard


@pytest.mark.parametrize(("guard", "reasons"), [
    ("has_steps", ["committed although guard(s) of 'customer-service-escalation' said no when it "
                   "fired: has_steps: no resolution step is recorded"]),
    # Without its guard, escalate either commits an assessment the policy rejects, or meets an
    # assessment of None, which its effect refuses with a SpecError (an error fire does not
    # declare for a well-formed spec).
    # Which one the shrinker settles on depends on timing (hypothesis adapts to slow runs).
    ("escalation_warranted", ["escalation_warranted: the escalation policy does not warrant",
                              "undeclared error SpecError"]),
], ids=["has_steps", "escalation_warranted"])
def test_a_spec_that_dropped_a_guard_from_escalate_is_caught(guard: str, reasons: list[str]) -> None:
    """An escalation the reference procedure forbids is reported on the escalate step.

    The shrunk run usually is attempt, record_step(s), escalate. Hypothesis's shrinker does not
    promise the minimum, and under the CI profile on a loaded machine it has stopped with
    detours left (a resolve/reopen/feedback loop, 13 record_steps), so only what every run shows
    is pinned: the failure is on escalate, for the dropped guard's reason, in a run that starts
    from a new ticket.
    """
    message, committed = failure_of(_without(guard))
    assert "'escalate' by" in message.split(": ")[1]
    assert any(reason in message for reason in reasons)
    triggers = [line.split(": ", 1)[1].split(" by ")[0] for line in committed]
    assert triggers[0] == "'attempt'"
    assert "'record_step'" in triggers or guard == "has_steps"


class LossyStore(FakeStore):
    """(c) Saves only stage changes ("the rest is in the machine's return value anyway")."""

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
    """The stored ticket lags behind after the first self-loop: two steps suffice."""
    message, fired = failure_of(WithLossyStore)
    assert "T-1: the store holds a different ticket than the last one the machine returned" in message
    assert "version=1)" in message.split("expected")[0]
    assert "version=2)" in message
    assert "'attempt'" in fired[0]


# -- the other guarantees, each with a bug that breaks it ---------------------------------------


def _breaking(effect: Callable[..., Any] | None = None, **attributes: Any
              ) -> type[EscalationStateMachine]:
    spec = default_spec()
    if effect is not None:
        spec = spec.extend(triggers=[TriggerSpec(name="attempt", description="Start.", effect=effect)])
    return type("Broken", (EscalationStateMachine,), {"spec": spec, **attributes})


def test_an_undeclared_error_is_reported() -> None:
    """An effect that crashes escapes as an undeclared error."""
    def crash(ctx: Any) -> dict[str, Any]:
        raise ZeroDivisionError("oops")
    message, _ = failure_of(_breaking(crash))
    assert "undeclared error ZeroDivisionError: oops" in message


def test_a_failing_hook_is_reported_unless_allowed() -> None:
    """Hooks that raise are bugs by default."""
    class Failing(EscalationStateMachine):
        def register_hooks(self, machine: EscalationMachine) -> None:
            machine.on_enter("attempted")(lambda event: {}["missing"])
    message, _fired = failure_of(Failing)
    assert "a hook failed" in message
    assert "KeyError" in message


def test_an_effect_that_forges_a_field_is_caught_by_the_spec() -> None:
    """An effect writing a reserved field is refused by the machine: an undeclared SpecError."""
    message, _ = failure_of(_breaking(lambda ctx: {"version": 99}))
    assert "undeclared error SpecError" in message
    assert issubclass(SpecError, ValueError)


def test_a_refusal_that_changes_the_ticket_is_caught() -> None:
    """A before-hook that scribbles on the ticket's history and then vetoes.

    Payloads refuse writes, so it forces one the way only deliberate code can.
    """
    class Scribbler(EscalationStateMachine):
        allow_hook_failures = True

        def register_hooks(self, machine: EscalationMachine) -> None:
            @machine.before("record_step")
            def scribble(event: TransitionEvent) -> None:
                object.__setattr__(event.before.history[-1], "actor_id", "tampered")
                raise TransitionRefused(ticket_id=event.before.id, stage=event.source,
                                        trigger=event.trigger, reasons=("no",))
    message, _ = failure_of(Scribbler)
    assert "the ticket passed in was changed" in message


def test_refusals_of_the_wrong_kind_are_caught() -> None:
    """A machine that says "permission denied" for everything is caught on its first refusal."""
    from escalation_fsm import PermissionDenied

    class Paranoid(EscalationMachine):
        def fire(self, ticket: Ticket, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
            raise PermissionDenied(ticket_id=ticket.id, stage=ticket.stage, trigger=trigger,
                                   actor_id=actor.id, role=actor.role, allowed_roles=())

    class WithParanoid(EscalationStateMachine):
        def make_machine(self) -> EscalationMachine:
            return Paranoid(clock=self.clock)
    message, _ = failure_of(WithParanoid)
    assert "PermissionDenied, but the role is allowed" in message
