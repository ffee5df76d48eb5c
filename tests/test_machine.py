"""Firing triggers: every rule of the default procedure, the errors, and that refusals change nothing."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from support import (
    ACTORS,
    AGENT,
    CUSTOMER,
    HIGH,
    LOW,
    START,
    SUPERVISOR,
    SYSTEM,
    TIER2,
    VALID,
    attempted,
    escalated,
    new_ticket,
    walk,
)

from escalation_fsm import (
    Actor,
    Assessment,
    AuditRecord,
    Category,
    EscalationMachine,
    InvalidTransition,
    PermissionDenied,
    Role,
    Stage,
    Ticket,
    TransitionRefused,
    Trigger,
    default_spec,
)


def refused(machine: EscalationMachine, ticket: Ticket, trigger: str, actor: Actor,
            **payload: Any) -> tuple[str, ...]:
    """Fire, expect a refusal, check nothing changed, return the reasons."""
    before = copy.deepcopy(ticket)
    with pytest.raises(TransitionRefused) as info:
        machine.fire(ticket, trigger, actor=actor, **payload)
    assert ticket == before
    assert info.value.trigger == trigger and info.value.stage == ticket.stage
    return info.value.reasons


def test_the_issue_example(machine: EscalationMachine) -> None:
    """The public example of the issue: attempt, record a step, escalate."""
    t = Ticket(id="T-1", customer_id="C-9", category=Category.BILLING, details="Charged twice in October")
    assert t.stage == Stage.IDENTIFIED
    t = machine.fire(t, Trigger.ATTEMPT, actor=AGENT)
    t = machine.fire(t, Trigger.RECORD_STEP, actor=AGENT, step="Checked invoice history in billing console")
    t = machine.fire(t, Trigger.ESCALATE, actor=AGENT, summary="Duplicate charge not visible to tier 1 tools",
                     assessment=Assessment(complexity="high", frustration="medium", urgency="normal"))
    assert t.stage == Stage.ESCALATED
    assert t.tags == ("tier2-review",) and t.tier == 2
    assert t.escalation is not None
    assert t.escalation.reasons == ("complexity is high (escalate at high or above)",)
    assert [s.text for s in t.escalation.steps_taken] == ["Checked invoice history in billing console"]


# -- attempt ---------------------------------------------------------------------------------------

def test_attempt_needs_category_and_details(machine: EscalationMachine) -> None:
    """identified -> attempted needs a category and non-empty details; both are reported."""
    reasons = refused(machine, new_ticket(category=None, details="  "), Trigger.ATTEMPT, AGENT)
    assert reasons == (
        "the ticket has no category: set one of billing, technical, account_access or other",
        "the ticket's details are empty: record what the customer reported",
    )
    assert machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT).stage == Stage.ATTEMPTED


# -- record_step -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reach", [attempted, escalated])
def test_record_step_stays_and_records(machine: EscalationMachine, reach: Any) -> None:
    """record_step keeps the stage and appends the step with who and when."""
    t = reach(machine)
    after = machine.fire(t, Trigger.RECORD_STEP, actor=TIER2, step="Read KB-42")
    assert after.stage == t.stage
    assert after.steps[-1].text == "Read KB-42" and after.steps[-1].by == TIER2.id
    assert len(after.steps) == len(t.steps) + 1
    assert refused(machine, t, Trigger.RECORD_STEP, AGENT, step="   ") == (
        "the step is empty: pass step= saying what was done",)


# -- escalate --------------------------------------------------------------------------------------

def test_escalate_lists_every_failing_guard(machine: EscalationMachine) -> None:
    """No step, no summary and a low assessment: three reasons, not just the first."""
    reasons = refused(machine, attempted(machine), Trigger.ESCALATE, AGENT, summary="", assessment=LOW)
    assert reasons[:2] == ("no resolution step is recorded: record_step what was tried first",
                           "the Tier 2 summary is empty: pass summary= describing the issue")
    assert reasons[2].startswith("the escalation policy does not warrant escalation")
    assert len(reasons) == 3


def test_escalate_needs_an_assessment(machine: EscalationMachine) -> None:
    """Without an assessment the policy cannot decide: refused, with how to fix it."""
    t = walk(machine, attempted(machine), (Trigger.RECORD_STEP, AGENT))
    assert refused(machine, t, Trigger.ESCALATE, AGENT, summary="s") == (
        "no assessment was given: pass assessment=Assessment(complexity=..., frustration=..., "
        "urgency=...)",)


@pytest.mark.parametrize("missing", ["steps", "summary", "policy"])
def test_each_escalation_guard_alone_blocks(machine: EscalationMachine, missing: str) -> None:
    """Each of the three escalation requirements is enforced on its own."""
    t = attempted(machine) if missing == "steps" else walk(machine, attempted(machine),
                                                           (Trigger.RECORD_STEP, AGENT))
    payload = {"summary": "" if missing == "summary" else "s",
               "assessment": LOW if missing == "policy" else HIGH}
    assert len(refused(machine, t, Trigger.ESCALATE, AGENT, **payload)) == 1


def test_escalate_effects(machine: EscalationMachine) -> None:
    """Escalating tags for Tier 2 review once, sets tier 2 and the priority from the urgency."""
    t = escalated(machine)
    assert (t.stage, t.tier, t.tags, t.priority) == (Stage.ESCALATED, 2, ("tier2-review",), "high")
    assert t.escalation is not None and t.escalation.summary == "Needs Tier 2 tools"
    assert t.escalation.by == AGENT.id and t.escalation.assessment == HIGH


def test_policy_thresholds_come_from_the_machine(clock: Any) -> None:
    """A machine with a stricter policy refuses what the default accepts."""
    from escalation_fsm import EscalationPolicy

    strict = EscalationMachine(policy=EscalationPolicy(min_signals=3), clock=clock)
    t = walk(strict, attempted(strict), (Trigger.RECORD_STEP, AGENT))
    mixed = Assessment(complexity="high", frustration="high", urgency="low")
    assert len(refused(strict, t, Trigger.ESCALATE, AGENT, summary="s", assessment=mixed)) == 1
    assert EscalationMachine(clock=clock).fire(t, Trigger.ESCALATE, actor=AGENT, summary="s",
                                               assessment=mixed).stage == Stage.ESCALATED


# -- while escalated -------------------------------------------------------------------------------

def test_notify_customer_records_message_and_eta(machine: EscalationMachine) -> None:
    """The notification is kept with its estimated response time."""
    t = escalated(machine)
    t = machine.fire(t, Trigger.NOTIFY_CUSTOMER, actor=SYSTEM, message="Prioritised", eta=timedelta(hours=4))
    assert t.escalation is not None
    note = t.escalation.notifications[-1]
    assert note.message == "Prioritised" and note.eta == timedelta(hours=4)
    assert note.respond_by == note.at + timedelta(hours=4)
    assert refused(machine, t, Trigger.NOTIFY_CUSTOMER, AGENT, message="") == (
        "the message is empty: pass message= with what the customer is told",)
    with pytest.raises(ValidationError, match="eta"):
        machine.fire(t, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m", eta=timedelta(hours=-1))


def test_follow_up_needs_update_and_customer_message(machine: EscalationMachine) -> None:
    """Both the Tier 2 update and what the customer was told are required and recorded."""
    t = escalated(machine)
    assert len(refused(machine, t, Trigger.FOLLOW_UP, TIER2, update="", customer_message="")) == 2
    t = machine.fire(t, Trigger.FOLLOW_UP, actor=TIER2, update="patched", customer_message="fixed soon")
    assert t.escalation is not None
    assert (t.escalation.follow_ups[-1].update, t.escalation.follow_ups[-1].customer_message) == (
        "patched", "fixed soon")


# -- resolve ---------------------------------------------------------------------------------------

def test_first_contact_resolution_needs_a_solution(machine: EscalationMachine) -> None:
    """attempted -> resolved needs a documented solution, which is kept."""
    t = attempted(machine)
    assert refused(machine, t, Trigger.RESOLVE, AGENT, solution=" ") == (
        "the solution is empty: pass solution= documenting how it was resolved",)
    done = machine.fire(t, Trigger.RESOLVE, actor=AGENT, solution="Reset the password")
    assert (done.stage, done.solution, done.tier) == (Stage.RESOLVED, "Reset the password", 1)


def test_escalated_resolution_needs_notification_and_solution(machine: EscalationMachine) -> None:
    """escalated -> resolved also needs that the customer was notified."""
    t = escalated(machine)
    assert len(refused(machine, t, Trigger.RESOLVE, TIER2, solution="")) == 2
    assert refused(machine, t, Trigger.RESOLVE, TIER2, solution="x") == (
        "the customer has not been notified of the escalation: fire notify_customer first",)
    t = walk(machine, t, (Trigger.NOTIFY_CUSTOMER, AGENT), (Trigger.RESOLVE, TIER2))
    assert t.stage == Stage.RESOLVED and t.solution == VALID[Trigger.RESOLVE]["solution"]


# -- feedback and reopening ------------------------------------------------------------------------

def resolved(machine: EscalationMachine) -> Ticket:
    return walk(machine, attempted(machine), (Trigger.RESOLVE, AGENT))


def test_feedback_is_requested_then_recorded(machine: EscalationMachine) -> None:
    """resolved -> feedback, then the rating 1-5 and comment are recorded (7 is invalid)."""
    t = walk(machine, resolved(machine), (Trigger.REQUEST_FEEDBACK, SYSTEM))
    assert t.stage == Stage.FEEDBACK
    before = copy.deepcopy(t)
    for bad in (7, 0, "5", 4.5):
        with pytest.raises(ValidationError, match="rating"):
            machine.fire(t, Trigger.RECORD_FEEDBACK, actor=CUSTOMER, rating=bad)
    with pytest.raises(ValidationError, match="rating"):
        machine.fire(t, Trigger.RECORD_FEEDBACK, actor=CUSTOMER)
    assert t == before
    t = machine.fire(t, Trigger.RECORD_FEEDBACK, actor=CUSTOMER, rating=5, comment="Great")
    assert t.feedback is not None and (t.feedback.rating, t.feedback.comment) == (5, "Great")
    assert t.stage == Stage.FEEDBACK


@pytest.mark.parametrize("extra", [(), ((Trigger.REQUEST_FEEDBACK, SYSTEM),)])
def test_reopen_needs_a_reason_and_clears_the_solution(machine: EscalationMachine, extra: Any) -> None:
    """A resolved (or feedback) ticket reopens to attempted and must be resolved again."""
    t = walk(machine, resolved(machine), *extra)
    assert refused(machine, t, Trigger.REOPEN, CUSTOMER, reason="") == (
        "the reopen reason is empty: pass reason= saying why it is reopened",)
    t = machine.fire(t, Trigger.REOPEN, actor=CUSTOMER, reason="Broken again")
    assert (t.stage, t.solution, t.feedback) == (Stage.ATTEMPTED, None, None)


# -- roles -----------------------------------------------------------------------------------------

STAFF = {Role.AGENT, Role.TIER2, Role.SUPERVISOR}
COMMS = STAFF | {Role.SYSTEM}
EXPECTED_ROLES = {  # the default table of the issue
    ("identified", "attempt"): STAFF,
    ("attempted", "record_step"): STAFF,
    ("escalated", "record_step"): STAFF,
    ("attempted", "escalate"): {Role.AGENT, Role.SUPERVISOR},
    ("attempted", "resolve"): {Role.AGENT, Role.SUPERVISOR},
    ("escalated", "resolve"): {Role.TIER2, Role.SUPERVISOR},
    ("escalated", "notify_customer"): COMMS,
    ("escalated", "follow_up"): COMMS,
    ("resolved", "request_feedback"): COMMS,
    ("feedback", "record_feedback"): {Role.CUSTOMER, Role.SYSTEM},
    ("resolved", "reopen"): {Role.CUSTOMER, Role.AGENT, Role.SUPERVISOR},
    ("feedback", "reopen"): {Role.CUSTOMER, Role.AGENT, Role.SUPERVISOR},
    **{(stage, "record_interaction"): COMMS | {Role.CUSTOMER}
       for stage in ("identified", "attempted", "escalated", "resolved")},
}


def test_role_table_matches_the_spec() -> None:
    """The spec's roles are exactly the documented table, for every transition."""
    spec = default_spec()
    assert {t.key: set(t.roles) for t in spec.transitions} == EXPECTED_ROLES


