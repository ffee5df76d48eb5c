"""Differential tests: the library's replay against a deliberately simple, independent replayer.

The simple replayer below shares nothing with ``escalation_fsm.replay`` but the spec itself: it
reads the logs with ``csv``/``zipfile``, maps activities with a plain dictionary read from the
mapping TOML by ``tomllib``, and moves through a plain ``{(stage, trigger): next_stage}``
dictionary built from the spec's transitions. The library fires every trigger through
``EscalationMachine``. They must agree case by case, on the fixtures and on random logs; and the
library's trie of trace prefixes must agree with firing every case through the machine.
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

from hypothesis import given
from hypothesis import strategies as st
from replay_helpers import HELPDESK, SERVICENOW

from escalation_fsm import MachineSpec
from escalation_fsm.replay import LogMapping, Replayer, logged_procedure_spec, parse_mapping, shipped_mapping

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

    def steps(self, events: list[tuple[str, int]]) -> list[tuple[int, list[str]]]:
        """(event index, trigger choices) for events given as (activity, reassignment count)."""
        steps: list[tuple[int, list[str]]] = []
        previous: tuple[str, int] | None = None
        for index, (activity, reassigned) in enumerate(events):
            if self.escalate_on_reassignment and previous is not None and reassigned > previous[1]:
                steps.append((index, ["escalate"]))
            if not (self.changes_only and previous is not None and previous[0] == activity):
                steps.append((index, self.choices[activity]))
            previous = (activity, reassigned)
        return steps

    def replay(self, events: list[tuple[str, int]], has_category: bool) -> Outcome:
        stage, fired, first = self.initial, [], None
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
        status = "deviates" if first else "fits" if stage in self.finals else "open"
        return status, stage, first, tuple(fired)


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

START = datetime(2024, 1, 1, tzinfo=UTC)


def cases_strategy(activities: list[str]) -> st.SearchStrategy[list[tuple[list[tuple[str, int, int]], bool]]]:
    """Cases: events (activity, minutes since the previous event, reassignment increase), has category."""
    event = st.tuples(st.sampled_from([*activities, "Unmapped"]), st.integers(0, 600),
                      st.integers(0, 1))
    return st.lists(st.tuples(st.lists(event, min_size=1, max_size=12), st.booleans()),
                    min_size=1, max_size=8)


def write_log(folder: Path, cases: list[tuple[list[tuple[str, int, int]], bool]]) -> tuple[
        Path, dict[str, tuple[list[tuple[str, int]], bool]]]:
    path = folder / "log.csv"
    plain: dict[str, tuple[list[tuple[str, int]], bool]] = {}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "seq", "activity", "at", "category", "reassigned"])
        for number, (events, has_category) in enumerate(cases):
            case_id, at, reassigned, kept = f"C{number}", START, 0, []
            for seq, (activity, minutes, more) in enumerate(events):
                at += timedelta(minutes=minutes)
                reassigned += more
                writer.writerow([case_id, seq, activity, at.isoformat(),
                                 "Network" if has_category else "?", reassigned])
                if activity != "Unmapped":
                    kept.append((activity, reassigned))
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
    assert trie == {case: simple.replay(events, has) for case, (events, has) in plain.items()}


@given(cases_strategy(["Assign", "Take", "Wait", "Upgrade", "Anomaly fixed", "Step", "Resolve",
                       "Feedback", "Rated", "Close", "Reopen"]))
def test_random_activity_logs_agree(cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    """On random activity logs: trie == machine per case == the simple replayer."""
    check_random_log(ACTIVITY_LOG, cases)


@given(cases_strategy(["New", "Active", "Awaiting", "Resolved", "Closed"]))
def test_random_state_logs_agree(cases: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    """On random state-snapshot logs with reassignments: the same three agree."""
    check_random_log(STATE_LOG, cases)
