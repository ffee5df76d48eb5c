"""SLA clocks from ticket history: what starts, meets, pauses and resumes each clock."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from support import AGENT, CUSTOMER, TIER2, VALID, new_ticket

from escalation_fsm import (
    Actor,
    Assessment,
    EscalationMachine,
    ManualClock,
    Role,
    SpecError,
    StageSpec,
    Ticket,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    Urgency,
    default_spec,
)
from escalation_fsm.sla import (
    BusinessCalendar,
    Deadline,
    SLAClock,
    SLAPolicy,
    SLATargets,
    clock_runs,
    deadlines,
    default_sla_policy,
    next_due,
)

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)   # a Monday, 09:00 UTC: the office opens
H = timedelta(hours=1)
POLICY = default_sla_policy()                      # Mon-Fri 09-17 UTC; HIGH: 1h, 2h, 4h, 16h
SPEC = default_spec()
CRITICAL = Assessment(complexity="high", frustration="high", urgency="critical")
HIGH = Assessment(complexity="high", frustration="high", urgency="high")


class Desk:
    """Fires triggers at chosen instants (no sleeping: a ManualClock set before each fire)."""

    def __init__(self, spec=None, sla: SLAPolicy | None = None) -> None:
        self.clock = ManualClock(MONDAY)
        self.machine = EscalationMachine(spec, clock=self.clock, sla=sla)

    def at(self, when: datetime, ticket: Ticket, trigger: str, actor: Actor = AGENT, **payload: object) -> Ticket:
        self.clock.set(when)
        return self.machine.fire(ticket, trigger, actor=actor, **(payload or VALID[trigger]))

    def escalated(self, when: datetime = MONDAY, assessment: Assessment = HIGH) -> Ticket:
        t = new_ticket(opened_at=when)
        t = self.at(when + timedelta(minutes=10), t, Trigger.ATTEMPT)
        t = self.at(when + timedelta(minutes=20), t, Trigger.RECORD_STEP)
        return self.at(when + timedelta(minutes=30), t, Trigger.ESCALATE,
                       summary="Needs Tier 2", assessment=assessment)


def by_clock(found: tuple[Deadline, ...]) -> dict[SLAClock, Deadline]:
    return {d.clock: d for d in found}


def test_first_response_runs_from_opening_until_the_first_attempt() -> None:
    """A new ticket waits for its first response: due 4 business hours after opening (normal)."""
    desk = Desk()
    fresh = new_ticket(opened_at=MONDAY + 6 * H)   # 15:00: one office hour left today
    [first, resolution] = desk.machine.deadlines(fresh, now=MONDAY + 7 * H)
    assert first.clock is SLAClock.FIRST_RESPONSE and first.owed == "a first response"
    assert first.due_at == MONDAY + timedelta(days=1, hours=2)   # Tuesday 11:00
    assert (first.remaining, first.breached, first.is_open) == (3 * H, False, True)
    assert resolution.clock is SLAClock.RESOLUTION and resolution.is_open
    late = desk.machine.deadlines(fresh, now=MONDAY + timedelta(days=1, hours=3))[0]
    assert late.breached and late.remaining == -H and late.due_by(MONDAY + timedelta(days=2))
    attempted = desk.at(MONDAY + timedelta(days=1, hours=1), fresh, Trigger.ATTEMPT)
    met = by_clock(desk.machine.deadlines(attempted, now=MONDAY + timedelta(days=3)))
    assert met[SLAClock.FIRST_RESPONSE].met_at == MONDAY + timedelta(days=1, hours=1)
    assert not met[SLAClock.FIRST_RESPONSE].breached and not met[SLAClock.FIRST_RESPONSE].is_open


def test_no_opening_time_and_no_history_means_no_clocks() -> None:
    """Without ``opened_at`` clocks start at the first record; with neither there is nothing to time."""
    assert deadlines(new_ticket(), POLICY, SPEC, now=MONDAY) == ()
    assert next_due(new_ticket(), POLICY, SPEC) is None
    desk = Desk()
    t = desk.at(MONDAY, new_ticket(), Trigger.ATTEMPT)
    clocks = by_clock(deadlines(t, POLICY, SPEC, now=MONDAY + H))
    assert clocks[SLAClock.FIRST_RESPONSE].remaining == 4 * H   # met at once
    assert clocks[SLAClock.RESOLUTION].started_at == MONDAY


def test_escalation_starts_the_tier2_and_customer_update_clocks_for_its_priority() -> None:
    """High urgency: Tier 2 update within 2 business hours, a customer update within 4."""
    desk = Desk()
    t = desk.escalated()
    clocks = by_clock(desk.machine.deadlines(t, now=MONDAY + H))
    escalated_at = MONDAY + timedelta(minutes=30)
    assert clocks[SLAClock.TIER2_UPDATE].due_at == escalated_at + 2 * H
    assert clocks[SLAClock.CUSTOMER_UPDATE].due_at == escalated_at + 4 * H
    assert clocks[SLAClock.RESOLUTION].due_at == MONDAY + timedelta(days=1, hours=8)   # Tue 17:00
    soonest = next_due(t, POLICY, SPEC)
    assert soonest is not None and soonest.clock is SLAClock.TIER2_UPDATE
    assert soonest.due_at == clocks[SLAClock.TIER2_UPDATE].due_at
    critical = by_clock(Desk().machine.deadlines(Desk().escalated(assessment=CRITICAL), now=MONDAY + H))
    assert critical[SLAClock.TIER2_UPDATE].due_at == escalated_at + H


def test_follow_ups_meet_the_tier2_clock_and_restart_the_customer_cadence() -> None:
    """A follow-up meets the Tier 2 clock; each customer update is due 4 office hours after the last."""
    desk = Desk()
    t = desk.escalated()
    t = desk.at(MONDAY + 3 * H, t, Trigger.FOLLOW_UP, TIER2)          # 2.5h after escalating: late
    runs = clock_runs(t, POLICY, SPEC, now=MONDAY + 4 * H)
    tier2 = [r for r in runs if r.clock is SLAClock.TIER2_UPDATE]
    assert len(tier2) == 1 and tier2[0].breached and tier2[0].remaining == -timedelta(minutes=30)
    updates = [r for r in runs if r.clock is SLAClock.CUSTOMER_UPDATE]
    assert [u.met_at for u in updates] == [MONDAY + 3 * H, None]
    assert updates[-1].due_at == MONDAY + 7 * H and not updates[0].breached
    t = desk.at(MONDAY + timedelta(days=1, hours=1), t, Trigger.NOTIFY_CUSTOMER,
                message="Still on it")                                  # 6 office hours later
    late = [r for r in clock_runs(t, POLICY, SPEC, now=MONDAY + timedelta(days=1, hours=2))
            if r.clock is SLAClock.CUSTOMER_UPDATE]
    assert late[1].breached and late[1].remaining == -2 * H and late[2].is_open


def test_the_eta_given_to_the_customer_becomes_a_deadline() -> None:
    """notify_customer(eta=4h) at Friday 16:00: due Friday 20:00 as promised, met by the follow-up."""
    friday = MONDAY + timedelta(days=4, hours=7)
    desk = Desk()
    t = desk.escalated(friday - H)
    t = desk.at(friday, t, Trigger.NOTIFY_CUSTOMER, message="Tier 2 has it", eta=4 * H)
    promise = by_clock(desk.machine.deadlines(t, now=friday + H))[SLAClock.PROMISED_RESPONSE]
    assert promise.due_at == friday + 4 * H == t.escalation.notifications[-1].respond_by
    assert promise.owed == "the response promised with the ETA"
    assert by_clock(desk.machine.deadlines(t, now=friday + 5 * H))[SLAClock.PROMISED_RESPONSE].breached
    business = Desk(sla=POLICY.model_copy(update={"promise_in_business_time": True}))
    promised = by_clock(business.machine.deadlines(t, now=friday + H))[SLAClock.PROMISED_RESPONSE]
    assert promised.due_at == friday + timedelta(days=2, hours=20)   # Monday 12:00
    done = desk.at(friday + 2 * H, t, Trigger.FOLLOW_UP, TIER2)
    met = by_clock(desk.machine.deadlines(done, now=friday + 9 * H))[SLAClock.PROMISED_RESPONSE]
    assert met.met_at == friday + 2 * H and not met.breached


def test_resolving_meets_everything_and_reopening_resumes_the_resolution_clock() -> None:
    """Time spent resolved does not count; the resolution clock goes on where it stopped."""
    desk = Desk()
    t = desk.escalated()
    t = desk.at(MONDAY + H, t, Trigger.NOTIFY_CUSTOMER, message="On it", eta=H)
    t = desk.at(MONDAY + 2 * H, t, Trigger.RESOLVE, TIER2)
    clocks = desk.machine.deadlines(t, now=MONDAY + 5 * H)
    assert all(not d.is_open for d in clocks) and next_due(t, POLICY, SPEC) is None
    assert by_clock(clocks)[SLAClock.RESOLUTION].remaining == 14 * H
    t = desk.at(MONDAY + timedelta(days=2), t, Trigger.REOPEN, CUSTOMER)   # Wednesday 09:00
    resolution = by_clock(desk.machine.deadlines(t, now=MONDAY + timedelta(days=2, hours=1)))[
        SLAClock.RESOLUTION]
    assert resolution.is_open and resolution.remaining == 13 * H
    assert resolution.started_at == MONDAY
    assert resolution.due_at == MONDAY + timedelta(days=3, hours=6)     # Thursday 15:00


def test_a_reopened_ticket_that_was_already_late_stays_breached() -> None:
    """A resolution clock over its target before reopening keeps its original due time."""
    desk = Desk()
    t = desk.escalated()
    t = desk.at(MONDAY + H, t, Trigger.NOTIFY_CUSTOMER, message="On it")
    t = desk.at(MONDAY + timedelta(days=3), t, Trigger.RESOLVE, TIER2)     # 24 office hours: late
    t = desk.at(MONDAY + timedelta(days=4), t, Trigger.REOPEN, CUSTOMER)
    resolution = by_clock(desk.machine.deadlines(t, now=MONDAY + timedelta(days=4, hours=1)))[
        SLAClock.RESOLUTION]
    assert resolution.breached and resolution.due_at == MONDAY + timedelta(days=1, hours=8)
    assert resolution.remaining == -9 * H    # 24 office hours before resolving, 1 since reopening
    assert next_due(t, POLICY, SPEC).due_at == MONDAY + timedelta(days=1, hours=8)


def test_untracked_targets_start_no_clock() -> None:
    """``SLATargets()`` for an urgency tracks nothing; the ETA is still a deadline."""
    policy = SLAPolicy(targets={u: SLATargets() for u in Urgency})
    desk = Desk(sla=policy)
    t = desk.escalated()
    assert desk.machine.deadlines(t, now=MONDAY + H) == ()
    t = desk.at(MONDAY + H, t, Trigger.NOTIFY_CUSTOMER, message="On it", eta=H)
    assert [d.clock for d in desk.machine.deadlines(t, now=MONDAY + H)] == [SLAClock.PROMISED_RESPONSE]
    t = desk.at(MONDAY + 2 * H, t, Trigger.RESOLVE, TIER2)
    t = desk.at(MONDAY + 3 * H, t, Trigger.REOPEN, CUSTOMER)   # no resolution clock to resume
    assert [d.is_open for d in desk.machine.deadlines(t, now=MONDAY + 4 * H)] == [False]


def test_deadlines_use_the_machine_clock_and_refuse_naive_times() -> None:
    """Without ``now`` the machine's injected clock is read; a naive ``now`` is an error."""
    desk = Desk()
    t = new_ticket(opened_at=MONDAY)
    desk.clock.set(MONDAY + 5 * H)
    assert desk.machine.deadlines(t)[0].breached
    with pytest.raises(ValueError, match="timezone-aware"):
        desk.machine.deadlines(t, now=datetime(2026, 1, 5, 12))