REACH = {
    "identified": lambda m: new_ticket(),
    "attempted": lambda m: walk(m, attempted(m), (Trigger.RECORD_STEP, AGENT)),
    "escalated": lambda m: walk(m, escalated(m), (Trigger.NOTIFY_CUSTOMER, AGENT)),
    "resolved": resolved,
    "feedback": lambda m: walk(m, resolved(m), (Trigger.REQUEST_FEEDBACK, SYSTEM)),
}


@pytest.mark.parametrize(("key", "actor"), [(k, a) for k in EXPECTED_ROLES for a in ACTORS],
                         ids=lambda v: v.role if isinstance(v, Actor) else "/".join(v))
def test_roles_are_enforced(machine: EscalationMachine, key: tuple[str, str], actor: Actor) -> None:
    """Each role may fire exactly the transitions of the table; others get PermissionDenied."""
    stage, trigger = key
    ticket = REACH[stage](machine)
    if actor.role in EXPECTED_ROLES[key]:
        assert machine.fire(ticket, trigger, actor=actor, **VALID[trigger]).version == ticket.version + 1
    else:
        before = copy.deepcopy(ticket)
        with pytest.raises(PermissionDenied) as info:
            machine.fire(ticket, trigger, actor=actor, **VALID[trigger])
        assert ticket == before
        assert info.value.role == actor.role and info.value.allowed_roles == EXPECTED_ROLES[key]
        assert isinstance(info.value, PermissionError)


