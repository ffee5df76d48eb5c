"""What one trace replays to, worked out once and shared by every case with the same trace.

A case's *trace* (:class:`~.rules.Trace`: its events' activities, rule hits and roles, less the
events that fire nothing) and whether it has a category decide its steps; what the machine makes
of them (which steps commit, which are refused and why, the stage after each event, whether the
case escalated, reopened, resolved) depends on nothing else. A :class:`CaseProgram` holds all of
that, so a replayer fires a trace through the machine once and, for every further case with the
same trace, only does what depends on the case's own times: the time spent in each stage, the
resolution time and the SLA clocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Literal

from .rules import Step

__all__ = ["CaseProgram", "Outcome", "Record", "Status"]

Status = Literal["fits", "deviates", "open"]

Outcome = tuple[str, ...]
"""What one step did: ``("ok", source, trigger, dest)``, or ``("dev", stage, trigger, kind, rule,
reason)`` for a step the spec did not allow."""

Record = tuple[int, str | None, str, str, str]
"""A committed transition: (position in the trace, role, source, trigger, dest)."""

_SECOND = 1_000_000


class CaseProgram:
    """The replay of one trace (of ``length`` events): everything about it but its times.

    Positions are positions in the trace; a case whose events are not all in its trace maps
    them to its own events with its ``positions`` (see :meth:`~.rules.RowPlan.trace`).
    """

    __slots__ = ("deviation_rules", "deviations", "directions", "escalated", "final_stage",
                 "fired", "first_stage", "records", "reopened", "resolve_index", "sla", "stage_after",
                 "status", "steps")

    def __init__(self, steps: Sequence[Step], outcomes: Sequence[Outcome], final_stage: str, *,
                 length: int, initial: str, finals: frozenset[str], require_final: bool,
                 escalating: frozenset[str], reopening: frozenset[str],
                 resolving: frozenset[str], interacting: frozenset[str] = frozenset(),
                 directions: Mapping[int, str] | None = None) -> None:
        fired: list[tuple[str, str]] = []
        deviations: list[tuple[int, Outcome]] = []
        records: list[Record] = []
        entered: dict[int, str] = {}  # position -> stage after its last committed step
        self.escalated = self.reopened = False
        self.resolve_index: int | None = None
        """The position of the last step whose trigger resolves (allowed or not), if any."""
        for (index, _, role), outcome in zip(steps, outcomes, strict=True):
            trigger = outcome[2]
            if outcome[0] == "ok":
                fired.append((outcome[1], trigger))
                records.append((index, role, outcome[1], trigger, outcome[3]))
                entered[index] = outcome[3]
            else:
                deviations.append((index, outcome))
            if trigger in escalating:
                self.escalated = True
            if trigger in reopening:
                self.reopened = True
            if trigger in resolving:
                self.resolve_index = index
        self.directions = {number: direction for number, (index, _, _, trigger, _)
                           in enumerate(records) if trigger in interacting
                           and (direction := (directions or {}).get(index)) is not None}
        """The direction (``inbound``/``outbound``) of each interaction record the mapping gives
        one for, by record number."""
        self.steps = tuple(steps)
        self.final_stage = final_stage
        self.fired = tuple(fired)
        self.records = tuple(records)
        self.deviations = tuple(deviations)
        """(position, outcome) of every refused step, in replay order."""
        self.deviation_rules = tuple((rule, kind, stage, trigger, reason)
                                     for _, (_, stage, trigger, kind, rule, reason) in deviations)
        """(rule, kind, stage, trigger, reason) of every refused step, as the report counts them."""
        self.first_stage = None if initial in finals else initial
        stage = initial
        after: list[str | None] = []
        for index in range(length):
            stage = entered.get(index, stage)
            after.append(None if stage in finals else stage)
        self.stage_after = tuple(after)
        """The stage each event of the trace leaves the ticket in; ``None`` for a final stage."""
        self.status: Status
        if deviations:
            self.status = "deviates"
        elif require_final and final_stage not in finals:
            self.status = "open"
        else:
            self.status = "fits"
        self.sla: object = None
        """Room for what an SLA measurement compiles from ``records`` (it is the same for every
        case of the trace)."""

    def stage_seconds(self, instants: Sequence[int],
                      positions: Sequence[int] | None) -> tuple[dict[str, float], bool]:
        """Seconds spent in each stage, and whether the clock ever runs backwards in replay order.

        ``instants`` are the times of the case's events (microseconds since the epoch),
        ``positions`` which of them the trace holds (``None``: all). A stage lasts from the
        event that entered it to the next event. Time in a final stage is not counted (a closed
        ticket that is touched again later is not "in" it), nor is a gap in which the clock runs
        backwards.
        """
        stages: Sequence[str | None] = self.stage_after
        if positions is not None:  # the events between two of the trace stay where it left them
            stages = [self.first_stage] * (positions[0] if positions else len(instants))
            if positions:
                for stage, start, end in zip(self.stage_after, positions,
                                             (*positions[1:], len(instants)), strict=True):
                    stages += [stage] * (end - start)
        seconds: dict[str, float] = {}
        backwards = False
        previous = instants[0]
        for stage, now in zip(stages, islice(instants, 1, None)):  # noqa: B905 (one more stage)
            gap = now - previous
            previous = now
            if gap > 0:
                if stage is not None:  # same division as timedelta.total_seconds(): exact
                    seconds[stage] = seconds.get(stage, 0.0) + gap / _SECOND
            elif gap < 0:
                backwards = True
        return seconds, backwards
