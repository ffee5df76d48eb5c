"""The shipped default spec: the written escalation procedure as data.

Stages follow the procedure: identify the issue, attempt resolution at first contact, escalate to
Tier 2 (notify the customer, follow up), resolve, request and record feedback. Reopening is added
because a resolved ticket whose problem comes back must not need a new ticket to be handled.
"""

from __future__ import annotations

from functools import cache

from . import effects
from .guards import DEFAULT_GUARDS
from .models import Role, Stage, Trigger
from .payloads import (
    EscalatePayload,
    FeedbackPayload,
    FollowUpPayload,
    NoPayload,
    NotifyPayload,
    ReopenPayload,
    ResolvePayload,
    StepPayload,
)
from .spec import MachineSpec, StageSpec, TransitionSpec, TriggerSpec

__all__ = ["default_spec"]

_STAFF = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR})
_TIER1 = frozenset({Role.AGENT, Role.SUPERVISOR})
_TIER2 = frozenset({Role.TIER2, Role.SUPERVISOR})
_COMMS = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR, Role.SYSTEM})
_CUSTOMER = frozenset({Role.CUSTOMER, Role.SYSTEM})
_REOPENERS = frozenset({Role.CUSTOMER, Role.AGENT, Role.SUPERVISOR})

_STAGES = (
    StageSpec(name=Stage.IDENTIFIED, initial=True,
              description="The issue is identified: category and customer's details recorded."),
    StageSpec(name=Stage.ATTEMPTED,
              description="First-contact resolution under way (knowledge base, troubleshooting); "
                          "steps are recorded as they happen."),
    StageSpec(name=Stage.ESCALATED,
              description="Tagged for Tier 2 review with a summary of the steps taken; the customer "
                          "is notified and kept updated until resolution."),
    StageSpec(name=Stage.RESOLVED, description="The solution is documented in the ticket."),
    StageSpec(name=Stage.FEEDBACK, final=True,
              description="Feedback was requested; the customer's rating and comment are recorded."),
)

_TRIGGERS = (
    TriggerSpec(name=Trigger.ATTEMPT, description="Start resolving at the first point of contact."),
    TriggerSpec(name=Trigger.RECORD_STEP, payload=StepPayload, effect=effects.add_step,
                description="Record a step taken or a knowledge-base resource used."),
    TriggerSpec(name=Trigger.ESCALATE, payload=EscalatePayload, effect=effects.open_escalation,
                description="Escalate to Tier 2: tag for Tier 2 review with a detailed summary."),
    TriggerSpec(name=Trigger.NOTIFY_CUSTOMER, payload=NotifyPayload,
                effect=effects.add_notification,
                description="Tell the customer the issue is prioritised, with an ETA if known."),
    TriggerSpec(name=Trigger.FOLLOW_UP, payload=FollowUpPayload, effect=effects.add_follow_up,
                description="Record a Tier 2 update and what was communicated to the customer."),
    TriggerSpec(name=Trigger.RESOLVE, payload=ResolvePayload, effect=effects.set_solution,
                description="Document the (final) solution."),
    TriggerSpec(name=Trigger.REQUEST_FEEDBACK, payload=NoPayload,
                description="Ask the customer to rate the resolution process."),
    TriggerSpec(name=Trigger.RECORD_FEEDBACK, payload=FeedbackPayload,
                effect=effects.record_feedback,
                description="Record the customer's rating (1-5) and comment."),
    TriggerSpec(name=Trigger.REOPEN, payload=ReopenPayload, effect=effects.reopen,
                description="The problem is back: reopen the ticket for another attempt."),
)


def _t(trigger: Trigger, source: Stage, dest: Stage | None, roles: frozenset[Role],
       *guards: str) -> TransitionSpec:
    return TransitionSpec(trigger=trigger, source=source, dest=dest, roles=roles, guards=guards)


_TRANSITIONS = (
    _t(Trigger.ATTEMPT, Stage.IDENTIFIED, Stage.ATTEMPTED, _STAFF, "has_category", "has_details"),
    _t(Trigger.RECORD_STEP, Stage.ATTEMPTED, None, _STAFF, "has_step_text"),
    _t(Trigger.RESOLVE, Stage.ATTEMPTED, Stage.RESOLVED, _TIER1, "has_solution"),
    _t(Trigger.ESCALATE, Stage.ATTEMPTED, Stage.ESCALATED, _TIER1,
       "has_steps", "has_summary", "escalation_warranted"),
    _t(Trigger.RECORD_STEP, Stage.ESCALATED, None, _STAFF, "has_step_text"),
    _t(Trigger.NOTIFY_CUSTOMER, Stage.ESCALATED, None, _COMMS, "has_message"),
    _t(Trigger.FOLLOW_UP, Stage.ESCALATED, None, _COMMS, "has_update", "has_customer_message"),
    _t(Trigger.RESOLVE, Stage.ESCALATED, Stage.RESOLVED, _TIER2, "has_solution",
       "customer_notified"),
    _t(Trigger.REQUEST_FEEDBACK, Stage.RESOLVED, Stage.FEEDBACK, _COMMS),
    _t(Trigger.RECORD_FEEDBACK, Stage.FEEDBACK, None, _CUSTOMER),
    _t(Trigger.REOPEN, Stage.RESOLVED, Stage.ATTEMPTED, _REOPENERS, "has_reopen_reason"),
    _t(Trigger.REOPEN, Stage.FEEDBACK, Stage.ATTEMPTED, _REOPENERS, "has_reopen_reason"),
)


@cache
def default_spec() -> MachineSpec:
    """The default escalation procedure (built and validated once, then shared: it is frozen)."""
    return MachineSpec(
        name="customer-service-escalation",
        description="Customer Service Escalation Procedures (October 2023) as a state machine.",
        stages=_STAGES,
        triggers=_TRIGGERS,
        transitions=_TRANSITIONS,
        guards=DEFAULT_GUARDS,
    )
