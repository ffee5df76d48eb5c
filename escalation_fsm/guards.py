"""The guard predicates of the default procedure: pure functions of a context to a Decision.

They are wired into named :class:`~escalation_fsm.spec.GuardSpec` values, with their requirement
sentences, by :mod:`escalation_fsm.procedure` (the one module naming the procedure's guards); a
custom spec reuses them under any name. The reasons they return on failure say what is missing
in words an agent can act on.
"""

from __future__ import annotations

from typing import cast

from .payloads import (
    EscalatePayload,
    FollowUpPayload,
    InteractionPayload,
    NotifyPayload,
    ReopenPayload,
    ResolvePayload,
    StepPayload,
)
from .policy import Decision, GuardContext

__all__ = [
    "customer_notified",
    "escalation_warranted",
    "has_category",
    "has_customer_message",
    "has_details",
    "has_interaction_summary",
    "has_message",
    "has_reopen_reason",
    "has_solution",
    "has_step_text",
    "has_steps",
    "has_summary",
    "has_update",
]


def has_category(ctx: GuardContext) -> Decision:
    """The ticket has a category."""
    allowed = "billing, technical, account_access or other"
    return Decision.require(ctx.ticket.category is not None,
                            f"the ticket has no category: set one of {allowed}")


def has_details(ctx: GuardContext) -> Decision:
    """The customer's details are recorded."""
    return Decision.require(bool(ctx.ticket.details.strip()),
                            "the ticket's details are empty: record what the customer reported")


def has_steps(ctx: GuardContext) -> Decision:
    """At least one resolution step is recorded."""
    return Decision.require(bool(ctx.ticket.steps),
                            "no resolution step is recorded: record_step what was tried first")


def has_summary(ctx: GuardContext) -> Decision:
    """The payload gives a Tier 2 summary."""
    payload = cast("EscalatePayload", ctx.payload)
    return Decision.require(bool(payload.summary),
                            "the Tier 2 summary is empty: pass summary= describing the issue")


def escalation_warranted(ctx: GuardContext) -> Decision:
    """The escalation policy says the payload's assessment warrants escalation."""
    payload = cast("EscalatePayload", ctx.payload)
    if payload.assessment is None:
        return Decision.no(
            "no assessment was given: pass assessment=Assessment(complexity=..., "
            "frustration=..., urgency=...)"
        )
    return ctx.policy.decide(payload.assessment)


def customer_notified(ctx: GuardContext) -> Decision:
    """The customer was notified of the current escalation."""
    escalation = ctx.ticket.escalation
    return Decision.require(
        escalation is not None and bool(escalation.notifications),
        "the customer has not been notified of the escalation: fire notify_customer first",
    )


def has_solution(ctx: GuardContext) -> Decision:
    """The payload documents a solution."""
    payload = cast("ResolvePayload", ctx.payload)
    return Decision.require(bool(payload.solution),
                            "the solution is empty: pass solution= documenting how it was resolved")


def has_step_text(ctx: GuardContext) -> Decision:
    """The payload describes the step taken."""
    payload: StepPayload = ctx.payload  # type: ignore[assignment]  # checked on every step: no cast call
    return Decision.require(bool(payload.step), "the step is empty: pass step= saying what was done")


def has_message(ctx: GuardContext) -> Decision:
    """The payload gives a message for the customer."""
    payload = cast("NotifyPayload", ctx.payload)
    return Decision.require(bool(payload.message),
                            "the message is empty: pass message= with what the customer is told")


def has_update(ctx: GuardContext) -> Decision:
    """The payload gives the Tier 2 update."""
    payload = cast("FollowUpPayload", ctx.payload)
    return Decision.require(bool(payload.update),
                            "the Tier 2 update is empty: pass update= with Tier 2's latest news")


def has_customer_message(ctx: GuardContext) -> Decision:
    """The payload records what the customer was told."""
    payload = cast("FollowUpPayload", ctx.payload)
    return Decision.require(
        bool(payload.customer_message),
        "nothing was communicated to the customer: pass customer_message= with what they were told",
    )


def has_reopen_reason(ctx: GuardContext) -> Decision:
    """The payload says why the ticket is reopened."""
    payload = cast("ReopenPayload", ctx.payload)
    return Decision.require(bool(payload.reason),
                            "the reopen reason is empty: pass reason= saying why it is reopened")


def has_interaction_summary(ctx: GuardContext) -> Decision:
    """The payload summarises the interaction."""
    payload = cast("InteractionPayload", ctx.payload)
    return Decision.require(bool(payload.summary),
                            "the interaction is not summarised: pass summary= saying what was said")
