"""Mapping files and bad logs: every problem is reported clearly, with its line; nothing crashes and
no partial result is returned silently."""

from __future__ import annotations

import csv
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from replay_helpers import HELPDESK

from escalation_fsm import SpecError, default_spec
from escalation_fsm.replay import (
    LogError,
    LogStats,
    MappingError,
    Replayer,
    load_mapping,
    logged_procedure_spec,
    observable_projection,
    parse_mapping,
    read_cases,
    shipped_mapping,
    shipped_mappings,
    source,
)
from escalation_fsm.replay.specs import resolve_spec

MINIMAL = """\
name = "minimal"
[columns]
case = "case"
activity = "activity"
timestamp = "at"
[activities]
"Open" = "attempt"
"Solve" = "resolve"
"Close" = "close"
"""


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replay(path: Path, mapping_text: str = MINIMAL) -> list[tuple[str, str]]:
    return [(r.case_id, r.status) for r in Replayer(parse_mapping(mapping_text)).replay(path)]


# -- mappings -------------------------------------------------------------------------------------


def test_shipped_mappings_load_and_fit_their_spec() -> None:
    """Both shipped mappings validate and name only triggers of the logged-procedure spec."""
    assert shipped_mappings() == ("helpdesk", "servicenow")
    for name in shipped_mappings():
        mapping = shipped_mapping(name)
        mapping.check_against(logged_procedure_spec())
        assert mapping.source == f"shipped:{name}"
    with pytest.raises(MappingError, match="no shipped mapping 'zendesk'"):
        shipped_mapping("zendesk")


def test_mapping_errors_name_line_and_key() -> None:
    """pydantic's problems are all reported, each located at the TOML line to fix."""
    text = """\
name = "bad"
grouped = "sometimes"
[columns]
case = "case"
activity = "activity"
colour = "blue"
[activities]
"Open" = "attempt"
[[conditions]]
column = "a"
op = "equals"
value = "x"
trigger = "escalate"
[[conditions]]
column = "b"
op = "grew"
trigger = "escalate"
"""
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, source="bad.toml")
    assert caught.value.problems == (
        "line 2 (grouped): Input should be a valid boolean, unable to interpret input",
        "line 3 (columns.timestamp): Field required",
        "line 6 (columns.colour): Extra inputs are not permitted",
        "line 16 (conditions.1.op): Input should be 'equals', 'changed', 'increased' or 'decreased'",
    )
    assert str(caught.value).startswith("invalid mapping bad.toml (4 problem(s)):")


def test_mapping_toml_syntax_error_has_its_line() -> None:
    """A TOML syntax error keeps tomllib's line and column."""
    with pytest.raises(MappingError, match=r"not valid TOML: .*line 2"):
        parse_mapping('name = "x"\n[columns\n')


def test_mapping_condition_value_rule() -> None:
    """``value`` goes with ``op = "equals"`` and only with it."""
    with pytest.raises(MappingError, match=r"line 13 \(conditions\.0\.value\): `value` is"):
        parse_mapping(MINIMAL + '[[conditions]]\ncolumn = "a"\nop = "changed"\nvalue = "x"\n'
                      'trigger = "escalate"\n')


def test_mapping_names_unknown_triggers_and_guards() -> None:
    """Triggers and guards the spec lacks are reported at their line, all at once."""
    text = MINIMAL.replace('"Solve" = "resolve"', '"Solve" = ["resolve", "fix"]').replace(
        'name = "minimal"\n', 'name = "minimal"\nobservable_guards = ["has_colour"]\n')
    text += '[[conditions]]\ncolumn = "level"\nop = "changed"\ntrigger = "teleport"\n'
    with pytest.raises(MappingError) as caught:
        Replayer(parse_mapping(text, source="m.toml"))
    problems = caught.value.problems
    assert problems[0].startswith("line 9 (activities.Solve): no trigger named or marked 'fix' in "
                                  "spec 'escalation-procedure-as-logged'; its triggers: attempt, ")
    assert problems[0].endswith("its marks: attempt, customer_update, escalate, interaction, promise, "
                                "record_feedback, reopen, request_feedback, resolve, step, "
                                "tier_update")
    assert problems[1].startswith("line 14 (conditions.0.trigger): no trigger named or marked "
                                  "'teleport'")
    assert problems[2:] == ("line 2 (observable_guards): unknown guard 'has_colour'",)


