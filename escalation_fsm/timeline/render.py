"""A :class:`~escalation_fsm.timeline.model.Timeline` for people: terminal text, Markdown, HTML.

Every text that comes from a ticket (ids, actors, payload fields) is escaped for the output it
lands in: control characters (ANSI escape sequences included) never reach a terminal, Markdown
table cells cannot break their row or inject HTML or links, and HTML is escaped throughout. The
HTML page has no script and loads nothing. JSON is ``timeline.model_dump_json()``
(``render(timeline, "json")``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from ..textsafe import markdown, visible
from .model import DeadlineEntry, OpenDeadline, RecordEntry, Timeline

__all__ = ["TIMELINE_FORMATS", "TimelineFormat", "render_timeline"]

TimelineFormat = Literal["text", "markdown", "html", "json"]
TIMELINE_FORMATS: tuple[TimelineFormat, ...] = ("text", "markdown", "html", "json")

def render_timeline(timeline: Timeline, format: TimelineFormat) -> str:  # noqa: A002 (the CLI's --format)
    """``timeline`` as ``format``; an unknown format raises ``ValueError`` naming the choices."""
    if format == "json":
        return timeline.model_dump_json(indent=2) + "\n"
    if format == "text":
        return _text(timeline)
    if format == "markdown":
        return _markdown(timeline)
    if format == "html":
        return _html(timeline)
    raise ValueError(f"unknown timeline format {format!r}; choose one of "
                     f"{', '.join(TIMELINE_FORMATS)}")


def duration(delta: timedelta | None) -> str:
    """``1d 2h05m`` style; ``-`` for no value."""
    if delta is None:
        return "-"
    sign = "-" if delta < timedelta(0) else ""
    minutes = int(abs(delta).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    return f"{sign}{f'{days}d ' if days else ''}{minutes // 60}h{minutes % 60:02d}m"


def _at(when: datetime | None) -> str:
    return "-" if when is None else f"{when.astimezone(UTC):%Y-%m-%d %H:%M}"


def _summary(t: Timeline) -> tuple[str, str, str]:
    title = f"Ticket {t.ticket_id}"
    about = (f"customer {t.customer_id}, {t.category or 'no category'}, priority {t.priority}, "
             f"now in {t.stage} after {t.version} record{'' if t.version == 1 else 's'}")
    when = f"opened {_at(t.opened_at)}, as of {_at(t.now)} (times UTC)"
    return title, about, when


def _what(entry: RecordEntry | DeadlineEntry) -> str:
    if isinstance(entry, DeadlineEntry):
        due = f", due {_at(entry.due_at)}" if entry.due_at else ""
        if entry.kind == "deadline_breached":
            return f"SLA {entry.clock.value} breached: {entry.owed} not given in time{due}"
        if entry.kind == "deadline_restarted":
            late = " (it was already late)" if entry.late else ""
            return f"SLA {entry.clock.value} restarted by the customer's message{late}{due}"
        return f"SLA {entry.clock.value} met{' late' if entry.late else ''}: {entry.owed}{due}"
    move = (f"{entry.source} -> {entry.dest}" if entry.source != entry.dest
            else f"in {entry.source}")
    label = {"interaction": "interaction", "transition": "", "record": "record"}[entry.kind]
    return f"{label + ' ' if label else ''}{entry.trigger} ({move})"


def _details(entry: RecordEntry | DeadlineEntry) -> str:
    if isinstance(entry, DeadlineEntry):
        return ""
    return "; ".join(f"{key}: {value}" for key, value in entry.details)


def _who(entry: RecordEntry | DeadlineEntry) -> str:
    return "" if isinstance(entry, DeadlineEntry) else f"{entry.actor_id} ({entry.actor_role})"


def _since(entry: RecordEntry | DeadlineEntry) -> str:
    return "" if isinstance(entry, DeadlineEntry) else duration(entry.business_since_previous)


def _open_line(d: OpenDeadline) -> str:
    state = "paused" if d.paused else ("BREACHED" if d.breached else "open")
    return (f"{d.clock.value}: {d.owed}, due {_at(d.due_at)}, {duration(d.remaining)} "
            f"business time left, {state}")


def _rows(t: Timeline) -> Iterable[tuple[str, str, str, str, str]]:
    for e in t.entries:
        yield _at(e.at), _since(e), _who(e), _what(e), _details(e)


def _text(t: Timeline) -> str:
    title, about, when = _summary(t)
    lines = [visible(title), visible(about), visible(when), "path: " + visible(" -> ".join(t.path)), ""]
    rows = [("when", "business time since", "who", "what", "")]
    rows += [tuple(visible(c) for c in row) for row in _rows(t)]  # type: ignore[misc]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for *lead, what, details in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(lead, widths, strict=True))
                     + "  " + what)
        if details:  # on a line of its own, under "what": payloads are long
            lines.append(" " * (sum(widths) + 6) + details)
    lines += ["", "open deadlines:" if t.open_deadlines else "open deadlines: none"]
    lines += ["  " + visible(_open_line(d)) for d in t.open_deadlines]
    if t.diagram.svg_note:
        lines.append("diagram: " + visible(t.diagram.svg_note))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _markdown(t: Timeline) -> str:
    title, about, when = _summary(t)
    out = [f"# {markdown(title)}", "", f"{markdown(about)}; {markdown(when)}.", "",
           "| when | business time since | who | what | details |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(markdown(c) for c in row) + " |" for row in _rows(t)]
    out += ["", "## Open deadlines", ""]
    out += [f"- {markdown(_open_line(d))}" for d in t.open_deadlines] or ["None."]
    # Stage and trigger names in Mermaid come from the spec, which the host wrote, not a log.
    out += ["", "## Path", "", markdown(" -> ".join(t.path)), "", "```mermaid",
            t.diagram.mermaid.rstrip(), "```"]
    if t.diagram.svg_note:
        out += ["", markdown(t.diagram.svg_note)]
    return "\n".join(out) + "\n"


def _html(t: Timeline) -> str:
    e = html.escape
    title, about, when = _summary(t)
    rows = "\n".join("<tr>" + "".join(f"<td>{e(visible(c))}</td>" for c in row) + "</tr>"
                     for row in _rows(t))
    deadlines = "".join(f"<li>{e(visible(_open_line(d)))}</li>" for d in t.open_deadlines)
    picture = (t.diagram.svg if t.diagram.svg is not None
               else f"<pre>{e(t.diagram.mermaid)}</pre>")
    note = f"<p>{e(visible(t.diagram.svg_note))}</p>" if t.diagram.svg_note else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(visible(title))}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:auto}}td,th{{padding:.2em .6em;
text-align:left;vertical-align:top}}tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>{e(visible(title))}</h1><p>{e(visible(about))}; {e(visible(when))}.</p>
<table><thead><tr><th>when</th><th>business time since</th><th>who</th><th>what</th>
<th>details</th></tr></thead><tbody>
{rows}
</tbody></table>
<h2>Open deadlines</h2>{f"<ul>{deadlines}</ul>" if deadlines else "<p>None.</p>"}
<h2>Path</h2><p>{e(visible(" -> ".join(t.path)))}</p>
{picture}{note}
</body></html>
"""
