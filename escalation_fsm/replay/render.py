r"""Rendering a :class:`~escalation_fsm.replay.report.ReviewReport`: table, Markdown, JSON, HTML.

The report is first laid out as a list of sections (title, note lines, one table each); the
terminal, Markdown and HTML renderers only format those, so the three always say the same.

Case ids, activity names, labels and file names come from a log someone else wrote. Each renderer
escapes every text it prints: control characters (ANSI escape sequences, newlines, tabs, bidi
overrides) are written out as Python escapes (``\x1b``, ``\n``) in all three, so a value never
moves the terminal's cursor, changes its colours or starts a new line or table row; Markdown
also writes HTML's ``<``, ``>``, ``&`` and the characters of table, link and code syntax (pipe,
backslash, square brackets, backtick) as character references; HTML escapes as HTML does. JSON
keeps values as they are (the JSON encoder escapes what JSON needs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..textsafe import html_text, markdown, visible
from .charts import histogram_chart, rate_chart
from .schema import Breakdown, Kpis, LadderWhatIfSection, ReviewReport
from .words import duration_words

__all__ = ["FORMATS", "Format", "render_report"]

Format = Literal["table", "markdown", "json", "html"]
FORMATS: tuple[Format, ...] = ("table", "markdown", "json", "html")
_TOP_GROUPS = 12

@dataclass
class _Section:
    title: str
    notes: list[str] = field(default_factory=list)
    headers: Sequence[str] = ()
    rows: list[Sequence[str]] = field(default_factory=list)
    right: frozenset[int] = frozenset()
    """Columns aligned right (numbers)."""
    details: dict[int, str] = field(default_factory=dict)
    """A line of explanation shown under the row with this index."""


def render_report(report: ReviewReport, fmt: Format) -> str:
    """The report as text in ``fmt`` (``html`` is one self-contained page, no external assets)."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    renderer: dict[str, Callable[[ReviewReport, list[_Section]], str]] = {
        "table": _text, "markdown": _markdown, "html": _html}
    return renderer[fmt](report, _sections(report))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _n(value: int) -> str:
    return f"{value:,}"


def _tickets(count: int) -> str:
    return f"{count:,} ticket" + ("" if count == 1 else "s")


_KPI_HEADERS = ("tickets", "followed the procedure", "open", "escalated",
                "resolved at first contact", "reopened", "time to resolution (median)")


def _kpi_cells(k: Kpis) -> list[str]:
    return [_n(k.cases), _pct(k.conformance_rate), _n(k.open), _pct(k.escalation_rate),
            _pct(k.first_contact_resolution_rate), _pct(k.reopen_rate),
            duration_words(k.time_to_resolution.median_hours)]


def _breakdown(title: str, groups: list[Breakdown], what: str) -> _Section:
    section = _Section(title, headers=(what, *_KPI_HEADERS), right=frozenset(range(1, 8)))
    groups = [g for g in groups if g.kpis.cases]
    shown = groups[:_TOP_GROUPS] if what == "category" else groups
    section.rows = [[g.key, *_kpi_cells(g.kpis)] for g in shown]
    if len(shown) < len(groups):
        section.notes.append(f"the {len(shown)} largest of {len(groups)} categories "
                             f"(all of them are in the JSON output)")
    return section


