"""SLA clocks as a fold: a pure step from (clock state, new audit record) to the next clock state.

A :class:`ClockState` holds what the history said about a ticket's clocks so far: each open run
(business time accumulated, whether it is paused) and the latest met run of each clock. Folding
one more record costs the same whatever the history's length, which is what lets a store save a
ticket, and index its next deadline, without walking its history.

The triggers that start, meet and resume clocks are found by their marks
(:class:`~escalation_fsm.marks.Mark`), never by name. Targets are *not* folded in: a run's target
follows the ticket's priority at the time of asking (an escalation may change it), so a run keeps
its running stretches (``segments``) to tell when it reached a target. Only the stretches that can
matter for some target of the policy are kept, so the state stays small however often a ticket
is paused, resumed or reopened.

Between two records the ticket sits in one stage, and every open clock the stage does not pause
accumulates the business time of that stretch. A record that changes no clock (a step recorded,
say) is not even measured at: business time is additive, so measuring once at the next change is
the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from ..bounds import MIGRATE_TRIGGER
from ..marks import Mark
from ..models import FOLLOW_UP_TRIGGER, AuditRecord, Urgency
from .acted import acted_after, acted_of, acted_text, still_open
from .clock_run import EPOCH as _EPOCH
from .clock_run import MICRO as _MICRO
from .clock_run import ZERO as _ZERO
from .clock_run import ClockRun, Deadline
from .clock_run import instant as _at
from .clock_run import new_run as _run
from .clock_run import resumed as _resumed
from .clock_run import run_of as _run_of
from .clock_run import run_text as _run_text
from .policy import SLAClock, SLAPolicy
from .runs import restarts_cadence

if TYPE_CHECKING:
    from ..spec import MachineSpec

__all__ = ["ClockRun", "ClockState", "Deadline", "Meaning", "meaning_of"]

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)

# What a trigger does to the clocks, as bits (a trigger may do several things).
_ESCALATE, _TIER_UPDATE, _CUSTOMER_UPDATE, _PROMISE, _RESOLVE, _REOPEN, _INTERACTION = (
    1, 2, 4, 8, 16, 32, 64)
_BITS = {Mark.ESCALATE: _ESCALATE, Mark.TIER_UPDATE: _TIER_UPDATE,
         Mark.CUSTOMER_UPDATE: _CUSTOMER_UPDATE, Mark.PROMISE: _PROMISE, Mark.RESOLVE: _RESOLVE,
         Mark.REOPEN: _REOPEN, Mark.INTERACTION: _INTERACTION}
# The clocks as plain module constants: an enum member looked up on its class goes through a
# Python-level descriptor, and these are read on every save.
_FIRST, _RESOLUTION, _TIER2, _CUSTOMER, _PROMISED = (
    SLAClock.FIRST_RESPONSE, SLAClock.RESOLUTION, SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
    SLAClock.PROMISED_RESPONSE)
_ENDED_BY_RESOLVING = (_RESOLUTION, _TIER2, _CUSTOMER, _PROMISED)

Meaning = dict[str, int]
"""Trigger name -> what it does to the SLA clocks (from its marks); see :func:`meaning_of`."""


_MEANINGS: dict[int, tuple[MachineSpec, Meaning]] = {}


def meaning_of(spec: MachineSpec) -> Meaning:
    """What each trigger of ``spec`` does to the SLA clocks, read from its marks.

    Remembered per spec object (every save asks; hashing a whole spec costs more than the fold).
    """
    found = _MEANINGS.get(id(spec))
    if found is None or found[0] is not spec:
        if len(_MEANINGS) > 256:  # specs are few and long-lived; bound it all the same
            _MEANINGS.clear()
        meaning = {t.name: sum(bit for mark, bit in _BITS.items() if mark in t.marks)
                   for t in spec.triggers}
        found = _MEANINGS[id(spec)] = (spec, meaning)
    return found[1]


@dataclass(slots=True)
class ClockState:
    """The SLA clocks of one ticket after folding its history: :meth:`after` is the step.

    ``opened`` is when the clocks started (``None``: not yet, the ticket has neither an opening
    time nor a record); ``end`` the latest instant the history knows; ``seq`` how many records
    were folded. A value, like :class:`ClockRun`: :meth:`after` returns a new state.
    """

    opened: datetime | None
    stage: str
    end: datetime | None
    open: tuple[ClockRun, ...] = ()
    last: tuple[ClockRun, ...] = ()
    """The latest met run of each clock."""
    seq: int = 0
    acted: frozenset[tuple[SLAClock, datetime, str]] = frozenset()
    """Ladder steps acted on in the open runs, as (clock, run start, step name): see
    :mod:`escalation_fsm.sla.steps` (folded from :data:`~escalation_fsm.models.FOLLOW_UP_TRIGGER`
    records; kept while their run is open or its clock's latest, which a reopening resumes)."""

    @classmethod
    def start(cls, stage: str, opened_at: datetime | None, policy: SLAPolicy) -> ClockState:
        """The clocks of a ticket opened at ``opened_at`` in ``stage``, before any record."""
        state = cls(opened=None, stage=stage, end=None)
        return state if opened_at is None else state._opened(opened_at.astimezone(UTC), policy)

    def _opened(self, at: datetime, policy: SLAPolicy) -> ClockState:
        paused = policy.paused(self.stage)
        runs = tuple(_run(clock, at, clock in paused) for clock in (_FIRST,
                                                                    _RESOLUTION))
        return ClockState(at, self.stage, at, runs, self.last, self.seq, self.acted)

    def after(self, record: AuditRecord, policy: SLAPolicy, meaning: Meaning,
              done: list[ClockRun] | None = None) -> ClockState:
        """The state once ``record`` is folded in (this one is unchanged).

        ``done`` collects every run the record meets (for breach rates over a ticket's life).
        """
        at = record.at
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        state = self if self.opened is not None else self._opened(at, policy)
        opened = state.opened
        end = at if opened is None or at > opened else opened
        if record.trigger == MIGRATE_TRIGGER:  # a new version of the procedure, not an event:
            step = _Step(state, policy, done, at)  # only the stage's name (and pauses) change
            step.enter(record.dest)
            return ClockState(opened, record.dest, end, tuple(step.open.values()),
                              tuple(step.last.values()), state.seq + 1)
        bits = meaning.get(record.trigger, 0)
        if not bits and record.dest == record.source:
            acted = state.acted
            if record.trigger == FOLLOW_UP_TRIGGER:  # the ladder: see escalation_fsm.sla.steps
                acted = acted_after(acted, record, state.open)
            return ClockState(opened, state.stage, end, state.open, state.last, state.seq + 1, acted)
        # Only the runs this record meets, pauses or resumes are brought up to date: a run left
        # alone accumulates later over a longer stretch, which measures the same (additivity).
        step = _Step(state, policy, done, at)
        if record.dest != record.source:
            step.meet(_FIRST, at)
        if bits & _RESOLVE:
            for clock in _ENDED_BY_RESOLVING:
                step.meet(clock, at)
        if bits & _REOPEN:
            step.resume_resolution(at)
        if bits & _TIER_UPDATE:
            step.meet(_TIER2, at)
            step.meet(_PROMISED, at)
        if bits & _ESCALATE:
            step.start(_TIER2, at)
            step.start(_CUSTOMER, at)
        elif _CUSTOMER in step.open and (bits & _CUSTOMER_UPDATE or (
                bits & _INTERACTION and restarts_cadence(record.payload.get("direction"),
                                                         policy.interactions))):
            step.start(_CUSTOMER, at)  # this period ends now; the next update is due in turn
        if bits & _PROMISE and (eta := record.payload.get("eta")) is not None:
            step.meet(_PROMISED, at)  # a new estimate replaces the old one
            step.start(_PROMISED, at, eta=_DURATION.validate_python(eta))
        step.enter(record.dest)
        runs, last = tuple(step.open.values()), tuple(step.last.values())
        # A met run keeps its acted steps while it is its clock's latest: a reopening resumes it.
        return ClockState(opened, record.dest, end, runs, last, state.seq + 1,
                          still_open(state.acted, (*runs, *last)))

    def runs(self, policy: SLAPolicy, *, now: datetime) -> tuple[ClockRun, ...]:
        """The latest run of each clock, open ones advanced to ``now`` (never before ``end``)."""
        if self.end is None:
            return ()
        step = _Step(self, policy, None, self.end)
        step.advance(max(now.astimezone(UTC), self.end))
        latest = dict(step.last)
        latest.update(step.open)
        return tuple(latest.values())

    def deadlines(self, policy: SLAPolicy, priority: Urgency, *,
                  now: datetime) -> tuple[Deadline, ...]:
        """The latest run of each tracked clock as of ``now``: open ones first, by due time."""
        found = []
        for run in self.runs(policy, now=now):
            target = run.target(policy, priority)
            if target is not None:
                found.append(run.deadline(policy, target))
        return tuple(sorted(found, key=_order))

    def to_json(self) -> str:
        """The state as compact JSON (instants and durations in whole microseconds)."""
        opened = "null" if self.opened is None else (self.opened - _EPOCH) // _MICRO
        end = "null" if self.end is None else (self.end - _EPOCH) // _MICRO
        return (f'{{"v":1,"opened":{opened},"stage":{json.dumps(self.stage)},"end":{end},'
                f'"seq":{self.seq},"open":[{",".join(map(_run_text, self.open))}],'
                f'"last":[{",".join(map(_run_text, self.last))}]{acted_text(self.acted)}}}')

    @classmethod
    def from_json(cls, text: str | bytes) -> ClockState:
        """A state written by :meth:`to_json`; ``ValueError`` says what is wrong with ``text``."""
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError(f"unknown clock state version {data.get('v')!r}")
            return cls(opened=_at(data["opened"]), stage=str(data["stage"]), end=_at(data["end"]),
                       seq=int(data["seq"]), open=tuple(_run_of(item) for item in data["open"]),
                       last=tuple(_run_of(item) for item in data["last"]),
                       acted=acted_of(data.get("acted", ())))
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"not a clock state: {type(exc).__name__}: {exc}") from exc

    def next_due(self, policy: SLAPolicy, priority: Urgency) -> Deadline | None:
        """The open, running clock that falls due first, or ``None``.

        It never depends on when it is asked: a running clock's due instant is fixed by the
        history (what makes it indexable); the runs are taken to ``end``, the last instant the
        history knows, only for the figures of the one returned.
        """
        best = self._soonest(policy, priority)
        if best is None or self.end is None:
            return None
        run, target = best[2], best[3]
        step = _Step(self, policy, None, self.end)
        step.advance(self.end)
        return step.open[run.clock].deadline(policy, target)

    def next_due_at(self, policy: SLAPolicy, priority: Urgency) -> datetime | None:
        """Just the instant of :meth:`next_due` (what a store indexes on every save)."""
        best = self._soonest(policy, priority)
        return None if best is None else best[0]

    def _soonest(self, policy: SLAPolicy,
                 priority: Urgency) -> tuple[datetime, SLAClock, ClockRun, timedelta] | None:
        best: tuple[datetime, SLAClock, ClockRun, timedelta] | None = None
        waiting: list[tuple[ClockRun, timedelta]] = []
        for run in self.open:
            if run.paused:
                continue
            target = run.target(policy, priority)
            if target is None:
                continue
            memo = run.due
            if memo is None or memo[0] != target:
                waiting.append((run, target))
                continue
            # Clocks are text (a StrEnum): ties on the instant go by name, as in deadlines().
            if memo[1] is not None and (best is None or (memo[1], run.clock) < best[:2]):
                best = (memo[1], run.clock, run, target)
        for run, target in waiting:
            # Business time never runs faster than the clock: a run that cannot fall due before
            # the best one so far needs no calendar arithmetic.
            if (best is not None and run.elapsed < target
                    and run.since + (target - run.elapsed) > best[0]):
                continue
            due_at = run.due_at(policy, target)
            if due_at is not None and (best is None or (due_at, run.clock) < best[:2]):
                best = (due_at, run.clock, run, target)
        return best



