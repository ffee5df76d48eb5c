"""The SLA fold equals the whole-history walk it replaced (kept in ``sla_oracle.py``), record by record.

Random histories are fired through the machine on the logged procedure (it has waiting stages that
a policy can pause clocks in) at random gaps across Berlin's DST weekends and holidays, with
escalations of every urgency (the priority, and so the targets, change), promised ETAs and
reopenings. After every record, the folded state gives the same clock runs, deadlines and next
deadline as the oracle walking the history so far.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sla_oracle import clock_runs as oracle_runs
from sla_oracle import deadlines as oracle_deadlines
from sla_oracle import next_due as oracle_next_due
from support import ACTORS, VALID, new_ticket

from escalation_fsm import Actor, Assessment, EscalationError, EscalationMachine, ManualClock, Ticket
from escalation_fsm.marks import Mark
from escalation_fsm.procedure import logged_procedure_spec
from escalation_fsm.sla import (
    BusinessCalendar,
    ClockState,
    InteractionRules,
    SLAClock,
    SLAPolicy,
    WorkingPeriod,
    clock_runs,
    default_sla_policy,
    meaning_of,
)

SPEC = logged_procedure_spec()
BERLIN_OFFICE = BusinessCalendar(
    timezone="Europe/Berlin", hours=(WorkingPeriod(start=time(8), end=time(12)),
                                     WorkingPeriod(start=time(13), end=time(18))),
    holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6), date(2026, 10, 26)}))
LATE_SHIFT = BusinessCalendar(timezone="America/New_York", working_days=frozenset({1, 3, 5, 6}),
                              hours=(WorkingPeriod(start=time(18), end=time(0)),))
STARTS = [datetime(2026, 3, 27, 15, tzinfo=UTC), datetime(2026, 10, 23, 15, tzinfo=UTC),
          datetime(2026, 4, 2, 7, tzinfo=UTC)]
PAUSABLE = [SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE, SLAClock.RESOLUTION,
            SLAClock.PROMISED_RESPONSE, SLAClock.FIRST_RESPONSE]


def _payload(trigger: str, data: st.DataObject) -> dict[str, Any]:
    if trigger == "escalate":
        return {"summary": "Needs Tier 2", "assessment": Assessment(
            complexity="high", frustration="high",
            urgency=data.draw(st.sampled_from(["low", "normal", "high", "critical"])))}
    if trigger == "notify_customer":
        hours = data.draw(st.one_of(st.none(), st.integers(min_value=1, max_value=80)))
        return {"message": "We are on it", "eta": None if hours is None else timedelta(hours=hours)}
    if trigger == "record_interaction":
        return {"channel": "chat", "summary": "Asked for news",
                "direction": data.draw(st.sampled_from(["inbound", "outbound"]))}
    return dict(VALID.get(trigger, {}))


_CLOCK_MARKS = {Mark.PROMISE, Mark.TIER_UPDATE, Mark.CUSTOMER_UPDATE, Mark.RESOLVE, Mark.ESCALATE,
                Mark.REOPEN, Mark.INTERACTION}


def _weight(trigger: str) -> int:
    return 3 if SPEC.marks_of(trigger) & _CLOCK_MARKS else 1


policies = st.builds(
    lambda calendar, paused, hold, business, interactions: SLAPolicy(
        calendar=calendar, promise_in_business_time=business, interactions=interactions,
        pauses={"waiting": frozenset(paused), "waiting_tier2": frozenset(hold)}),
    st.sampled_from([BusinessCalendar(), BERLIN_OFFICE, LATE_SHIFT]),
    st.sets(st.sampled_from(PAUSABLE)), st.sets(st.sampled_from(PAUSABLE)), st.booleans(),
    st.builds(InteractionRules, outbound_is_update=st.booleans(),
              inbound_restarts_cadence=st.booleans()))


@settings(max_examples=80, deadline=None)
@given(policy=policies, start=st.sampled_from(STARTS), opened=st.booleans(), data=st.data())
def test_folding_each_record_equals_walking_the_whole_history(policy: SLAPolicy, start: datetime,
                                                             opened: bool, data: st.DataObject) -> None:
    """After every record: the same runs, deadlines (at several later times) and next deadline;
    the state also survives its JSON form (what stores keep) unchanged."""
    clock = ManualClock(start)
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    ticket = new_ticket(opened_at=start if opened else None, stage=SPEC.initial)
    meaning = meaning_of(SPEC)
    state = ClockState.start(ticket.stage, ticket.opened_at, policy)
    for _ in range(data.draw(st.integers(min_value=1, max_value=30))):
        clock.advance(timedelta(seconds=data.draw(st.integers(min_value=0, max_value=60 * 60 * 40))))
        moves = SPEC.transitions_from(ticket.stage)
        if not moves:  # closed: nothing more can happen
            break
        # Triggers that move clocks are drawn more often: they are what the clocks are about.
        move = data.draw(st.sampled_from([m for m in moves for _ in range(_weight(m.trigger))]))
        role = data.draw(st.sampled_from(sorted(move.roles)))
        try:
            ticket = machine.fire(ticket, move.trigger, actor=Actor(id="x", role=role),
                                  **_payload(move.trigger, data))
        except EscalationError:  # a guard said no (a step is missing, say): nothing to fold
            continue
        state = state.after(ticket.history[-1], policy, meaning)
        assert ClockState.from_json(state.to_json()) == state   # what stores keep reads back equal
        later = ticket.history[-1].at + timedelta(hours=data.draw(st.integers(0, 24 * 20)))
        assert state.deadlines(policy, ticket.priority, now=later) == oracle_deadlines(
            ticket, policy, now=later)
        assert state.next_due(policy, ticket.priority) == oracle_next_due(ticket, policy)
        assert clock_runs(ticket, policy, SPEC, now=later) == oracle_runs(ticket, policy, now=later)


def test_the_fold_is_pure_and_needs_no_history() -> None:
    """Folding leaves the state it started from unchanged, and the result is a plain value."""
    machine = EscalationMachine(clock=ManualClock(STARTS[0]))
    ticket = machine.fire(new_ticket(opened_at=STARTS[0]), "attempt", actor=ACTORS[0])
    policy = default_sla_policy()
    before = ClockState.start(ticket.history[0].source, ticket.opened_at, policy)
    after = before.after(ticket.history[0], policy, meaning_of(machine.spec))
    assert before == ClockState.start(ticket.history[0].source, ticket.opened_at, policy)
    assert [run.clock for run in before.open] == [SLAClock.FIRST_RESPONSE, SLAClock.RESOLUTION]
    assert [run.clock for run in after.open] == [SLAClock.RESOLUTION]
    assert [run.clock for run in after.last] == [SLAClock.FIRST_RESPONSE]
    assert after.seq == 1 and after.stage == "attempted"


@pytest.mark.parametrize("ticket", [new_ticket(), new_ticket(opened_at=STARTS[0])])
def test_a_ticket_without_history_folds_to_its_opening(ticket: Ticket) -> None:
    """No record and no opening time: no clocks; an opening time: the two opening clocks run."""
    state = ClockState.start(ticket.stage, ticket.opened_at, default_sla_policy())
    assert len(state.open) == (0 if ticket.opened_at is None else 2)
    assert state.deadlines(default_sla_policy(), ticket.priority, now=STARTS[1]) == oracle_deadlines(
        ticket, default_sla_policy(), now=STARTS[1])


def test_a_target_reached_exactly_before_a_pause_is_due_when_it_was_reached() -> None:
    """A Tier 2 clock reaching 8 h at 17:00, paused at 19:00 and resumed the next day fell due at 17:00."""
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    policy = SLAPolicy(pauses={"waiting_tier2": frozenset({SLAClock.TIER2_UPDATE})})
    clock = ManualClock(monday)
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    agent, tier2 = Actor(id="a", role="agent"), Actor(id="t", role="tier2")
    ticket = machine.fire(new_ticket(opened_at=monday), "attempt", actor=agent)
    ticket = machine.fire(ticket, "record_step", actor=agent, step="KB-1")
    ticket = machine.fire(ticket, "escalate", actor=agent, summary="Tier 2 please", assessment=Assessment(
        complexity="high", frustration="low", urgency="normal"))          # Tier 2 target: 8 h
    clock.set(monday + timedelta(hours=10))                                 # 19:00, after hours
    ticket = machine.fire(ticket, "wait", actor=tier2)
    clock.set(monday + timedelta(days=1, hours=1))                          # Tuesday 10:00
    ticket = machine.fire(ticket, "attempt", actor=tier2)
    now = monday + timedelta(days=1, hours=3)
    tier2_clock = next(d for d in machine.deadlines(ticket, now=now) if d.clock == SLAClock.TIER2_UPDATE)
    assert tier2_clock.due_at == monday + timedelta(hours=8) and tier2_clock.breached
    assert machine.deadlines(ticket, now=now) == oracle_deadlines(ticket, policy, now=now)


def test_the_state_stays_small_however_often_a_ticket_is_reopened() -> None:
    """A hundred resolve/reopen cycles: the resolution clock keeps a few stretches, not a hundred,
    and its deadlines still equal the whole-history walk's."""
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC), tick=timedelta(minutes=20))
    machine = EscalationMachine(clock=clock)
    agent = Actor(id="a", role="agent")
    ticket = machine.fire(new_ticket(opened_at=clock.now()), "attempt", actor=agent)
    for _ in range(100):
        ticket = machine.fire(ticket, "resolve", actor=agent, solution="Fixed")
        ticket = machine.fire(ticket, "reopen", actor=agent, reason="Back again")
    policy = machine.sla
    state = ClockState.start(ticket.history[0].source, ticket.opened_at, policy)
    for record in ticket.history:
        state = state.after(record, policy, meaning_of(machine.spec))
    resolution = next(run for run in state.open if run.clock is SLAClock.RESOLUTION)
    assert len(resolution.segments) <= 3 and len(state.to_json()) < 1_000
    now = clock.now() + timedelta(days=30)
    assert state.deadlines(policy, ticket.priority, now=now) == oracle_deadlines(ticket, policy, now=now)


