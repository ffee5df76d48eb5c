"""allowed() and explain(): asking before firing, with the same rules as fire()."""

from __future__ import annotations

import copy

from support import AGENT, CUSTOMER, HIGH, LOW, TIER2, attempted, escalated, new_ticket, walk

from escalation_fsm import EscalationMachine, Trigger


def test_allowed_checks_roles_and_ticket_guards(machine: EscalationMachine) -> None:
    """allowed() evaluates roles and ticket guards, not guards about a payload not yet given."""
    talk = "record_interaction"  # every non-final stage documents contacts, whoever took part
    assert machine.allowed(new_ticket(), AGENT) == {"attempt", talk}
    assert machine.allowed(new_ticket(details=""), AGENT) == {talk}
    assert machine.allowed(new_ticket(), CUSTOMER) == {talk}
    t = attempted(machine)
    assert machine.allowed(t, AGENT) == {"record_step", "resolve", talk}
    t = walk(machine, t, (Trigger.RECORD_STEP, AGENT))
    assert machine.allowed(t, AGENT) == {"record_step", "resolve", "escalate", talk}
    assert machine.allowed(t, TIER2) == {"record_step", talk}
    e = escalated(machine)
    assert machine.allowed(e) == {"record_step", "notify_customer", "follow_up", talk}


def test_explain_reports_success_with_the_policy_reasons(machine: EscalationMachine) -> None:
    """A passing dry run says where the ticket would go and why the guards agreed."""
    t = walk(machine, attempted(machine), (Trigger.RECORD_STEP, AGENT))
    snapshot = copy.deepcopy(t)
    why = machine.explain(t, Trigger.ESCALATE, actor=AGENT, summary="s", assessment=HIGH)
    assert (why.ok, why.dest, why.error) == (True, "escalated", None)
    assert "complexity is high (escalate at high or above)" in why.reasons
    assert t == snapshot


def test_explain_covers_every_kind_of_no(machine: EscalationMachine) -> None:
    """Each error fire() would raise is reported by name, without raising."""
    t = attempted(machine)
    assert machine.explain(t, Trigger.ATTEMPT, actor=AGENT).error == "InvalidTransition"
    assert machine.explain(t, Trigger.RESOLVE, actor=CUSTOMER, solution="x").error == "PermissionDenied"
    bad = machine.explain(t, Trigger.RECORD_STEP, actor=AGENT, step=3)
    assert bad.error == "ValidationError" and bad.reasons[0].startswith("step: ")
    no = machine.explain(t, Trigger.ESCALATE, actor=AGENT, summary="", assessment=LOW)
    assert no.error == "TransitionRefused" and len(no.reasons) == 3 and no.dest == "escalated"
