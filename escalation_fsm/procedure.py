"""The shipped specs as data: the written escalation procedure, and the same as helpdesks log it.

This is the one module that names the procedure's stages, triggers and guards; everything else
reads a spec's marks (:mod:`escalation_fsm.marks`), so a renamed or extended procedure behaves the
same.

:func:`default_spec`: stages follow the procedure: identify the issue, attempt resolution at first
contact, escalate to Tier 2 (notify the customer, follow up), resolve, request and record
feedback. Reopening is added because a resolved ticket whose problem comes back must not need a
new ticket to be handled.

:func:`logged_procedure_spec`: the default procedure *extended* (never loosened) with what real
helpdesk logs record, for replaying them.
"""

from __future__ import annotations

from functools import cache

from . import effects, guards
from .marks import Mark
from .models import Role, Stage, Trigger
from .payloads import (
    EscalatePayload,
    FeedbackPayload,
    FollowUpPayload,
    InteractionPayload,
    NoPayload,
    NotifyPayload,
    ReopenPayload,
    ResolvePayload,
    StepPayload,
)
from .spec import GuardSpec, MachineSpec, StageSpec, TransitionSpec, TriggerSpec

__all__ = ["DEFAULT_GUARDS", "default_spec", "logged_procedure_spec"]

_STAFF = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR})
_TIER1 = frozenset({Role.AGENT, Role.SUPERVISOR})
_TIER2 = frozenset({Role.TIER2, Role.SUPERVISOR})
_COMMS = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR, Role.SYSTEM})
_CUSTOMER = frozenset({Role.CUSTOMER, Role.SYSTEM})
_REOPENERS = frozenset({Role.CUSTOMER, Role.AGENT, Role.SUPERVISOR})
# An interaction is recorded by whoever took part in it for the helpdesk, by the system (a mail
# gateway), or by the customer through the portal.
_CONTACTS = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR, Role.SYSTEM, Role.CUSTOMER})

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
    TriggerSpec(name=Trigger.ATTEMPT, marks={Mark.ATTEMPT},
                description="Start resolving at the first point of contact."),
    TriggerSpec(name=Trigger.RECORD_STEP, payload=StepPayload, effect=effects.add_step,
                marks={Mark.STEP},
                description="Record a step taken or a knowledge-base resource used."),
    TriggerSpec(name=Trigger.ESCALATE, payload=EscalatePayload, effect=effects.open_escalation,
                marks={Mark.ESCALATE},
                description="Escalate to Tier 2: tag for Tier 2 review with a detailed summary."),
    TriggerSpec(name=Trigger.NOTIFY_CUSTOMER, payload=NotifyPayload,
                effect=effects.add_notification, marks={Mark.PROMISE, Mark.CUSTOMER_UPDATE},
                description="Tell the customer the issue is prioritised, with an ETA if known."),
    TriggerSpec(name=Trigger.FOLLOW_UP, payload=FollowUpPayload, effect=effects.add_follow_up,
                marks={Mark.TIER_UPDATE, Mark.CUSTOMER_UPDATE},
                description="Record a Tier 2 update and what was communicated to the customer."),
    TriggerSpec(name=Trigger.RESOLVE, payload=ResolvePayload, effect=effects.set_solution,
                marks={Mark.RESOLVE}, description="Document the (final) solution."),
    TriggerSpec(name=Trigger.REQUEST_FEEDBACK, payload=NoPayload, marks={Mark.REQUEST_FEEDBACK},
                description="Ask the customer to rate the resolution process."),
    TriggerSpec(name=Trigger.RECORD_FEEDBACK, payload=FeedbackPayload,
                effect=effects.record_feedback, marks={Mark.RECORD_FEEDBACK},
                description="Record the customer's rating (1-5) and comment."),
    TriggerSpec(name=Trigger.REOPEN, payload=ReopenPayload, effect=effects.reopen,
                marks={Mark.REOPEN},
                description="The problem is back: reopen the ticket for another attempt."),
    TriggerSpec(name=Trigger.RECORD_INTERACTION, payload=InteractionPayload,
                marks={Mark.INTERACTION},
                description="Document a contact with the customer (channel, inbound or outbound, "
                            "what was said); the stage does not change."),
)

