"""Diagrams: the graph model, the Mermaid and DOT renderers, escaping, live and weighted views."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import escalation_fsm.diagrams
from escalation_fsm import (
    Actor,
    EscalationMachine,
    GuardSpec,
    MachineSpec,
    Role,
    Stage,
    StageSpec,
    Ticket,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    default_spec,
)
from escalation_fsm.diagrams import build_graph, render, to_dot, to_mermaid
from escalation_fsm.diagrams.dot import quote
from escalation_fsm.diagrams.mermaid import escape
from escalation_fsm.policy import Decision

AGENT = Actor(id="a-1", role=Role.AGENT)

HOSTILE = (
    'Evil "stage" <script>alert(1)</script> %% comment\n'
    "s_x --> s_y : injected; end } ] \\N \\l & &lt; #35; `code` | *b* [l](http://x) {{sub}} ﬂ°°1¶ß é"
)


def hostile_spec() -> MachineSpec:
    """A custom spec whose every free-text field is hostile (names are validated identifiers)."""
    return default_spec().extend(
        name=HOSTILE,
        description=HOSTILE,
        stages=[
            StageSpec(name="feedback", description=HOSTILE),
            StageSpec(name="end", description=HOSTILE, final=True),  # a Mermaid keyword as a name
        ],
        triggers=[TriggerSpec(name="close", description=HOSTILE)],
        guards=[GuardSpec(name="evil", requirement=HOSTILE, check=lambda _ctx: Decision.yes())],
        transitions=[TransitionSpec(trigger="close", source="feedback", dest="end",
                                    guards=("evil",), roles={"system"})],
    )


def fired(*steps: tuple[str, dict[str, object]]) -> Ticket:
    machine = EscalationMachine()
    ticket = Ticket(id="T-9", customer_id="C-1", category="billing", details="double charge")
    for trigger, payload in steps:
        ticket = machine.fire(ticket, trigger, actor=AGENT, **payload)
    return ticket


# -- the graph model ---------------------------------------------------------------------------

def test_graph_groups_parallel_transitions_into_one_edge() -> None:
    """The four triggers that stay in ``escalated`` are one loop with four label lines."""
    graph = build_graph(default_spec())
    loops = [e for e in graph.edges if e.source == e.target == Stage.ESCALATED]
    assert len(loops) == 1
    assert [item.trigger for item in loops[0].items] == ["record_step", "notify_customer",
                                                         "follow_up", "record_interaction"]
    assert loops[0].self_loop
    assert sum(len(e.items) for e in graph.edges) == len(default_spec().transitions)


def test_graph_is_plain_data_without_views() -> None:
    """Without ticket or counts nothing is marked, counted or weighted."""
    graph = build_graph(default_spec())
    assert not graph.live
    assert not graph.weighted
    assert graph.max_count == 0
    assert not any(n.current or n.visited for n in graph.nodes)
    assert all(e.count is None and not e.taken for e in graph.edges)
    assert graph.finals == ("feedback",)
    assert graph.initial == "identified"


# -- Mermaid -----------------------------------------------------------------------------------

MERMAID_LINE = re.compile(
    r"^(stateDiagram-v2"
    r"|    direction (TB|LR)"
    r'|    state "[^"\n]*" as s_[a-z][a-z0-9_]*'
    r"|    s_[a-z][a-z0-9_]* : [^\n]*"
    r"|    (\[\*\]|s_[a-z][a-z0-9_]*) --> (\[\*\]|s_[a-z][a-z0-9_]*)( : [^\n]+)?"
    r"|    classDef (current|visited) [a-z0-9:#,.-]+"
    r"|    class s_[a-z0-9_,]+ (current|visited))$"
)
SAFE_TEXT = re.compile(r"^([A-Za-z0-9 _.,()'/+=?!-]|#\d+;)*$")


def unescape_mermaid(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


def test_mermaid_default_procedure() -> None:
    """Every stage, the initial and final markers and every transition's trigger are drawn."""
    text = to_mermaid(default_spec())
    lines = text.splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    direction TB"]
    for stage in Stage:
        assert f'    state "{stage}" as s_{stage}' in lines
    assert "    [*] --> s_identified" in lines
    assert "    s_feedback --> [*]" in lines
    assert "    s_attempted --> s_escalated : escalate" in lines
    assert ("    s_escalated --> s_escalated : record_step<br/>notify_customer<br/>follow_up"
            "<br/>record_interaction") in lines
    assert "classDef" not in text
    assert "if " not in text
    assert "by " not in text