def _order(deadline: Deadline) -> tuple[bool, bool, datetime, str]:
    far = datetime.max.replace(tzinfo=UTC)
    return (not deadline.is_open, deadline.paused, deadline.due_at or far, deadline.clock.value)


class _Step:
    """One record being folded in at ``at``.

    The runs are replaced, never changed, until the new state is built.
    """

    __slots__ = ("at", "done", "last", "measured", "open", "policy", "stage")

    def __init__(self, state: ClockState, policy: SLAPolicy, done: list[ClockRun] | None,
                 at: datetime) -> None:
        self.policy = policy
        self.stage = state.stage
        self.open = {run.clock: run for run in state.open}
        self.last = {run.clock: run for run in state.last}
        self.done = done
        self.at = at
        # The clocks of one ticket mostly run over the same stretch: measure it once.
        self.measured: dict[tuple[int, datetime, datetime], timedelta] = {}

    def caught_up(self, run: ClockRun, to: datetime) -> ClockRun:
        """``run`` accounted up to ``to`` (time counts only while it runs)."""
        if to <= run.since:
            return run
        if run.met_at is not None or run.paused:
            return run.moved(to, _ZERO)
        calendar = run.calendar(self.policy)
        key = (id(calendar), run.since, to)
        gained = self.measured.get(key)
        if gained is None:
            gained = self.measured[key] = calendar.between(run.since, to)
        return run.moved(to, gained)

    def advance(self, to: datetime) -> None:
        """Every open run accounted up to ``to`` (for reading deadlines as of then)."""
        for clock, run in self.open.items():
            self.open[clock] = self.caught_up(run, to)

    def start(self, clock: SLAClock, at: datetime, *, eta: timedelta | None = None) -> None:
        self.meet(clock, at)  # a clock started again ends its previous run
        self.open[clock] = _run(clock, at, clock in self.policy.paused(self.stage), eta=eta)

    def meet(self, clock: SLAClock, at: datetime) -> None:
        run = self.open.pop(clock, None)
        if run is not None:
            run = self.caught_up(run, at)
            met = ClockRun(run.clock, run.started_at, run.since, run.elapsed, run.paused, at,
                           run.eta, run.segments)
            self.last[clock] = met
            if self.done is not None:
                self.done.append(met)

    def enter(self, stage: str) -> None:
        self.stage = stage
        paused = self.policy.paused(stage)
        if not paused and not any(run.paused for run in self.open.values()):
            return  # nothing pauses or resumes: the common case
        for clock, run in self.open.items():
            now_paused = clock in paused
            if now_paused != run.paused:
                current = self.caught_up(run, self.at)
                segments = (current.segments if now_paused
                            else _resumed(current, current.since, self.policy))
                self.open[clock] = ClockRun(current.clock, current.started_at, current.since,
                                            current.elapsed, now_paused, current.met_at, current.eta,
                                            segments)

    def resume_resolution(self, at: datetime) -> None:
        # The same run goes on: time spent resolved does not count, time before it still does.
        last = self.last.get(_RESOLUTION)
        if last is None or _RESOLUTION in self.open:
            return
        del self.last[_RESOLUTION]
        if self.done is not None:
            self.done.remove(last)
        paused = _RESOLUTION in self.policy.paused(self.stage)
        self.open[_RESOLUTION] = ClockRun(
            last.clock, last.started_at, at, last.elapsed, paused, None, last.eta,
            last.segments if paused else _resumed(last, at, self.policy))
