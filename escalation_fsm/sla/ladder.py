"""The escalation ladder as data: what to do, and when, as an SLA clock runs towards its target.

A :class:`LadderStep` comes due at a point of a clock run's *business time*: a fraction of the
target (``at = 0.5``: half of it used; ``at = 1.0``: the breach) or an offset from the deadline
(``offset = "-PT30M"``: half an hour before it; ``"PT1H"``: one business hour after it). Each
names one action: notify a role, escalate (the spec's trigger marked ``escalate`` from the
ticket's stage, fired through the machine as actor ``system``), raise the ticket's urgency, or
call a host callback by name.

:class:`SLAPolicy.ladder <escalation_fsm.sla.SLAPolicy>` holds the steps per clock and urgency.
The due instants are computed from the folded clock state exactly like deadlines
(:mod:`escalation_fsm.sla.steps`), so they survive restarts and pauses. A step is identified by
its clock, the run and its name: the same name at several urgencies is one step (acted on once
per run, whatever the priority does meanwhile).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from ..models import Urgency
from .clock_names import SLAClock

__all__ = ["Ladder", "LadderStep", "StepAction", "step_threshold"]

_ZERO = timedelta(0)


class StepAction(StrEnum):
    """What acting on a ladder step does."""

    NOTIFY = "notify"
    """Tell a role (the host's notifier sends it; the step's ``role`` names whom)."""
    ESCALATE = "escalate"
    """Fire the spec's escalating trigger from the ticket's stage, as actor ``system``."""
    RAISE_URGENCY = "raise_urgency"
    """Raise the ticket's priority one level (low, normal, high, critical)."""
    CALLBACK = "callback"
    """Call the host callback registered under the step's ``callback`` name."""


StepName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


class LadderStep(BaseModel):
    """One step of a ladder: when it comes due (``at`` or ``offset``) and what it does.

    ``at`` is a fraction of the target (``0.5``, ``0.75``, ``1.0`` for the breach, ``1.5``);
    ``offset`` a business-time offset from the deadline, negative before it. Exactly one of the
    two. ``role`` is whom a ``notify`` step tells; ``callback`` the host callback a ``callback``
    step calls; ``payload`` what an ``escalate`` step gives the escalating trigger (a summary,
    say). Every problem of a step is reported at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StepName
    at: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    offset: timedelta | None = None
    action: StepAction
    role: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    callback: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> LadderStep:
        problems = []
        if (self.at is None) == (self.offset is None):
            problems.append("give exactly one of 'at' (a fraction of the target, e.g. 0.75) and "
                            "'offset' (from the deadline, e.g. '-PT30M' or 'PT1H')")
        if self.offset is not None and abs(self.offset) > timedelta(days=3650):
            problems.append(f"offset {self.offset} is beyond ten years")
        wants = {StepAction.NOTIFY: "role", StepAction.CALLBACK: "callback"}
        for field in ("role", "callback"):
            needed = wants.get(self.action) == field
            if needed and getattr(self, field) is None:
                problems.append(f"a {self.action.value!r} step needs {field!r}")
            if not needed and getattr(self, field) is not None:
                problems.append(f"{field!r} is only for "
                                f"{'notify' if field == 'role' else 'callback'} steps, not "
                                f"{self.action.value!r}")
        if self.payload and self.action is not StepAction.ESCALATE:
            problems.append(f"'payload' is only for escalate steps, not {self.action.value!r}")
        if problems:
            raise ValueError(f"step {self.name!r}: " + "; ".join(problems))
        return self

    @property
    def when(self) -> str:
        """When the step comes due, for people: ``75% of the target``, ``1:00:00 after breach``."""
        if self.at is not None:
            return f"{self.at:.0%} of the target"
        assert self.offset is not None  # noqa: S101 (one of the two, validated)
        side = "before" if self.offset < _ZERO else "after"
        return f"{abs(self.offset)} {side} the deadline"

    def threshold(self, target: timedelta) -> timedelta:
        """The business time of the run at which the step comes due, for ``target``."""
        return step_threshold(self.at, self.offset, target)


def step_threshold(at: float | None, offset: timedelta | None, target: timedelta) -> timedelta:
    """``at * target`` or ``target + offset``, never below zero (due as the run starts)."""
    if at is not None:
        return target * at  # timedelta rounds to whole microseconds
    value = target + (offset or _ZERO)
    return value if value > _ZERO else _ZERO


Steps = tuple[LadderStep, ...]


class Ladder(RootModel[dict[SLAClock, dict[Urgency, Steps]]]):
    """The steps per clock and urgency: ``{"tier2_update": {"high": [step, ...]}}``.

    Validated whole: step names are unique within a clock and urgency; a name used at several
    urgencies of one clock is one step, and must mean the same action there.
    """

    model_config = ConfigDict(frozen=True)
    root: dict[SLAClock, dict[Urgency, Steps]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Ladder:
        problems = []
        for clock, per_urgency in self.root.items():
            actions: dict[str, StepAction] = {}
            for urgency, steps in per_urgency.items():
                seen: set[str] = set()
                for step in steps:
                    if step.name in seen:
                        problems.append(f"{clock.value}/{urgency.value}: step name {step.name!r} "
                                        f"is used more than once")
                    seen.add(step.name)
                    first = actions.setdefault(step.name, step.action)
                    if first is not step.action:
                        problems.append(f"{clock.value}: step {step.name!r} is {first.value!r} at "
                                        f"one urgency and {step.action.value!r} at another (a "
                                        f"name is one step; give them different names)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def __bool__(self) -> bool:
        return any(steps for per_urgency in self.root.values() for steps in per_urgency.values())

    def of(self, clock: SLAClock, urgency: Urgency) -> Steps:
        """The steps of ``clock`` at ``urgency`` (empty: none)."""
        per_urgency = self.root.get(clock)
        return () if per_urgency is None else per_urgency.get(urgency, ())

    def every(self) -> list[tuple[SLAClock, Urgency, LadderStep]]:
        """Every step with its clock and urgency, in the order given."""
        return [(clock, urgency, step) for clock, per_urgency in self.root.items()
                for urgency, steps in per_urgency.items() for step in steps]

    def thresholds(self, clock: SLAClock, targets: list[timedelta]) -> list[timedelta]:
        """Every threshold a run of ``clock`` can be judged at, for each of ``targets``."""
        per_urgency = self.root.get(clock, {})
        return sorted({step.threshold(target) for steps in per_urgency.values()
                       for step in steps for target in targets})