def test_mermaid_guards_and_roles() -> None:
    """Guard names and roles are extra label lines when asked for."""
    text = to_mermaid(default_spec(), show_guards=True, show_roles=True)
    assert ("    s_attempted --> s_escalated : escalate<br/>if has_steps, has_summary, "
            "escalation_warranted<br/>by agent, supervisor") in text.splitlines()
    # a transition without guards gets no empty "if" line
    assert "s_resolved --> s_feedback : request_feedback<br/>by agent, supervisor, system, tier2" in text


def test_mermaid_escape_keeps_only_safe_characters_and_round_trips() -> None:
    """Escaped text contains no Mermaid syntax and decodes back to the (one-line) original."""
    escaped = escape(HOSTILE)
    assert SAFE_TEXT.fullmatch(escaped)
    assert unescape_mermaid(escaped) == " ".join(HOSTILE.split())
    bare = re.sub(r"#\d+;", "", escaped)  # what Mermaid's parser sees besides entity codes
    for dangerous in ('"', "<", ">", "%%", ";", ":", "#", "\n", "-->", "`", "{", "}", "[", "]"):
        assert dangerous not in bare


def test_mermaid_hostile_descriptions_cannot_break_the_diagram() -> None:
    """Hostile descriptions stay inside their label: every line is a well-formed statement."""
    text = to_mermaid(hostile_spec(), descriptions=True, show_guards=True, show_roles=True)
    lines = text.splitlines()
    bad = [line for line in lines if not MERMAID_LINE.fullmatch(line)]
    assert bad == []
    spec = hostile_spec()
    # one declaration and one description per stage, one line per edge, start and finals
    graph = build_graph(spec)
    assert len(lines) == 2 + 2 * len(spec.stages) + 1 + len(graph.edges) + len(spec.finals)
    descriptions = [line.split(" : ", 1)[1] for line in lines
                    if line.startswith("    s_") and " : " in line and "-->" not in line]
    assert all(SAFE_TEXT.fullmatch(d) for d in descriptions)
    assert unescape_mermaid(descriptions[-1]) == " ".join(HOSTILE.split())
    assert '    state "end" as s_end' in lines
    assert "    s_end --> [*]" in lines


def test_mermaid_live_view() -> None:
    """The current stage is highlighted, visited stages tinted, taken transitions numbered."""
    ticket = fired((Trigger.ATTEMPT, {}), (Trigger.RECORD_STEP, {"step": "a"}),
                   (Trigger.RECORD_STEP, {"step": "b"}))
    lines = to_mermaid(default_spec(), ticket=ticket).splitlines()
    assert "    class s_attempted current" in lines
    assert "    class s_identified visited" in lines
    assert "    s_identified --> s_attempted : attempt (step 1)" in lines
    assert "    s_attempted --> s_attempted : record_step (steps 2, 3)<br/>record_interaction" in lines
    assert "    s_attempted --> s_escalated : escalate" in lines
    assert any(line.startswith("    classDef current ") for line in lines)


def test_live_view_of_a_new_ticket_marks_only_the_initial_stage() -> None:
    """A ticket without history: current stage highlighted, nothing visited, nothing taken."""
    lines = to_mermaid(default_spec(), ticket=fired()).splitlines()
    assert "    class s_identified current" in lines
    assert not any(line.endswith(" visited") and line.startswith("    class ") for line in lines)
    assert not any("(step" in line for line in lines)


def test_weighted_view_in_mermaid() -> None:
    """Counts appear on every transition's label, zero for those never taken."""
    counts = {("attempted", "escalate"): 7, ("escalated", "notify_customer"): 3}
    lines = to_mermaid(default_spec(), counts=counts).splitlines()
    assert "    s_attempted --> s_escalated : escalate (n=7)" in lines
    assert ("    s_escalated --> s_escalated : record_step (n=0)<br/>notify_customer (n=3)"
            "<br/>follow_up (n=0)<br/>record_interaction (n=0)") in lines


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({("attempted", "teleport"): 1}, "not a transition"),
        ({("identified", "resolve"): 1}, "not a transition"),
        ({("attempted", "escalate"): -1}, "negative"),
    ],
)
def test_invalid_counts_are_refused(counts: dict[tuple[str, str], int], message: str) -> None:
    """Counts for unknown transitions or negative counts raise instead of being dropped."""
    with pytest.raises(ValueError, match=message):
        to_mermaid(default_spec(), counts=counts)


