"""The review's SLA counts per shape of history equal the clock fold's, record by record."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from renamed_procedure import renamed_spec
from support import START

from escalation_fsm import EscalationMachine, ManualClock, Ticket
from escalation_fsm.review.clocks import ShapeBreaches
from escalation_fsm.sla import BusinessCalendar, InteractionRules, SLAPolicy, breach_rates, clock_runs
from escalation_fsm.testing.strategies import tickets

POLICIES = (
    SLAPolicy(),
    SLAPolicy(promise_in_business_time=True, calendar=BusinessCalendar.always(),
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
        ticket = ticket.model_copy(update={"opened_at": opened})
        for _ in range(2):
            counter.count(ticket.history, ticket.opened_at, str(ticket.priority))
            want.update(expected(ticket, policy, machine))
    got: Counter[str] = Counter()
    for clock, (decided, breached) in counter.counts().items():
        got[f"{clock}:decided"] += decided
        got[f"{clock}:breached"] += breached
    assert +got == +want
