"""The review's SLA counts per shape of history equal the clock fold's, record by record."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from renamed_procedure import renamed_spec
from support import AGENT, CUSTOMER, HIGH, START, TIER2, new_ticket

from escalation_fsm import EscalationMachine, ManualClock, Ticket, Trigger
from escalation_fsm.review.clocks import ShapeBreaches
from escalation_fsm.sla import BusinessCalendar, InteractionRules, SLAPolicy, breach_rates, clock_runs
from escalation_fsm.stores import TicketHistory
from escalation_fsm.testing.strategies import tickets

POLICIES = (
    SLAPolicy(),
    SLAPolicy(promise_in_business_time=True,
              interactions=InteractionRules(outbound_is_update=False,
                                            inbound_restarts_cadence=False)),
    SLAPolicy(calendar=BusinessCalendar.always()),
    # Paused while with Tier 2 (both procedures' names) and while resolved: runs pause and resume.
    SLAPolicy(pauses={"escalated": {"resolution", "customer_update"},
                      "second_line": {"resolution", "customer_update"},
                      "resolved": {"first_response"}, "fixed": {"first_response"}}),
)


def expected(ticket: Ticket, policy: SLAPolicy, machine: EscalationMachine) -> Counter[str]:
    counts: Counter[str] = Counter()
    for rate in breach_rates(clock_runs(ticket, policy, machine.spec, now=ticket.history[-1].at)):
        counts[f"{rate.clock}:decided"] += rate.decided
        counts[f"{rate.clock}:breached"] += rate.breached
    return counts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(data=st.data(), policy=st.sampled_from(POLICIES), renamed=st.booleans(),
       tick=st.integers(1, 600), opened_before=st.none() | st.integers(0, 3000))
def test_shape_counts_equal_the_fold(data: st.DataObject, policy: SLAPolicy, renamed: bool,
                                     tick: int, opened_before: int | None) -> None:
    """Invariant: for random histories (promises with ETAs, interactions both ways, reopenings),
    policies (pauses, business or plain time, interaction rules) and either procedure (the
    default, or one with every name changed), ShapeBreaches counts exactly the decided and
    breached runs that clock_runs + breach_rates count, each history counted twice (the second
    time from the remembered shape)."""
    spec = renamed_spec() if renamed else None
    machine = EscalationMachine(spec, clock=ManualClock(START, tick=timedelta(minutes=tick)))
    drawn = data.draw(st.lists(tickets(machine, max_steps=10), min_size=1, max_size=4))
    counter = ShapeBreaches(policy, machine.spec)
    want: Counter[str] = Counter()
    for ticket in drawn:
        if not ticket.history:
            continue
        opened = (None if opened_before is None
                  else ticket.history[0].at - timedelta(minutes=opened_before))
        opened_ticket = ticket.model_copy(update={"opened_at": opened})
        for _ in range(2):
            counter.count(TicketHistory.of_ticket(opened_ticket))
            want.update(expected(opened_ticket, policy, machine))
    got: Counter[str] = Counter()
    for clock, (decided, breached) in counter.counts().items():
        got[f"{clock}:decided"] += decided
        got[f"{clock}:breached"] += breached
    assert +got == +want


def crafted(machine: EscalationMachine) -> list[Ticket]:
    """Histories that exercise every operation of the fold: promises with and without an ETA,
    interactions both ways while escalated, a reopening, several customer-update periods."""
    found = []
    for path in range(3):
        ticket = new_ticket(id=f"T-{path}", opened_at=START - timedelta(minutes=30 * path))
        ticket = machine.fire(ticket, Trigger.ATTEMPT, actor=AGENT)
        ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="KB")
        if path == 2:
            ticket = machine.fire(ticket, Trigger.RESOLVE, actor=AGENT, solution="s")
            ticket = machine.fire(ticket, Trigger.REOPEN, actor=CUSTOMER, reason="again")
        ticket = machine.fire(ticket, Trigger.ESCALATE, actor=AGENT, summary="s", assessment=HIGH)
        ticket = machine.fire(ticket, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m",
                              eta=timedelta(hours=1 + path))
        for direction in ("outbound", "inbound", "inbound", "outbound"):
            ticket = machine.fire(ticket, Trigger.RECORD_INTERACTION, actor=AGENT, channel="chat",
                                  direction=direction, summary="s")
        ticket = machine.fire(ticket, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m")
        ticket = machine.fire(ticket, Trigger.FOLLOW_UP, actor=TIER2, update="u",
                              customer_message="c")
        if path != 1:
            ticket = machine.fire(ticket, Trigger.RESOLVE, actor=TIER2, solution="s")
        if path == 2:
            ticket = machine.fire(ticket, Trigger.REOPEN, actor=CUSTOMER, reason="again")
        found.append(ticket)
    return found


@pytest.mark.parametrize("policy", POLICIES)
def test_crafted_histories_count_as_folded(policy: SLAPolicy) -> None:
    """For histories using every operation, at paces from minutes to hours apart (so that each
    run crosses its target at some pace), the per-shape counts equal the fold's."""
    for tick in range(3, 400, 11):
        machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=tick)))
        counter = ShapeBreaches(policy, machine.spec)
        want: Counter[str] = Counter()
        for ticket in crafted(machine):
            counter.count(TicketHistory.of_ticket(ticket))
            want.update(expected(ticket, policy, machine))
        got: Counter[str] = Counter()
        for clock, (decided, breached) in counter.counts().items():
            got[f"{clock}:decided"] += decided
            got[f"{clock}:breached"] += breached
        assert +got == +want, tick
