"""The review report: its figures on the fixtures, its versioned JSON schema, the four formats,
the annotated diagram (present or not, never silently missing) and the ``replay`` sub-command."""

from __future__ import annotations

import io
import json
import re
import sys
import types
from pathlib import Path

import pytest
from replay_helpers import HELPDESK, SERVICENOW

from escalation_fsm import MachineSpec
from escalation_fsm.cli import main
from escalation_fsm.cli.replay import ProgressBar
from escalation_fsm.replay import (
    SCHEMA_VERSION,
    ReviewReport,
    render_report,
    report_json_schema,
    review,
    shipped_mapping,
)
from escalation_fsm.replay.diagram import annotated_diagram
from escalation_fsm.replay.report import percentile


def without_diagrams(log: Path, mapping: str) -> ReviewReport:
    """The report as built when ``escalation_fsm.diagrams`` cannot be imported (a ``None`` entry
    in ``sys.modules`` makes the import fail), whether or not this build has the package."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "escalation_fsm.diagrams", None)
        return review(log, shipped_mapping(mapping))


@pytest.fixture(scope="module")
def helpdesk() -> ReviewReport:
    return without_diagrams(HELPDESK, "helpdesk")


@pytest.fixture(scope="module")
def servicenow() -> ReviewReport:
    return without_diagrams(SERVICENOW, "servicenow")


def test_helpdesk_headline_figures(helpdesk: ReviewReport) -> None:
    """Cases, events, period and the rates, as defined in the report module."""
    k = helpdesk.overall
    assert (helpdesk.rows, helpdesk.events, helpdesk.cases) == (194, 186, 32)
    assert (f"{helpdesk.period_start:%Y-%m-%d}", f"{helpdesk.period_end:%Y-%m-%d}") == (
        "2010-04-08", "2013-12-23")
    assert (k.fitting, k.deviating, k.open) == (14, 16, 2)
    assert k.conformance_rate == round(14 / 30, 4)
    assert (k.resolved, k.escalation_rate, k.reopen_rate, k.first_contact_resolution_rate) == (
        32, round(6 / 32, 4), round(3 / 32, 4), round(23 / 32, 4))
    assert (k.time_to_resolution.count, k.time_to_resolution.median_hours,
            k.time_to_resolution.p90_hours) == (32, 498.37, 973.866)
    assert [u.activity for u in helpdesk.unknown_activities] == [
        "VERIFIED", "RESOLVED", "INVALID", "DUPLICATE"]


def test_top_deviations_count_cases_and_events(helpdesk: ReviewReport) -> None:
    """Each rule counts the cases it stopped first, every event it refused, and gives examples."""
    assert [(d.rule, d.cases, d.events, d.examples) for d in helpdesk.top_deviations] == [
        ("resolve from resolved: not allowed", 2, 4, ["Case37", "Case18"]),
        ("close from closed: not allowed", 2, 3, ["Case130", "Case916"]),
        ("escalate from identified: not allowed", 2, 3, ["Case58", "Case732"]),
        ("resolve from identified: not allowed", 2, 3, ["Case35", "Case56"]),
        ("wait from identified: not allowed", 2, 2, ["Case88", "Case64"]),
        ("wait from resolved: not allowed", 2, 2, ["Case2463", "Case262"]),
        ("classify from attempted: not allowed", 1, 2, ["Case2805"]),
        ("attempt from closed: not allowed", 1, 1, ["Case192"]),
        ("classify from resolved: not allowed", 1, 1, ["Case3121"]),
        ("follow_up from attempted: not allowed", 1, 1, ["Case3271"]),
        # Only ever after an earlier deviation (the replay goes on from the same stage).
        ("close from identified: not allowed", 0, 3, []),
        ("resolve from closed: not allowed", 0, 1, []),
    ]
    assert sum(d.cases for d in helpdesk.top_deviations) == helpdesk.overall.deviating


def test_breakdowns(servicenow: ReviewReport, helpdesk: ReviewReport) -> None:
    """ServiceNow breaks down by priority, category and month; the helpdesk log by month only."""
    assert [b.key for b in servicenow.by_priority] == ["1 - Critical", "2 - High", "3 - Moderate",
                                                      "4 - Low"][-len(servicenow.by_priority):]
    assert sum(b.kpis.cases for b in servicenow.by_category) <= servicenow.cases
    assert sum(b.kpis.cases for b in servicenow.by_month) == servicenow.cases
    assert helpdesk.by_category == helpdesk.by_priority == []
    assert [b.key for b in helpdesk.by_month] == sorted(b.key for b in helpdesk.by_month)


def test_transition_counts_match_the_spec(helpdesk: ReviewReport) -> None:
    """transition_counts are keyed by (source, trigger) of the spec, and sum to the fired moves."""
    counts = helpdesk.counts()
    assert counts[("identified", "attempt")] > 0
    assert all(t.count > 0 for t in helpdesk.transition_counts)


def test_not_observable_rules_are_listed(helpdesk: ReviewReport) -> None:
    """Rules the log cannot show are listed, with reasons, and are never deviations."""
    rules = {n.rule.split(":")[0] for n in helpdesk.not_observable}
    assert {"guard customer_notified", "guard has_summary", "roles"} <= rules
    assert not any("notified" in d.reason for d in helpdesk.top_deviations)


def test_json_is_versioned_and_round_trips(helpdesk: ReviewReport) -> None:
    """The JSON output validates against the schema model and reads back equal."""
    text = render_report(helpdesk, "json")
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION == "1.3"
    assert ReviewReport.model_validate_json(text) == helpdesk
    schema = report_json_schema()
    assert set(schema["required"]) >= {"overall", "transition_counts", "top_deviations"}  # type: ignore[call-overload]


def test_table_and_markdown_say_the_same(helpdesk: ReviewReport) -> None:
    """Both text formats carry the headline figures, the deviations and the diagram note."""
    table = render_report(helpdesk, "table")
    markdown = render_report(helpdesk, "markdown")
    for text in (table, markdown):
        assert "46.7%" in text  # conformance 14 / 30
        assert "resolve from identified: not allowed" in text
        assert "Case37, Case18" in text
        assert "state diagram not included: escalation_fsm.diagrams is not available" in text
    assert markdown.startswith("# Escalation review: helpdesk_sample.csv\n")
    assert markdown.count("\n# ") == 0  # one top-level heading


def assert_offline(page: str) -> None:
    """No scripts and nothing fetched: SVG namespace names are identifiers, not downloads."""
    page = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
    for external in ("<script", "src=", "href=", "url(", "@import", "http://", "https://"):
        assert external not in page


def test_html_is_one_offline_file(servicenow: ReviewReport) -> None:
    """The HTML report is self-contained: inline style, no scripts, no external resources."""
    page = render_report(servicenow, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert_offline(page)
    assert "By priority" in page
    assert "escalation_fsm.diagrams is not available" in page
    # Two inline SVG charts, written by the report itself (no script, no network).
    assert page.count("<svg") == 2
    assert "Conformance and escalation rate by month" in page
    assert "Time to resolution of resolved tickets" in page
    assert page.index("In short") < page.index("At a glance") < page.index("Problems found")


def test_percentile() -> None:
    """Linear interpolation between closest ranks."""
    assert percentile([10.0, 0.0, 5.0], 0.9) == pytest.approx(9.0)


# -- the diagram, through one isolated function ----------------------------------------------------


def fake_diagrams(svg: object) -> types.ModuleType:
    module = types.ModuleType("escalation_fsm.diagrams")

    def to_mermaid(spec: MachineSpec, *, counts: dict[tuple[str, str], int]) -> str:
        return f"stateDiagram-v2 %% {spec.name} {sorted(counts.items())[:1]}"

    def render(spec: MachineSpec, fmt: str, *, counts: dict[tuple[str, str], int]) -> object:
        if isinstance(svg, Exception):
            raise svg
        return svg

    module.to_mermaid = to_mermaid  # type: ignore[attr-defined]
    module.render = render  # type: ignore[attr-defined]
    return module


def test_diagram_when_the_module_exists(monkeypatch: pytest.MonkeyPatch,
                                        helpdesk: ReviewReport) -> None:
    """With the diagrams module, Mermaid (and SVG for HTML) carry the counts into the report."""
    monkeypatch.setitem(sys.modules, "escalation_fsm.diagrams", fake_diagrams(
        b'<?xml version="1.0"?><svg id="d" xmlns="http://www.w3.org/2000/svg"></svg>'))
    from escalation_fsm.replay import logged_procedure_spec

    diagram = annotated_diagram(logged_procedure_spec(), helpdesk.counts(), svg=True)
    assert diagram.available
    assert diagram.mermaid is not None
    assert diagram.mermaid.startswith("stateDiagram-v2 %% escalation-procedure-as-logged")
    assert diagram.svg == '<?xml version="1.0"?><svg id="d" xmlns="http://www.w3.org/2000/svg"></svg>'
    page = render_report(helpdesk.model_copy(update={"diagram": diagram}), "html")
    assert '<div class="svg"><svg id="d" xmlns="http://www.w3.org/2000/svg"></svg></div>' in page
    assert_offline(page)
    markdown = render_report(helpdesk.model_copy(update={"diagram": diagram}), "markdown")
    assert "```mermaid\nstateDiagram-v2" in markdown


def test_diagram_svg_failure_is_shown(monkeypatch: pytest.MonkeyPatch,
                                      helpdesk: ReviewReport) -> None:
    """If SVG cannot be rendered (no Graphviz), the note says so and Mermaid is shown instead."""
    monkeypatch.setitem(sys.modules, "escalation_fsm.diagrams",
                        fake_diagrams(RuntimeError("Graphviz 'dot' not found")))
    from escalation_fsm.replay import logged_procedure_spec

    diagram = annotated_diagram(logged_procedure_spec(), helpdesk.counts(), svg=True)
    assert diagram.note.startswith("SVG not rendered (RuntimeError: Graphviz 'dot' not found)")
    page = render_report(helpdesk.model_copy(update={"diagram": diagram}), "html")
    assert "<pre>stateDiagram-v2" in page
    assert annotated_diagram(logged_procedure_spec(), {}, svg=False).svg is None


# -- the command line --------------------------------------------------------------------------------


def test_cli_table_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """``escalation-fsm replay LOG --mapping NAME`` prints the table; no bar when not a TTY."""
    assert main(["replay", str(HELPDESK), "--mapping", "helpdesk"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Escalation review: helpdesk_sample.csv")
    assert err == ""


def test_cli_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-o`` writes the chosen format; ``--quiet`` keeps stderr silent."""
    target = tmp_path / "report.json"
    assert main(["replay", str(SERVICENOW), "--mapping", "servicenow", "--format", "json",
                 "-o", str(target)]) == 0
    assert json.loads(target.read_text())["cases"] == 30
    assert capsys.readouterr().err == f"wrote json report to {target}\n"
    html = tmp_path / "report.html"
    assert main(["replay", str(SERVICENOW), "--mapping", "servicenow", "--format", "html",
                 "-o", str(html), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_cli_mapping_file_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A mapping path works; bad input exits 2 with the message and writes no report."""
    from importlib import resources

    mapping = tmp_path / "my-helpdesk.toml"
    mapping.write_text(resources.files("escalation_fsm.replay").joinpath(
        "mappings", "helpdesk.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["replay", str(HELPDESK), "--mapping", str(mapping), "--format", "markdown"]) == 0
    assert f"mapping {mapping};" in capsys.readouterr().out
    target = tmp_path / "out.md"
    assert main(["replay", str(tmp_path / "none.csv"), "--mapping", "helpdesk",
                 "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("escalation-fsm replay: ") and "no such file" in err and err.count("\n") == 1
    assert not target.exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n', encoding="utf-8")
    assert main(["replay", str(HELPDESK), "--mapping", str(bad)]) == 2
    assert "(columns): Field required" in capsys.readouterr().err


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only() -> None:
    """The bar draws and erases itself on a TTY; the CLI hides it with --quiet or off a TTY."""
    stream = FakeTTY()
    bar = ProgressBar(stream, every=0.0)
    bar.update(50, 100)
    bar.update(100, 100)
    assert "replaying [" in stream.getvalue()
    assert " 100.0%" in stream.getvalue()
    bar.clear()
    assert stream.getvalue().endswith("\r")
    silent = ProgressBar(io.StringIO())
    silent.clear()
    assert silent.stream.getvalue() == ""  # type: ignore[attr-defined]


def test_cli_progress_goes_to_a_terminal(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the replay reports progress on stderr (and clears it before the report)."""
    from escalation_fsm.cli import replay as replay_cli

    tty = FakeTTY()
    args = main.__globals__["build_parser"]().parse_args(
        ["replay", str(HELPDESK), "--mapping", "helpdesk"])
    monkeypatch.setattr(ProgressBar, "__init__", _eager_bar_init)
    assert replay_cli.run_replay(args, stderr=tty) == 0
    assert "replaying [" in tty.getvalue()
    assert capsys.readouterr().out.startswith("Escalation review")


def _eager_bar_init(self: ProgressBar, stream: io.StringIO, *, width: int = 30,
                    every: float = 0.1) -> None:
    self.stream = stream
    self.width = width
    self.every = 0.0
    self.started = 0.0
    self.drawn = 0.0


def test_cli_writes_every_case_as_json_lines(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``--cases FILE`` writes one JSON object per case; on an error no file is left behind."""
    cases = tmp_path / "cases.jsonl"
    assert main(["replay", str(SERVICENOW), "--mapping", "servicenow", "--cases", str(cases),
                 "--quiet"]) == 0
    records = {r["case_id"]: r for r in map(json.loads, cases.read_text().splitlines())}
    assert len(records) == 30
    first = records["INC0000358"]["first_deviation"]
    assert (first["index"], first["stage"], first["trigger"], first["kind"]) == (
        0, "identified", "attempt", "refused")
    assert records["INC0000045"]["status"] == "fits"
    assert records["INC0000045"]["first_deviation"] is None
    capsys.readouterr()
    broken = tmp_path / "broken.csv"
    broken.write_text("case:concept:name,concept:name\n", encoding="utf-8")
    failed = tmp_path / "failed.jsonl"
    assert main(["replay", str(broken), "--mapping", "helpdesk", "--cases", str(failed)]) == 2
    assert "missing column(s)" in capsys.readouterr().err
    assert list(tmp_path.glob("failed*")) == []


def test_committed_json_schema_is_current() -> None:
    """docs/replay-report.schema.json is the schema of the model (regenerate it when fields change:
    ``python -c "import json; from escalation_fsm.replay import report_json_schema;
    print(json.dumps(report_json_schema(), indent=2, sort_keys=True))"``)."""
    committed = Path(__file__).resolve().parents[1] / "docs" / "replay-report.schema.json"
    assert json.loads(committed.read_text(encoding="utf-8")) == report_json_schema()


def test_a_log_with_nothing_to_replay(tmp_path: Path) -> None:
    """When every event is skipped the report still renders, and says why it is empty."""
    log = tmp_path / "log.csv"
    log.write_text("case,activity,at\n1,Ping,2024-01-01\n", encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('name = "m"\non_unknown = "skip"\n[columns]\ncase = "case"\n'
                       'activity = "activity"\ntimestamp = "at"\n[activities]\n"Open" = "attempt"\n',
                       encoding="utf-8")
    report = review(log, mapping)
    assert (report.rows, report.cases, report.overall.conformance_rate) == (1, 0, None)
    assert "no tickets to review" in render_report(report, "table")
    for fmt in ("markdown", "json", "html"):
        assert render_report(report, fmt)  # type: ignore[arg-type]


def test_with_the_real_diagrams_package() -> None:
    """Once escalation_fsm.diagrams is part of the build, the report carries its Mermaid diagram
    annotated with the observed counts (skipped while the package is absent)."""
    pytest.importorskip("escalation_fsm.diagrams")
    report = review(HELPDESK, "helpdesk")
    assert report.diagram.available
    assert report.diagram.mermaid
    assert "stateDiagram" in report.diagram.mermaid
    assert str(report.counts()[("identified", "attempt")]) in report.diagram.mermaid
