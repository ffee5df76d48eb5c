"""Differential tests: the library's replay against a deliberately simple, independent replayer.

The simple replayer below shares nothing with ``escalation_fsm.replay`` but the spec itself: it
reads the logs with ``csv``/``zipfile``, maps activities with a plain dictionary read from the
mapping TOML by ``tomllib``, and moves through a plain ``{(stage, trigger): next_stage}``
dictionary built from the spec's transitions. The library fires every trigger through
``EscalationMachine``. They must agree case by case, on the fixtures and on random logs; and the
library's trie of trace prefixes must agree with firing every case through the machine.

The review report is counted from each distinct trace's replay and compiled SLA clocks, without a
result per case; it must be the very report built from every case's result, fired through the
machine, with its SLA runs from the clock fold.
"""

from __future__ import annotations

import csv
import io
import tempfile
import tomllib
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_helpers import HELPDESK, SERVICENOW

from escalation_fsm import (
    Decision,
    GuardContext,
    GuardSpec,
    MachineSpec,
    TransitionSpec,
    TriggerSpec,
)
from escalation_fsm.replay import (
    LogMapping,
    LogStats,
    Replayer,
    build_report,
    logged_procedure_spec,
    parse_mapping,
    review,
    shipped_mapping,
)
from escalation_fsm.replay.diagram import annotated_diagram
from escalation_fsm.sla import BusinessCalendar, SLAClock, SLAPolicy, default_sla_policy

Outcome = tuple[str, str, tuple[int, str, str, str] | None, tuple[tuple[str, str], ...]]


def shipped_toml(name: str) -> dict[str, object]:
    text = resources.files("escalation_fsm.replay").joinpath("mappings", f"{name}.toml").read_text()
    return tomllib.loads(text)


class SimpleReplayer:
    """A plain dictionary of allowed moves; ``has_category`` is the only guard a log can show."""

    def __init__(self, spec: MachineSpec, toml: dict[str, object]) -> None:
        self.moves = {(t.source, t.trigger): t.dest or t.source for t in spec.transitions}
        self.needs_category = {(t.source, t.trigger) for t in spec.transitions
                               if "has_category" in t.guards}
        self.initial = next(s.name for s in spec.stages if s.initial)
        self.finals = {s.name for s in spec.stages if s.final}
        activities = toml["activities"]
        assert isinstance(activities, dict)
        self.choices = {a: [c] if isinstance(c, str) else list(c) for a, c in activities.items()}
        columns = toml["columns"]
        assert isinstance(columns, dict)
        self.changes_only = bool(columns.get("activity_changes_only", False))
        self.category_observable = "category" in columns
        self.escalate_on_reassignment = bool(toml.get("conditions"))
        self.ignored = set(toml.get("ignore", []))  # type: ignore[arg-type]
        self.choices |= {activity: [] for activity in self.ignored}

    def steps(self, events: list[tuple[str, int]]) -> list[tuple[int, list[str]]]:
        """(event index, trigger choices) for events given as (activity, reassignment count)."""
        steps: list[tuple[int, list[str]]] = []
        previous: tuple[str, int] | None = None
        for index, (activity, reassigned) in enumerate(events):
            if self.escalate_on_reassignment and previous is not None and reassigned > previous[1]:
                steps.append((index, ["escalate"]))
            if activity not in self.ignored and not (
                    self.changes_only and previous is not None and previous[0] == activity):
                steps.append((index, self.choices[activity]))
            previous = (activity, reassigned)
        return steps

    def replay(self, events: list[tuple[str, int]], has_category: bool) -> Outcome:
        return self.walk(events, has_category)[0]

    def walk(self, events: list[tuple[str, int]], has_category: bool) -> tuple[Outcome, list[str]]:
        """The outcome, and the stage each event leaves the ticket in."""
        stage, fired, first = self.initial, [], None
        after = [self.initial] * len(events)
        for index, choices in self.steps(events):
            trigger = next((c for c in choices if (stage, c) in self.moves), choices[0])
            problem = None
            if (stage, trigger) not in self.moves:
                problem = "not_allowed"
            elif (stage, trigger) in self.needs_category and self.category_observable \
                    and not has_category:
                problem = "refused"
            if problem:
                first = first or (index, stage, trigger, problem)
                continue
            fired.append((stage, trigger))
            stage = self.moves[(stage, trigger)]
            after[index:] = [stage] * (len(events) - index)
        status = "deviates" if first else "fits" if stage in self.finals else "open"
        return (status, stage, first, tuple(fired)), after

    def stage_seconds(self, events: list[tuple[str, int]], has_category: bool,
                      times: list[datetime]) -> dict[str, float]:
        """Time from each event to the next, in the stage it left the ticket in (not final)."""
        seconds: dict[str, float] = defaultdict(float)
        after = self.walk(events, has_category)[1]
        for stage, now, later in zip(after[:-1], times[:-1], times[1:], strict=True):
            if later > now and stage not in self.finals:
                seconds[stage] += (later - now).total_seconds()
        return dict(seconds)


