"""SLA clocks as a fold: a pure step from (clock state, new audit record) to the next clock state.

A :class:`ClockState` holds what the history said about a ticket's clocks so far: each open run
(business time accumulated, whether it is paused) and the latest met run of each clock. Folding
one more record costs the same whatever the history's length, which is what lets a store save a
ticket, and index its next deadline, without walking its history.

The triggers that start, meet and resume clocks are found by their marks
(:class:`~escalation_fsm.marks.Mark`), never by name. Targets are *not* folded in: a run's target
follows the ticket's priority at the time of asking (an escalation may change it), so a run keeps
its running stretches (``segments``) to tell when it reached a target. Only the stretches that can
matter for some target of the policy are kept, so the state stays small.

Between two records the ticket sits in one stage, and every open clock the stage does not pause
accumulates the business time of that stretch. A record that changes no clock (a step recorded,
say) is not even measured at: business time is additive, so measuring once at the next change is
the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from ..marks import Mark
from ..models import AuditRecord, Urgency
from .calendar import BusinessCalendar
from .policy import SLAClock, SLAPolicy

if TYPE_CHECKING:
    from ..spec import MachineSpec

__all__ = ["ClockRun", "ClockState", "Deadline", "Meaning", "meaning_of"]

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_ELAPSED = BusinessCalendar.always()
_ZERO = timedelta(0)

# What a trigger does to the clocks, as bits (a trigger may do several things).
_ESCALATE, _TIER_UPDATE, _CUSTOMER_UPDATE, _PROMISE, _RESOLVE, _REOPEN = 1, 2, 4, 8, 16, 32
_BITS = {Mark.ESCALATE: _ESCALATE, Mark.TIER_UPDATE: _TIER_UPDATE,
         Mark.CUSTOMER_UPDATE: _CUSTOMER_UPDATE, Mark.PROMISE: _PROMISE, Mark.RESOLVE: _RESOLVE,
         Mark.REOPEN: _REOPEN}
_ENDED_BY_RESOLVING = (SLAClock.RESOLUTION, SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
                       SLAClock.PROMISED_RESPONSE)

Meaning = dict[str, int]
"""Trigger name -> what it does to the SLA clocks (from its marks); see :func:`meaning_of`."""


@lru_cache(maxsize=64)
def meaning_of(spec: MachineSpec) -> Meaning:
    """What each trigger of ``spec`` does to the SLA clocks, read from its marks."""
    return {t.name: sum(bit for mark, bit in _BITS.items() if mark in t.marks)
            for t in spec.triggers}


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


@dataclass(frozen=True, slots=True)
class ClockRun:
    """One run of one clock, as far as the history goes (no target: see the module docstring).

    ``segments`` are the starts of its running stretches, each with the business time accumulated
    before it; ``since`` is the last instant accounted for.
    """

    clock: SLAClock
    started_at: datetime
    since: datetime
    elapsed: timedelta = _ZERO
    paused: bool = False
    met_at: datetime | None = None
    eta: timedelta | None = None
    """A promised response's fixed target, measured in plain elapsed time unless the policy
    says business time; ``None``: the policy's target for the ticket's priority."""
    segments: tuple[tuple[datetime, timedelta], ...] = ()

    def target(self, policy: SLAPolicy, priority: Urgency) -> timedelta | None:
        """This run's target for a ticket of ``priority`` (``None``: not tracked)."""
        return self.eta if self.eta is not None else policy.target(priority, self.clock)

    def calendar(self, policy: SLAPolicy) -> BusinessCalendar:
        """The calendar its time runs in."""
        if self.eta is not None and not policy.promise_in_business_time:
            return _ELAPSED
        return policy.calendar

    def deadline(self, policy: SLAPolicy, target: timedelta) -> Deadline:
        """The run as a :class:`Deadline` against ``target``."""
        remaining = target - self.elapsed
        calendar = self.calendar(policy)
        due_at: datetime | None
        if remaining <= _ZERO:
            # The stretch in which the target was crossed: the last one started below it.
            start, before = next(s for s in reversed(self.segments) if s[1] < target)
            due_at = calendar.add(start, target - before)
        elif self.paused and self.met_at is None:
            due_at = None  # depends on when it runs again
        else:  # running: fixed by the history; met in time: when it would have fallen due
            due_at = calendar.add(self.since, remaining)
        return Deadline(clock=self.clock, started_at=self.started_at, target=target,
                        due_at=due_at, remaining=remaining, breached=remaining < _ZERO,
                        paused=self.paused and self.met_at is None, met_at=self.met_at)


