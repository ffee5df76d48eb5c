"""The replay's compiled SLA fold counts exactly what the library's clock fold says, case by case.

:class:`~escalation_fsm.replay.breaches.BreachCounter` works the fold of ``escalation_fsm.sla``
out once per trace and replays it on each case's times; the report's SLA breach rates come from
it. Here random histories of the logged procedure (waiting stages that a policy may pause clocks
in, escalations, Tier 2 updates, resolutions, reopenings, several transitions on one event),
at random times that may run backwards or repeat, under random policies and urgencies, are
measured both ways: with the counter, and with ``clock_runs`` + ``breach_rates`` over the ticket
the replay would build (what ``CaseResult.sla_runs`` holds). Every run's business time is
compared, not only the counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from escalation_fsm import AuditRecord, Ticket, Urgency
from escalation_fsm.models import FrozenDict
from escalation_fsm.replay import logged_procedure_spec, observable_projection
from escalation_fsm.replay.breaches import BreachCounter
from escalation_fsm.replay.program import CaseProgram
from escalation_fsm.replay.times import Stamp, stamp_of
from escalation_fsm.sla import (
    BusinessCalendar,
    SLAClock,
    SLAPolicy,
    WorkingPeriod,
    breach_rates,
    clock_runs,
)

SPEC, _ = observable_projection(logged_procedure_spec(), [])
CALENDARS = [
    BusinessCalendar(),
    BusinessCalendar.always(),
    BusinessCalendar(timezone="Europe/Berlin",
                     hours=(WorkingPeriod(start=time(8), end=time(12)),
                            WorkingPeriod(start=time(13), end=time(18))),
                     holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6)})),
]
START = datetime(2026, 3, 27, 15, tzinfo=UTC)
STAGES = [stage.name for stage in SPEC.stages]

policies = st.builds(
    lambda calendar, pauses: SLAPolicy(calendar=calendar, pauses=pauses),
    st.sampled_from(CALENDARS),
    st.dictionaries(st.sampled_from(STAGES), st.frozensets(st.sampled_from(list(SLAClock))),
                    max_size=3))


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[datetime], list[tuple[int, str, str, str]]]:
    """Event times, and transitions of the spec walked from its initial stage, each on an event."""
    count = draw(st.integers(1, 10))
    at, times = START, []
    for _ in range(count):  # often the same time, or earlier than the event before
        at += timedelta(minutes=draw(st.one_of(st.just(0), st.integers(-600, -1),
                                               st.integers(-20, -1), st.integers(1, 3000))))
        times.append(at)
    stage, records = SPEC.initial, []
    for index in range(count):
        for _ in range(draw(st.integers(0, 2))):
            moves = SPEC.transitions_from(stage)
            if not moves:
                break
            move = draw(st.sampled_from(list(moves)))
            records.append((index, move.source, move.trigger, move.target))
            stage = move.target
    return times, records


def ticket_of(times: list[datetime], records: list[tuple[int, str, str, str]],
              urgency: Urgency) -> Ticket:
    """The ticket the replay builds for ``CaseResult.sla_runs``."""
    history = tuple(
        AuditRecord(seq=seq, at=times[index], actor_id="log", actor_role="agent", trigger=trigger,
                    source=source, dest=dest, payload=FrozenDict())
        for seq, (index, source, trigger, dest) in enumerate(records, start=1))
    return Ticket.model_construct(id="case", customer_id="unknown",
                                  stage=records[-1][3] if records else SPEC.initial,
                                  priority=urgency, opened_at=min(times), history=history,
                                  version=len(history))


def reference(times: list[datetime], records: list[tuple[int, str, str, str]],
              policy: SLAPolicy, urgency: Urgency) -> dict[SLAClock, tuple[int, int]]:
    rates = breach_rates(clock_runs(ticket_of(times, records, urgency), policy, SPEC,
                                    now=max(times)))
    return {rate.clock: (rate.decided, rate.breached) for rate in rates}


def case_of(times: list[datetime], records: list[tuple[int, str, str, str]]) -> tuple[
        CaseProgram, list[Stamp], Stamp, Stamp]:
    """The program of the history, the stamps of its events, its first and last."""
    steps = [(index, (trigger,), None) for index, _, trigger, _ in records]
    outcomes = [("ok", source, trigger, dest) for _, source, trigger, dest in records]
    program = CaseProgram(steps, outcomes, records[-1][3] if records else SPEC.initial,
                          length=len(times), initial=SPEC.initial, finals=SPEC.finals,
                          require_final=True, escalating=frozenset(), reopening=frozenset(),
                          resolving=frozenset())
    stamps = [stamp_of(at) for at in times]
    instants = [stamp[0] for stamp in stamps]
    return (program, stamps, stamps[instants.index(min(instants))],
            stamps[instants.index(max(instants))])


def counted(times: list[datetime], records: list[tuple[int, str, str, str]],
            policy: SLAPolicy, urgency: Urgency) -> dict[SLAClock, tuple[int, int]]:
    program, stamps, first, last = case_of(times, records)
    counter = BreachCounter(policy, SPEC)
    times = counter.times(stamps, None, first, last)
    counter.count(program, times, urgency)
    counter.count(program, times, urgency)  # the compiled fold is reused as it is
    return {clock: (decided // 2, breached // 2)
            for clock, (decided, breached) in counter.counts().items()}


@settings(max_examples=300)
@given(histories(), policies, st.sampled_from(list(Urgency)))
@example(  # the clock runs backwards into a stage that pauses a clock, then out of it
    ([START, START - timedelta(minutes=1), START - timedelta(minutes=1)],
     [(0, "identified", "attempt", "attempted"), (1, "attempted", "escalate", "escalated")]),
    SLAPolicy(pauses={"attempted": frozenset({SLAClock.FIRST_RESPONSE, SLAClock.RESOLUTION})}),
    Urgency.LOW)
def test_counts_equal_the_clock_fold(history: tuple[list[datetime], list[tuple[int, str, str, str]]],
                                     policy: SLAPolicy, urgency: Urgency) -> None:
    """Every run has the business time ``clock_runs`` gives it (met or not), and the decided and
    breached runs per clock are those of ``breach_rates``."""
    times, records = history
    program, stamps, first, last = case_of(times, records)
    counter = BreachCounter(policy, SPEC)
    runs = counter.runs(program, counter.times(stamps, None, first, last))
    expected = clock_runs(ticket_of(times, records, urgency), policy, SPEC, now=max(times))
    assert sorted((clock, met, time) for clock, met, time in runs) == sorted(
        (run.clock, run.met_at is not None, run.target - run.remaining) for run in expected)
    assert counted(times, records, policy, urgency) == reference(times, records, policy, urgency)


def test_a_known_case() -> None:
    """Opened Monday 09:00, answered 10:00, escalated 11:00, resolved Tuesday 17:00 (office hours
    9-17, normal urgency): first response met (1 h of 4); Tier 2 update and customer update
    breached (14 h of 8); resolution met (16 h of 40), but breached when critical (of 8)."""
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    times = [monday, monday + timedelta(hours=1), monday + timedelta(hours=2),
             monday + timedelta(days=1, hours=8)]
    records = [(1, "identified", "attempt", "attempted"), (2, "attempted", "escalate", "escalated"),
               (3, "escalated", "resolve", "resolved")]
    normal = counted(times, records, SLAPolicy(), Urgency.NORMAL)
    assert normal == {SLAClock.FIRST_RESPONSE: (1, 0), SLAClock.TIER2_UPDATE: (1, 1),
                      SLAClock.CUSTOMER_UPDATE: (1, 1), SLAClock.RESOLUTION: (1, 0)}
    assert normal == reference(times, records, SLAPolicy(), Urgency.NORMAL)
    critical = counted(times, records, SLAPolicy(), Urgency.CRITICAL)
    assert critical[SLAClock.RESOLUTION] == (1, 1)  # 15 office hours against 8
