"""One run of one SLA clock (:class:`ClockRun`), its deadline, and how runs are stored.

The values the fold (:mod:`escalation_fsm.sla.fold`) builds and the helpers it builds them with:
a run's targets (by priority, or its ETA), its due instant, the stretches worth keeping when it
runs again, and its compact JSON form (instants and durations in whole microseconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..models import Urgency
from .calendar import BusinessCalendar
from .policy import SLAClock, SLAPolicy

__all__ = ["ELAPSED", "EPOCH", "MICRO", "ZERO", "ClockRun", "Deadline", "instant", "micros",
           "new_run", "possible_targets", "resumed", "run_of", "run_text", "targets_for"]

ELAPSED = BusinessCalendar.always()
ZERO = timedelta(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Deadline:
    """One SLA clock of a ticket, as of a given time.

    ``remaining`` is business time left to the target (negative: over it by that much; for a
    promised response without ``promise_in_business_time``, plain elapsed time) and ``breached``
    says the target was exceeded. ``due_at`` (UTC) is the instant the target is, or was, reached
    (for a clock met in time: when it would have been); it is ``None`` for a clock paused before
    reaching it. ``met_at`` is when the obligation was met (``None``: still open).
    """

    clock: SLAClock
    started_at: datetime
    target: timedelta
    due_at: datetime | None
    remaining: timedelta
    breached: bool
    paused: bool
    met_at: datetime | None

    @property
    def owed(self) -> str:
        """What is owed while the clock is open (a customer update, a Tier 2 response, ...)."""
        return self.clock.owed

    @property
    def is_open(self) -> bool:
        """The obligation has not been met yet."""
        return self.met_at is None

    def due_by(self, when: datetime) -> bool:
        """Whether this open, running clock is due at or before ``when``."""
        return self.is_open and not self.paused and self.due_at is not None and self.due_at <= when


@dataclass(slots=True)
class ClockRun:
    """One run of one clock, as far as the history goes (no target: see the module docstring).

    ``segments`` are the starts of its running stretches, each with the business time accumulated
    before it; ``since`` is the last instant accounted for. Treat it as a value: folding builds
    new runs and never changes one (a dataclass that is not frozen only because a save builds
    several, and frozen dataclasses set every field through ``object.__setattr__``).
    """

    clock: SLAClock
    started_at: datetime
    since: datetime
    elapsed: timedelta = ZERO
    paused: bool = False
    met_at: datetime | None = None
    eta: timedelta | None = None
    """A promised response's fixed target, measured in plain elapsed time unless the policy
    says business time; ``None``: the policy's target for the ticket's priority."""
    segments: tuple[tuple[datetime, timedelta], ...] = ()
    due: tuple[timedelta, datetime | None] | None = field(default=None, compare=False, repr=False)
    """A memo: the due instant for a target while the run runs (advancing does not move it)."""
    text: str | None = field(default=None, compare=False, repr=False)
    """A memo: the run as JSON (a save writes every run; most are the same objects as before)."""

    def target(self, policy: SLAPolicy, priority: Urgency) -> timedelta | None:
        """This run's target for a ticket of ``priority`` (``None``: not tracked)."""
        return self.eta if self.eta is not None else targets_for(policy, priority)[self.clock]

    def calendar(self, policy: SLAPolicy) -> BusinessCalendar:
        """The calendar its time runs in."""
        if self.eta is not None and not policy.promise_in_business_time:
            return ELAPSED
        return policy.calendar

    def due_at(self, policy: SLAPolicy, target: timedelta) -> datetime | None:
        """When ``target`` is (or was) reached; ``None`` while paused short of it.

        Running, it is fixed by the history: advancing the run to a later instant gives the same
        answer (business time is additive), which is what makes it worth remembering.
        """
        memo = self.due
        if memo is not None and memo[0] == target:
            return memo[1]
        calendar = self.calendar(policy)
        due_at: datetime | None
        if self.elapsed >= target:
            # The stretch in which the target was crossed: the last one started below it.
            start, before = next(s for s in reversed(self.segments) if s[1] < target)
            due_at = calendar.add(start, target - before)
        elif self.paused and self.met_at is None:
            due_at = None  # depends on when it runs again
        else:  # running: fixed by the history; met in time: when it would have fallen due
            due_at = calendar.add(self.since, target - self.elapsed)
        if self.met_at is None:
            self.due = (target, due_at)
        return due_at

    def deadline(self, policy: SLAPolicy, target: timedelta) -> Deadline:
        """The run as a :class:`Deadline` against ``target``."""
        remaining = target - self.elapsed
        return Deadline(clock=self.clock, started_at=self.started_at, target=target,
                        due_at=self.due_at(policy, target), remaining=remaining,
                        breached=remaining < ZERO, paused=self.paused and self.met_at is None,
                        met_at=self.met_at)

    def moved(self, to: datetime, gained: timedelta) -> ClockRun:
        """The run accounted up to ``to``, having gained ``gained`` of business time."""
        return ClockRun(self.clock, self.started_at, to, self.elapsed + gained, self.paused,
                        self.met_at, self.eta, self.segments, self.due)