# -- pausing stages ------------------------------------------------------------------------------

WAITING = "waiting_on_customer"
WAIT_SPEC = default_spec().extend(
    stages=[StageSpec(name=WAITING, description="Waiting for the customer's answer.")],
    triggers=[TriggerSpec(name="wait_on_customer", description="Ask the customer and wait."),
              TriggerSpec(name="customer_replied", description="The customer answered.")],
    transitions=[
        TransitionSpec(trigger="wait_on_customer", source="escalated", dest=WAITING,
                       roles={Role.AGENT, Role.TIER2}),
        TransitionSpec(trigger="customer_replied", source=WAITING, dest="escalated",
                       roles={Role.CUSTOMER, Role.SYSTEM}),
    ],
)
PAUSABLE = [SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE, SLAClock.RESOLUTION,
            SLAClock.PROMISED_RESPONSE]


def test_a_policy_naming_unknown_stages_is_refused() -> None:
    """Pauses in a stage the spec lacks would silently never pause: refuse at machine build."""
    policy = SLAPolicy(pauses={WAITING: frozenset({SLAClock.RESOLUTION})})
    with pytest.raises(SpecError, match="unknown stage 'waiting_on_customer'"):
        EscalationMachine(sla=policy)
    assert EscalationMachine(WAIT_SPEC, sla=policy).sla is policy