# -- invalid triggers and payloads ------------------------------------------------------------------

def test_invalid_transition_names_stage_and_defined_triggers(machine: EscalationMachine) -> None:
    """A trigger not defined from the stage says where we are and what is possible."""
    t = new_ticket()
    with pytest.raises(InvalidTransition) as info:
        machine.fire(t, Trigger.RESOLVE, actor=AGENT, solution="x")
    assert info.value.stage == "identified" and info.value.defined == {"attempt", "record_interaction"}
    assert "'resolve' cannot be fired from stage 'identified'; triggers defined there: attempt" in str(
        info.value)
    with pytest.raises(InvalidTransition, match="unknown trigger 'teleport'"):
        machine.fire(t, "teleport", actor=AGENT)
    limbo = AuditRecord(seq=1, at=START, actor_id="x", actor_role="agent", trigger="attempt",
                        source="identified", dest="limbo", spec_fingerprint=machine.fingerprint)
    with pytest.raises(InvalidTransition, match="triggers defined there: none"):
        machine.fire(new_ticket(stage="limbo", history=(limbo,), version=1), Trigger.ATTEMPT,
                     actor=AGENT)


@pytest.mark.parametrize(("trigger", "payload", "field"), [
    (Trigger.RECORD_STEP, {"step": 42}, "step"),
    (Trigger.RECORD_STEP, {"stpe": "typo"}, "stpe"),
    (Trigger.ESCALATE, {"summary": "s", "assessment": "high"}, "assessment"),
    (Trigger.ESCALATE, {"summary": "s", "assessment": {"complexity": "huge"}}, "assessment"),
    (Trigger.ATTEMPT, {"note": "no payload here"}, "note"),
])
def test_bad_payloads_raise_validation_errors(machine: EscalationMachine, trigger: str,
                                              payload: dict[str, Any], field: str) -> None:
    """Wrong types and unknown keywords are pydantic errors naming the field; nothing changes."""
    t = walk(machine, attempted(machine), (Trigger.RECORD_STEP, AGENT))
    if trigger == Trigger.ATTEMPT:
        t = new_ticket()
    before = copy.deepcopy(t)
    with pytest.raises(ValidationError, match=field):
        machine.fire(t, trigger, actor=AGENT, **payload)
    assert t == before


