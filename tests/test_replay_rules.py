"""Mapping rules: ranks, decreased, baselines, the order of a row's events, activity sequences,
trigger marks, and the data notes that keep a replay from being silently wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_fsm import MachineSpec, Mark, TransitionSpec, TriggerSpec
from escalation_fsm.cli import main
from escalation_fsm.procedure import logged_procedure_spec
from escalation_fsm.replay import MappingError, Replayer, parse_mapping, render_report, review

# Support levels as text, a reopen counter, and a resolve-and-close activity.
LOG = """ticket,status,at,level,reopened,urgency
A,Queued,2024-03-04T09:00,L1,0,P2
A,In Progress,2024-03-04T09:10,L1,0,P2
A,In Progress,2024-03-04T10:00,L2,0,P2
A,Queued,2024-03-04T11:00,L2/L3,0,P2
A,Solved in call,2024-03-05T09:00,L2/L3,0,P2
B,In Progress,2024-03-04T09:00,L1,0,P9
B,Resolved,2024-03-04T12:00,L1,0,P9
B,In Progress,2024-03-06T09:00,L2,1,P9
B,In Progress,2024-03-06T09:30,L1,1,P9
B,Resolved,2024-03-06T10:00,L4,1,P9
B,Closed,2024-03-07T10:00,L4,1,P9
C,In Progress,2024-03-08T09:00,L2,0,P1
C,Resolved,2024-03-08T10:00,L2,0,P1
C,Closed,2024-03-08T11:00,L2,0,P1
"""

MAPPING = """name = "tiers"
spec = "logged"
[columns]
case = "ticket"
activity = "status"
timestamp = "at"
priority = "urgency"
[activities]
"Queued" = "attempt"
"In Progress" = "attempt"
"Resolved" = "resolve"
"Closed" = "close"
"Solved in call" = { sequence = ["resolve", "close"] }
[values.level]
L1 = 1
L2 = 2
"L2/L3" = 2.5
L3 = 3
[values.urgency]
P1 = "critical"
P2 = "high"
[[rules]]
name = "reopened"
column = "reopened"
op = "increased"
trigger = "reopen"
drop_activity = ["In Progress", "Queued"]
[[rules]]
name = "level up"
column = "level"
op = "increased"
baseline = "L1"
trigger = "escalate"
drop_activity = ["Queued", "In Progress"]
[[rules]]
name = "level down"
column = "level"
op = "decreased"
trigger = "mark:de_escalate"
"""
ORDER = 'order = ["reopened", "level up", "level down", "activity"]\n'


def with_de_escalation() -> MachineSpec:
    """The logged procedure plus a de-escalation back to first-contact work."""
    base = logged_procedure_spec()
    return base.extend(
        triggers=[TriggerSpec(name="hand_back", description="Back to Tier 1.",
                              marks={Mark.DE_ESCALATE})],
        transitions=[TransitionSpec(trigger="hand_back", source="escalated", dest="attempted",
                                    roles={"agent", "system"})])


def files(tmp_path: Path, mapping: str = MAPPING, log: str = LOG) -> tuple[Path, Path]:
    (tmp_path / "log.csv").write_text(log, encoding="utf-8")
    (tmp_path / "m.toml").write_text(mapping, encoding="utf-8")
    return tmp_path / "log.csv", tmp_path / "m.toml"


def test_ranks_baseline_sequence_and_order(tmp_path: Path) -> None:
    """Text levels compare by rank; the hand-over replaces the row's attempt; a rise from the
    baseline on a case's first row escalates; an activity yields resolve then close."""
    log, _ = files(tmp_path)
    mapping = parse_mapping(ORDER + MAPPING)
    replayer = Replayer(mapping, spec=with_de_escalation())
    a, b, c = replayer.replay(log)
    assert a.fired == (("identified", "attempt"), ("attempted", "attempt"),
                       ("attempted", "escalate"), ("escalated", "escalate"),
                       ("escalated", "resolve"), ("resolved", "close"))
    assert a.fits and a.escalated
    # One row: the reopen counter rose and the level rose: reopen first, then the escalation,
    # and the row's own "In Progress" is dropped (the hand-over implies it). The next row's
    # fall de-escalates, then the row's attempt fires. L4 is not in the map: not compared.
    assert b.fired == (("identified", "attempt"), ("attempted", "resolve"),
                       ("resolved", "reopen"), ("attempted", "escalate"),
                       ("escalated", "hand_back"), ("attempted", "attempt"),
                       ("attempted", "resolve"), ("resolved", "close"))
    assert b.fits and b.reopened and b.escalated
    # C starts at L2: compared with the baseline L1, its first row is an escalation, which
    # replaces that row's attempt -- and is not allowed before anyone worked on the ticket.
    assert c.deviations[0].rule == "escalate from identified: not allowed"


def test_without_a_baseline_the_first_row_only_sets_the_reference(tmp_path: Path) -> None:
    """No baseline: B's first row (L2) is not compared, so no escalation is fired there."""
    log, _ = files(tmp_path)
    text = ORDER + MAPPING.replace('baseline = "L1"\n', "")
    c = list(Replayer(parse_mapping(text), spec=with_de_escalation()).replay(log))[2]
    assert c.fits and c.fired[0] == ("identified", "attempt")


