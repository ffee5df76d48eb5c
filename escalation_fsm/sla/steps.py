"""When each ladder step comes due, from the folded clock state, exactly like a deadline.

A step of a run comes due at the instant the run's business time reaches the step's threshold
(``at * target``, or ``target + offset``; see :mod:`escalation_fsm.sla.ladder`): while the run
runs, that is the calendar's ``add`` from where the run stands, so an offset after the deadline is
the calendar's add from the due instant. A paused run's steps are not due (they come due again,
at once if their instant has passed, when it runs); a met run has none. The target follows the
ticket's priority when asked, so raising the urgency moves the steps with the deadline.

Nothing here depends on when it is asked: a store indexes :func:`next_step_at` on every save, and
a worker asks :func:`due_steps` when it acts. Steps already acted on (``ClockState.acted``) are
never due again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..models import Ticket, Urgency
from ..spec import MachineSpec
from .clocks import clock_state
from .fold import ClockRun, ClockState
from .ladder import LadderStep
from .policy import SLAClock, SLAPolicy

__all__ = ["DueStep", "due_steps", "ladder_steps", "next_step", "next_step_at", "pending_steps",
           "step_key"]

_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class DueStep:
    """One ladder step of one clock run: when it comes due and what it does.

    ``run_started_at`` identifies the run (a clock runs again after each customer update, say);
    ``target`` is the run's target at the ticket's priority and ``deadline_at`` when it is (or
    was) reached.
    """

    clock: SLAClock
    run_started_at: datetime
    step: LadderStep
    target: timedelta
    due_at: datetime
    deadline_at: datetime | None

    @property
    def name(self) -> str:
        """The step's name."""
        return self.step.name

    @property
    def key(self) -> str:
        """A stable text naming this step of this run (the idempotency key of its record)."""
        return step_key(self.clock, self.run_started_at, self.step.name)

    def describe(self) -> str:
        """One line for people: ``tier2_update 'warn' (75% of the target) due 2024-...``."""
        return (f"{self.clock.value} {self.step.name!r} ({self.step.when}) due "
                f"{self.due_at:%Y-%m-%d %H:%M:%S} UTC: {self.step.action.value}")


def step_key(clock: SLAClock, run_started_at: datetime, name: str) -> str:
    """``follow-up:<clock>:<run start, UTC>:<step>``: unique per step and run of a ticket."""
    start = run_started_at.astimezone(UTC).isoformat(timespec="microseconds")
    return f"follow-up:{clock.value}:{start}:{name}"


def _reached(run: ClockRun, policy: SLAPolicy, threshold: timedelta) -> datetime | None:
    """The instant a running run's business time reaches ``threshold`` (as ``ClockRun.due_at``)."""
    if threshold <= _ZERO:
        return run.started_at
    calendar = run.calendar(policy)
    if run.elapsed >= threshold:
        # The stretch in which it was crossed: the last one started below it.
        for start, before in reversed(run.segments):
            if before < threshold:
                return calendar.add(start, threshold - before)
        return None  # pragma: no cover (the fold keeps every stretch a threshold falls in)
    return calendar.add(run.since, threshold - run.elapsed)


def pending_steps(clocks: ClockState, policy: SLAPolicy, priority: Urgency) -> list[DueStep]:
    """Every step not yet acted on of every open, running run, soonest first."""
    ladder = policy.ladder
    if not ladder:
        return []
    found = []
    for run in clocks.open:
        if run.paused or run.met_at is not None:
            continue
        steps = ladder.of(run.clock, priority)
        if not steps:
            continue
        target = run.target(policy, priority)
        if target is None:
            continue
        deadline_at = run.due_at(policy, target)
        for step in steps:
            if (run.clock, run.started_at, step.name) in clocks.acted:
                continue
            due_at = _reached(run, policy, step.threshold(target))
            if due_at is not None:
                found.append(DueStep(run.clock, run.started_at, step, target, due_at, deadline_at))
    found.sort(key=lambda s: (s.due_at, s.clock.value, s.step.name))
    return found


def next_step(clocks: ClockState, policy: SLAPolicy, priority: Urgency) -> DueStep | None:
    """The step that comes due first (``None``: none pending)."""
    pending = pending_steps(clocks, policy, priority)
    return pending[0] if pending else None


def next_step_at(clocks: ClockState, policy: SLAPolicy, priority: Urgency) -> datetime | None:
    """Just its instant: what a store indexes beside each ticket."""
    step = next_step(clocks, policy, priority)
    return None if step is None else step.due_at


def due_steps(clocks: ClockState, policy: SLAPolicy, priority: Urgency, *,
              by: datetime) -> list[DueStep]:
    """The pending steps due at or before ``by``, soonest first."""
    return [step for step in pending_steps(clocks, policy, priority) if step.due_at <= by]


def ladder_steps(ticket: Ticket, policy: SLAPolicy, spec: MachineSpec) -> list[DueStep]:
    """The pending steps of ``ticket``, from its whole history (no stored state)."""
    return pending_steps(clock_state(ticket, policy, spec), policy, ticket.priority)
