"""What the replay of one case gives: its :class:`CaseResult` and the :class:`Deviation` in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..errors import InvalidTransition, PermissionDenied, TransitionRefused
from ..sla import Deadline
from .program import Status

__all__ = ["CaseResult", "Deviation", "describe"]


@dataclass(frozen=True, slots=True)
class Deviation:
    """An event the spec did not allow: where it was, what was tried, and why it was refused.

    ``index`` is the 0-based position of the event in the case (in replay order); ``line`` its
    line in the log file. ``rule`` groups deviations for counting (e.g. ``resolve from
    identified: not allowed``); ``reason`` is the machine's explanation in words.
    """

    index: int
    line: int
    at: datetime
    activity: str
    stage: str
    trigger: str
    kind: Literal["not_allowed", "refused", "role", "payload"]
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The replay of one case.

    ``status``: ``fits`` (every event allowed, ended in a final stage), ``deviates`` (at least one
    event not allowed) or ``open`` (every event allowed but the log ends before a final stage,
    when the mapping has ``require_final``). ``fired`` lists the ``(source, trigger)`` of every
    transition the machine committed; ``stage_seconds`` the time spent in each stage.
    """

    case_id: str
    status: Status
    events: int
    start: datetime
    end: datetime
    final_stage: str
    deviations: tuple[Deviation, ...]
    fired: tuple[tuple[str, str], ...]
    stage_seconds: dict[str, float]
    category: str | None
    priority: str | None
    escalated: bool
    reopened: bool
    resolved_at: datetime | None
    clock_backwards: bool = False
    """Some event is timed earlier than the one before it in replay order (that gap is not
    counted in ``stage_seconds``)."""
    sla_runs: tuple[Deadline, ...] = ()
    """The case's SLA clock runs as of its last event, when the replayer has an SLA policy."""

    @property
    def fits(self) -> bool:
        """Whether the case followed the (observable) rules to a final stage."""
        return self.status == "fits"

    @property
    def first_deviation(self) -> Deviation | None:
        """The first event the spec did not allow, if any."""
        return self.deviations[0] if self.deviations else None

    def as_record(self) -> dict[str, object]:
        """The result as JSON-ready data (one line of ``escalation-fsm replay --cases``)."""
        first = self.first_deviation
        return {
            "case_id": self.case_id, "status": self.status, "events": self.events,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "final_stage": self.final_stage, "deviations": len(self.deviations),
            "first_deviation": None if first is None else {
                "index": first.index, "line": first.line, "at": first.at.isoformat(),
                "activity": first.activity, "stage": first.stage, "trigger": first.trigger,
                "kind": first.kind, "rule": first.rule, "reason": first.reason},
            "stage_hours": {k: round(v / 3600, 3) for k, v in self.stage_seconds.items()},
            "category": self.category, "priority": self.priority, "escalated": self.escalated,
            "reopened": self.reopened, "clock_backwards": self.clock_backwards,
            "resolved_at": None if self.resolved_at is None else self.resolved_at.isoformat(),
        }

    @property
    def resolution_seconds(self) -> float | None:
        """From the first event to the last resolution, if the case was resolved."""
        return None if self.resolved_at is None else (self.resolved_at - self.start).total_seconds()


def describe(exc: Exception, stage: str, trigger: str) -> tuple[str, str, str]:
    """(kind, rule, reason) for a refusal by the machine."""
    if isinstance(exc, InvalidTransition):
        allowed = ", ".join(sorted(exc.defined)) or "none"
        return ("not_allowed", f"{trigger} from {stage}: not allowed",
                f"{trigger!r} is not allowed in stage {stage!r} (allowed there: {allowed})")
    if isinstance(exc, TransitionRefused):
        return ("refused", f"{trigger} from {stage}: refused", "; ".join(exc.reasons))
    if isinstance(exc, PermissionDenied):
        allowed = ", ".join(sorted(exc.allowed_roles))
        return ("role", f"{trigger} from {stage}: role {exc.role} not allowed",
                f"role {exc.role!r} may not fire {trigger!r} in stage {stage!r} "
                f"(roles allowed: {allowed})")
    return ("payload", f"{trigger} from {stage}: rejected", str(exc).splitlines()[0])
