"""Type-checked by CI with ``mypy --strict``: the public API as a host project would use it."""

from __future__ import annotations

from escalation_fsm import (
    Actor,
    Assessment,
    Category,
    EscalationMachine,
    Explanation,
    HookFailed,
    Role,
    Stage,
    Ticket,
    TransitionEvent,
    TransitionRefused,
    Trigger,
)


def escalate(machine: EscalationMachine, ticket: Ticket, agent: Actor) -> Ticket:
    ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=agent, step="Read KB-1")
    try:
        return machine.fire(ticket, Trigger.ESCALATE, actor=agent, summary="needs tier 2",
                            assessment=Assessment(complexity="high", frustration="low", urgency="low"))
    except TransitionRefused as refused:
        reasons: tuple[str, ...] = refused.reasons
        raise RuntimeError("; ".join(reasons)) from refused


def main() -> None:
    machine = EscalationMachine()
    agent = Actor(id="a-1", role=Role.AGENT)

    @machine.after(Trigger.ESCALATE)
    def page(event: TransitionEvent) -> None:
        print(event.after.id)

    ticket = machine.fire(Ticket(id="T", customer_id="C", category=Category.OTHER, details="d"),
                          Trigger.ATTEMPT, actor=agent)
    ticket = escalate(machine, ticket, agent)
    stage: str = ticket.stage
    assert stage == Stage.ESCALATED
    why: Explanation = machine.explain(ticket, Trigger.RESOLVE, actor=agent, solution="x")
    allowed: set[str] = machine.allowed(ticket, agent)
    print(why.ok, sorted(allowed))


def committed_despite_hook_failure(machine: EscalationMachine, ticket: Ticket, agent: Actor) -> Ticket:
    try:
        return machine.fire(ticket, Trigger.ATTEMPT, actor=agent)
    except HookFailed as failed:
        if failed.phase == "after":
            return failed.ticket  # typed as Ticket: the committed ticket is never lost
        raise