def test_interaction_directions_name_interaction_activities() -> None:
    """``[interactions]`` gives directions only to activities that fire an interaction: another
    activity, or one that is not mapped, is refused at its line; a bad direction names the
    allowed ones."""
    text = MINIMAL + '"Mail in" = "interaction"\n[interactions]\n"Mail in" = "inbound"\n'
    assert parse_mapping(text).interactions == {"Mail in": "inbound"}
    Replayer(parse_mapping(text))
    with pytest.raises(MappingError) as caught:
        Replayer(parse_mapping(text + '"Solve" = "outbound"\n"Fax" = "inbound"\n',
                               source="m.toml"))
    assert caught.value.problems == (
        "line 13 (interactions.Solve): activity 'Solve' fires no trigger marked 'interaction' in "
        "spec 'escalation-procedure-as-logged', so it has no direction",
        "line 14 (interactions.Fax): 'Fax' is not an activity of [activities]")
    with pytest.raises(MappingError, match="'inbound' or 'outbound'"):
        parse_mapping(text.replace('= "inbound"', '= "sideways"'))


def test_empty_trigger_list_is_refused() -> None:
    """An activity mapped to no trigger must be listed in ``ignore`` instead."""
    with pytest.raises(MappingError, match="empty trigger list: use `ignore` instead"):
        Replayer(parse_mapping(MINIMAL.replace('"Close" = "close"', '"Close" = []')))


def test_load_mapping_from_a_file(tmp_path: Path) -> None:
    """A mapping file is read from disk; a missing one is a MappingError."""
    path = write(tmp_path, MINIMAL, "m.toml")
    assert load_mapping(path).source == str(path)
    with pytest.raises(MappingError, match="cannot read it"):
        load_mapping(tmp_path / "nope.toml")


def make_spec() -> object:
    return default_spec()


def not_a_spec() -> object:
    return 42


def test_resolve_spec_names() -> None:
    """Specs are named ``default``, ``logged`` or by ``module:function``; errors say which."""
    assert resolve_spec("default") is default_spec()
    assert resolve_spec("test_replay_inputs:make_spec") is default_spec()
    with pytest.raises(SpecError, match="unknown spec 'nope'"):
        resolve_spec("nope")
    with pytest.raises(SpecError, match="cannot import 'no_such_module' for spec 'no_such_module:f'"):
        resolve_spec("no_such_module:f")
    with pytest.raises(SpecError, match="gives a int, not a MachineSpec"):
        resolve_spec("test_replay_inputs:not_a_spec")


def test_observable_projection_keeps_structure_and_lists_the_rest() -> None:
    """Same transitions, fewer guards; every dropped rule is listed with its reason."""
    spec = logged_procedure_spec()
    projected, hidden = observable_projection(spec, ["has_category"], roles_observable=True)
    assert [t.key for t in projected.transitions] == [t.key for t in spec.transitions]
    assert {g for t in projected.transitions for g in t.guards} == {"has_category"}
    rules = [n.rule for n in hidden]
    assert "guard customer_notified: the customer was notified of the escalation" in rules
    assert not any(rule.startswith("roles") for rule in rules)
    with pytest.raises(SpecError, match="observable guard 'has_colour'"):
        observable_projection(spec, ["has_colour"])


def test_roles_are_checked_when_the_mapping_maps_resources(tmp_path: Path) -> None:
    """With a [roles] table, a resource whose role may not fire a trigger is a deviation."""
    log = write(tmp_path, "case,activity,at,who\n1,Open,2024-01-01T10:00,alice\n"
                          "1,Solve,2024-01-01T11:00,bob\n1,Close,2024-01-02T09:00,alice\n")
    text = MINIMAL.replace('at"\n', 'at"\nresource = "who"\n', 1) + \
        '[roles]\nalice = "agent"\nbob = "customer"\n'
    [result] = Replayer(parse_mapping(text)).replay(log)
    first = result.first_deviation
    assert first is not None
    assert (first.kind, first.rule) == ("role", "resolve from attempted: role customer not allowed")
    assert first.reason == ("role 'customer' may not fire 'resolve' in stage 'attempted' "
                            "(roles allowed: agent, supervisor)")


# -- logs -----------------------------------------------------------------------------------------


def test_missing_columns_are_listed(tmp_path: Path) -> None:
    """Every missing column is named with its mapping key, next to the columns the log has."""
    log = write(tmp_path, "case,activity,time\n1,Open,2024-01-01T10:00\n")
    with pytest.raises(LogError, match=r"missing column\(s\) 'at' \(columns.timestamp\); "
                                       r"the log has: 'case', 'activity', 'time'"):
        replay(log)


