"""What one stored ticket contributes to a review: its replay-style figures and its people.

A stored ticket's history was committed through the machine, so it follows the procedure by
construction: it has no deviations, and it ``fits`` once it reached a final stage (``open``
before). Everything else is read from the history the way the replay reads a log: what each
record means comes from its trigger's marks in the spec.

What depends only on the history's *shape* (its triggers and stages: the transitions fired,
whether it escalated, reopened or resolved, which record was the first attempt or the last
resolution, which stages count towards stage times) is worked out once per shape and remembered
(:class:`Shape`); a ticket then only measures its own times. The SLA clocks are counted the same
way (:class:`~escalation_fsm.review.clocks.ShapeBreaches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..marks import Mark
from ..replay.report import ReportFigures
from ..replay.training import TrainingCase, TrainingFigures
from ..sla import SLAPolicy
from ..spec import MachineSpec
from ..stores import TicketHistory
from .clocks import ShapeBreaches

__all__ = ["CaseCounter", "Shape"]

_MAX_SHAPES = 20_000


@dataclass(frozen=True, slots=True)
class Shape:
    """What a history of one shape (its first stage, then each record's trigger and stage) says.

    Indexes are positions in the history (``None``: no such record).
    """

    fired: tuple[tuple[str, str], ...]
    """``(source, trigger)`` of every record that is a transition of the spec."""
    counted: tuple[tuple[int, str], ...]
    """``(position, stage)``: the time up to that record was spent in that (non-final) stage."""
    escalated: bool
    reopened: bool
    """Some record reopens the ticket (the replay's measure)."""
    last_resolve: int | None
    first_attempt: int | None
    first_resolve: int | None
    reopened_after_resolving: bool
    """A record reopens the ticket after its first resolution (the training section's measure)."""


class CaseCounter:
    """Counts stored histories into a report's figures and its training section, under one spec."""

    def __init__(self, spec: MachineSpec, sla: SLAPolicy | None, figures: ReportFigures,
                 training: TrainingFigures) -> None:
        self.finals = spec.finals
        self.moves = frozenset(t.key for t in spec.transitions)
        marked = {mark: frozenset(spec.marked(mark)) for mark in
                  (Mark.ATTEMPT, Mark.ESCALATE, Mark.RESOLVE, Mark.REOPEN)}
        self.attempting, self.escalating = marked[Mark.ATTEMPT], marked[Mark.ESCALATE]
        self.resolving, self.reopening = marked[Mark.RESOLVE], marked[Mark.REOPEN]
        self.figures, self.training = figures, training
        self.breaches = None if sla is None else ShapeBreaches(sla, spec)
        self.shapes: dict[tuple[object, ...], Shape] = {}
        self.events = 0
        self.cases = 0
        self.first: datetime | None = None
        self.last: datetime | None = None

    def add(self, history: TicketHistory) -> None:
        """Count one stored ticket (one without history is not a case: it is left out)."""
        times = history.times
        if not times:
            return
        opened = history.opened_at
        start = opened or times[0]
        key = (history.first_stage, history.triggers, history.stages)
        shape = self.shapes.get(key)
        if shape is None:
            if len(self.shapes) >= _MAX_SHAPES:
                self.shapes.clear()
            shape = self.shapes[key] = self.shape(
                history.first_stage or "", list(zip(history.triggers, history.stages, strict=True)))
        seconds: dict[str, float] = {}
        for position, stage in shape.counted:
            before = times[position - 1] if position else start
            seconds[stage] = seconds.get(stage, 0.0) + (times[position] - before).total_seconds()
        category, priority = history.category, history.priority
        last_resolve = shape.last_resolve
        self.figures.add(
            history.id, "fits" if history.stage in self.finals else "open", len(times), False,
            shape.escalated, shape.reopened,
            None if last_resolve is None else (times[last_resolve] - start).total_seconds(),
            category, priority, f"{start.year:04d}-{start.month:02d}", (), seconds, shape.fired)
        if self.breaches is not None:
            self.breaches.count(history)
        attempt, resolve = shape.first_attempt, shape.first_resolve
        resolver = None if resolve is None else history.actors[resolve]
        self.training.add(TrainingCase(
            category=category, agent=None if attempt is None else history.actors[attempt],
            escalated=shape.escalated,
            resolved_first_contact=resolve is not None and not (
                shape.escalated or shape.reopened_after_resolving),
            first_response_seconds=None if attempt is None or opened is None
            else (times[attempt] - opened).total_seconds(),
            resolver=resolver, reopened=shape.reopened_after_resolving))
        self.events += len(times)
        self.cases += 1
        end = times[-1]
        if self.first is None or start < self.first:
            self.first = start
        if self.last is None or end > self.last:
            self.last = end

    def shape(self, stage: str, steps: Sequence[tuple[str, str]]) -> Shape:
        """What a history leaving ``stage`` through ``steps`` (trigger, stage entered) says."""
        fired, counted = [], []
        escalated = reopened = reopened_after = False
        last_resolve = first_attempt = first_resolve = None
        for position, (trigger, dest) in enumerate(steps):
            if stage not in self.finals:  # time in a final stage is not time anyone worked
                counted.append((position, stage))
            if (stage, trigger) in self.moves:
                fired.append((stage, trigger))
            escalated = escalated or trigger in self.escalating
            if trigger in self.reopening:
                reopened = True
                reopened_after = reopened_after or first_resolve is not None
            if trigger in self.resolving:
                last_resolve = position
                first_resolve = position if first_resolve is None else first_resolve
            if trigger in self.attempting and first_attempt is None:
                first_attempt = position
            stage = dest
        return Shape(tuple(fired), tuple(counted), escalated, reopened, last_resolve,
                     first_attempt, first_resolve, reopened_after)