def test_a_policy_no_longer_names_triggers() -> None:
    """Which triggers start and meet clocks is the spec's marks: a policy naming them is refused."""
    with pytest.raises(ValidationError, match="triggers"):
        SLAPolicy.model_validate({"triggers": {"escalate": ["hand_over"]}})


@settings(max_examples=30, deadline=None)
@given(paused=st.sets(st.sampled_from(PAUSABLE)),
       dwell=st.lists(st.integers(min_value=1, max_value=60 * 60), min_size=1, max_size=6),
       promise_hours=st.integers(min_value=1, max_value=400))
def test_pausing_stages_stop_exactly_the_clocks_they_name(paused: set[SLAClock], dwell: list[int],
                                                          promise_hours: int) -> None:
    """Alternating escalated/waiting stretches (minutes): a paused clock counts only the time outside
    the waiting stage, every other clock counts it all; and no due time ever moves earlier."""
    cal = BusinessCalendar(timezone="Europe/Berlin")
    policy = SLAPolicy(calendar=cal, pauses={WAITING: frozenset(paused)}, promise_in_business_time=True,
                       targets={u: SLATargets(tier2_update=400 * H, customer_update=400 * H,
                                              resolution=400 * H) for u in Urgency})
    desk = Desk(WAIT_SPEC, policy)
    t = desk.escalated()
    t = desk.at(MONDAY + H, t, Trigger.NOTIFY_CUSTOMER, message="Prioritised", eta=promise_hours * H)
    starts = {SLAClock.RESOLUTION: MONDAY, SLAClock.TIER2_UPDATE: MONDAY + timedelta(minutes=30),
              SLAClock.CUSTOMER_UPDATE: MONDAY + H, SLAClock.PROMISED_RESPONSE: MONDAY + H}
    spent = {clock: cal.between(start, MONDAY + H) for clock, start in starts.items()}
    moment = MONDAY + H
    due_before: dict[SLAClock, datetime] = {}
    for number, minutes in enumerate(dwell):
        waiting = number % 2 == 0   # wait, reply, wait, ...
        desk.clock.set(moment)
        t = desk.machine.fire(t, "wait_on_customer" if waiting else "customer_replied",
                              actor=AGENT if waiting else CUSTOMER)
        stretch = cal.between(moment, moment + timedelta(minutes=minutes))
        for clock in PAUSABLE:   # the expectation, from the calendar alone
            if not (waiting and clock in paused):
                spent[clock] += stretch
        moment += timedelta(minutes=minutes)
        for clock, deadline in by_clock(desk.machine.deadlines(t, now=moment)).items():
            if deadline.due_at is not None and not deadline.paused:
                assert deadline.due_at >= due_before.get(clock, deadline.due_at)
                due_before[clock] = deadline.due_at
    clocks = by_clock(desk.machine.deadlines(t, now=moment))
    for clock in PAUSABLE:
        target = promise_hours * H if clock is SLAClock.PROMISED_RESPONSE else 400 * H
        assert target - clocks[clock].remaining == spent[clock], clock
        assert clocks[clock].paused == (len(dwell) % 2 == 1 and clock in paused)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=7 * 24 * 60), min_size=2, max_size=5))
