"""Host hooks: before-hooks veto with nothing changed; after-hooks never lose a commit or fail silently."""

from __future__ import annotations

import copy

import pytest
from support import AGENT, SYSTEM, TIER2, VALID, attempted, escalated, walk

from escalation_fsm import (
    EscalationMachine,
    HookFailed,
    Stage,
    TransitionEvent,
    TransitionRefused,
    Trigger,
)


def test_after_hook_sees_the_committed_move(machine: EscalationMachine) -> None:
    """An after-hook gets trigger, stages, actor, payload, both tickets and the audit record."""
    seen: list[TransitionEvent] = []
    machine.after(Trigger.ESCALATE)(seen.append)
    t = escalated(machine)
    (event,) = seen
    assert (event.trigger, event.source, event.dest, event.actor) == ("escalate", "attempted",
                                                                      "escalated", AGENT)
    assert event.after == t and event.before.stage == Stage.ATTEMPTED
    assert event.record == t.history[-1]
    assert event.payload.model_dump()["summary"] == VALID[Trigger.ESCALATE]["summary"]


def test_before_hook_failure_vetoes_and_changes_nothing(machine: EscalationMachine) -> None:
    """A failing before-hook stops the transition; later before-hooks and after-hooks do not run."""
    calls: list[str] = []

    @machine.before(Trigger.ESCALATE)
    def crm_down(event: TransitionEvent) -> None:
        calls.append("crm")
        raise ConnectionError("CRM unreachable")

    machine.before(Trigger.ESCALATE)(lambda e: calls.append("second"))
    machine.after(Trigger.ESCALATE)(lambda e: calls.append("after"))
    t = walk(machine, attempted(machine), (Trigger.RECORD_STEP, AGENT))
    snapshot = copy.deepcopy(t)
    with pytest.raises(HookFailed) as info:
        machine.fire(t, Trigger.ESCALATE, actor=AGENT, **VALID[Trigger.ESCALATE])
    assert calls == ["crm"]
    assert t == snapshot and info.value.ticket == snapshot
    assert info.value.phase == "before"
    assert isinstance(info.value.__cause__, ConnectionError)
    assert info.value.failures[0][0].endswith("crm_down")
    assert "vetoed and nothing changed" in str(info.value)


def test_before_hook_sees_the_proposed_ticket(machine: EscalationMachine) -> None:
    """Before-hooks can inspect the ticket as it would be after the move."""
    proposed: list[int] = []
    machine.before(Trigger.ESCALATE)(lambda e: proposed.append(e.after.tier))
    escalated(machine)
    assert proposed == [2]


def test_before_hook_may_refuse_with_its_own_reasons(machine: EscalationMachine) -> None:
    """TransitionRefused from a before-hook passes through unchanged."""
    @machine.before(Trigger.RESOLVE)
    def four_eyes(event: TransitionEvent) -> None:
        raise TransitionRefused(ticket_id=event.before.id, stage=event.source, trigger=event.trigger,
                                reasons=["a second agent must approve"])

    t = attempted(machine)
    with pytest.raises(TransitionRefused) as info:
        machine.fire(t, Trigger.RESOLVE, actor=AGENT, solution="x")
    assert info.value.reasons == ("a second agent must approve",)


def test_after_hook_failures_never_lose_the_commit(machine: EscalationMachine) -> None:
    """Every after/enter hook runs; HookFailed carries the committed ticket and all failures."""
    calls: list[str] = []

    def mail_fails(event: TransitionEvent) -> None:
        calls.append("mail")
        raise OSError("SMTP down")

    def pager_fails(event: TransitionEvent) -> None:
        calls.append("pager")
        raise RuntimeError("pager quota")

    machine.on_enter(Stage.ESCALATED)(mail_fails)
    machine.after(Trigger.ESCALATE)(pager_fails)
    machine.after()(lambda e: calls.append("audit-log"))
    t = walk(machine, attempted(machine), (Trigger.RECORD_STEP, AGENT))
    assert calls == ["audit-log", "audit-log"]  # the catch-all hook ran for attempt and record_step
    calls.clear()
    with pytest.raises(HookFailed) as info:
        machine.fire(t, Trigger.ESCALATE, actor=AGENT, **VALID[Trigger.ESCALATE])
    err = info.value
    assert calls == ["mail", "audit-log", "pager"]
    assert err.phase == "after" and "WAS committed" in str(err)
    committed = err.ticket
    assert committed.stage == Stage.ESCALATED and committed.version == t.version + 1
    assert [type(exc) for _, exc in err.failures] == [OSError, RuntimeError]
    assert isinstance(err.__cause__, OSError)


def test_enter_hooks_run_only_when_the_stage_changes(machine: EscalationMachine) -> None:
    """Self-loops (record_step, notify_customer) do not 're-enter' their stage."""
    entered: list[str] = []
    machine.on_enter()(lambda e: entered.append(e.dest))
    t = escalated(machine)
    walk(machine, t, (Trigger.NOTIFY_CUSTOMER, SYSTEM), (Trigger.RECORD_STEP, TIER2))
    assert entered == ["attempted", "escalated"]


def test_hooks_are_per_machine(machine: EscalationMachine) -> None:
    """Two machines on the same spec share the engine but not their hooks."""
    other = EscalationMachine()
    seen: list[str] = []
    other.after()(lambda e: seen.append(e.trigger))
    attempted(machine)
    assert seen == []


def test_a_hook_must_be_callable(machine: EscalationMachine) -> None:
    """Registering something that cannot be called is refused at once."""
    with pytest.raises(TypeError, match="must be callable"):
        machine.hooks.add("after", None, "not a function")  # type: ignore[arg-type]
