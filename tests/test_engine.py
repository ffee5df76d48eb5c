"""The transitions engine is fenced off: one per spec, no per-ticket objects, quiet, no bypasses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from support import AGENT, SUPERVISOR, TIER2, VALID, escalated, new_ticket, walk

from escalation_fsm import (
    EscalationMachine,
    GuardContext,
    Role,
    SpecError,
    Stage,
    StageSpec,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    default_spec,
)
from escalation_fsm import machine as machine_module


def test_one_engine_per_spec_and_no_models_attached() -> None:
    """Machines on equal specs share one engine, which never holds tickets (no add_model)."""
    a, b = EscalationMachine(), EscalationMachine()
    engine = machine_module._engine(a.spec)
    assert engine is machine_module._engine(b.spec) and a._events is b._events is engine.events
    walk(a, new_ticket(), (Trigger.ATTEMPT, AGENT))
    assert engine.models == []


def test_tickets_get_no_bound_methods() -> None:
    """transitions must not setattr trigger methods onto our pydantic tickets."""
    t = walk(EscalationMachine(), new_ticket(), (Trigger.ATTEMPT, AGENT))
    assert not hasattr(t, "attempt") and not hasattr(t, "may_resolve") and not hasattr(t, "trigger")
    assert set(type(t).model_fields) >= set(t.__dict__)


def test_no_auto_transitions_bypass_the_guards() -> None:
    """The engine has no to_<stage>() shortcut events."""
    engine = machine_module._engine(EscalationMachine().spec)
    assert set(engine.events) == set(Trigger)
    assert not any(name.startswith("to_") for name in engine.events)


def test_firing_is_quiet_when_the_host_logs_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """A host logging at INFO gets no per-callback chatter from the engine."""
    with caplog.at_level(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
        walk(EscalationMachine(), new_ticket(), (Trigger.ATTEMPT, AGENT), (Trigger.RECORD_STEP, AGENT))
    assert [r for r in caplog.records if r.name.startswith("transitions")] == []
    assert logging.getLogger("transitions.core").getEffectiveLevel() == logging.WARNING
    assert machine_module._ENGINE_LOGGER.name == "transitions.core"


def bad_effect(ctx: GuardContext) -> Mapping[str, Any]:
    return {"stage": "resolved"}


def test_an_effect_may_not_touch_stage_history_or_unknown_fields() -> None:
    """Effects that try to move the ticket themselves are a spec bug, reported as SpecError."""
    spec = default_spec().extend(triggers=[TriggerSpec(name="attempt", description="sneaky",
                                                       effect=bad_effect)])
    with pytest.raises(SpecError, match="returned fields \\['stage'\\]"):
        EscalationMachine(spec).fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)


def tier3_spec() -> Any:
    return default_spec().extend(
        stages=[StageSpec(name="tier3", description="Engineering owns it."),
                StageSpec(name="feedback", description="Feedback recorded."),
                StageSpec(name="closed", description="Done for good.", final=True)],
        triggers=[TriggerSpec(name="escalate_tier3", description="Hand over to engineering."),
                  TriggerSpec(name="close", description="Close the ticket.")],
        transitions=[
            TransitionSpec(trigger="escalate_tier3", source="escalated", dest="tier3",
                           roles={Role.TIER2}, guards=("customer_notified",)),
            TransitionSpec(trigger="resolve", source="tier3", dest="resolved", roles={"tier3"},
                           guards=("has_solution",)),
            TransitionSpec(trigger="close", source="feedback", dest="closed", roles={Role.SUPERVISOR}),
        ],
    )


def test_custom_spec_with_tier3_and_closed() -> None:
    """A custom spec is enforced exactly like the default: guards, roles, custom role names."""
    machine = EscalationMachine(tier3_spec())
    t = escalated(machine)
    with pytest.raises(Exception, match="not been notified"):
        machine.fire(t, "escalate_tier3", actor=TIER2)
    t = walk(machine, t, (Trigger.NOTIFY_CUSTOMER, AGENT))
    t = machine.fire(t, "escalate_tier3", actor=TIER2)
    engineer = type(AGENT)(id="eng-1", role="tier3")
    t = machine.fire(t, Trigger.RESOLVE, actor=engineer, **VALID[Trigger.RESOLVE])
    t = machine.fire(t, Trigger.REQUEST_FEEDBACK, actor=SUPERVISOR)
    t = machine.fire(t, "close", actor=SUPERVISOR)
    assert t.stage == "closed" and [r.dest for r in t.history][-4:] == [
        "tier3", "resolved", Stage.FEEDBACK, "closed"]
    assert machine.allowed(t) == set()


def test_effects_that_need_an_escalation_say_so() -> None:
    """A custom spec notifying outside an escalation gets a clear SpecError, not a dropped message."""
    spec = default_spec().extend(transitions=[
        TransitionSpec(trigger="notify_customer", source="attempted", roles={Role.AGENT})])
    machine = EscalationMachine(spec)
    t = machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    with pytest.raises(SpecError, match="has none: only use it after escalate"):
        machine.fire(t, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="hello")


def test_new_ticket_starts_in_the_spec_initial_stage() -> None:
    """machine.new_ticket() uses the spec's initial stage, which may differ from the default."""
    spec = default_spec().extend(
        stages=[StageSpec(name="triage", description="Sort the inbox.", initial=True),
                StageSpec(name="identified", description="Identified.")],
        triggers=[TriggerSpec(name="identify", description="Categorise.")],
        transitions=[TransitionSpec(trigger="identify", source="triage", dest="identified",
                                    roles={Role.AGENT})])
    machine = EscalationMachine(spec)
    t = machine.new_ticket(id="T-9", customer_id="C-1")
    assert t.stage == "triage" == spec.initial
    assert spec.has_stage("triage") and not spec.has_stage("nowhere")
    assert spec.trigger("identify").description == "Categorise."


class NaiveClock:
    def now(self) -> Any:
        from datetime import datetime

        return datetime(2026, 1, 1)


def test_a_naive_clock_is_refused_before_anything_is_recorded() -> None:
    """Records are built without re-validation, so the machine checks the clock's answer itself."""
    machine = EscalationMachine(clock=NaiveClock())
    with pytest.raises(ValueError, match="naive datetime"):
        machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)


def test_escalate_without_the_policy_guard_says_what_is_missing() -> None:
    """A custom spec that drops the policy guard gets a SpecError saying so, not an AssertionError."""
    spec = default_spec().extend(transitions=[
        TransitionSpec(trigger="escalate", source="attempted", dest="escalated",
                       roles={Role.AGENT}, guards=("has_summary",))])
    machine = EscalationMachine(spec)
    t = machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    with pytest.raises(SpecError, match="no guard of the transition requires one"):
        machine.fire(t, Trigger.ESCALATE, actor=AGENT, summary="s")


def test_fire_goes_through_a_subclass_transition() -> None:
    """fire is transition then run_after_hooks: a host overriding transition changes fire too."""
    seen: list[str] = []

    class Counting(EscalationMachine):
        def transition(self, ticket: Any, trigger: str, *, actor: Any, **payload: Any) -> Any:
            seen.append(trigger)
            return super().transition(ticket, trigger, actor=actor, **payload)

    walk(Counting(), new_ticket(), (Trigger.ATTEMPT, AGENT), (Trigger.RECORD_STEP, AGENT))
    walk(EscalationMachine(), new_ticket(), (Trigger.ATTEMPT, AGENT))
    assert seen == ["attempt", "record_step"]
