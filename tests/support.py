"""Actors and helpers shared by the tests (imported as ``support``; pytest puts tests/ on sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from escalation_fsm import Actor, Assessment, Category, EscalationMachine, Role, Ticket, Trigger

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

AGENT = Actor(id="a-1", role=Role.AGENT)
TIER2 = Actor(id="t2-1", role=Role.TIER2)
SUPERVISOR = Actor(id="s-1", role=Role.SUPERVISOR)
CUSTOMER = Actor(id="c-1", role=Role.CUSTOMER)
SYSTEM = Actor(id="sys", role=Role.SYSTEM)
ACTORS = (AGENT, TIER2, SUPERVISOR, CUSTOMER, SYSTEM)

HIGH = Assessment(complexity="high", frustration="high", urgency="high")
LOW = Assessment(complexity="low", frustration="low", urgency="low")

#: A valid payload for each default trigger.
VALID: dict[str, dict[str, Any]] = {
    Trigger.ATTEMPT: {},
    Trigger.RECORD_STEP: {"step": "Checked the knowledge base"},
    Trigger.ESCALATE: {"summary": "Needs Tier 2 tools", "assessment": HIGH},
    Trigger.NOTIFY_CUSTOMER: {"message": "Prioritised with Tier 2"},
    Trigger.FOLLOW_UP: {"update": "Fix in review", "customer_message": "Fix coming"},
    Trigger.RESOLVE: {"solution": "Fixed the configuration"},
    Trigger.REQUEST_FEEDBACK: {},
    Trigger.RECORD_FEEDBACK: {"rating": 4},
    Trigger.REOPEN: {"reason": "It broke again"},
    Trigger.RECORD_INTERACTION: {"channel": "phone", "direction": "inbound",
                                 "summary": "Customer called to ask for news"},
}


def new_ticket(**fields: Any) -> Ticket:
    base: dict[str, Any] = {"id": "T-1", "customer_id": "C-1", "category": Category.TECHNICAL,
                            "details": "The app crashes on start"}
    return Ticket(**{**base, **fields})


def walk(machine: EscalationMachine, ticket: Ticket, *steps: tuple[str, Actor]) -> Ticket:
    """Fire each (trigger, actor) with the VALID payload for that trigger."""
    for trigger, actor in steps:
        ticket = machine.fire(ticket, trigger, actor=actor, **VALID[trigger])
    return ticket


def attempted(machine: EscalationMachine) -> Ticket:
    return walk(machine, new_ticket(), (Trigger.ATTEMPT, AGENT))


def escalated(machine: EscalationMachine) -> Ticket:
    return walk(machine, attempted(machine), (Trigger.RECORD_STEP, AGENT), (Trigger.ESCALATE, AGENT))
