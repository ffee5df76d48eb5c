"""The escalation ladder as data: validated whole, loadable from TOML, due like deadlines.

The property test checks the steps computed from the fold against a simple reference: a step
at threshold ``x`` of a clock comes due exactly when the whole-history walk of ``sla_oracle``
says that clock would be due if its target were ``x``.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ladder_support import ladder_spec
from pydantic import ValidationError
from sla_oracle import deadlines as oracle_deadlines
from support import VALID, new_ticket

from escalation_fsm import (
    Actor,
    Assessment,
    EscalationError,
    EscalationMachine,
    ManualClock,
    SpecError,
    Urgency,
    default_spec,
)
from escalation_fsm.cli._common import read_policy
from escalation_fsm.marks import Mark
from escalation_fsm.procedure import logged_procedure_spec
from escalation_fsm.sla import (
    BusinessCalendar,
    Ladder,
    LadderStep,
    SLAClock,
    SLAPolicy,
    StepAction,
    WorkingPeriod,
    ladder_steps,
)

TOML = """
[[ladder.tier2_update.high]]
name = "warn"
at = 0.5
action = "notify"
role = "tier2_lead"

[[ladder.tier2_update.high]]
name = "breach"
at = 1.0
action = "raise_urgency"

[[ladder.tier2_update.high]]
name = "after"
offset = "PT1H"
action = "callback"
callback = "page_manager"

[[ladder.resolution.normal]]
name = "before"
offset = "-PT30M"
action = "notify"
role = "assignee"
"""


def test_a_ladder_loads_from_toml_and_json_and_reads_back_equal(tmp_path: Path) -> None:
    """A TOML policy file with a ladder gives the same policy as its JSON form; the fingerprint
    (what a store's index is keyed by) changes with the ladder."""
    path = tmp_path / "sla.toml"
    path.write_text(TOML, encoding="utf-8")
    policy = read_policy(str(path))
    assert policy == SLAPolicy.model_validate(tomllib.loads(TOML))
    assert SLAPolicy.model_validate_json(policy.model_dump_json()) == policy
    steps = policy.ladder.of(SLAClock.TIER2_UPDATE, Urgency.HIGH)
    assert [(s.name, s.at, s.offset, s.action) for s in steps] == [
        ("warn", 0.5, None, StepAction.NOTIFY), ("breach", 1.0, None, StepAction.RAISE_URGENCY),
        ("after", None, timedelta(hours=1), StepAction.CALLBACK)]
    assert policy.ladder.of(SLAClock.RESOLUTION, Urgency.NORMAL)[0].offset == timedelta(minutes=-30)
    assert policy.fingerprint != SLAPolicy().fingerprint


def test_thresholds_are_fractions_of_the_target_or_offsets_from_the_deadline() -> None:
    """``at`` multiplies the target; ``offset`` moves the deadline, never below the run's start."""
    target = timedelta(hours=8)
    assert LadderStep(name="a", at=0.75, action="raise_urgency").threshold(target) == timedelta(hours=6)
    assert LadderStep(name="b", offset="PT1H", action="raise_urgency").threshold(target) == timedelta(hours=9)
    assert LadderStep(name="c", offset="-PT30M", action="raise_urgency").threshold(target) == timedelta(
        hours=7, minutes=30)
    assert LadderStep(name="d", offset="-PT9H", action="raise_urgency").threshold(target) == timedelta(0)
    assert LadderStep(name="e", at=1.5, action="raise_urgency").when == "150% of the target"


def test_every_problem_of_a_ladder_is_reported_at_once() -> None:
    """Both ``at`` and ``offset``, a notify step without role, a role on an escalate step, a
    payload on a notify step, a duplicate name, one name meaning two actions, an unknown clock
    and a step on a clock the policy does not track: one error naming each."""
    with pytest.raises(ValidationError) as info:
        SLAPolicy.model_validate({"ladder": {
            "resolution": {"normal": [
                {"name": "x", "at": 0.5, "offset": "PT1H", "action": "notify"},
                {"name": "y", "at": 0.5, "action": "escalate", "role": "boss",
                 "payload": {"summary": "s"}},
                {"name": "z", "at": 0.5, "action": "notify", "role": "r", "payload": {"a": 1}},
            ]},
            "weekly_report": {"normal": []},
        }})
    text = str(info.value)
    for part in ("exactly one of 'at'", "needs 'role'", "'role' is only for notify",
                 "'payload' is only for escalate", "weekly_report"):
        assert part in text, part
    with pytest.raises(ValidationError) as info:
        Ladder.model_validate({"resolution": {
            "normal": [{"name": "x", "at": 0.5, "action": "raise_urgency"},
                       {"name": "x", "at": 0.9, "action": "raise_urgency"}],
            "high": [{"name": "x", "at": 0.5, "action": "callback", "callback": "c"}]}})
    assert "used more than once" in str(info.value) and "a name is one step" in str(info.value)
    untracked = {"resolution": SLAPolicy().targets[Urgency.LOW].model_copy(
        update={"resolution": None})}
    with pytest.raises(ValidationError, match="no resolution target at that urgency"):
        SLAPolicy.model_validate({
            "targets": {**SLAPolicy().targets, Urgency.LOW: untracked["resolution"]},
            "ladder": {"resolution": {"low": [{"name": "x", "at": 0.5,
                                               "action": "raise_urgency"}]}}})


def test_escalate_steps_are_checked_against_the_spec_by_marks() -> None:
    """The shipped procedure lets no system actor escalate: a machine with an escalate step is
    refused, naming the clock and stages; allowing ``system`` on the marked trigger fixes it."""
    policy = SLAPolicy.model_validate({"ladder": {"resolution": {"normal": [
        {"name": "up", "at": 1.0, "action": "escalate"}]}}})
    with pytest.raises(SpecError, match=r"escalate steps on resolution could never act.*system"):
        EscalationMachine(default_spec(), sla=policy)
    assert EscalationMachine(ladder_spec(), sla=policy).sla == policy
    # Tier 2's clock runs only where no trigger escalates further: that step could never act.
    tier2 = SLAPolicy.model_validate({"ladder": {"tier2_update": {"high": [
        {"name": "up", "at": 1.0, "action": "escalate"}]}}})
    with pytest.raises(SpecError, match=r"tier2_update could never act.*\(escalated\)"):
        EscalationMachine(ladder_spec(), sla=tier2)


# -- the property: steps from the fold equal the reference ------------------------------------------

SPEC = logged_procedure_spec()
BERLIN_OFFICE = BusinessCalendar(
    timezone="Europe/Berlin", hours=(WorkingPeriod(start=time(8), end=time(12)),
                                     WorkingPeriod(start=time(13), end=time(18))),
    holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6), date(2026, 10, 26)}))