@pytest.mark.parametrize(("text", "message"), [
    ("", "the log is empty (no header row)"),
    ("case,activity,at\n", "the log has a header but no rows"),
    ("case,activity,at\n1,Open,yesterday\n", "no timestamp could be read with format 'iso' (e.g. "
                                             "line 2: 'yesterday'"),
    ("case,activity,at\n1,Open,\n", "line 2: no timestamp in column 'at'"),
    ("case,activity,at\n,Open,2024-01-01T10:00\n", "line 2: empty case id in column 'case'"),
    ("case,activity,at\n1,Open,2024-01-01T10:00,extra\n", "line 2: 4 fields where the header has 3"),
    ("case,activity,at\n1,Open,2024-01-01\n2,Open,2024-01-01\n1,Solve,2024-01-02\n",
     "line 4: case '1' appears again after its rows ended: the log is not grouped by case"),
])
def test_bad_logs_fail_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    """Empty logs, bad timestamps, bad rows and interleaved cases stop the replay with a message."""
    with pytest.raises(LogError) as caught:
        replay(write(tmp_path, text))
    assert message in str(caught.value)


def test_unknown_activities_are_counted_then_refused(tmp_path: Path) -> None:
    """With on_unknown = "error", the whole log is read so the error lists every unknown activity."""
    log = write(tmp_path, "case,activity,at\n1,Open,2024-01-01\n1,Ping,2024-01-02\n"
                          "2,Pong,2024-01-02\n2,Ping,2024-01-03\n")
    with pytest.raises(LogError) as caught:
        replay(log)
    assert str(caught.value) == (
        f"{log}: 2 activit(ies) the mapping does not know: 'Ping' (2 events, first at line 3), "
        f"'Pong' (1 events, first at line 4); map them in [activities], list them in `ignore`, "
        f"or set on_unknown = \"skip\"")


def test_unknown_activities_skipped_and_ignored_ones_kept(tmp_path: Path) -> None:
    """on_unknown = "skip" counts what it skipped; ``ignore`` keeps the event but fires nothing."""
    log = write(tmp_path, "case,activity,at\n1,Open,2024-01-01\n1,Ping,2024-01-02\n"
                          "1,Note,2024-01-02\n1,Solve,2024-01-03\n1,Close,2024-01-04\n")
    text = MINIMAL.replace('name = "minimal"', 'name = "m"\non_unknown = "skip"\nignore = ["Note"]')
    stats = LogStats(source="x")
    [result] = Replayer(parse_mapping(text)).replay(log, stats)
    assert (result.status, result.events, dict(stats.unknown), stats.ignored) == (
        "fits", 4, {"Ping": 1}, 1)


def test_byte_order_mark_and_wrong_delimiter(tmp_path: Path) -> None:
    """A spreadsheet's byte-order mark is ignored; a wrong delimiter gets a hint."""
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffcase,activity,at\n1,Open,2024-01-01\n".encode())
    assert replay(bom) == [("1", "open")]
    with pytest.raises(LogError, match=r"is `delimiter` right\?"):
        replay(write(tmp_path, "case;activity;at\n1;Open;2024-01-01\n"))


def test_period_of_a_one_event_log(tmp_path: Path) -> None:
    """The period runs from the earliest to the latest event, also when there is only one."""
    log = write(tmp_path, "case,activity,at\n1,Open,2024-01-01T10:00:00+00:00\n")
    stats = LogStats(source="x")
    list(read_cases(log, parse_mapping(MINIMAL), stats))
    assert stats.start == stats.end
    assert stats.start is not None
    assert stats.start.isoformat() == "2024-01-01T10:00:00+00:00"


def test_events_out_of_order_are_sorted(tmp_path: Path) -> None:
    """Rows of a case out of time order are replayed in time order (ties keep file order)."""
    log = write(tmp_path, "case,activity,at\n1,Close,2024-01-04\n1,Open,2024-01-01\n"
                          "1,Solve,2024-01-03\n")
    stats = LogStats(source="x")
    [result] = Replayer(parse_mapping(MINIMAL)).replay(log, stats)
    assert (result.status, stats.reordered_cases) == ("fits", 1)


def test_ungrouped_logs_can_be_read_whole(tmp_path: Path) -> None:
    """grouped = false gathers interleaved cases (in memory) instead of refusing them."""
    log = write(tmp_path, "case,activity,at\n1,Open,2024-01-01\n2,Open,2024-01-01\n"
                          "1,Solve,2024-01-02\n2,Solve,2024-01-02\n1,Close,2024-01-03\n")
    assert replay(log, MINIMAL.replace('name = "minimal"', 'name = "m"\ngrouped = false')) == [
        ("1", "fits"), ("2", "open")]


