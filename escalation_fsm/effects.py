"""How each default trigger changes the ticket's data (stage, history and version aside).

Effects are pure: they read the :class:`~escalation_fsm.policy.GuardContext` and return the field
updates for the new ticket. The machine applies them to a copy; the old ticket is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .errors import SpecError
from .marks import review_tag
from .models import Escalation, Feedback, FollowUp, Notification, Step, trusted_from
from .payloads import (
    EscalatePayload,
    FeedbackPayload,
    FollowUpPayload,
    NotifyPayload,
    ResolvePayload,
    StepPayload,
)
from .policy import GuardContext

__all__ = [
    "SHIPPED_EFFECTS",
    "TIER2_REVIEW_TAG",
    "add_follow_up",
    "add_notification",
    "add_step",
    "open_escalation",
    "record_feedback",
    "reopen",
    "set_solution",
]

TIER2_REVIEW_TAG = review_tag(2)
"""The tag that marks a ticket for Tier 2 review (procedure step 4); the machine adds it."""


def add_step(ctx: GuardContext) -> Mapping[str, Any]:
    """Append the step to ``ticket.steps``."""
    payload: StepPayload = ctx.payload  # type: ignore[assignment]  # the trigger's payload model
    step = trusted_from(Step, {"text": payload.step, "at": ctx.now, "by": ctx.actor.id})
    return {"steps": (*ctx.ticket.steps, step)}


def open_escalation(ctx: GuardContext) -> Mapping[str, Any]:
    """Keep the Tier 2 hand-over: summary, assessment, the policy's reasons and the steps taken.

    Raising the tier and tagging the ticket for review are the machine's, from the trigger's
    ``escalate`` mark. The priority becomes the assessment's urgency.
    """
    payload = cast("EscalatePayload", ctx.payload)
    if payload.assessment is None:
        # Only a custom spec without a guard requiring the assessment gets here.
        raise SpecError([
            f"trigger {ctx.trigger!r} records the escalation assessment, but none was given and "
            "no guard of the transition requires one (the default procedure's policy guard does)"
        ])
    # The policy is pure: asking it again gives the reasons its guard saw, without looking the
    # guard up by name (a renamed procedure must keep them).
    decision = ctx.policy.decide(payload.assessment)
    return {
        "priority": payload.assessment.urgency,
        "escalation": Escalation(
            summary=payload.summary,
            assessment=payload.assessment,
            reasons=decision.reasons if decision.ok else (),
            steps_taken=ctx.ticket.steps,
            at=ctx.now,
            by=ctx.actor.id,
        ),
    }


def _open_escalation(ctx: GuardContext) -> Escalation:
    # Only a custom spec that notifies or follows up outside an escalation gets here; dropping
    # the message silently would lose what the customer was told, so say what is wrong instead.
    if ctx.ticket.escalation is None:
        raise SpecError([
            f"trigger {ctx.trigger!r} records on the ticket's escalation, but ticket "
            f"{ctx.ticket.id} in stage {ctx.ticket.stage!r} has none: only use it after escalate"
        ])
    return ctx.ticket.escalation


def add_notification(ctx: GuardContext) -> Mapping[str, Any]:
    """Record what the customer was told about the escalation."""
    payload = cast("NotifyPayload", ctx.payload)
    escalation = _open_escalation(ctx)
    note = Notification(message=payload.message, eta=payload.eta, at=ctx.now, by=ctx.actor.id)
    return {"escalation": escalation.model_copy(
        update={"notifications": (*escalation.notifications, note)})}


def add_follow_up(ctx: GuardContext) -> Mapping[str, Any]:
    """Record a Tier 2 update and what was communicated to the customer."""
    payload = cast("FollowUpPayload", ctx.payload)
    escalation = _open_escalation(ctx)
    follow_up = FollowUp(update=payload.update, customer_message=payload.customer_message,
                         at=ctx.now, by=ctx.actor.id)
    return {"escalation": escalation.model_copy(
        update={"follow_ups": (*escalation.follow_ups, follow_up)})}


def set_solution(ctx: GuardContext) -> Mapping[str, Any]:
    """Document the solution."""
    return {"solution": cast("ResolvePayload", ctx.payload).solution}


def record_feedback(ctx: GuardContext) -> Mapping[str, Any]:
    """Keep the customer's rating and comment (a later one replaces it; both stay in history)."""
    payload = cast("FeedbackPayload", ctx.payload)
    return {"feedback": Feedback(rating=payload.rating, comment=payload.comment, at=ctx.now)}


def reopen(ctx: GuardContext) -> Mapping[str, Any]:
    """Clear the solution and feedback so that a new solution must be documented.

    Setting the tier back to 1 is the machine's, from the trigger's ``reopen`` mark.
    """
    return {"solution": None, "feedback": None}


SHIPPED_EFFECTS: frozenset[object] = frozenset({
    add_step, open_escalation, add_notification, add_follow_up, set_solution, record_feedback,
    reopen,
})
"""The effects of the default procedure: tested here, so their output is not re-validated."""
