"""A ticket's timeline as data: one entry per audit record and per SLA deadline met or breached.

The models are plain pydantic values, so a timeline serialises to JSON (``model_dump_json``) as
readily as it renders for people (:mod:`escalation_fsm.timeline.render`). Nothing here names a
trigger, stage or guard of the default procedure: what a record *is* comes from its trigger's marks
in the spec the timeline was built with.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..sla import SLAClock

__all__ = ["DeadlineEntry", "Diagram", "OpenDeadline", "RecordEntry", "Timeline", "TimelineEntry"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


RecordKind = Literal["transition", "interaction", "record"]
"""``interaction``: a trigger marked ``interaction``; ``transition``: any other trigger of the
spec; ``record``: a trigger the spec does not define (a record a library service writes, such as
an acted follow-up step), shown as it was written rather than left out."""


class RecordEntry(_Frozen):
    """One audit record of the ticket's history, described for a reader."""

    kind: RecordKind
    at: datetime
    seq: int
    actor_id: str
    actor_role: str
    trigger: str
    source: str
    dest: str
    meaning: tuple[str, ...] = ()
    """The trigger's marks (what it means in the procedure), sorted."""
    details: tuple[tuple[str, str], ...] = ()
    """The payload, field by field, as text (empty fields left out)."""
    since_previous: timedelta | None = None
    """Plain time since the previous record (or since the ticket was opened)."""
    business_since_previous: timedelta | None = None
    """The same span in the SLA policy's business time."""


class DeadlineEntry(_Frozen):
    """An SLA clock that was met (or met late), breached (at its due time), or restarted.

    ``deadline_restarted``: a customer-update period ended by the customer's own message, which
    restarts the cadence (:class:`~escalation_fsm.sla.InteractionRules`) rather than meeting it.
    """

    kind: Literal["deadline_met", "deadline_breached", "deadline_restarted"]
    at: datetime
    clock: SLAClock
    owed: str
    started_at: datetime
    due_at: datetime | None
    late: bool
    """Met or restarted after its target, or the breach itself (``deadline_breached``)."""


TimelineEntry = Annotated[RecordEntry | DeadlineEntry, Field(discriminator="kind")]


class OpenDeadline(_Frozen):
    """An SLA clock still open at ``now``."""

    clock: SLAClock
    owed: str
    started_at: datetime
    due_at: datetime | None
    remaining: timedelta
    breached: bool
    paused: bool


class Diagram(_Frozen):
    """The ticket's path drawn on the procedure diagram.

    ``mermaid`` is always there (the live view of :func:`escalation_fsm.diagrams.to_mermaid`);
    ``svg`` only when asked for and Graphviz could draw it, otherwise ``svg_note`` says why not.
    """

    mermaid: str
    svg: str | None = None
    svg_note: str | None = None


class Timeline(_Frozen):
    """A ticket's full history for a person: who did what, when, and what it meant for its SLA."""

    schema_version: Literal[1] = 1
    ticket_id: str
    customer_id: str
    category: str | None
    priority: str
    stage: str
    version: int
    opened_at: datetime | None
    now: datetime
    path: tuple[str, ...]
    """The stages the ticket went through, in order, without repeats in a row."""
    entries: tuple[TimelineEntry, ...]
    open_deadlines: tuple[OpenDeadline, ...]
    diagram: Diagram