def micros(when: datetime | None) -> int | None:
    """An instant as microseconds since the Unix epoch (``None`` stays ``None``)."""
    return None if when is None else (when - EPOCH) // MICRO


def instant(us: int | None) -> datetime | None:
    """The instant ``us`` microseconds after the Unix epoch, UTC (``None`` stays ``None``)."""
    return None if us is None else EPOCH + timedelta(microseconds=int(us))


def run_text(run: ClockRun) -> str:
    """The run as compact JSON (remembered on the run: a save writes every run)."""
    if run.text is None:
        run.text = json.dumps(
            [run.clock.value, micros(run.started_at), micros(run.since), run.elapsed // MICRO,
             int(run.paused), micros(run.met_at), None if run.eta is None else run.eta // MICRO,
             [[micros(start), before // MICRO] for start, before in run.segments]],
            separators=(",", ":"))
    return run.text


def run_of(item: list[Any]) -> ClockRun:
    """The run :func:`run_text` wrote (parsed JSON)."""
    clock, started, since, elapsed, paused, met, eta, segments = item
    return ClockRun(clock=SLAClock(clock), started_at=EPOCH + timedelta(microseconds=started),
                    since=EPOCH + timedelta(microseconds=since),
                    elapsed=timedelta(microseconds=elapsed), paused=bool(paused), met_at=instant(met),
                    eta=None if eta is None else timedelta(microseconds=eta),
                    segments=tuple((EPOCH + timedelta(microseconds=start),
                                    timedelta(microseconds=before)) for start, before in segments))


def new_run(clock: SLAClock, at: datetime, paused: bool, *, eta: timedelta | None = None) -> ClockRun:
    """A run of ``clock`` started at ``at`` (paused, or running from then)."""
    return ClockRun(clock, at, at, ZERO, paused, None, eta, () if paused else ((at, ZERO),))


def resumed(run: ClockRun, at: datetime,
             policy: SLAPolicy) -> tuple[tuple[datetime, timedelta], ...]:
    """``run``'s running stretches once it runs again from ``at``: only those that can matter.

    A target is crossed in the last stretch started below it, and a run can only be judged
    against the policy's few targets for its clock (one per urgency, or its ETA). So besides the
    current stretch, only a stretch in which one of those targets is crossed is kept: a ticket
    resolved and reopened a hundred times keeps at most five, not a hundred.
    """
    targets = possible_targets(policy, run)
    segments = run.segments
    if not targets or run.elapsed < targets[-1]:
        segments = (*segments, (at, run.elapsed))
    last = len(segments) - 1
    return tuple(seg for n, seg in enumerate(segments)
                 if n == last or any(seg[1] < t <= segments[n + 1][1] for t in targets))


def possible_targets(policy: SLAPolicy, run: ClockRun) -> list[timedelta]:
    """Every target ``run`` can be judged against, whatever the ticket's priority, ascending."""
    if run.eta is not None:
        return sorted({run.eta, *policy.ladder.thresholds(run.clock, [run.eta])})
    key = (id(policy), run.clock)
    found = POSSIBLE_MEMO.get(key)
    if found is None or found[0] is not policy:
        targets = sorted({t for urgency in Urgency
                          if (t := targets_for(policy, urgency)[run.clock]) is not None})
        # The ladder's steps are judged like targets: keep the stretches they fall in too.
        targets = sorted({*targets, *policy.ladder.thresholds(run.clock, targets)})
        found = POSSIBLE_MEMO[key] = (policy, targets)
    return found[1]


POSSIBLE_MEMO: dict[tuple[int, SLAClock], tuple[SLAPolicy, list[timedelta]]] = {}


TARGETS_MEMO: dict[tuple[int, Urgency], tuple[SLAPolicy, dict[SLAClock, timedelta | None]]] = {}


def targets_for(policy: SLAPolicy, priority: Urgency) -> dict[SLAClock, timedelta | None]:
    """Every clock's target for ``priority``, looked up once per policy.

    By identity: hashing a policy costs more than a save's whole fold.
    """
    key = (id(policy), priority)
    found = TARGETS_MEMO.get(key)
    if found is None or found[0] is not policy:
        if len(TARGETS_MEMO) > 256:  # policies are few and long-lived; bound it all the same
            TARGETS_MEMO.clear()
        found = TARGETS_MEMO[key] = (policy, {clock: policy.target(priority, clock) for clock in SLAClock})
    return found[1]