def test_deadlines_never_move_earlier_as_time_passes(offsets: list[int]) -> None:
    """For a fixed history: due times stay put, remaining time only shrinks, a breach stays a breach."""
    desk = Desk()
    t = desk.escalated()
    t = desk.at(MONDAY + H, t, Trigger.NOTIFY_CUSTOMER, message="On it", eta=3 * H)
    previous: dict[SLAClock, Deadline] = {}
    for minutes in sorted(offsets):
        now = MONDAY + H + timedelta(minutes=minutes)
        for d in desk.machine.deadlines(t, now=now):
            before = previous.get(d.clock)
            if before is not None:
                assert d.due_at == before.due_at
                assert d.remaining <= before.remaining
                assert d.breached or not before.breached
            previous[d.clock] = d


def test_next_due_does_not_depend_on_the_time_of_asking() -> None:
    """What a store indexes: the earliest running due time, the same whatever ``now`` is."""
    desk = Desk()
    t = desk.escalated()
    first = next_due(t, POLICY, SPEC)
    assert first is not None and first.clock is SLAClock.TIER2_UPDATE
    for hours in (0, 1, 30, 500):
        running = [d for d in deadlines(t, POLICY, SPEC, now=MONDAY + hours * H) if d.is_open and not d.paused]
        assert min(d.due_at for d in running) == first.due_at


