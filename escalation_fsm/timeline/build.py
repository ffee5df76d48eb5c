"""Build a :class:`~escalation_fsm.timeline.model.Timeline` from a ticket and a machine.

Everything comes from the ticket's own history, the machine's spec (what each trigger means, by
its marks) and its SLA policy (business time, deadlines met or breached), as of a given ``now``:
the same inputs always give the same timeline, for a ticket read from any store.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ..diagrams import GraphvizUnavailable, render, to_mermaid
from ..errors import RenderFailed
from ..machine import EscalationMachine
from ..marks import Mark
from ..models import AuditRecord, Ticket
from ..sla import ClockRun, ClockState, Deadline, SLAClock, meaning_of
from .model import DeadlineEntry, Diagram, OpenDeadline, RecordEntry, Timeline, TimelineEntry

__all__ = ["ticket_timeline"]


def ticket_timeline(ticket: Ticket, machine: EscalationMachine, *, now: datetime | None = None,
                    svg: bool = False) -> Timeline:
    """The timeline of ``ticket`` as of ``now`` (default: the machine's clock).

    ``machine`` supplies the spec (what each record means) and the SLA policy (business time
    between records, deadlines met and breached). ``svg=True`` also draws the path as SVG through
    Graphviz; when that is not installed the timeline says so in ``diagram.svg_note`` rather than
    failing or leaving the picture out silently. A naive ``now`` raises ``ValueError``.
    """
    when = machine.clock.now() if now is None else now
    if when.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {when!r}")
    runs = _clock_runs(ticket, machine, when)
    records = list(_record_entries(ticket, machine))
    times = [r.at for r in ticket.history]
    # Each deadline event sorts right after the record whose fold step caused it (a breach: the
    # last record before it), since many records can share an instant.
    ordered: list[tuple[tuple[datetime, int, int], TimelineEntry]] = [
        ((r.at, r.seq, 0), r) for r in records]
    for event, cause in _deadline_entries(runs, when, _inbound_times(ticket, machine)):
        ordered.append(((event.at, cause or bisect_right(times, event.at), 1), event))
    ordered.sort(key=lambda pair: pair[0])
    entries = [entry for _, entry in ordered]
    return Timeline(
        ticket_id=ticket.id, customer_id=ticket.customer_id,
        category=None if ticket.category is None else str(ticket.category),
        priority=str(ticket.priority), stage=ticket.stage, version=ticket.version,
        opened_at=ticket.opened_at, now=when, path=_path(ticket), entries=tuple(entries),
        open_deadlines=tuple(_open(d) for d, _ in runs if d.is_open),
        diagram=_diagram(ticket, machine, svg=svg),
    )


def _record_entries(ticket: Ticket, machine: EscalationMachine) -> Iterable[RecordEntry]:
    spec, calendar = machine.spec, machine.sla.calendar
    previous = ticket.opened_at
    for record in ticket.history:
        marks = spec.marks_of(record.trigger)
        kind = ("interaction" if Mark.INTERACTION in marks
                else "transition" if spec.has_trigger(record.trigger) else "record")
        yield RecordEntry(
            kind=kind, at=record.at, seq=record.seq, actor_id=record.actor_id,
            actor_role=record.actor_role, trigger=record.trigger, source=record.source,
            dest=record.dest, meaning=tuple(sorted(str(m) for m in marks)),
            details=tuple(_details(record.payload)),
            since_previous=None if previous is None else record.at - previous,
            business_since_previous=(None if previous is None
                                     else calendar.between(previous, record.at)),
        )
        previous = record.at


def _details(payload: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for key, value in payload.items():
        if value is None or value in ("", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                 sort_keys=True, default=str)
        yield key, text


def _inbound_times(ticket: Ticket, machine: EscalationMachine) -> frozenset[datetime]:
    """When the customer got in touch: interactions whose direction is inbound."""
    return frozenset(r.at for r in ticket.history
                     if Mark.INTERACTION in machine.spec.marks_of(r.trigger)
                     and r.payload.get("direction") == "inbound")


def _clock_runs(ticket: Ticket, machine: EscalationMachine,
                now: datetime) -> list[tuple[Deadline, int | None]]:
    """Every clock run of ``ticket``, as :func:`~escalation_fsm.sla.clock_runs` gives them.

    Each comes with the ``seq`` of the record that met it (``None``: still open).
    """
    policy, spec = machine.sla, machine.spec
    meaning = meaning_of(spec)
    state = ClockState.start(ticket.history[0].source if ticket.history else ticket.stage,
                             ticket.opened_at, policy)
    done: list[ClockRun] = []
    # id -> (run, seq): the run is kept so that its id is never reused while it is a key.
    met_by: dict[int, tuple[ClockRun, int]] = {}
    for record in ticket.history:
        state = state.after(record, policy, meaning, done)
        # A record appends the runs it meets; a reopen removes one (the resolution resumes), so
        # the runs not yet attributed are always a tail of ``done``.
        first = len(done)
        while first and id(done[first - 1]) not in met_by:
            first -= 1
        met_by.update((id(run), (run, record.seq)) for run in done[first:])
    still = [run for run in state.runs(policy, now=now) if run.met_at is None]
    found = []
    for run, cause in [*((run, met_by[id(run)][1]) for run in done),
                       *((run, None) for run in still)]:
        target = run.target(policy, ticket.priority)
        if target is not None:
            found.append((run.deadline(policy, target), cause))
    return sorted(found, key=lambda pair: (pair[0].started_at, pair[0].clock))


def _deadline_entries(runs: Iterable[tuple[Deadline, int | None]], now: datetime,
                      inbound: frozenset[datetime]
                      ) -> Iterable[tuple[DeadlineEntry, int | None]]:
    for d, cause in runs:
        common = {"clock": d.clock, "owed": d.owed, "started_at": d.started_at,
                  "due_at": d.due_at}
        # The breach is an event of its own, at the due time, once that time has passed.
        if d.breached and d.due_at is not None and d.due_at <= (d.met_at or now):
            yield DeadlineEntry(kind="deadline_breached", at=d.due_at, late=True, **common), None
        if d.met_at is not None:
            # A customer-update period ends at the customer's own message (the SLA policy's
            # interaction rules): that restarts the cadence, it does not meet it.
            restarted = d.clock is SLAClock.CUSTOMER_UPDATE and d.met_at in inbound
            yield DeadlineEntry(kind="deadline_restarted" if restarted else "deadline_met",
                                at=d.met_at, late=d.breached, **common), cause


def _open(d: Deadline) -> OpenDeadline:
    return OpenDeadline(clock=d.clock, owed=d.owed, started_at=d.started_at, due_at=d.due_at,
                        remaining=d.remaining, breached=d.breached, paused=d.paused)


def _path(ticket: Ticket) -> tuple[str, ...]:
    stages = [ticket.history[0].source] if ticket.history else [ticket.stage]
    for record in ticket.history:
        if record.dest != stages[-1]:
            stages.append(record.dest)
    return tuple(stages)


def _drawable(ticket: Ticket, machine: EscalationMachine) -> tuple[Ticket, str | None]:
    """The ticket as the live diagram can draw it, and a note on what it leaves out.

    Records that are not transitions of the spec (written by a library service) are left off.
    """
    spec = machine.spec
    foreign = [r for r in ticket.history if spec.transition(r.source, r.trigger) is None]
    if not foreign:
        return ticket, None
    kept: list[AuditRecord] = [r for r in ticket.history if r not in foreign]
    # A drawing input only, never stored or returned: validation would (rightly) refuse it.
    drawn = Ticket.model_construct(**{**dict(ticket), "history": tuple(kept)})
    seqs = ", ".join(str(r.seq) for r in foreign)
    return drawn, f"records {seqs} are not transitions of the spec and are not drawn"


def _diagram(ticket: Ticket, machine: EscalationMachine, *, svg: bool) -> Diagram:
    drawn, note = _drawable(ticket, machine)
    mermaid = to_mermaid(machine.spec, ticket=drawn)
    if not svg:
        return Diagram(mermaid=mermaid, svg_note=note)
    try:
        image = render(machine.spec, "svg", ticket=drawn)
    except (GraphvizUnavailable, RenderFailed) as exc:
        reason = f"no SVG diagram: {exc}"
        return Diagram(mermaid=mermaid, svg_note=reason if note is None else f"{reason}; {note}")
    return Diagram(mermaid=mermaid, svg=image, svg_note=note)
