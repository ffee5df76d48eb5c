"""Hostile logs and mapping files: what a log says reaches no report unescaped (issue 15, item 4).

Case ids, activity names and labels come from a log someone else wrote. The Markdown report must
not carry their HTML or break its tables; the terminal table must not pass on their control
characters (ANSI escape sequences, newlines); a mapping file that is not UTF-8, or that names a
role the spec does not know, is a typed :class:`MappingError` naming the line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from renamed_procedure import TIER3, renamed_spec

from escalation_fsm.replay import (
    MappingError,
    Replayer,
    ReviewReport,
    load_mapping,
    logged_procedure_spec,
    parse_mapping,
    render_report,
    review,
)

MAPPING = """\
name = "hostile"
on_unknown = "skip"
[columns]
case = "case"
activity = "activity"
timestamp = "at"
category = "cat"
[activities]
"Open" = "attempt"
"Solve" = "resolve"
"Close" = "close"
"""

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
NEWLINE = "evil\ncase"
RED = "\x1b[31mred\x1b[0m"
CLEAR = "\x1b[2J"
CATEGORY = "<b>x</b>|y"
PIPE = "a|b"
HOSTILE_CASES = (SCRIPT, NEWLINE, RED)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def hostile_log(tmp_path: Path) -> Path:
    """Three cases resolved before any attempt (their ids are the report's examples), one case
    with unknown activities only (their names are in the data notes), a hostile category."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["case", "activity", "at", "cat"])
    for day, case in enumerate(HOSTILE_CASES, start=1):
        out.writerow([case, "Solve", f"2024-01-0{day}T10:00", CATEGORY])
        out.writerow([case, "Close", f"2024-01-0{day}T11:00", CATEGORY])
    for activity in (IMG, CLEAR, PIPE):
        out.writerow(["skipped", activity, "2024-01-05T10:00", CATEGORY])
    path = tmp_path / "hostile.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def report(tmp_path: Path) -> ReviewReport:
    found = review(hostile_log(tmp_path), parse_mapping(MAPPING))
    assert {*found.top_deviations[0].examples} == set(HOSTILE_CASES)  # they do reach the report
    assert {u.activity for u in found.unknown_activities} == {IMG, CLEAR, PIPE}
    return found


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_markdown_escapes_html_and_table_syntax(report: ReviewReport) -> None:
    """No raw tag, control character or table-breaking pipe from the log: every table row has as
    many cells as its header, and the hostile values are shown as character references."""
    markdown = render_report(report, "markdown")
    for raw in ("<script", "<img", "<b>", "\x1b", "evil\n", PIPE):
        assert raw not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown
    assert "evil&#92;ncase" in markdown  # a visible \n, not a new line
    assert "&#92;x1b&#91;31mred" in markdown
    assert "&lt;b&gt;x&lt;/b&gt;&#124;y" in markdown
    assert not CONTROL.search(markdown)
    tables = markdown.split("\n\n")
    for block in tables:
        rows = table_rows(block)
        if rows:
            cells = {row.count("|") for row in rows}
            assert len(cells) == 1, block


def test_markdown_escapes_our_own_markup_out_of_values(report: ReviewReport) -> None:
    """The only HTML in the Markdown report is the renderer's own ``<br>`` between a problem and
    its explanation: a case id cannot open a tag, a link or a code span."""
    markdown = render_report(report, "markdown").split("```mermaid")[0]  # the spec's diagram
    assert set(re.findall(r"<[^>]*>", markdown)) == {"<br>"}
    assert "`" not in markdown
    assert "](" not in markdown


def test_terminal_table_has_no_control_characters(report: ReviewReport) -> None:
    """The table for a terminal writes a log's control characters out as escapes: no ANSI
    sequence, no new line inside a row; the hostile case ids are still there to read."""
    table = render_report(report, "table")
    assert not CONTROL.search(table)
    assert "\\x1b[31mred\\x1b[0m" in table
    assert "\\x1b[2J" in table
    assert "evil\\ncase" in table
    [row] = [line for line in table.splitlines() if SCRIPT in line]
    assert row.startswith("resolved before anyone") and row.endswith("\\x1b[31mred\\x1b[0m")


def test_html_escapes_and_shows_control_characters(report: ReviewReport) -> None:
    """The HTML page escapes markup and writes control characters out too."""
    page = render_report(report, "html")
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page
    assert "\x1b" not in page and "\\x1b[31mred" in page


def test_json_keeps_the_values_as_they_are(report: ReviewReport) -> None:
    """JSON is data, not display: the values round-trip exactly (the encoder escapes them)."""
    text = render_report(report, "json")
    assert "\x1b" not in text and "\n" not in json.dumps(NEWLINE)
    data = json.loads(text)
    assert set(data["top_deviations"][0]["examples"]) == set(HOSTILE_CASES)


# -- mapping files ---------------------------------------------------------------------------------


def test_a_mapping_file_that_is_not_utf8_is_a_mapping_error(tmp_path: Path) -> None:
    """A Latin-1 mapping is refused with the line, the byte and what to do, not UnicodeDecodeError."""
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "x"\ndescription = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert caught.value.problems == (
        "line 2: not UTF-8 text (byte 0xe9 at offset 29): TOML files are UTF-8; save it as UTF-8",)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


ROLES = MAPPING.replace('timestamp = "at"\n', 'timestamp = "at"\nresource = "who"\n')


def test_a_role_the_spec_does_not_know_is_refused() -> None:
    """``[roles]`` and ``default_role`` name roles of the spec; any other is refused with its line
    and the spec's roles, before anything is replayed."""
    mapping = parse_mapping(ROLES + '[roles]\nalice = "agent"\n"bob smith" = "wizard"\n')
    with pytest.raises(MappingError) as caught:
        Replayer(mapping)
    assert caught.value.problems == (
        "line 15 (roles.bob smith): unknown role 'wizard': spec 'escalation-procedure-as-logged' "
        "has the roles agent, customer, supervisor, system, tier2",)
    default = parse_mapping('default_role = "tier3"\n' + ROLES + '[roles]\nalice = "agent"\n')
    with pytest.raises(MappingError, match=r"line 1 \(default_role\): unknown role 'tier3'"):
        Replayer(default)
    assert Replayer(parse_mapping(ROLES + '[roles]\nalice = "agent"\n')).spec.name == (
        logged_procedure_spec().name)


def test_roles_are_those_of_the_spec_replayed() -> None:
    """The roles come from the spec, not from a fixed list: the renamed procedure's Tier 3 role
    is accepted there and refused by the logged procedure, which has none."""
    text = ROLES.replace('"Close" = "close"\n', "") + f'[roles]\nalice = "{TIER3}"\n'
    assert Replayer(parse_mapping(text), spec=renamed_spec()).mapping.roles == {"alice": TIER3}
    with pytest.raises(MappingError, match="unknown role 'tier3'"):
        Replayer(parse_mapping(text), spec=logged_procedure_spec())