@dataclass(frozen=True, slots=True)
class ClockState:
    """The SLA clocks of one ticket after folding its history: :meth:`after` is the step.

    ``opened`` is when the clocks started (``None``: not yet, the ticket has neither an opening
    time nor a record); ``end`` the latest instant the history knows; ``seq`` how many records
    were folded.
    """

    opened: datetime | None
    stage: str
    end: datetime | None
    open: tuple[ClockRun, ...] = ()
    last: tuple[ClockRun, ...] = ()
    """The latest met run of each clock."""
    seq: int = 0

    @classmethod
    def start(cls, stage: str, opened_at: datetime | None, policy: SLAPolicy) -> ClockState:
        """The clocks of a ticket opened at ``opened_at`` in ``stage``, before any record."""
        state = cls(opened=None, stage=stage, end=None)
        return state if opened_at is None else state._opened(opened_at.astimezone(UTC), policy)

    def _opened(self, at: datetime, policy: SLAPolicy) -> ClockState:
        paused = policy.paused(self.stage)
        runs = tuple(_run(clock, at, clock in paused) for clock in (SLAClock.FIRST_RESPONSE,
                                                                    SLAClock.RESOLUTION))
        return replace(self, opened=at, end=at, open=runs)

    def after(self, record: AuditRecord, policy: SLAPolicy, meaning: Meaning,
              done: list[ClockRun] | None = None) -> ClockState:
        """The state once ``record`` is folded in (this one is unchanged).

        ``done`` collects every run the record meets (for breach rates over a ticket's life).
        """
        at = record.at.astimezone(UTC)
        state = self if self.opened is not None else self._opened(at, policy)
        end = at if state.opened is None or at > state.opened else state.opened
        bits = meaning.get(record.trigger, 0)
        if record.dest == record.source and not bits:
            return replace(state, end=end, seq=state.seq + 1)
        step = _Step(state, policy, done)
        step.advance(at)
        if record.dest != record.source:
            step.meet(SLAClock.FIRST_RESPONSE, at)
        if bits & _RESOLVE:
            for clock in _ENDED_BY_RESOLVING:
                step.meet(clock, at)
        if bits & _REOPEN:
            step.resume_resolution(at)
        if bits & _TIER_UPDATE:
            step.meet(SLAClock.TIER2_UPDATE, at)
            step.meet(SLAClock.PROMISED_RESPONSE, at)
        if bits & _ESCALATE:
            step.start(SLAClock.TIER2_UPDATE, at)
            step.start(SLAClock.CUSTOMER_UPDATE, at)
        elif bits & _CUSTOMER_UPDATE and SLAClock.CUSTOMER_UPDATE in step.open:
            step.start(SLAClock.CUSTOMER_UPDATE, at)  # met now; the next update is due in turn
        if bits & _PROMISE and (eta := record.payload.get("eta")) is not None:
            step.meet(SLAClock.PROMISED_RESPONSE, at)  # a new estimate replaces the old one
            step.start(SLAClock.PROMISED_RESPONSE, at, eta=_DURATION.validate_python(eta))
        step.enter(record.dest)
        return ClockState(opened=state.opened, stage=record.dest, end=end,
                          open=tuple(step.open.values()), last=tuple(step.last.values()),
                          seq=state.seq + 1)

    def runs(self, policy: SLAPolicy, *, now: datetime) -> tuple[ClockRun, ...]:
        """The latest run of each clock, open ones advanced to ``now`` (never before ``end``)."""
        if self.end is None:
            return ()
        step = _Step(self, policy, None)
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
        return json.dumps({"v": 1, "opened": _us(self.opened), "stage": self.stage,
                           "end": _us(self.end), "seq": self.seq,
                           "open": [_run_json(run) for run in self.open],
                           "last": [_run_json(run) for run in self.last]},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ClockState:
        """A state written by :meth:`to_json`; ``ValueError`` says what is wrong with ``text``."""
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError(f"unknown clock state version {data.get('v')!r}")
            return cls(opened=_at(data["opened"]), stage=str(data["stage"]), end=_at(data["end"]),
                       seq=int(data["seq"]), open=tuple(_run_of(item) for item in data["open"]),
                       last=tuple(_run_of(item) for item in data["last"]))
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"not a clock state: {type(exc).__name__}: {exc}") from exc

    def next_due(self, policy: SLAPolicy, priority: Urgency) -> Deadline | None:
        """The open, running clock that falls due first, or ``None``.

        It never depends on when it is asked: the runs are taken to ``end``, the last instant the
        history knows.
        """
        if self.end is None:
            return None
        running = [d for d in self.deadlines(policy, priority, now=self.end)
                   if d.is_open and not d.paused and d.due_at is not None]
        return min(running, key=lambda d: (d.due_at, d.clock.value), default=None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _us(when: datetime | None) -> int | None:
    return None if when is None else (when - _EPOCH) // _MICRO


def _at(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=int(us))


def _run_json(run: ClockRun) -> list[object]:
    return [run.clock.value, _us(run.started_at), _us(run.since), run.elapsed // _MICRO,
            int(run.paused), _us(run.met_at), None if run.eta is None else run.eta // _MICRO,
            [[_us(start), before // _MICRO] for start, before in run.segments]]


def _run_of(item: list[Any]) -> ClockRun:
    clock, started, since, elapsed, paused, met, eta, segments = item
    return ClockRun(clock=SLAClock(clock), started_at=_EPOCH + timedelta(microseconds=started),
                    since=_EPOCH + timedelta(microseconds=since),
                    elapsed=timedelta(microseconds=elapsed), paused=bool(paused), met_at=_at(met),
                    eta=None if eta is None else timedelta(microseconds=eta),
                    segments=tuple((_EPOCH + timedelta(microseconds=start),
                                    timedelta(microseconds=before)) for start, before in segments))


def _run(clock: SLAClock, at: datetime, paused: bool, *, eta: timedelta | None = None,
         elapsed: timedelta = _ZERO,
         segments: tuple[tuple[datetime, timedelta], ...] = ()) -> ClockRun:
    return ClockRun(clock=clock, started_at=at, since=at, elapsed=elapsed, paused=paused, eta=eta,
                    segments=segments if paused else (*segments, (at, elapsed)))


def _order(deadline: Deadline) -> tuple[bool, bool, datetime, str]:
    far = datetime.max.replace(tzinfo=UTC)
    return (not deadline.is_open, deadline.paused, deadline.due_at or far, deadline.clock.value)


class _Step:
    """One record being folded in: the runs, mutable until the new state is built."""

    __slots__ = ("done", "last", "open", "policy", "stage")

    def __init__(self, state: ClockState, policy: SLAPolicy, done: list[ClockRun] | None) -> None:
        self.policy = policy
        self.stage = state.stage
        self.open = {run.clock: run for run in state.open}
        self.last = {run.clock: run for run in state.last}
        self.done = done

    def advance(self, to: datetime) -> None:
        # The clocks of one ticket mostly run over the same stretch: measure it once.
        measured: dict[tuple[int, datetime], timedelta] = {}
        for clock, run in self.open.items():
            if to <= run.since:
                continue
            if run.met_at is None and not run.paused:
                calendar = run.calendar(self.policy)
                key = (id(calendar), run.since)
                gained = measured.get(key)
                if gained is None:
                    gained = measured[key] = calendar.between(run.since, to)
                self.open[clock] = replace(run, since=to, elapsed=run.elapsed + gained)
            else:
                self.open[clock] = replace(run, since=to)

    def start(self, clock: SLAClock, at: datetime, *, eta: timedelta | None = None) -> None:
        self.meet(clock, at)  # a clock started again ends its previous run
        self.open[clock] = _run(clock, at, clock in self.policy.paused(self.stage), eta=eta)

    def meet(self, clock: SLAClock, at: datetime) -> None:
        run = self.open.pop(clock, None)
        if run is not None:
            met = replace(run, met_at=at)
            self.last[clock] = met
            if self.done is not None:
                self.done.append(met)

    def enter(self, stage: str) -> None:
        self.stage = stage
        paused = self.policy.paused(stage)
        for clock, run in self.open.items():
            now_paused = clock in paused
            if now_paused != run.paused:
                segments = run.segments if now_paused else (*run.segments, (run.since, run.elapsed))
                self.open[clock] = replace(run, paused=now_paused, segments=segments)

    def resume_resolution(self, at: datetime) -> None:
        # The same run goes on: time spent resolved does not count, time before it still does.
        last = self.last.get(SLAClock.RESOLUTION)
        if last is None or SLAClock.RESOLUTION in self.open:
            return
        del self.last[SLAClock.RESOLUTION]
        if self.done is not None:
            self.done.remove(last)
        paused = SLAClock.RESOLUTION in self.policy.paused(self.stage)
        self.open[SLAClock.RESOLUTION] = replace(
            last, since=at, met_at=None, paused=paused,
            segments=last.segments if paused else (*last.segments, (at, last.elapsed)))
