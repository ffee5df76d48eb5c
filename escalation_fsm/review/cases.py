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
from ..models import Urgency
from ..replay.report import ReportFigures
from ..replay.training import TrainingFigures
from ..sla import SLAPolicy
from ..spec import MachineSpec
from ..stores import TicketHistory
from ..stores._digest import HistoryDigest
from .clocks import ShapeBreaches, micros_of

__all__ = ["CaseCounter", "Shape"]

_MAX_SHAPES = 20_000
_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class Shape:
    """What a history of one shape (its first stage, then each record's trigger and stage) says.

    Indexes are positions in the history (``None``: no such record).
    """

    fired: tuple[tuple[str, str], ...]
    """``(source, trigger)`` of every record that is a transition of the spec."""
    counted: tuple[tuple[int, str, int], ...]
    """``(position, stage, position - 1)``: the time up to that record (from the record before,
    or from the opening for the first) was spent in that (non-final) stage."""
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
        self.asked: tuple[str, ...] = () if self.breaches is None else self.breaches.asked
        """The triggers whose payload values the SLA counts read (:meth:`add_digest`)."""
        self.shapes: dict[object, Shape] = {}
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
        # Every duration in whole microseconds: (b - a) / 10**6 is timedelta.total_seconds().
        micros = micros_of(times)
        opened_us = None if opened is None else micros_of((opened,))[0]
        key = (history.first_stage, history.triggers, history.stages)
        shape = self.shapes.get(key) or self._new_shape(key, history.first_stage or "",
                                                        history.triggers, history.stages)
        self._count(history, shape, times, micros, opened_us, history.actors)
        if self.breaches is not None:
            self.breaches.count(history, micros, opened_us)
        what_if = self.figures.ladder
        if what_if is not None:  # the ladder's what-if walks the records (built when asked)
            what_if.add_history(history.records, stage=history.first_stage or history.stage,
                                opened_at=opened, priority=Urgency(history.priority),
                                end=times[-1])

    def add_digest(self, digest: HistoryDigest) -> None:
        """Count one stored ticket read in brief (as :meth:`add` counts its full history).

        Not with the ladder's what-if, which walks the records: read full histories for that.
        """
        if self.figures.ladder is not None:
            raise ValueError("the ladder's what-if needs full histories, not digests")
        times, micros, opened_us = digest.times, digest.micros, digest.opened_us
        key = digest.shape
        shape = self.shapes.get(key) or self._new_shape(key, digest.first_stage,
                                                        digest.triggers, digest.stages)
        self._count(digest, shape, times, micros, opened_us, digest.actors)
        if self.breaches is not None:
            self.breaches.count_digest(digest, micros, opened_us)

    def _new_shape(self, key: object, stage: str, triggers: Sequence[str],
                   stages: Sequence[str]) -> Shape:
        if len(self.shapes) >= _MAX_SHAPES:
            self.shapes.clear()
        shape = self.shapes[key] = self.shape(stage, list(zip(triggers, stages, strict=True)))
        return shape

    def _count(self, item: TicketHistory | HistoryDigest, shape: Shape,  # noqa: PLR0917
               times: Sequence[datetime], micros: Sequence[int], opened_us: int | None,
               actors: Sequence[str]) -> None:
        """What every stored ticket adds to the figures and the training section."""
        start_us = micros[0] if opened_us is None else opened_us
        seconds: dict[str, float] = {}
        for position, stage, before in shape.counted:
            seconds[stage] = seconds.get(stage, 0.0) + (
                micros[position] - (start_us if before < 0 else micros[before])) / _SECOND
        category, priority = item.category, item.priority
        last_resolve = shape.last_resolve
        start = times[0] if item.opened_at is None else item.opened_at
        self.figures.add(
            item.id, "fits" if item.stage in self.finals else "open", len(times), False,
            shape.escalated, shape.reopened,
            None if last_resolve is None else (micros[last_resolve] - start_us) / _SECOND,
            category, priority, f"{start.year:04d}-{start.month:02d}", (), seconds, shape.fired)
        attempt, resolve = shape.first_attempt, shape.first_resolve
        self.training.count(
            category, None if attempt is None else actors[attempt], shape.escalated,
            resolve is not None and not (shape.escalated or shape.reopened_after_resolving),
            None if attempt is None or opened_us is None
            else (micros[attempt] - opened_us) / _SECOND,
            None if resolve is None else actors[resolve], shape.reopened_after_resolving)
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
                counted.append((position, stage, position - 1))
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