def test_policy_fingerprint_is_equal_across_processes() -> None:
    """Sets dump in hash-seed order; the fingerprint sorts them, so processes agree on it."""
    code = ("from escalation_fsm.sla import SLAPolicy, SLAClock\n"
            "p = SLAPolicy(pauses={'a': frozenset(SLAClock), 'b': frozenset(list(SLAClock)[:3])})\n"
            "print(p.fingerprint)\n")
    prints = {subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(prints) == 1
    assert SLAPolicy().fingerprint != SLAPolicy(promise_in_business_time=True).fingerprint


def test_targets_must_cover_every_urgency() -> None:
    """A missing urgency would leave tickets of it untimed without anyone noticing."""
    with pytest.raises(ValueError, match="missing for urgencies"):
        SLAPolicy(targets={Urgency.HIGH: SLATargets()})
    assert SLATargets(first_response=H).target(SLAClock.PROMISED_RESPONSE) is None


def test_breach_rates_count_decided_runs_only() -> None:
    """Met runs and open runs already over target count; open runs within target wait."""
    from escalation_fsm.sla import breach_rates_of_tickets

    desk = Desk()
    on_time = desk.at(MONDAY + H, desk.escalated(), Trigger.FOLLOW_UP, TIER2)      # 30 min after
    late = desk.escalated()                                                         # no follow-up
    rates = {r.clock: r for r in breach_rates_of_tickets([on_time, late], POLICY, SPEC, now=MONDAY + H)}
    assert (rates[SLAClock.TIER2_UPDATE].decided, rates[SLAClock.TIER2_UPDATE].breached) == (1, 0)
    rates = {r.clock: r for r in breach_rates_of_tickets([on_time, late], POLICY, SPEC, now=MONDAY + 4 * H)}
    assert rates[SLAClock.TIER2_UPDATE].rate == 0.5
    assert rates[SLAClock.FIRST_RESPONSE].rate == 0.0 and SLAClock.PROMISED_RESPONSE not in rates
