"""The guards of the default procedure, as named :class:`~escalation_fsm.spec.GuardSpec` values.

Each guard's ``requirement`` is the sentence shown in generated docs; the reasons it returns on
failure say what is missing in words an agent can act on.
"""

from __future__ import annotations

from typing import cast

from .payloads import (
    EscalatePayload,
    FollowUpPayload,
    NotifyPayload,
    ReopenPayload,
    ResolvePayload,
    StepPayload,
)
from .policy import Decision, GuardContext
from .spec import GuardSpec

__all__ = ["DEFAULT_GUARDS"]


def _has_category(ctx: GuardContext) -> Decision:
    allowed = "billing, technical, account_access or other"
    return Decision.require(ctx.ticket.category is not None,
                            f"the ticket has no category: set one of {allowed}")


def _has_details(ctx: GuardContext) -> Decision:
    return Decision.require(bool(ctx.ticket.details.strip()),
                            "the ticket's details are empty: record what the customer reported")


def _has_steps(ctx: GuardContext) -> Decision:
    return Decision.require(bool(ctx.ticket.steps),
                            "no resolution step is recorded: record_step what was tried first")


def _has_summary(ctx: GuardContext) -> Decision:
    payload = cast("EscalatePayload", ctx.payload)
    return Decision.require(bool(payload.summary),
                            "the Tier 2 summary is empty: pass summary= describing the issue")


def _escalation_warranted(ctx: GuardContext) -> Decision:
    payload = cast("EscalatePayload", ctx.payload)
    if payload.assessment is None:
        return Decision.no(
            "no assessment was given: pass assessment=Assessment(complexity=..., "
            "frustration=..., urgency=...)"
        )
    return ctx.policy.decide(payload.assessment)


def _customer_notified(ctx: GuardContext) -> Decision:
    escalation = ctx.ticket.escalation
    return Decision.require(
        escalation is not None and bool(escalation.notifications),
        "the customer has not been notified of the escalation: fire notify_customer first",
    )


def _has_solution(ctx: GuardContext) -> Decision:
    payload = cast("ResolvePayload", ctx.payload)
    return Decision.require(bool(payload.solution),
                            "the solution is empty: pass solution= documenting how it was resolved")


def _has_step_text(ctx: GuardContext) -> Decision:
    payload = cast("StepPayload", ctx.payload)
    return Decision.require(bool(payload.step), "the step is empty: pass step= saying what was done")


def _has_message(ctx: GuardContext) -> Decision:
    payload = cast("NotifyPayload", ctx.payload)
    return Decision.require(bool(payload.message),
                            "the message is empty: pass message= with what the customer is told")


def _has_update(ctx: GuardContext) -> Decision:
    payload = cast("FollowUpPayload", ctx.payload)
    return Decision.require(bool(payload.update),
                            "the Tier 2 update is empty: pass update= with Tier 2's latest news")


def _has_customer_message(ctx: GuardContext) -> Decision:
    payload = cast("FollowUpPayload", ctx.payload)
    return Decision.require(
        bool(payload.customer_message),
        "nothing was communicated to the customer: pass customer_message= with what they were told",
    )


def _has_reopen_reason(ctx: GuardContext) -> Decision:
    payload = cast("ReopenPayload", ctx.payload)
    return Decision.require(bool(payload.reason),
                            "the reopen reason is empty: pass reason= saying why it is reopened")


DEFAULT_GUARDS: tuple[GuardSpec, ...] = (
    GuardSpec(name="has_category", requirement="the ticket has a category", check=_has_category),
    GuardSpec(name="has_details", requirement="the customer's details are recorded",
              check=_has_details),
    GuardSpec(name="has_steps", requirement="at least one resolution step is recorded",
              check=_has_steps),
    GuardSpec(name="has_summary", requirement="a Tier 2 summary is given", check=_has_summary,
              reads=frozenset({"summary"})),
    GuardSpec(name="escalation_warranted",
              requirement="the escalation policy says escalation is necessary "
                          "(complexity, customer frustration, urgency)",
              check=_escalation_warranted, reads=frozenset({"assessment"})),
    GuardSpec(name="customer_notified", requirement="the customer was notified of the escalation",
              check=_customer_notified),
    GuardSpec(name="has_solution", requirement="a solution is documented", check=_has_solution,
              reads=frozenset({"solution"})),
    GuardSpec(name="has_step_text", requirement="the step taken is described",
              check=_has_step_text, reads=frozenset({"step"})),
    GuardSpec(name="has_message", requirement="a message for the customer is given",
              check=_has_message, reads=frozenset({"message"})),
    GuardSpec(name="has_update", requirement="the Tier 2 update is given", check=_has_update,
              reads=frozenset({"update"})),
    GuardSpec(name="has_customer_message",
              requirement="what the customer was told is recorded", check=_has_customer_message,
              reads=frozenset({"customer_message"})),
    GuardSpec(name="has_reopen_reason", requirement="a reason for reopening is given",
              check=_has_reopen_reason, reads=frozenset({"reason"})),
)