def _summary(r: ReviewReport) -> _Section:
    k = r.overall
    period = (f"from {r.period_start:%Y-%m-%d} to {r.period_end:%Y-%m-%d}"
              if r.period_start and r.period_end else "")
    judged = k.fitting + k.deviating
    notes = [f"{_n(r.cases)} tickets ({_n(r.events)} events) {period}.".replace(" .", ".")]
    if judged:
        notes.append(f"{_n(k.fitting)} of the {_n(judged)} finished tickets "
                     f"({_pct(k.conformance_rate)}) followed the procedure from start to end."
                     + (f" {_tickets(k.open)} still open: not judged yet." if k.open else ""))
    elif r.cases:
        notes.append(f"No ticket is finished yet ({_n(k.open)} open): none can be judged.")
    problems = [d for d in r.top_deviations if d.cases][:3]
    if problems:
        notes.append("The most common problems: " + "; ".join(
            f"{d.description} ({_tickets(d.cases)})" for d in problems) + ".")
    notes.append(f"Escalation rate {_pct(k.escalation_rate)}: the share of all tickets handed "
                 f"to a higher support tier at least once.")
    notes.append(f"First-contact resolution {_pct(k.first_contact_resolution_rate)}: the share "
                 f"of resolved tickets ({_n(k.resolved)}) resolved without escalation or "
                 f"reopening.")
    notes.append(f"Reopened {_pct(k.reopen_rate)} of the resolved tickets.")
    ttr = k.time_to_resolution
    if ttr.count:
        notes.append(f"Time to resolution, from a ticket's first event to its last resolution: "
                     f"half within {duration_words(ttr.median_hours)}, nine in ten within "
                     f"{duration_words(ttr.p90_hours)}.")
    if r.sla_source is None:
        notes.append("SLA: not measured (no SLA policy was given).")
    else:
        notes.append(f"SLA: measured with the policy from {r.sla_source} "
                     f"(fingerprint {r.sla_policy}).")
    strict = r.strict_problems
    notes.append(f"Data notes: {len(r.data_notes)}" + (f", {strict} about values that could not "
                                                        f"be read or rules that never fired"
                                                        if strict else "")
                 + " (see Data notes)." if r.data_notes else "Data notes: none.")
    if r.source_kind == "store":
        notes.append(f"Reviewed the histories in {r.log}; spec {r.spec}; {_n(r.rows)} records "
                     f"read.")
    else:
        notes.append(f"Replayed log {r.log} with mapping {r.mapping}; spec {r.spec}; "
                     f"{_n(r.rows)} rows read.")
    return _Section("In short", notes=notes)


def _sections(r: ReviewReport) -> list[_Section]:
    sections = [_summary(r)]
    deviations = _Section("Problems found", headers=("problem", "tickets", "events", "e.g."),
                          right=frozenset({1, 2}))
    deviations.notes = ["tickets: where it was the ticket's first problem; events: every "
                        "occurrence; the rule and the machine's reason are under each problem"]
    first = [d for d in r.top_deviations if d.cases]
    for d in first[:10]:
        deviations.details[len(deviations.rows)] = f"rule: {d.rule}; why: {d.reason}"
        deviations.rows.append([d.description, _n(d.cases), _n(d.events), ", ".join(d.examples)])
    if len(first) > 10:
        deviations.notes.append(f"the 10 most frequent of {len(first)} (all are in the JSON output)")
    follow_on = len(r.top_deviations) - len(first)
    if follow_on:
        deviations.notes.append(f"{follow_on} more kind(s) of problem only ever followed an "
                                f"earlier one in the same ticket (in the JSON output)")
    if not r.cases:
        deviations.notes.append("no tickets to review: every event was skipped (see Data notes)")
    elif not r.top_deviations:
        deviations.notes.append("no problems: every stored history was written through the "
                                "machine, so it follows the procedure" if r.source_kind == "store"
                                else "no problems: every ticket followed the procedure's rules "
                                "that the log can show")
    sections.append(deviations)
    if r.by_priority:
        sections.append(_breakdown("By priority", r.by_priority, "priority"))
    if r.by_category:
        sections.append(_breakdown("By category", r.by_category, "category"))
    sections.append(_breakdown("By month (of the ticket's first event)", r.by_month, "month"))
    if r.sla_breach_rates:
        sla = _Section("SLA breach rates (business time)", headers=("clock", "owed", "decided",
                                                                    "breached", "rate"),
                       right=frozenset({2, 3, 4}))
        sla.notes = [f"policy from {r.sla_source} (fingerprint {r.sla_policy}); a clock run is "
                     "decided once met, or once over its target by the ticket's last event"]
        sla.rows = [[b.clock, b.owed, _n(b.decided), _n(b.breached), _pct(b.rate)]
                    for b in r.sla_breach_rates]
        sections.append(sla)
    if r.ladder_what_if is not None:
        sections.append(_ladder(r.ladder_what_if))
    if r.training is not None:
        sections.append(_training(r))
    stages = _Section("Time in each stage", headers=("stage", "tickets", "median", "nine in ten within"),
                      right=frozenset({1, 2, 3}))
    stages.notes = ["from the event that entered the stage to the next event; time in a final "
                    "stage is not counted"]
    stages.rows = [[s.stage, _n(s.cases), duration_words(s.median_hours),
                    duration_words(s.p90_hours)] for s in r.time_in_stage if s.cases]
    transitions = _Section("How tickets moved (transitions observed)",
                           headers=("from stage", "trigger", "to stage", "count"),
                           right=frozenset({3}))
    transitions.rows = [[t.source, t.trigger, t.dest, _n(t.count)] for t in r.transition_counts]
    hidden = _Section("Not observable in this log (never counted as problems)",
                      notes=[f"{n.rule} -- {n.reason}" for n in r.not_observable])
    sections += [stages, transitions, hidden, _data_notes(r)]
    return sections