def test_naive_timestamps_take_the_mapping_timezone(tmp_path: Path) -> None:
    """A timestamp without offset is in ``columns.timezone``; a strptime format is honoured."""
    log = write(tmp_path, "case,activity,at\n1,Open,05 Mar 2024 10:00\n")
    text = MINIMAL.replace('timestamp = "at"', 'timestamp = "at"\ntimestamp_format = "%d %b %Y %H:%M"'
                                               '\ntimezone = "Europe/Rome"')
    [case] = list(read_cases(log, parse_mapping(text)))
    assert case.events[0].at.isoformat() == "2024-03-05T10:00:00+01:00"
    with pytest.raises(LogError, match="unknown timezone 'Mars/Olympus'"):
        list(read_cases(log, parse_mapping(text.replace("Europe/Rome", "Mars/Olympus"))))


def test_numeric_formats_use_the_fast_parser(tmp_path: Path) -> None:
    """``%d/%m/%Y %H:%M`` (ServiceNow) parses like strptime, and rejects what does not match."""
    log = write(tmp_path, "case,activity,at\n1,Open,29/2/2016 01:23\n1,Solve,31/2/2016 01:23\n")
    text = MINIMAL.replace('timestamp = "at"', 'timestamp = "at"\ntimestamp_format = "%d/%m/%Y %H:%M"')
    stats = LogStats(source="log")
    [case] = read_cases(log, parse_mapping(text), stats)
    assert [e.at.isoformat() for e in case.events] == ["2016-02-29T01:23:00+00:00"]
    # A time that does not parse is counted, with its line, and its row skipped: never guessed.
    assert stats.notes.counts == {("at", "timestamp", "unparseable_time"): 1}
    assert stats.notes.examples[("at", "timestamp", "unparseable_time")][0].startswith(
        "line 3: '31/2/2016 01:23'")
    log = write(tmp_path, "case,activity,at\n1,Open,29-2-2016 01:23\n")
    with pytest.raises(LogError, match="does not match"):
        list(read_cases(log, parse_mapping(text)))


def test_order_column_must_hold_integers(tmp_path: Path) -> None:
    """An ``order`` column with text is refused at its line."""
    log = write(tmp_path, "case,activity,at,n\n1,Open,2024-01-01,first\n")
    text = MINIMAL.replace('timestamp = "at"', 'timestamp = "at"\norder = "n"')
    with pytest.raises(LogError, match="line 2: order column 'n' holds 'first', not an integer"):
        replay(log, text)


def test_zip_archives(tmp_path: Path) -> None:
    """A CSV is read straight from a .zip; ambiguous, missing or broken archives are explained."""
    rows = "case,activity,at\n1,Open,2024-01-01\n1,Solve,2024-01-02\n1,Close,2024-01-03\n"
    good = tmp_path / "one.zip"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("log.csv", rows)
    assert replay(good) == [("1", "fits")]
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", rows)
        archive.writestr("b.csv", rows)
    with pytest.raises(LogError, match=r"expected exactly one \.csv in the archive"):
        replay(two)
    with pytest.raises(LogError, match=r"the archive has no member 'c\.csv'"):
        replay(two, MINIMAL.replace('name = "minimal"', 'name = "m"\nmember = "c.csv"'))
    broken = write(tmp_path, "not a zip", "broken.zip")
    with pytest.raises(LogError, match="cannot open it"):
        replay(broken)
    with pytest.raises(LogError, match="no such file"):
        replay(tmp_path / "missing.csv")


def test_json_lines_read_like_csv(tmp_path: Path) -> None:
    """JSON Lines logs replay exactly like the same rows as CSV."""
    with HELPDESK.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    jsonl = tmp_path / "helpdesk.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n", encoding="utf-8")
    from_csv = list(Replayer(shipped_mapping("helpdesk")).replay(HELPDESK))
    from_json = list(Replayer(shipped_mapping("helpdesk")).replay(jsonl))
    assert [(r.case_id, r.status, r.fired) for r in from_json] == [
        (r.case_id, r.status, r.fired) for r in from_csv]