def library(replayer: Replayer, path: Path) -> dict[str, Outcome]:
    out = {}
    for r in replayer.replay(path):
        d = r.first_deviation
        out[r.case_id] = (r.status, r.final_stage,
                          None if d is None else (d.index, d.stage, d.trigger, d.kind), r.fired)
    return out


def read_plain(text: str, case: str, activity: str, key: str, *, known: set[str],
               integer_key: bool, category: str | None = None,
               reassignment: str | None = None) -> dict[str, tuple[list[tuple[str, int]], bool]]:
    """Cases as (events, has category), read with csv and sorted independently of the library."""
    rows: dict[str, list[tuple[object, int, str, int, str]]] = defaultdict(list)
    for line, row in enumerate(csv.DictReader(io.StringIO(text))):
        if row[activity] not in known:
            continue
        order: object = int(row[key]) if integer_key else datetime.fromisoformat(row[key])
        rows[row[case]].append((order, line, row[activity],
                                int(row[reassignment]) if reassignment else 0,
                                row[category] if category else ""))
    cases = {}
    for case_id, events in rows.items():
        events.sort(key=lambda e: (e[0], e[1]))
        has_category = any(e[4] not in ("", "?") for e in events)
        cases[case_id] = ([(e[2], e[3]) for e in events], has_category)
    return cases


def test_helpdesk_fixture_agrees_with_the_simple_replayer() -> None:
    """Case by case, the library and the simple replayer agree on the helpdesk fixture."""
    toml = shipped_toml("helpdesk")
    simple = SimpleReplayer(logged_procedure_spec(), toml)
    cases = read_plain(HELPDESK.read_text(), "case:concept:name", "concept:name",
                       "time:timestamp", known=set(simple.choices), integer_key=False)
    expected = {case: simple.replay(events, has) for case, (events, has) in cases.items()}
    assert library(Replayer(shipped_mapping("helpdesk")), HELPDESK) == expected
    assert {o[0] for o in expected.values()} == {"fits", "open", "deviates"}


def test_servicenow_fixture_agrees_with_the_simple_replayer() -> None:
    """Case by case, they agree on the ServiceNow fixture (state changes, reassignments)."""
    toml = shipped_toml("servicenow")
    simple = SimpleReplayer(logged_procedure_spec(), toml)
    with zipfile.ZipFile(SERVICENOW) as archive:
        text = archive.read("incident_event_log.csv").decode("utf-8")
    cases = read_plain(text, "number", "incident_state", "sys_mod_count", known=set(simple.choices),
                       integer_key=True, category="category", reassignment="reassignment_count")
    expected = {case: simple.replay(events, has) for case, (events, has) in cases.items()}
    assert library(Replayer(shipped_mapping("servicenow")), SERVICENOW) == expected
    assert {o[2][3] for o in expected.values() if o[2]} == {"not_allowed", "refused"}


# -- random logs ----------------------------------------------------------------------------------

ACTIVITY_LOG = """
name = "random-activities"
on_unknown = "skip"
[columns]
case = "case"
activity = "activity"
timestamp = "at"
category = "category"
[activities]
"Assign" = "classify"
"Take" = ["attempt", "reopen"]
"Wait" = "wait"
"Upgrade" = "escalate"
"Anomaly fixed" = "follow_up"
"Step" = "record_step"
"Resolve" = "resolve"
"Feedback" = "request_feedback"
"Rated" = "record_feedback"
"Close" = "close"
"Reopen" = "reopen"
"""

STATE_LOG = """
name = "random-states"
on_unknown = "skip"
[columns]
case = "case"
activity = "activity"
timestamp = "at"
order = "seq"
category = "category"
activity_changes_only = true
[activities]
"New" = "attempt"
"Active" = ["attempt", "reopen"]
"Awaiting" = "wait"
"Resolved" = "resolve"
"Closed" = "close"
[[conditions]]
column = "reassigned"
op = "increased"
trigger = "escalate"
position = "before"
"""

# Events that fire nothing (ignored comments, repeated states) are left out of the traces.
COMMENTED_LOG = STATE_LOG.replace('on_unknown = "skip"', 'on_unknown = "skip"\nignore = ["Comment"]')