def _ladder(w: LadderWhatIfSection) -> _Section:
    section = _Section("Escalation ladder: what if it had been on",
                       headers=("step", "urgency", "tickets", "share", "escalated later",
                                "resolved later"), right=frozenset({2, 3, 4, 5}))
    section.notes = [f"The ladder of the SLA policy (fingerprint {w.policy}) tried on these "
                     f"{_tickets(w.tickets)}. {w.note}"]
    for s in w.steps:
        section.details[len(section.rows)] = (
            f"{_tickets(s.tickets)} of the {_n(s.eligible)} {s.urgency}-urgency tickets that owed "
            f"{s.owed} ({_pct(s.rate)}) would have reached '{s.description}'"
            + (f"; of those, escalated later: {_n(s.escalated_later)}, resolved later: "
               f"{_n(s.resolved_later)}" if s.tickets else "")
            + (" (this step acts: what it would have changed is not re-simulated)"
               if s.acting else ""))
        section.rows.append([s.description, s.urgency, _n(s.tickets), _pct(s.rate),
                             _n(s.escalated_later), _n(s.resolved_later)])
    if not w.steps:
        section.notes.append("the ladder has no steps")
    return section


def _training(r: ReviewReport) -> _Section:
    t = r.training
    assert t is not None  # noqa: S101 (the caller checked)
    who = f"{_n(t.agents)} agent(s)" + (f" and {_n(t.teams)} team(s)" if t.teams else "")
    section = _Section("Training opportunities", notes=[
        f"{who}, each compared with the rest of the team per category on escalation rate, "
        f"first-contact resolution, reopen rate and time to first response; a difference is "
        f"listed only when the {t.confidence:.0%} intervals (widened for the number of "
        f"comparisons) do not overlap and both sides have at least {t.min_tickets} tickets"
        + ("; agent ids are pseudonymised" if t.pseudonymised else "")])
    section.notes += [f.text for f in t.findings] or ["no difference stands out"]
    return section


_PROBLEMS = {"not_a_number": "not numbers", "unmapped_label": "labels missing from the value map",
             "unparseable_time": "times that do not parse", "empty": "empty cells",
             "unknown_urgency": "priorities naming no urgency", "never_fired": "never fired"}


def _data_notes(r: ReviewReport) -> _Section:
    data = _Section("Data notes", notes=[*r.warnings])
    for note in r.data_notes:
        if note.problem == "never_fired":
            data.notes.append(f"rule {note.rule!r} never fired on this log: {note.effect}")
            continue
        if note.problem == "ladder_idle":
            data.notes.append(f"{note.rule}: {note.effect}")
            continue
        if note.problem == "approximate":
            data.notes.append(f"{note.column.replace('_', ' ')}, {note.rule} "
                              f"({_n(note.count)} values): {note.effect}")
            continue
        examples = f"; e.g. {', '.join(note.examples)}" if note.examples else ""
        data.notes.append(f"{note.column} ({note.rule}): {_n(note.count)} "
                          f"{_PROBLEMS[note.problem]}: {note.effect}{examples}")
    if not data.notes:
        data.notes = ["none: every value the mapping reads was read"]
    if r.unknown_activities:
        data.headers = ("unknown activity (skipped)", "events", "first line")
        data.right = frozenset({1, 2})
        data.rows = [[u.activity, _n(u.events), str(u.first_line)] for u in r.unknown_activities]
    return data


def _widths(rows: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]