def test_ticket_from_another_spec_is_refused() -> None:
    """A ticket in a stage the spec lacks, or whose history the spec cannot explain, raises."""
    with pytest.raises(ValueError, match="does not have"):
        to_dot(default_spec(), ticket=Ticket(id="T", customer_id="C", stage="limbo"))
    ticket = fired((Trigger.ATTEMPT, {}), (Trigger.RESOLVE, {"solution": "done"}))
    narrow = default_spec().extend(remove_transitions=[("attempted", "resolve")])
    with pytest.raises(ValueError, match="history step 2"):
        to_mermaid(narrow, ticket=ticket)


# -- DOT ---------------------------------------------------------------------------------------

def test_dot_default_procedure() -> None:
    """Nodes, a start point, final stages doubled, self-loops on the north ports."""
    text = to_dot(default_spec())
    assert text.startswith('digraph "customer-service-escalation" {\n')
    assert text.endswith("}\n")
    assert '"__start__" -> "identified";' in text
    assert re.search(r'"feedback" \[label="feedback", tooltip="[^"]*", peripheries="2"\];', text)
    loop = next(line for line in text.splitlines() if line.strip().startswith('"escalated" -> "escalated"'))
    assert 'label="record_step\\nnotify_customer\\nfollow_up\\nrecord_interaction"' in loop
    assert 'headport="e", tailport="e"' in loop
    assert 'rankdir="TB"' in text
    assert text.count(" -> ") == len(build_graph(default_spec()).edges) + 1


def test_dot_tooltips_carry_descriptions_and_guard_sentences() -> None:
    """The hover text says what the trigger does, what it requires and who may fire it."""
    text = to_dot(default_spec())
    assert ("Requires: has_solution: a solution is documented; customer_notified: the customer "
            "was notified of the escalation. Roles: supervisor, tier2.") in text


def test_dot_quote_escapes_everything_that_has_meaning() -> None:
    """Quotes, backslash sequences, entities and control characters cannot escape the string."""
    assert quote('a"b') == '"a\\"b"'
    assert quote("a\\N") == '"a\\\\N"'
    assert quote("a & &lt;") == '"a &amp; &amp;lt;"'
    assert quote("a\nb\x00c\td") == '"a\\nb c d"'


def test_dot_hostile_text_stays_inside_its_strings() -> None:
    """Outside quoted strings the DOT source has only the statements the renderer wrote."""
    text = to_dot(hostile_spec(), show_guards=True, show_roles=True)
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', "S", text)
    statement = re.compile(r"^(digraph S \{|\}|    (graph|node|edge) \[.*\];|    S( -> S)? \[.*\];"
                           r"|    S -> S;)$")
    assert [line for line in skeleton.splitlines() if not statement.fullmatch(line)] == []
    assert all(re.fullmatch(r"([a-z]+=S(, )?)*", attrs) for attrs in re.findall(r"\[(.*)\]", skeleton))
    assert "<script>" in text  # kept as text inside a quoted string, escaped in SVG by Graphviz
    assert "&lt;" not in text.replace("&amp;lt;", "")


def test_dot_live_view_emphasises_the_path() -> None:
    """Taken edges are bold and coloured, others grey; current and visited stages filled."""
    ticket = fired((Trigger.ATTEMPT, {}), (Trigger.RECORD_STEP, {"step": "a"}))
    lines = to_dot(default_spec(), ticket=ticket).splitlines()
    attempt = next(line for line in lines if line.startswith('    "identified" -> "attempted"'))
    assert 'label="attempt (step 1)"' in attempt
    assert 'style="bold"' in attempt
    resolve = next(line for line in lines if line.startswith('    "attempted" -> "resolved"'))
    assert 'color="#9ca3af"' in resolve
    assert "bold" not in resolve
    current = next(line for line in lines if line.startswith('    "attempted" [label='))
    assert 'fillcolor="#fde68a"' in current
    assert 'penwidth="3"' in current
    visited = next(line for line in lines if line.startswith('    "identified" [label='))
    assert 'fillcolor="#dbeafe"' in visited


def test_dot_weighted_view_scales_widths() -> None:
    """The busiest edge is widest, others proportional, never-taken ones dashed."""
    counts = {("identified", "attempt"): 10, ("attempted", "resolve"): 5}
    lines = to_dot(default_spec(), counts=counts).splitlines()

    def edge(source: str, target: str) -> str:
        return next(line for line in lines if line.startswith(f'    "{source}" -> "{target}"'))

    assert 'penwidth="6.00"' in edge("identified", "attempted")
    assert 'penwidth="3.50"' in edge("attempted", "resolved")
    assert 'style="dashed"' in edge("attempted", "escalated")
    assert 'label="resolve (n=5)"' in edge("attempted", "resolved")