LATE_SHIFT = BusinessCalendar(timezone="America/New_York", working_days=frozenset({1, 3, 5, 6}),
                              hours=(WorkingPeriod(start=time(18), end=time(0)),))
STARTS = [datetime(2026, 3, 27, 15, tzinfo=UTC), datetime(2026, 10, 23, 15, tzinfo=UTC)]
CLOCKS = [SLAClock.FIRST_RESPONSE, SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
          SLAClock.RESOLUTION]
WHEN = [{"at": 0.25}, {"at": 0.5}, {"at": 0.9}, {"at": 1.0}, {"at": 1.5},
        {"offset": "-PT10M"}, {"offset": "PT20M"}, {"offset": "PT2H"}]

ladders = st.dictionaries(
    st.sampled_from(CLOCKS),
    st.lists(st.sampled_from(range(len(WHEN))), min_size=1, max_size=4, unique=True),
    min_size=1)


def _policy(calendar: BusinessCalendar, paused: set[SLAClock], chosen: dict[SLAClock, list[int]],
            ) -> SLAPolicy:
    ladder = {clock: {urgency: [{"name": f"s{n}", **WHEN[n], "action": "raise_urgency"}
                                for n in picks] for urgency in Urgency}
              for clock, picks in chosen.items()}
    return SLAPolicy.model_validate({"calendar": calendar, "pauses": {
        "waiting": paused, "waiting_tier2": paused}, "ladder": ladder})