START = datetime(2024, 1, 1, tzinfo=UTC)
ACTIVITIES = ["Assign", "Take", "Wait", "Upgrade", "Anomaly fixed", "Step", "Resolve", "Feedback",
              "Rated", "Close", "Reopen"]
STATES = ["New", "Active", "Awaiting", "Resolved", "Closed"]


def cases_strategy(activities: list[str]) -> st.SearchStrategy[list[tuple[list[tuple[str, int, int]], bool]]]:
    """Cases: events (activity, minutes since the previous event, reassignment increase), has category."""
    event = st.tuples(st.sampled_from([*activities, "Unmapped"]), st.integers(0, 600),
                      st.integers(0, 1))
    return st.lists(st.tuples(st.lists(event, min_size=1, max_size=12), st.booleans()),
                    min_size=1, max_size=8)


def write_log(folder: Path, cases: list[tuple[list[tuple[str, int, int]], bool]], *,
              unreadable: bool = False) -> tuple[
        Path, dict[str, tuple[list[tuple[str, int, datetime]], bool]]]:
    """The log, and its cases as the simple replayer takes them (with ``unreadable``, a row in
    seven has a reassignment count that cannot be read, for the report's data notes)."""
    path = folder / "log.csv"
    plain: dict[str, tuple[list[tuple[str, int, datetime]], bool]] = {}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "seq", "activity", "at", "category", "reassigned"])
        for number, (events, has_category) in enumerate(cases):
            case_id, at, reassigned, kept = f"C{number}", START, 0, []
            for seq, (activity, minutes, more) in enumerate(events):
                at += timedelta(minutes=minutes)
                reassigned += more
                count = ("?" if minutes % 7 == 3 else "n/a" if minutes % 7 == 5
                         else reassigned) if unreadable else reassigned
                writer.writerow([case_id, seq, activity, at.isoformat(),
                                 "Network" if has_category else "?", count])
                if activity != "Unmapped":
                    kept.append((activity, reassigned, at))
            if kept:
                plain[case_id] = (kept, has_category)
    return path, plain