def test_live_and_weighted_together_keep_the_count_widths() -> None:
    """In a live weighted view the width still encodes the count; the colour marks the path."""
    ticket = fired((Trigger.ATTEMPT, {}))
    text = to_dot(default_spec(), ticket=ticket, counts={("identified", "attempt"): 4,
                                                        ("attempted", "resolve"): 2})
    attempt = next(line for line in text.splitlines() if '"identified" -> "attempted"' in line)
    assert 'penwidth="6.00"' in attempt
    assert 'color="#b45309"' in attempt
    assert 'label="attempt (step 1) (n=4)"' in attempt


# -- custom specs ------------------------------------------------------------------------------

def tier3_spec() -> MachineSpec:
    """The default procedure with a Tier 3 and a closed stage, as the embedding guide shows."""
    return default_spec().extend(
        stages=[
            StageSpec(name="tier3", description="With the engineering team (Tier 3)."),
            StageSpec(name="feedback", description="Feedback recorded."),
            StageSpec(name="closed", description="Done for good.", final=True),
        ],
        triggers=[
            TriggerSpec(name="escalate_tier3", description="Hand over to engineering."),
            TriggerSpec(name="close", description="Close the ticket."),
        ],
        transitions=[
            TransitionSpec(trigger="escalate_tier3", source="escalated", dest="tier3",
                           roles={Role.TIER2}),
            TransitionSpec(trigger="resolve", source="tier3", dest="resolved", roles={"tier3"}),
            TransitionSpec(trigger="close", source="feedback", dest="closed",
                           roles={Role.SUPERVISOR}),
        ],
    )


@pytest.mark.parametrize("renderer", [to_mermaid, to_dot])
def test_custom_spec_with_tier3_and_closed(renderer: Callable[..., str]) -> None:
    """Custom stages and transitions are drawn; finals follow the spec, not the default."""
    text = renderer(tier3_spec(), show_roles=True)
    assert "tier3" in text
    assert "closed" in text
    assert "escalate_tier3" in text
    if renderer is to_mermaid:
        assert "    s_closed --> [*]" in text
        assert "    s_feedback --> [*]" not in text
        assert "    s_tier3 --> s_resolved : resolve<br/>by tier3" in text
    else:
        assert '"closed" [label="closed", tooltip="Done for good.", peripheries="2"];' in text
        assert '"tier3" -> "resolved" [label="resolve\\nby tier3"' in text


def test_render_text_formats_and_unknown_format() -> None:
    """render() returns the same text as to_mermaid/to_dot and refuses unknown formats."""
    spec = default_spec()
    assert render(spec, "mermaid", show_guards=True) == to_mermaid(spec, show_guards=True)
    assert render(spec, "dot", show_roles=True) == to_dot(spec, show_roles=True)
    with pytest.raises(ValueError, match="unknown diagram format 'gif'"):
        render(spec, "gif")  # type: ignore[call-overload]


def test_importing_the_library_does_not_import_diagrams_or_graphviz() -> None:
    """``import escalation_fsm`` stays light; the diagrams package does not import graphviz."""
    code = ("import sys, escalation_fsm\n"
            "assert 'escalation_fsm.diagrams' not in sys.modules\n"
            "import escalation_fsm.diagrams\n"
            "assert 'graphviz' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module", ["model", "labels", "mermaid", "dot", "render", "table"])
def test_renderers_never_touch_the_engine(module: str) -> None:
    """The graph model and renderers import neither ``transitions`` nor the machine module."""
    source = (Path(escalation_fsm.diagrams.__file__).parent / f"{module}.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert not {"transitions", "..machine"} & imported
    assert not any(name.startswith("transitions.") for name in imported)


def test_roles_are_sorted_for_stable_output() -> None:
    """Frozen sets of roles render in a fixed order, so generated files are reproducible."""
    spec = default_spec()
    lines = to_mermaid(spec, show_roles=True).splitlines()
    assert "    s_feedback --> s_feedback : record_feedback<br/>by customer, system" in lines


def test_left_to_right_layout() -> None:
    """``direction="LR"`` lays out left to right, with loops moved above the stages."""
    assert "    direction LR" in to_mermaid(default_spec(), direction="LR").splitlines()
    text = to_dot(default_spec(), direction="LR")
    assert 'rankdir="LR"' in text
    loop = next(line for line in text.splitlines() if '"feedback" -> "feedback"' in line)
    assert 'headport="n", tailport="n"' in loop
    assert render(default_spec(), "mermaid", direction="LR") == to_mermaid(default_spec(),
                                                                           direction="LR")
