"""Built-in sample tickets run through the default procedure, printed readably.

Three scenarios: a first-contact resolution, an escalation with notification, a logged customer
call and follow-ups,
and an escalation the policy refuses (its reasons are printed) that is then resolved at first
contact. A :class:`~escalation_fsm.clock.ManualClock` makes the output identical on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from .clock import ManualClock
from .errors import EscalationError, TicketExists
from .machine import EscalationMachine
from .models import Actor, Assessment, Category, Channel, InteractionDirection, Role, Ticket, Trigger
from .stores import TicketStore

__all__ = ["SCENARIOS", "START", "Scenario", "demo_machine", "run_demo"]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""When the demo's manual clock starts, so that its output is the same on every run."""

AGENT = Actor(id="a-17", role=Role.AGENT)
TIER2 = Actor(id="t2-04", role=Role.TIER2)
CUSTOMER = Actor(id="C-311", role=Role.CUSTOMER)
SYSTEM = Actor(id="mailer", role=Role.SYSTEM)


@dataclass(frozen=True)
class Scenario:
    """A ticket and the triggers fired on it, in order: ``(trigger, actor, payload)``."""

    title: str
    ticket: Ticket
    steps: Sequence[tuple[str, Actor, dict[str, Any]]] = field(default_factory=tuple)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "First-contact resolution",
        Ticket(id="T-1001", customer_id="C-204", category=Category.BILLING,
               details="Invoice shows the old address"),
        (
            (Trigger.ATTEMPT, AGENT, {}),
            (Trigger.RECORD_STEP, AGENT, {"step": "KB-112: updating billing address"}),
            (Trigger.RESOLVE, AGENT, {"solution": "Updated the address and re-issued invoice"}),
            (Trigger.REQUEST_FEEDBACK, SYSTEM, {}),
            (Trigger.RECORD_FEEDBACK, Actor(id="C-204", role=Role.CUSTOMER),
             {"rating": 5, "comment": "Quick and painless"}),
        ),
    ),
    Scenario(
        "Escalation to Tier 2 with notification, a customer call and follow-ups",
        Ticket(id="T-1002", customer_id="C-311", category=Category.TECHNICAL,
               details="Data export fails with error 500 since Monday"),
        (
            (Trigger.ATTEMPT, AGENT, {}),
            (Trigger.RECORD_STEP, AGENT, {"step": "Troubleshooting guide TG-7: cleared cache"}),
            (Trigger.RECORD_STEP, AGENT, {"step": "Reproduced the error on a test account"}),
            (Trigger.ESCALATE, AGENT, {
                "summary": "Export endpoint returns 500 for accounts with over 10k rows",
                "assessment": Assessment(complexity="high", frustration="high", urgency="high"),
            }),
            (Trigger.NOTIFY_CUSTOMER, AGENT, {
                "message": "Your issue is prioritised with our Tier 2 engineers.",
                "eta": timedelta(hours=4),
            }),
            (Trigger.RECORD_INTERACTION, AGENT, {
                "channel": Channel.PHONE, "direction": InteractionDirection.INBOUND,
                "summary": "Customer called: a payroll export is due tomorrow",
            }),
            (Trigger.FOLLOW_UP, TIER2, {
                "update": "Root cause found: export query times out",
                "customer_message": "We found the cause and are preparing a fix.",
            }),
            (Trigger.RESOLVE, TIER2, {"solution": "Paginated the export query; deployed fix"}),
            (Trigger.REQUEST_FEEDBACK, SYSTEM, {}),
            (Trigger.RECORD_FEEDBACK, CUSTOMER, {"rating": 4}),
        ),
    ),
    Scenario(
        "Refused escalation, then resolved at first contact",
        Ticket(id="T-1003", customer_id="C-450", category=Category.ACCOUNT_ACCESS,
               details="Cannot log in after password reset"),
        (
            (Trigger.ATTEMPT, AGENT, {}),
            (Trigger.ESCALATE, AGENT, {
                "summary": "",
                "assessment": Assessment(complexity="low", frustration="medium", urgency="normal"),
            }),
            (Trigger.RECORD_STEP, AGENT, {"step": "KB-31: cleared the stale session"}),
            (Trigger.RESOLVE, AGENT, {"solution": "Stale session cleared; login works"}),
        ),
    ),
)


def demo_machine() -> EscalationMachine:
    """The default procedure on a manual clock that ticks 7 minutes per reading."""
    return EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=7)))


def run_demo(write: Callable[[str], object] = print,
             machine: EscalationMachine | None = None,
             store: TicketStore | None = None) -> list[Ticket]:
    """Run every scenario, printing each transition (or refusal); return the final tickets.

    With ``store``, each ticket is created in it and every trigger applied through it (with the
    store's machine); a ticket already in the store is shown as stored and not run again.
    """
    if store is not None:
        machine = store.machine
    elif machine is None:
        machine = demo_machine()
    finals = []
    for scenario in SCENARIOS:
        ticket = scenario.ticket
        write(f"== {scenario.title}: {ticket.id} ({ticket.category}) {ticket.details!r}")
        if store is not None:
            try:
                store.create(ticket)
            except TicketExists:
                ticket = store.get(ticket.id)
                write(f"   already stored: stage {ticket.stage}, version {ticket.version}; not run again")
                finals.append(ticket)
                continue
        for trigger, actor, payload in scenario.steps:
            try:
                if store is None:
                    ticket = machine.fire(ticket, trigger, actor=actor, **payload)
                else:
                    ticket = store.apply(ticket.id, trigger, actor=actor, **payload)
            except (EscalationError, ValidationError) as exc:
                write(f"   REFUSED {trigger} by {actor.id} ({actor.role}): {type(exc).__name__}")
                for line in str(exc).splitlines()[1:]:
                    write(f"     {line.strip()}")
                continue
            record = ticket.history[-1]
            write(f"   {record.at:%Y-%m-%d %H:%M} {record.source:>10} --{trigger}--> "
                  f"{record.dest:<10} by {actor.id} ({actor.role})")
        write(f"   => stage {ticket.stage}, tier {ticket.tier}, tags {list(ticket.tags)}, "
              f"version {ticket.version}")
        finals.append(ticket)
    return finals