_NOT_IN_LOGS = "logs do not record "
DEFAULT_GUARDS: tuple[GuardSpec, ...] = (
    GuardSpec(name="has_category", requirement="the ticket has a category",
              check=guards.has_category, ticket_fields=frozenset({"category"}),
              log_note="needs a category column: declare `columns.category` in the mapping"),
    GuardSpec(name="has_details", requirement="the customer's details are recorded",
              check=guards.has_details, ticket_fields=frozenset({"details"}),
              log_note=_NOT_IN_LOGS + "what the customer reported"),
    GuardSpec(name="has_steps", requirement="at least one resolution step is recorded",
              check=guards.has_steps, ticket_fields=frozenset({"steps"}),
              log_note=_NOT_IN_LOGS + "which knowledge-base articles or troubleshooting steps "
                                      "were tried before escalating"),
    GuardSpec(name="has_summary", requirement="a Tier 2 summary is given",
              check=guards.has_summary, reads=frozenset({"summary"}),
              log_note=_NOT_IN_LOGS + "the Tier 2 hand-over summary"),
    GuardSpec(name="escalation_warranted",
              requirement="the escalation policy says escalation is necessary "
                          "(complexity, customer frustration, urgency)",
              check=guards.escalation_warranted, reads=frozenset({"assessment"}),
              log_note=_NOT_IN_LOGS + "the complexity, frustration and urgency assessment "
                                      "behind an escalation"),
    GuardSpec(name="customer_notified", requirement="the customer was notified of the escalation",
              check=guards.customer_notified, ticket_fields=frozenset({"escalation"}),
              log_note=_NOT_IN_LOGS + "customer notifications"),
    GuardSpec(name="has_solution", requirement="a solution is documented",
              check=guards.has_solution, reads=frozenset({"solution"}),
              log_note=_NOT_IN_LOGS + "the text of the solution"),
    GuardSpec(name="has_step_text", requirement="the step taken is described",
              check=guards.has_step_text, reads=frozenset({"step"}),
              log_note=_NOT_IN_LOGS + "what a step consisted of"),
    GuardSpec(name="has_message", requirement="a message for the customer is given",
              check=guards.has_message, reads=frozenset({"message"}),
              log_note=_NOT_IN_LOGS + "what the customer was told"),
    GuardSpec(name="has_update", requirement="the Tier 2 update is given",
              check=guards.has_update, reads=frozenset({"update"}),
              log_note=_NOT_IN_LOGS + "the content of Tier 2 updates"),
    GuardSpec(name="has_customer_message", requirement="what the customer was told is recorded",
              check=guards.has_customer_message, reads=frozenset({"customer_message"}),
              log_note=_NOT_IN_LOGS + "what was communicated to the customer"),
    GuardSpec(name="has_reopen_reason", requirement="a reason for reopening is given",
              check=guards.has_reopen_reason, reads=frozenset({"reason"}),
              log_note=_NOT_IN_LOGS + "why a ticket was reopened"),
    GuardSpec(name="has_interaction_summary", requirement="what was said is summarised",
              check=guards.has_interaction_summary, reads=frozenset({"summary"}),
              log_note=_NOT_IN_LOGS + "what was said in an interaction"),
)
"""The default procedure's guards: a name, the requirement shown in docs, the predicate, what it
reads, and why an event log usually cannot show it."""


def _t(trigger: Trigger, source: Stage, dest: Stage | None, roles: frozenset[Role],
       *guard_names: str) -> TransitionSpec:
    return TransitionSpec(trigger=trigger, source=source, dest=dest, roles=roles, guards=guard_names)


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
    # Every interaction is documented, in every stage that is not final.
    *(_t(Trigger.RECORD_INTERACTION, stage, None, _CONTACTS, "has_interaction_summary")
      for stage in (Stage.IDENTIFIED, Stage.ATTEMPTED, Stage.ESCALATED, Stage.RESOLVED)),
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