def _text(r: ReviewReport, sections: list[_Section]) -> str:
    v = visible
    out = [f"Escalation review: {v(r.log)}", ""]
    for section in sections:
        out += [v(section.title), "-" * len(v(section.title)), *map(v, section.notes)]
        if section.headers:
            rows = [[v(cell) for cell in row] for row in (section.headers, *section.rows)]
            widths = _widths(rows)
            for index, row in enumerate(rows, start=-1):
                out.append("  ".join(
                    cell.rjust(w) if i in section.right else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
                if index in section.details:
                    out.append(f"    {v(section.details[index])}")
        out.append("")
    out += ["Diagram", "-------", v(r.diagram.note)]
    if r.diagram.available:
        out.append("(the annotated Mermaid diagram is in the markdown, html and json outputs)")
    return "\n".join(out) + "\n"


def _markdown(r: ReviewReport, sections: list[_Section]) -> str:
    out = [f"# Escalation review: {markdown(r.log)}", ""]
    for section in sections:
        out += [f"## {markdown(section.title)}", ""]
        out += [f"- {markdown(note)}" for note in section.notes]
        if section.notes:
            out.append("")
        if section.headers:
            out.append("| " + " | ".join(map(markdown, section.headers)) + " |")
            out.append("|" + "|".join("---:" if i in section.right else "---"
                                      for i in range(len(section.headers))) + "|")
            for index, row in enumerate(section.rows):
                cells = [markdown(c) for c in row]
                if index in section.details:
                    cells[0] += f"<br>{markdown(section.details[index])}"
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
    out += ["## State diagram", "", markdown(r.diagram.note), ""]
    if r.diagram.mermaid:
        out += ["```mermaid", r.diagram.mermaid.rstrip(), "```", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d2330;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d5d9e0}table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.25rem .6rem;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{background:#f4f6f9}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.why td{color:#5b6475;font-size:.9em;border-bottom:1px solid #d5d9e0}
p.note{color:#5b6475;margin:.2rem 0}pre{background:#f4f6f9;padding:1rem;overflow:auto}
.svg svg{max-width:100%;height:auto}
"""


def _html(r: ReviewReport, sections: list[_Section]) -> str:
    e = html_text
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Escalation review: {e(r.log)}</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>Escalation review: {e(r.log)}</h1>"]
    charts = [chart for chart in (rate_chart([m for m in r.by_month if m.kpis.cases]),
                                  histogram_chart(r.resolution_histogram)) if chart]
    for number, section in enumerate(sections):
        if number == 1 and charts:
            # Inline SVG written here: no script, no external file, readable offline.
            out.append("<h2>At a glance</h2>")
            for chart in charts:
                caption = chart.split("<title>")[1].split("</title>")[0]  # already escaped
                out.append(f'<figure class="chart">{chart}<figcaption>{caption}</figcaption>'
                           f"</figure>")
        out.append(f"<h2>{e(section.title)}</h2>")
        out += [f'<p class="note">{e(note)}</p>' for note in section.notes]
        if not section.headers:
            continue
        out.append("<table><thead><tr>" + "".join(
            f'<th{" class=n" if i in section.right else ""}>{e(h)}</th>'
            for i, h in enumerate(section.headers)) + "</tr></thead><tbody>")
        for index, row in enumerate(section.rows):
            out.append("<tr>" + "".join(f'<td{" class=n" if i in section.right else ""}>{e(c)}</td>'
                                        for i, c in enumerate(row)) + "</tr>")
            if index in section.details:
                out.append(f'<tr class="why"><td colspan="{len(row)}">'
                           f"{e(section.details[index])}</td></tr>")
        out.append("</tbody></table>")
    out += ["<h2>State diagram</h2>", f'<p class="note">{e(r.diagram.note)}</p>']
    if r.diagram.svg:
        # Our own renderer's SVG (Graphviz output), embedded so the page works offline.
        svg = r.diagram.svg
        out.append(f'<div class="svg">{svg[max(svg.find("<svg"), 0):]}</div>')
    elif r.diagram.mermaid:
        out.append(f"<pre>{e(r.diagram.mermaid)}</pre>")
    out.append(f'<p class="note">{e(r.generated_by)}, report schema {e(r.schema_version)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