# -- interactions and the customer-update cadence -------------------------------------------------

def _escalated_at_nine(policy: SLAPolicy) -> tuple[EscalationMachine, ManualClock, Ticket]:
    """A ticket escalated on Monday 2026-01-05 at 09:00 (UTC business hours 9-17)."""
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    clock = ManualClock(monday)
    machine = EscalationMachine(clock=clock, sla=policy)
    agent = Actor(id="a", role="agent")
    ticket = machine.fire(new_ticket(opened_at=monday), "attempt", actor=agent)
    ticket = machine.fire(ticket, "record_step", actor=agent, step="KB-1")
    ticket = machine.fire(ticket, "escalate", actor=agent, **_ESCALATION)
    return machine, clock, ticket


_ESCALATION: dict[str, Any] = {"summary": "Needs Tier 2", "assessment": Assessment(
    complexity="high", frustration="high", urgency="high")}


@pytest.mark.parametrize(("direction", "rules", "restarted"), [
    ("outbound", InteractionRules(), True),
    ("inbound", InteractionRules(), True),
    ("outbound", InteractionRules(outbound_is_update=False), False),
    ("inbound", InteractionRules(inbound_restarts_cadence=False), False),
    ("inbound", InteractionRules(outbound_is_update=False), True),
])
def test_an_interaction_moves_the_customer_cadence_only_as_the_policy_says(
        direction: str, rules: InteractionRules, restarted: bool) -> None:
    """An interaction an hour after escalating starts the next customer-update period there, or,
    when the policy says it does not count, leaves the period begun at the escalation running."""
    policy = SLAPolicy(interactions=rules)
    machine, clock, ticket = _escalated_at_nine(policy)
    clock.advance(timedelta(hours=1))
    ticket = machine.fire(ticket, "record_interaction", actor=Actor(id="a", role="agent"),
                          channel="phone", direction=direction, summary="Talked about the fix")
    cadence = next(d for d in machine.deadlines(ticket) if d.clock is SLAClock.CUSTOMER_UPDATE)
    escalated_at = ticket.history[2].at
    assert cadence.started_at == (ticket.history[-1].at if restarted else escalated_at)
    assert machine.deadlines(ticket) == oracle_deadlines(ticket, policy, now=clock.now())


