"""The replay's speed-ups change no figure: each shortcut against the plain computation."""

from __future__ import annotations

import gc
import inspect
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_review_training import workload

from escalation_fsm.cli import main
from escalation_fsm.cli.replay import fewer_collections
from escalation_fsm.replay import Replayer, render_report, review, sample_log, shipped_mapping
from escalation_fsm.replay import training as training_module
from escalation_fsm.replay.program import CaseProgram
from escalation_fsm.replay.reader import CaseData
from escalation_fsm.replay.review import _People
from escalation_fsm.replay.training import TrainingCase, TrainingFigures
from escalation_fsm.sla import BusinessCalendar, default_sla_policy

instants = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2018, 12, 31),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(instants, instants, st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_business_time_within_a_year_is_a_difference_of_year_positions(
        a: datetime, b: datetime, zone: str) -> None:
    """For a < b in one local year, between(a, b) is b's year position less a's (exactly)."""
    calendar = default_sla_policy().calendar.model_copy(update={"zone": ZoneInfo(zone)})
    calendar = BusinessCalendar.model_validate(calendar.model_dump())
    start, end = min(a, b), max(a, b)
    (year_a, worked_a), (year_b, worked_b) = (calendar.year_position(start),
                                              calendar.year_position(end))
    if year_a == year_b:
        assert calendar.between(start, end) == worked_b - worked_a
    else:
        assert year_b > year_a
    assert timedelta(0) <= worked_a and timedelta(0) <= worked_b


def test_a_naive_instant_has_no_year_position() -> None:
    """A naive datetime is refused, as between refuses it."""
    with pytest.raises(ValueError, match="timezone-aware"):
        default_sla_policy().calendar.year_position(datetime(2016, 3, 1))


@pytest.mark.parametrize("pending", [7, 50_000])
def test_training_counts_do_not_depend_on_when_tickets_are_folded(
        monkeypatch: pytest.MonkeyPatch, pending: int) -> None:
    """Tickets counted together and spread over the cells in bulk give the same section,
    whether they are folded after every ticket, every few, or once at the end."""
    cases = workload(3, biased="a-1", tickets=3000)
    monkeypatch.setattr(training_module, "_MAX_PENDING", 1)  # each ticket on its own
    reference = TrainingFigures(teams={"a-1": "t-1", "a-2": "t-1"})
    reference.extend(cases)
    monkeypatch.setattr(training_module, "_MAX_PENDING", pending)
    figures = TrainingFigures(teams={"a-1": "t-1", "a-2": "t-1"})
    figures.extend(cases)
    assert figures.section() == reference.section()
    assert figures.section().findings, "the workload should show a finding"


SNAPSHOTS = Path(__file__).parent / "snapshots" / "replay_reports"


@pytest.mark.parametrize("sla", ["none", "default"])
@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_the_json_report_is_byte_for_byte_the_one_before_the_speed_work(name: str,
                                                                        sla: str) -> None:
    """On both shipped samples, with and without SLA figures, the JSON report (training section
    included) is byte-identical to the one written before the start-up, SLA and training
    shortcuts (snapshots from commit 4a28bd6, rewritten only for schema 1.4: its version and the
    empty ladder what-if section; ESCALATION_FSM_UPDATE_SNAPSHOTS=1 rewrites them,
    deliberately)."""
    report = review(sample_log(name), shipped_mapping(name),
                    sla=None if sla == "none" else default_sla_policy(),
                    sla_source=None if sla == "none" else "the built-in default policy",
                    training=TrainingFigures(min_tickets=2))
    text = render_report(report, "json")
    snapshot = SNAPSHOTS / f"{name}_{sla}.json"
    if os.environ.get("ESCALATION_FSM_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8")


def test_the_replay_command_collects_less_often_and_restores_the_collector(
        tmp_path: Path) -> None:
    """While ``escalation-fsm replay`` runs, the collector scans every 20,000 new containers and
    leaves the objects that existed before out; afterwards its thresholds are as they were and
    nothing stays frozen (the command may run inside a longer-lived process)."""
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == 20_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    out = tmp_path / "r.json"
    assert main(["replay", str(sample_log("helpdesk")), "--mapping", "helpdesk", "--format",
                 "json", "-o", str(out), "--quiet"]) == 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert out.read_text(encoding="utf-8").startswith("{")


def _people_the_plain_way(people: _People, case: CaseData, program: CaseProgram,
                          category: str | None) -> TrainingCase:
    """The first attempt's and first resolution's resources, walked case by case (the oracle)."""
    positions, resources, instants = case.positions, case.resources, case.instants
    agent = resolver = first_response = None
    resolved = reopened = False
    for position, _, _, trigger, _ in program.records:
        event = position if positions is None else positions[position]
        if trigger in people.attempting and agent is None:
            agent = resources[event]
            first_response = (instants[event] - instants[0]) / 1_000_000
        elif trigger in people.resolving and not resolved:
            resolver, resolved = resources[event], True
        elif trigger in people.reopening and resolved:
            reopened = True
    return TrainingCase(category=category, agent=agent, escalated=program.escalated,
                        resolved_first_contact=resolved and not (program.escalated or reopened),
                        first_response_seconds=first_response, resolver=resolver,
                        reopened=reopened)


@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_who_handled_a_case_is_read_from_its_trace_as_case_by_case(name: str) -> None:
    """Working out once per trace where its first attempt and resolution are gives every case
    of both samples the same agent, resolver, first response and reopening as walking it."""
    replayer = Replayer(shipped_mapping(name))
    people = _People(replayer.replay_spec)
    seen = 0
    for case, program in replayer.cases(sample_log(name)):
        category = replayer.plan.category(case)
        assert people.of(case, program, category) == _people_the_plain_way(
            people, case, program, category)
        seen += 1
    assert seen >= 30


@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_review_counts_each_case_for_training_with_the_fields_of_its_training_case(
        name: str) -> None:
    """``review()`` passes ``_People.fields`` straight to ``TrainingFigures.count`` (no
    :class:`TrainingCase` built per case): on every case of both samples those are the plain
    walk's ticket fields in ``count``'s parameter order, and counting them so gives the same
    training section as adding the plain walk's tickets."""
    replayer = Replayer(shipped_mapping(name))
    people = _People(replayer.replay_spec)
    order = [p for p in inspect.signature(TrainingFigures.count).parameters if p != "self"]
    fast, plain = TrainingFigures(min_tickets=2), TrainingFigures(min_tickets=2)
    seen = 0
    for case, program in replayer.cases(sample_log(name)):
        category = replayer.plan.category(case)
        fields = people.fields(case, program, category)
        oracle = _people_the_plain_way(people, case, program, category)
        assert fields == tuple(getattr(oracle, field) for field in order)
        fast.count(*fields)
        plain.add(oracle)
        seen += 1
    assert seen >= 30
    assert fast.section() == plain.section()

