"""Guards as pure predicates that return a :class:`Decision`, and the escalation policy.

A guard never raises to say no: it returns ``Decision.no("sentence")`` so that the machine can
collect every failing guard of a transition and show them all to the agent at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .models import Actor, Assessment, Level, Ticket, Urgency
from .payloads import Payload

__all__ = [
    "Decision",
    "EscalationPolicy",
    "GuardCheck",
    "GuardContext",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of a guard or policy: ``ok`` and the reasons, as sentences a person can read."""

    ok: bool
    reasons: tuple[str, ...] = ()

    @classmethod
    def yes(cls, *reasons: str) -> Decision:
        """A positive decision, optionally saying why."""
        return cls(True, reasons) if reasons else _YES

    @classmethod
    def no(cls, *reasons: str) -> Decision:
        """A negative decision; give at least one reason."""
        return cls(False, reasons)

    @classmethod
    def require(cls, condition: bool, reason: str) -> Decision:
        """``yes()`` when ``condition`` holds, otherwise ``no(reason)``."""
        return _YES if condition else cls(False, (reason,))


_YES = Decision(True)
"""Decisions are frozen values: every plain yes is this one (guards run on every fire)."""




@dataclass(slots=True)
class GuardContext:
    """Everything a guard (or an effect) may look at. Guards must not mutate anything in it.

    (Not a frozen dataclass only because one is built on every fire, and a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``.)
    """

    ticket: Ticket
    actor: Actor
    payload: Payload
    policy: EscalationPolicy
    now: datetime
    trigger: str = ""
    decisions: dict[str, Decision] = field(default_factory=dict)
    """Decisions of the guards that already passed (filled in for effects)."""


GuardCheck = Callable[[GuardContext], Decision]
"""The type of a guard predicate."""


class EscalationPolicy(BaseModel):
    """Decides whether an issue needs Tier 2 (procedure step 3), with configurable thresholds.

    Each of complexity, customer frustration and urgency that reaches its threshold is one
    *signal*; escalation is warranted when at least ``min_signals`` signals are present.

    >>> from escalation_fsm import Assessment
    >>> EscalationPolicy().decide(Assessment(complexity="high", frustration="low", urgency="normal")).ok
    True
    >>> EscalationPolicy(min_signals=2).decide(
    ...     Assessment(complexity="high", frustration="low", urgency="normal")).ok
    False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    complexity_at: Level = Level.HIGH
    frustration_at: Level = Level.HIGH
    urgency_at: Urgency = Urgency.HIGH
    min_signals: Annotated[int, Field(ge=1, le=3)] = 1

    def decide(self, assessment: Assessment) -> Decision:
        """Whether ``assessment`` warrants escalation, with the signals that decided it."""
        checks = (
            ("complexity", assessment.complexity, assessment.complexity.rank >= self.complexity_at.rank,
             self.complexity_at),
            ("customer frustration", assessment.frustration,
             assessment.frustration.rank >= self.frustration_at.rank, self.frustration_at),
            ("urgency", assessment.urgency, assessment.urgency.rank >= self.urgency_at.rank,
             self.urgency_at),
        )
        signals = tuple(
            f"{name} is {value} (escalate at {threshold} or above)"
            for name, value, hit, threshold in checks
            if hit
        )
        if len(signals) >= self.min_signals:
            return Decision.yes(*signals)
        below = ", ".join(
            f"{name} {value} is below {threshold}" for name, value, hit, threshold in checks if not hit
        )
        return Decision.no(
            f"the escalation policy does not warrant escalation: {below} "
            f"({len(signals)} of the {self.min_signals} signal(s) needed)"
        )