@pytest.mark.parametrize(("text", "message"), [
    ("", "the log is empty"),
    ('{"case": 1, "activity": "Open"', "line 1: not valid JSON"),
    ("[1, 2]\n", "line 1: a JSON Lines row must be an object"),
    ('{"case": 1, "activity": "Open"}\n', "missing column(s) 'at' (columns.timestamp)"),
])
def test_bad_json_lines(tmp_path: Path, text: str, message: str) -> None:
    """Bad JSON Lines input fails at its line."""
    with pytest.raises(LogError) as caught:
        replay(write(tmp_path, text, "log.jsonl"))
    assert message in str(caught.value)


def test_undecodable_bytes_are_reported(tmp_path: Path) -> None:
    """A file in another encoding is reported with the advice to set ``encoding``."""
    path = tmp_path / "latin.csv"
    path.write_bytes("case,activity,at\n1,Open,2024-01-01\n1,Résolu,2024-01-02\n".encode("latin-1"))
    with pytest.raises(LogError, match="check `delimiter` and `encoding`"):
        replay(path)


def big_log(path: Path, cases: int, notes: int = 0) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("case,activity,at\n")
        for number in range(cases):
            handle.write(f"{number},Open,2024-01-01T10:00\n")
            handle.writelines(f"{number},Note,2024-01-01T10:{minute % 60:02d}\n"
                              for minute in range(notes))
            handle.write(f"{number},Solve,2024-01-01T11:00\n{number},Close,2024-01-02T09:00\n")


def peak_memory(path: Path, mapping: str) -> int:
    replayer = Replayer(parse_mapping(mapping))
    tracemalloc.start()
    try:
        for _ in replayer.replay(path):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_logs_are_streamed_in_bounded_memory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases are yielded as they are read, and memory does not grow with the number of events.

    The log is read in blocks of text (64 kB): what is held is one block's rows and one case's
    events. Blocks of 8 kB here, so that both logs span many of them.
    """
    monkeypatch.setattr(source, "_BLOCK", 1 << 13)
    mapping = MINIMAL.replace('name = "minimal"', 'name = "m"\nignore = ["Note"]')
    short, long = tmp_path / "short.csv", tmp_path / "long.csv"
    big_log(short, 400)
    big_log(long, 400, notes=40)
    stats = LogStats(source="long")
    first = next(iter(read_cases(long, parse_mapping(mapping), stats)))
    assert first.case_id == "0"
    assert stats.rows < 50  # nothing read ahead
    assert long.stat().st_size > 10 * short.stat().st_size
    # Only one block and one case at a time: 10x the events, about the same peak.
    assert peak_memory(long, mapping) < 1.5 * peak_memory(short, mapping) + 200_000


def test_conditions_instead_before_after(tmp_path: Path) -> None:
    """A condition replaces the activity's trigger (``instead``) or adds one before/after it, and
    can be limited to one activity; ``equals`` needs no previous row, ``changed`` does."""
    log = write(tmp_path, "case,activity,at,level,tier\n"
                          "1,Open,2024-01-01T10:00,1,one\n"
                          "1,Note,2024-01-01T11:00,2,one\n"       # level 2: escalate instead
                          "1,Solve,2024-01-02T09:00,2,two\n"      # tier changed: follow_up after
                          "1,Close,2024-01-03T09:00,2,two\n")
    text = MINIMAL + '"Note" = "record_step"\n' + """
[[conditions]]
column = "level"
op = "equals"
value = "2"
activity = "Note"
trigger = "escalate"

[[conditions]]
column = "tier"
op = "changed"
trigger = "follow_up"
position = "before"
"""
    [result] = Replayer(parse_mapping(text)).replay(log)
    assert result.fired == (("identified", "attempt"), ("attempted", "escalate"),
                            ("escalated", "follow_up"), ("escalated", "resolve"),
                            ("resolved", "close"))
    assert result.fits
    after = text.replace('position = "before"', 'position = "after"')
    [result] = Replayer(parse_mapping(after)).replay(log)
    assert [d.rule for d in result.deviations] == ["follow_up from resolved: not allowed"]


def test_the_documented_mapping_example_is_valid() -> None:
    """The TOML examples in docs/replay.md, key by key, form a valid mapping for the logged
    procedure (so no documented key or value is out of date)."""
    import re

    docs = Path(__file__).resolve().parents[1] / "docs" / "replay.md"
    blocks = re.findall(r"^```toml\n(.*?)^```", docs.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) >= 6
    # The key-by-key fragments make one mapping (top-level keys first, as TOML wants them).
    top = [b for b in blocks if not b.lstrip().startswith("[")]
    tables = [b for b in blocks if b.lstrip().startswith("[")]
    parse_mapping("".join(top + tables)).check_against(logged_procedure_spec())