def test_refusal_lists_what_is_allowed(machine: EscalationMachine) -> None:
    """TransitionRefused carries the triggers the same actor could fire now."""
    with pytest.raises(TransitionRefused) as info:
        machine.fire(escalated(machine), Trigger.RESOLVE, actor=TIER2, solution="x")
    assert info.value.allowed == {"record_step", "notify_customer", "follow_up", "record_interaction"}
    assert "allowed now: follow_up, notify_customer, record_interaction, record_step" in str(info.value)


# -- history ---------------------------------------------------------------------------------------

def test_every_commit_appends_one_audit_record(machine: EscalationMachine) -> None:
    """One record per committed transition, with seq, clock time, actor, move and JSON payload."""
    t = escalated(machine)
    assert t.version == len(t.history) == 3
    assert [r.seq for r in t.history] == [1, 2, 3]
    assert [r.at for r in t.history] == [START, START + timedelta(minutes=1), START + timedelta(minutes=2)]
    last = t.history[-1]
    assert (last.trigger, last.source, last.dest, last.actor_id, last.actor_role) == (
        "escalate", "attempted", "escalated", AGENT.id, "agent")
    assert last.payload == {"summary": "Needs Tier 2 tools",
                            "assessment": {"complexity": "high", "frustration": "high", "urgency": "high"}}