@settings(max_examples=60, deadline=None)
@given(rules=st.builds(InteractionRules, outbound_is_update=st.booleans(),
                       inbound_restarts_cadence=st.booleans()), data=st.data())
def test_interactions_while_escalated_fold_like_the_reference(rules: InteractionRules,
                                                              data: st.DataObject) -> None:
    """Random interactions, updates and steps on an escalated ticket: after each, the folded
    clocks equal the reference's walk over the whole history (the general test reaches
    ``escalated`` too rarely to pin the interaction rules on its own)."""
    policy = SLAPolicy(interactions=rules)
    machine, clock, ticket = _escalated_at_nine(policy)
    meaning = meaning_of(machine.spec)
    state = ClockState.start(ticket.history[0].source, ticket.opened_at, policy)
    for record in ticket.history:
        state = state.after(record, policy, meaning)
    tier2 = Actor(id="t", role="tier2")
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        clock.advance(timedelta(minutes=data.draw(st.integers(min_value=0, max_value=60 * 30))))
        trigger = data.draw(st.sampled_from(["record_interaction", "record_interaction",
                                             "notify_customer", "follow_up", "record_step"]))
        ticket = machine.fire(ticket, trigger, actor=tier2, **_payload(trigger, data))
        state = state.after(ticket.history[-1], policy, meaning)
        later = ticket.history[-1].at + timedelta(hours=data.draw(st.integers(0, 24 * 5)))
        assert state.deadlines(policy, ticket.priority, now=later) == oracle_deadlines(
            ticket, policy, now=later)
