"""The report's per-case counting shortcuts give the figures of counting every case in full.

``ReportFigures.add_case`` (what ``review`` counts with) looks each case's groups up once per
(month, category, priority), counts transitions per program and refused steps per sequence; the
plain path is ``ReportFigures.add`` over every case's result (``build_report``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_helpers import HELPDESK, SERVICENOW
from test_replay_differential import POLICIES, fast_report, slow_report

from escalation_fsm.replay import Replayer, sample_log, shipped_mapping
from escalation_fsm.replay import deviations as deviations_module
from escalation_fsm.replay import quantiles as quantiles_module
from escalation_fsm.replay import report as report_module
from escalation_fsm.replay.deviations import DeviationRule, Deviations
from escalation_fsm.replay.engine import Measured
from escalation_fsm.replay.program import CaseProgram
from escalation_fsm.replay.reader import read_case_data
from escalation_fsm.replay.specs import logged_procedure_spec


@pytest.mark.parametrize("budget", [0, 3, 13, 40, 89])
@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_past_the_exact_budget_the_report_is_the_one_counted_from_every_result(
        monkeypatch: pytest.MonkeyPatch, name: str, budget: int) -> None:
    """With a small exact budget (groups leave it for histograms as values arrive, largest
    first, so the order values reach the groups matters), ``review`` still writes the very
    report ``build_report`` writes from every case's result: the same values reach the same
    groups in the same order, and the same groups end up approximate."""
    monkeypatch.setattr(quantiles_module, "EXACT_VALUES", budget)
    log = HELPDESK if name == "helpdesk" else SERVICENOW
    fast = fast_report(log, shipped_mapping(name), POLICIES["default"])
    assert fast == slow_report(log, shipped_mapping(name), POLICIES["default"])
    assert '"problem": "approximate"' in fast


def test_forgetting_the_groups_of_each_month_category_and_priority_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The groups remembered per (month, category, priority) are a cache: looking them up
    again for every case (a bound of one) gives the same report (the ServiceNow sample has
    categories, priorities and months)."""
    reference = fast_report(SERVICENOW, shipped_mapping("servicenow"), POLICIES["default"])
    monkeypatch.setattr(report_module, "_MAX_WHERE", 1)
    assert fast_report(SERVICENOW, shipped_mapping("servicenow"),
                       POLICIES["default"]) == reference


class _OneByOne:
    """The top deviations counted case by case and step by step (the counting before the
    shortcut, kept as the oracle)."""

    def __init__(self) -> None:
        self.first: Counter[str] = Counter()
        self.tickets: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.sample: dict[str, tuple[str, str, str, str]] = {}

    def add(self, case_id: str, deviations: Sequence[DeviationRule]) -> None:
        self.tickets.update({deviation[0] for deviation in deviations})
        for position, (rule, kind, stage, trigger, reason) in enumerate(deviations):
            self.events[rule] += 1
            self.sample.setdefault(rule, (kind, stage, trigger, reason))
            if position == 0:
                self.first[rule] += 1
                examples = self.examples.setdefault(rule, [])
                if len(examples) < 3:
                    examples.append(case_id)


# Two rules whose refusals differ in their details: the sample kept must be the first one.
_STEPS: list[DeviationRule] = [
    ("a", "not_allowed", "new", "resolve", "no such transition"),
    ("a", "refused", "triage", "resolve", "no such transition"),
    ("b", "refused", "new", "escalate", "guard x failed"),
    ("b", "role", "tier1", "escalate", "guard y failed"),
    ("c", "payload", "tier2", "close", "bad payload"),
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_STEPS), min_size=1, max_size=4).map(tuple),
                min_size=1, max_size=40),
       st.sampled_from([1, 2, 3, 4096]))
def test_refused_steps_counted_per_sequence_are_those_counted_step_by_step(
        cases: list[tuple[DeviationRule, ...]], pending: int) -> None:
    """Invariant: whenever the sequences are spread over the rules (after every case, every
    few, or at the end), each rule's cases, tickets, events, examples and sample (the first
    refusal's details) are those of counting every case's refused steps one by one, and so is
    every summary the report shows."""
    oracle = _OneByOne()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deviations_module, "MAX_PENDING", pending)
        ours = Deviations()
        for number, deviations in enumerate(cases):
            ours.add(f"case-{number}", deviations)
            oracle.add(f"case-{number}", deviations)
        summaries = ours.summaries(logged_procedure_spec())
    assert dict(ours.first) == dict(oracle.first)
    assert dict(ours.tickets) == dict(oracle.tickets)
    assert dict(ours.events) == dict(oracle.events)
    assert dict(ours.examples) == oracle.examples
    assert ours.sample == oracle.sample
    for summary in summaries:
        assert (summary.cases, summary.events, summary.tickets, summary.examples) == (
            oracle.first[summary.rule], oracle.events[summary.rule],
            oracle.tickets[summary.rule], oracle.examples.get(summary.rule, []))
        assert (summary.kind, summary.stage, summary.trigger, summary.reason) == (
            oracle.sample[summary.rule])


def _replayed(program: CaseProgram) -> tuple[object, ...]:
    return (program.steps, program.fired, program.records, program.deviations, program.status,
            program.final_stage, program.stage_after, program.escalated, program.reopened,
            program.resolve_index)


@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_a_case_found_by_its_activities_replays_as_its_trace_does(name: str) -> None:
    """A mapping with no rules, roles or left-out events (the helpdesk one) finds a case's
    program by its activities, without building its trace: on every case of the sample it is
    the program the trace gives, fired anew per case (``cache_traces=False``); a mapping with
    rules (ServiceNow's) goes through the trace. Each case is compiled again with a category
    (the replay starts it from another ticket): the same activities, another program."""
    fast, plain = Replayer(shipped_mapping(name)), Replayer(shipped_mapping(name),
                                                            cache_traces=False)
    assert fast.plan.activities_only == (name == "helpdesk")
    seen = 0
    for case in read_case_data(sample_log(name), fast.mapping):
        for category in (case.category, "network"):  # a category: another blank ticket
            case.category = category
            program = fast.compile(case)
            assert case.positions is None or name != "helpdesk"
            assert _replayed(program) == _replayed(plain.compile(case))
            assert program is fast._compile(case)  # the very program its trace and flag key
        seen += 1
    assert seen >= 30
    if name == "helpdesk":
        assert fast._by_activities  # the shortcut was taken


@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_what_a_case_adds_to_its_trace_is_named_field_by_field(name: str) -> None:
    """``Replayer.measure`` builds its ``Measured`` without the named tuple's own constructor:
    on every case of both samples each named field holds what it names (category, priority and
    urgency as the plan reads them, the stage times, the earliest and the latest event)."""
    replayer = Replayer(shipped_mapping(name), sla=POLICIES["default"])
    seen = 0
    for case in read_case_data(sample_log(name), replayer.mapping):
        program = replayer.compile(case)
        measured = replayer.measure(case, program)
        assert type(measured) is Measured
        assert measured.category == replayer.plan.category(case)
        assert (measured.priority, measured.urgency) == replayer.plan.priority(
            case, urgency_needed=True)
        assert (measured.seconds, measured.backwards) == program.stage_seconds(
            case.instants, case.positions)
        assert measured.first == min(case.stamps, key=lambda stamp: stamp[0])
        assert measured.last == max(case.stamps, key=lambda stamp: stamp[0])
        seen += 1
    assert seen >= 30