_ANY_STAFF = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR, Role.SYSTEM})


def _logged(trigger: str, source: str, dest: str | None, *guard_names: str,
            roles: frozenset[str] = _ANY_STAFF) -> TransitionSpec:
    return TransitionSpec(trigger=trigger, source=source, dest=dest, guards=guard_names, roles=roles)


@cache
def logged_procedure_spec() -> MachineSpec:
    """The default procedure plus the stages and moves real helpdesk logs record.

    Added: ``classify`` (record seriousness or priority while identified), ``waiting`` and
    ``waiting_tier2`` (on hold for the customer or a third party, during first-contact work or
    after escalation; waiting again while on hold is allowed, e.g. on another party), taking a
    ticket over (``attempt`` again), re-escalation to a further group (``escalate`` while
    escalated or on hold), resolving after a wait, and ``close`` to a final ``closed`` stage.
    Every default transition and guard is kept.
    """
    base = default_spec()
    attempt = base.trigger(Trigger.ATTEMPT)
    stages = [
        StageSpec(name="waiting", description="On hold during first-contact work, waiting for "
                                              "the customer or a third party."),
        StageSpec(name="waiting_tier2", description="On hold after escalation, waiting for the "
                                                    "customer, a vendor or a problem fix."),
        StageSpec(name="closed", final=True, description="Closed: nothing left to do."),
    ]
    triggers = [
        attempt.model_copy(update={
            "description": "Start, resume or take over work on the ticket "
                           "(first contact, or after a wait)."}),
        TriggerSpec(name="classify", description="Record the issue's seriousness, category or "
                                                 "priority while it is being identified."),
        TriggerSpec(name="wait", description="Put the ticket on hold for the customer or a "
                                             "third party."),
        TriggerSpec(name="close", description="Close the resolved ticket."),
    ]
    transitions = [
        _logged("classify", Stage.IDENTIFIED, None),
        _logged(Trigger.ATTEMPT, Stage.ATTEMPTED, None),          # another agent takes it over
        _logged(Trigger.ATTEMPT, Stage.ESCALATED, None,
                roles=frozenset({Role.TIER2, Role.SUPERVISOR, Role.SYSTEM})),
        _logged("wait", Stage.ATTEMPTED, "waiting"),
        _logged("wait", Stage.ESCALATED, "waiting_tier2"),
        _logged("wait", "waiting", None),                         # still waiting, maybe on another party
        _logged("wait", "waiting_tier2", None),
        _logged(Trigger.ATTEMPT, "waiting", Stage.ATTEMPTED),
        _logged(Trigger.ATTEMPT, "waiting_tier2", Stage.ESCALATED),
        _logged(Trigger.RESOLVE, "waiting", Stage.RESOLVED, "has_solution"),
        _logged(Trigger.RESOLVE, "waiting_tier2", Stage.RESOLVED, "has_solution", "customer_notified"),
        _logged(Trigger.ESCALATE, Stage.ESCALATED, None, "has_summary", "escalation_warranted"),
        _logged(Trigger.ESCALATE, "waiting", "waiting_tier2", "has_steps", "has_summary",
                "escalation_warranted"),
        _logged(Trigger.ESCALATE, "waiting_tier2", None, "has_summary", "escalation_warranted"),
        _logged("close", Stage.RESOLVED, "closed"),
        _logged("close", Stage.FEEDBACK, "closed"),
        *(_logged(Trigger.RECORD_INTERACTION, stage, None, "has_interaction_summary",
                  roles=_CONTACTS) for stage in ("waiting", "waiting_tier2")),
    ]
    return base.extend(
        name="escalation-procedure-as-logged",
        description="The escalation procedure with the waiting, take-over and closing steps "
                    "that helpdesk logs record.",
        stages=stages, triggers=triggers, transitions=transitions,
    )