def test_position_order_without_order(tmp_path: Path) -> None:
    """Without ``order``: before rules, instead rules, the activity, after rules."""
    log, _ = files(tmp_path)
    text = MAPPING.replace('name = "reopened"\n', 'name = "reopened"\nposition = "before"\n')
    a = next(iter(Replayer(parse_mapping(text), spec=with_de_escalation()).replay(log)))
    assert a.fits


def test_unreadable_values_are_counted_with_examples(tmp_path: Path) -> None:
    """An unmapped level (L4), an unmapped priority (P9): counted per column and rule, shown in
    the report; the unmapped level is not compared (no escalation, no de-escalation)."""
    log, _mapping = files(tmp_path, ORDER + MAPPING)
    replayer = Replayer(parse_mapping(ORDER + MAPPING), spec=with_de_escalation())
    list(replayer.replay(log))
    notes = replayer.plan.notes
    assert notes.counts[("level", "level up", "unmapped_label")] == 2
    assert notes.counts[("level", "level down", "unmapped_label")] == 2
    assert notes.examples[("level", "level up", "unmapped_label")] == ["line 11: 'L4'",
                                                                       "line 12: 'L4'"]
    assert notes.counts[("urgency", "priority", "unmapped_label")] == 1


def test_a_rule_that_never_fires_is_reported(tmp_path: Path) -> None:
    """A rule matching nothing on the whole log is a data note, and --strict exits 2."""
    text = MAPPING.replace('op = "decreased"\ntrigger = "mark:de_escalate"',
                           'op = "equals"\nvalue = "L9"\ntrigger = "wait"')
    log, mapping = files(tmp_path, text)
    report = review(log, mapping)
    assert [n.rule for n in report.data_notes if n.problem == "never_fired"] == ["level down"]
    assert "rule 'level down' never fired" in render_report(report, "table")
    assert main(["replay", str(log), "--mapping", str(mapping), "--quiet", "--strict"]) == 2


def test_a_text_tier_with_increased_is_never_silently_zero(tmp_path: Path) -> None:
    """The reported bug: a text level column without a value map made ``increased`` ignore every
    value. Now each value is counted as not a number, and --strict fails the run."""
    text = (MAPPING.split("[values.level]", maxsplit=1)[0] + '[[rules]]\ncolumn = "level"\nop = "increased"\n'
            'trigger = "escalate"\n')
    log, mapping = files(tmp_path, text)
    report = review(log, mapping)
    [note] = [n for n in report.data_notes if n.problem == "not_a_number"]
    assert (note.column, note.rule, note.count, note.strict) == ("level", "level increased", 14,
                                                                 True)
    assert note.examples == ["line 2: 'L1'", "line 3: 'L1'", "line 4: 'L2'"]
    assert "14 not numbers" in render_report(report, "markdown")
    out = tmp_path / "r.json"
    assert main(["replay", str(log), "--mapping", str(mapping), "-o", str(out), "--quiet",
                 "--format", "json", "--strict"]) == 2
    assert out.exists()  # the report is written, so the notes can be read


def test_marks_resolve_to_the_spec_triggers() -> None:
    """A mark stands for the triggers carrying it; an unknown name or mark is a mapping error."""
    mapping = parse_mapping(MAPPING)
    spec = with_de_escalation()
    assert mapping.triggers("mark:de_escalate", spec) == ("hand_back",)
    assert mapping.triggers("escalate", spec) == ("escalate",)
    assert mapping.triggers(["reopen", "mark:attempt"], spec) == ("reopen", "attempt")
    with pytest.raises(MappingError, match="no trigger named or marked 'mark:de_escalate'"):
        Replayer(mapping)  # the logged procedure has no de-escalation


@pytest.mark.parametrize(("change", "message"), [
    ('order = ["activity"]\n', "`order` must list every rule and 'activity'; missing: "
                               "'reopened', 'level up', 'level down'"),
    ('order = ["activity", "reopened", "level up", "level down", "oops"]\n',
     "'oops' is neither a rule name nor 'activity'"),
])
def test_order_must_name_every_rule(change: str, message: str) -> None:
    """``order`` lists each rule and the activity exactly once, by name."""
    with pytest.raises(MappingError, match=message):
        parse_mapping(change + MAPPING)


def test_value_map_problems_are_located() -> None:
    """Mixed maps, text priorities that are no urgency, ranks compared as text, bad baselines."""
    text = (MAPPING.replace('P1 = "critical"', 'P1 = "asap"').replace("L3 = 3", 'L3 = "three"')
            .replace('baseline = "L1"', 'baseline = "L0"'))
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, source="m.toml")
    problems = caught.value.problems
    assert problems[0].startswith("line 14 (values.level): a value map holds ranks")
    assert any("a priority maps to an urgency" in p and "'asap'" in p for p in problems)
    assert any("(rules.1.baseline): 'increased' compares numbers" in p for p in problems)
    with pytest.raises(MappingError, match=r"\(rules.1.baseline\): 'L0' is not a label"):
        parse_mapping(MAPPING.replace('baseline = "L1"', 'baseline = "L0"'))