def test_refusals_do_not_consume_sequence_numbers(machine: EscalationMachine) -> None:
    """A refused trigger leaves no trace: the next commit gets the next seq."""
    t = attempted(machine)
    with pytest.raises(TransitionRefused):
        machine.fire(t, Trigger.RESOLVE, actor=AGENT, solution="")
    assert machine.fire(t, Trigger.RESOLVE, actor=AGENT, solution="ok").history[-1].seq == 2


def test_full_ticket_round_trips_through_json(machine: EscalationMachine) -> None:
    """Every field, history and nested escalation data included."""
    t = machine.fire(escalated(machine), Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m",
                     eta=timedelta(minutes=90))
    t = walk(machine, t, (Trigger.FOLLOW_UP, TIER2), (Trigger.RESOLVE, TIER2),
             (Trigger.REQUEST_FEEDBACK, SYSTEM), (Trigger.RECORD_FEEDBACK, CUSTOMER))
    assert t.version == 8 and t.feedback is not None and t.escalation is not None
    assert t.escalation.notifications[0].eta == timedelta(minutes=90)
    assert Ticket.model_validate_json(t.model_dump_json()) == t


def test_the_ticket_passed_in_never_changes(machine: EscalationMachine) -> None:
    """fire returns a new ticket; the old one is equal to its snapshot."""
    t = attempted(machine)
    snapshot = copy.deepcopy(t)
    new = machine.fire(t, Trigger.RECORD_STEP, actor=AGENT, step="x")
    assert t == snapshot and new is not t and new != t


@pytest.mark.parametrize("role", [Role.SUPERVISOR])
def test_supervisor_can_walk_the_whole_escalated_path(machine: EscalationMachine, role: Role) -> None:
    """A supervisor holds every staff permission on the escalation path."""
    boss = Actor(id="boss", role=role)
    t = walk(machine, new_ticket(), (Trigger.ATTEMPT, boss), (Trigger.RECORD_STEP, boss),
             (Trigger.ESCALATE, boss), (Trigger.NOTIFY_CUSTOMER, boss), (Trigger.RESOLVE, boss))
    assert t.stage == Stage.RESOLVED and SUPERVISOR.role == role
