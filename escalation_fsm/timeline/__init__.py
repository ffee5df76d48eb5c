"""A ticket's full history for a person, in the terminal, Markdown, HTML or JSON.

Transitions, interactions, who, when, business time between them, SLA deadlines met or breached,
and the path drawn on the procedure diagram.

* :func:`ticket_timeline` builds a :class:`Timeline` (pydantic, JSON-ready) from a ticket and a
  machine (its spec says what each record means, its SLA policy measures business time);
* :func:`render_timeline` renders it as terminal text, Markdown, HTML or JSON, escaping
  everything that came from the ticket.

``escalation-fsm timeline`` does the same for a ticket in a store; see ``docs/timeline.md``.
"""

from .build import ticket_timeline
from .model import DeadlineEntry, Diagram, OpenDeadline, RecordEntry, Timeline, TimelineEntry
from .render import TIMELINE_FORMATS, TimelineFormat, render_timeline

__all__ = [
    "TIMELINE_FORMATS",
    "DeadlineEntry",
    "Diagram",
    "OpenDeadline",
    "RecordEntry",
    "Timeline",
    "TimelineEntry",
    "TimelineFormat",
    "render_timeline",
    "ticket_timeline",
]