def check_random_log(toml_text: str, cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    mapping: LogMapping = parse_mapping(toml_text)
    simple = SimpleReplayer(logged_procedure_spec(), tomllib.loads(toml_text))
    with tempfile.TemporaryDirectory() as folder:
        path, plain = write_log(Path(folder), cases)
        trie = library(Replayer(mapping), path)
        machine_only = Replayer(mapping, cache_traces=False)
        per_case = list(machine_only.replay(path))
        assert trie == library(Replayer(mapping, cache_traces=False), path)
        assert list(Replayer(mapping).replay(path)) == per_case
    assert trie == {case: simple.replay([e[:2] for e in events], has)
                    for case, (events, has) in plain.items()}
    assert {r.case_id: r.stage_seconds for r in per_case} == {
        case: simple.stage_seconds([e[:2] for e in events], has, [e[2] for e in events])
        for case, (events, has) in plain.items()}


@given(cases_strategy(ACTIVITIES))
def test_random_activity_logs_agree(cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    """On random activity logs: trie == machine per case == the simple replayer."""
    check_random_log(ACTIVITY_LOG, cases)


@given(cases_strategy(STATES))
def test_random_state_logs_agree(cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    """On random state-snapshot logs with reassignments: the same three agree."""
    check_random_log(STATE_LOG, cases)


@given(cases_strategy([*STATES, "Comment"]))
def test_random_commented_logs_agree(cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    """With ignored comments too (events left out of the traces the library replays once):
    the same three agree, and so do the times spent in each stage."""
    check_random_log(COMMENTED_LOG, cases)


# -- the report: counted from traces and compiled clocks, or from every case's result ---------------

PAUSING = SLAPolicy(calendar=BusinessCalendar.always(), pauses={
    "waiting": frozenset({SLAClock.RESOLUTION, SLAClock.CUSTOMER_UPDATE}),
    "waiting_tier2": frozenset({SLAClock.TIER2_UPDATE, SLAClock.RESOLUTION})})
POLICIES = {"none": None, "default": default_sla_policy(), "pausing": PAUSING}


def slow_report(path: Path, mapping: LogMapping, sla: SLAPolicy | None) -> str:
    """The report the slow way: every case fired through the machine, its CaseResult built
    (with its SLA runs from ``clock_runs``), and ``build_report`` over the results."""
    replayer = Replayer(mapping, cache_traces=False, sla=sla)
    stats = LogStats(source=str(path))
    report = build_report(replayer.replay(path, stats), replayer, stats, log_name=path.name,
                          sla_source="test")
    diagram = annotated_diagram(replayer.spec, report.counts())
    return report.model_copy(update={"diagram": diagram}).model_dump_json(indent=1)


def fast_report(path: Path, mapping: LogMapping, sla: SLAPolicy | None) -> str:
    # build_report counts CaseResults, which do not say who handled a case: no training section.
    report = review(path, mapping, sla=sla, sla_source="test")
    assert report.training is not None
    return report.model_copy(update={"training": None}).model_dump_json(indent=1)


@pytest.mark.parametrize("sla", POLICIES)
@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_the_report_is_the_same_counted_either_way(name: str, sla: str) -> None:
    """On both samples, with and without SLA figures, ``review`` (traces replayed once, the
    report counted without per-case results, the clocks compiled) writes the very report that
    ``build_report`` writes from every case's result fired through the machine."""
    log = HELPDESK if name == "helpdesk" else SERVICENOW
    fast = fast_report(log, shipped_mapping(name), POLICIES[sla])
    assert fast == slow_report(log, shipped_mapping(name), POLICIES[sla])
    assert ('"sla_breach_rates": []' in fast) == (sla == "none")


@settings(max_examples=80)
@given(st.one_of(st.tuples(st.just(ACTIVITY_LOG), cases_strategy(ACTIVITIES)),
                 st.tuples(st.just(STATE_LOG), cases_strategy(STATES)),
                 st.tuples(st.just(COMMENTED_LOG), cases_strategy([*STATES, "Comment"]))),
       st.sampled_from(list(POLICIES)))
def test_random_reports_are_the_same_counted_either_way(
        log: tuple[str, list[tuple[list[tuple[str, int, int]], bool]]], sla: str) -> None:
    """On random logs (repeated states, reassignments, waits that pause clocks, reopenings),
    the report counted from traces equals the one built from every case's result."""
    text, cases = log
    mapping = parse_mapping(text)
    with tempfile.TemporaryDirectory() as folder:
        path, _ = write_log(Path(folder), cases, unreadable=True)
        assert fast_report(path, mapping, POLICIES[sla]) == slow_report(path, mapping,
                                                                         POLICIES[sla])
        # What the rules read and fired, over traces remembered or each case read again.
        fast, slow = Replayer(mapping), Replayer(mapping, cache_traces=False)
        assert list(fast.replay(path)) == list(slow.replay(path))
        assert (fast.plan.fired, fast.plan.notes) == (slow.plan.fired, slow.plan.notes)


# -- a guard that reads the history: outcomes depend on the whole prefix -----------------------------

def _first_retry(ctx: GuardContext) -> Decision:
    return Decision.require(not any(r.trigger == "retry" for r in ctx.ticket.history),
                            "retried already")


RETRY_SPEC = logged_procedure_spec().extend(
    triggers=[TriggerSpec(name="retry", description="Try once more.")],
    guards=[GuardSpec(name="first_retry", check=_first_retry, requirement="a first retry",
                      ticket_fields=frozenset({"history"}))],
    transitions=[TransitionSpec(trigger="retry", source="attempted", roles={"agent"},
                                guards=("first_retry",))])
RETRY_LOG = ACTIVITY_LOG + '"Retry" = "retry"\n'


@given(cases_strategy([*ACTIVITIES, "Retry"]))
def test_a_guard_reading_the_history_replays_per_prefix(
        cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    """A guard that reads the history makes a step's outcome depend on everything before it:
    the replayer then keeps outcomes per trace prefix (not per ticket state), and agrees with
    firing every case through the machine."""
    mapping = parse_mapping(RETRY_LOG)
    replayer = Replayer(mapping, spec=RETRY_SPEC)
    assert not replayer._by_state and Replayer(parse_mapping(ACTIVITY_LOG))._by_state
    with tempfile.TemporaryDirectory() as folder:
        path, _ = write_log(Path(folder), cases)
        fast = list(replayer.replay(path))
        assert fast == list(Replayer(mapping, spec=RETRY_SPEC, cache_traces=False).replay(path))
    retried = [r for r in fast if ("attempted", "retry") in r.fired]
    assert all(r.fired.count(("attempted", "retry")) == 1 for r in retried)


def test_a_second_retry_is_refused() -> None:
    """The history guard refuses a second retry of the same case, not of another case."""
    with tempfile.TemporaryDirectory() as folder:
        path, _ = write_log(Path(folder), [([("Take", 0, 0), ("Retry", 1, 0), ("Retry", 1, 0)], True),
                                           ([("Take", 0, 0), ("Retry", 1, 0)], True)])
        one, two = Replayer(parse_mapping(RETRY_LOG), spec=RETRY_SPEC).replay(path)
    assert [d.rule for d in one.deviations] == ["retry from attempted: refused by first_retry"]
    assert not two.deviations