def _payload(trigger: str, data: st.DataObject) -> dict[str, Any]:
    if Mark.ESCALATE in SPEC.marks_of(trigger):
        return {"summary": "Needs Tier 2", "assessment": Assessment(
            complexity="high", frustration="high",
            urgency=data.draw(st.sampled_from(["low", "normal", "high", "critical"])))}
    return dict(VALID.get(trigger, {}))


def _reference(ticket: Any, policy: SLAPolicy, clock: SLAClock, threshold: timedelta,
               now: datetime) -> datetime | None:
    """When the whole-history walk says ``clock`` is due if its target were ``threshold``."""
    targets = dict(policy.targets)
    targets[ticket.priority] = targets[ticket.priority].model_copy(update={clock.value: threshold})
    scaled = policy.model_copy(update={"targets": targets, "ladder": Ladder()})
    for deadline in oracle_deadlines(ticket, scaled, now=now):
        if deadline.clock is clock and deadline.met_at is None and not deadline.paused:
            return deadline.due_at
    return None


@settings(max_examples=60, deadline=None)
@given(calendar=st.sampled_from([BusinessCalendar(), BERLIN_OFFICE, LATE_SHIFT]),
       paused=st.sets(st.sampled_from(CLOCKS)), chosen=ladders, start=st.sampled_from(STARTS),
       data=st.data())
def test_steps_from_the_fold_equal_the_whole_history_reference(
        calendar: BusinessCalendar, paused: set[SLAClock], chosen: dict[SLAClock, list[int]],
        start: datetime, data: st.DataObject) -> None:
    """On random histories, calendars and pauses, every pending step of every open running run
    comes due when the reference walk reaches the step's threshold; no other step is pending."""
    policy = _policy(calendar, paused, chosen)
    clock = ManualClock(start)
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    ticket = new_ticket(opened_at=start, stage=SPEC.initial)
    for _ in range(data.draw(st.integers(min_value=0, max_value=12))):
        clock.advance(timedelta(seconds=data.draw(st.integers(0, 60 * 60 * 30))))
        moves = SPEC.transitions_from(ticket.stage)
        if not moves:
            break
        move = data.draw(st.sampled_from(moves))
        role = data.draw(st.sampled_from(sorted(move.roles)))
        try:
            ticket = machine.fire(ticket, move.trigger, actor=Actor(id="x", role=role),
                                  **_payload(move.trigger, data))
        except EscalationError:
            continue
    now = clock.now() + timedelta(days=60)
    found = {(step.clock, step.name): step.due_at for step in ladder_steps(ticket, policy, SPEC)}
    expected = {}
    for clock_name, picks in chosen.items():
        target = policy.target(ticket.priority, clock_name)
        assert target is not None
        for n in picks:
            step = policy.ladder.of(clock_name, ticket.priority)[picks.index(n)]
            due = _reference(ticket, policy, clock_name, step.threshold(target), now)
            if due is not None:
                expected[(clock_name, step.name)] = due
    assert found == expected


def test_a_paused_runs_steps_are_not_due_and_resume_later_by_the_pause() -> None:
    """On hold with the resolution clock paused: no step pending; back at work, each step comes
    due later by exactly the business time spent on hold."""
    policy = _policy(BusinessCalendar(), {SLAClock.RESOLUTION}, {SLAClock.RESOLUTION: [1]})
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    agent = Actor(id="a", role="agent")
    ticket = new_ticket(opened_at=clock.now(), stage=SPEC.initial)
    ticket = machine.fire(ticket, SPEC.marked(Mark.ATTEMPT)[0], actor=agent)
    before = [s.due_at for s in ladder_steps(ticket, policy, SPEC)]
    assert before == [datetime(2026, 1, 7, 13, tzinfo=UTC)]             # 50% of 40 hours
    ticket = machine.fire(ticket, "wait", actor=agent)
    assert ladder_steps(ticket, policy, SPEC) == []
    clock.advance(timedelta(hours=3))                                     # 12:00: 3 business hours
    ticket = machine.fire(ticket, SPEC.marked(Mark.ATTEMPT)[0], actor=agent)
    assert [s.due_at for s in ladder_steps(ticket, policy, SPEC)] == [
        datetime(2026, 1, 7, 16, tzinfo=UTC)]
