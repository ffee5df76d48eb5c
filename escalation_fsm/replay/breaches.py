"""SLA breach counts over replayed cases: the clock fold, compiled once per trace.

The SLA clocks of a ticket are a fold of its audit records (:mod:`escalation_fsm.sla.fold`). Which
runs a history starts, meets, pauses and resumes, and when each is brought up to date, depends
only on its transitions and the policy's pausing stages, never on the times; only the business
time each run accumulates does. So for each trace (:class:`~.program.CaseProgram`) the fold is
worked through once without times, into a short list of operations on numbered runs; a case then
only replays those operations on its own times, in whole microseconds, and counts every run that
is decided (met, or over its target by the case's last event) and breached.

It takes exactly the steps :meth:`~escalation_fsm.sla.ClockState.after` takes, in the same order,
and measures the same stretches with the same calendar, so the counts are those of
:func:`~escalation_fsm.sla.clock_runs` and :func:`~escalation_fsm.sla.breach_rates` over each case's
ticket; ``tests/test_replay_breaches.py`` checks that on random histories, policies and times.
A run's due time (which needs its running stretches) is not worked out: a breach rate does not
need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from ..models import Urgency
from ..sla import SLAClock, SLAPolicy
from ..sla.runs import CLOCKS as _CLOCKS
from ..sla.runs import CUSTOMER as _CUSTOMER
from ..sla.runs import CUSTOMER_UPDATE as _CUSTOMER_UPDATE
from ..sla.runs import INTERACTION as _INTERACTION
from ..sla.runs import RUN as _RUN
from ..sla.runs import START as _START
from ..sla.runs import Op, RunFold, mark_bits, restarts_cadence
from ..spec import MachineSpec
from .program import CaseProgram, Record
from .times import Stamp

__all__ = ["BreachCounter"]


# Operations on a run, at an instant: the event's, or the case's first or last.
# The ops (start a stretch, bring it up to date while running or while paused or met):
# escalation_fsm.sla.runs, shared with the store review.
_FIRST_EVENT, _LAST_EVENT = -1, -2
_MICRO = timedelta(microseconds=1)
_MEMO = 100_000

Stretches = tuple[tuple[Stamp, int, Stamp], ...]
Walk = tuple[int, int, tuple[tuple[int, int], ...] | None]
"""How a run is measured: ``(start, end, None)`` while running throughout, or ``(0, 0, ops)``."""
"""A run's start, then its running stretches: see :meth:`BreachCounter.stretches`."""



class BreachCounter:
    """Counts decided and breached SLA clock runs per clock, one replayed case at a time."""

    def __init__(self, policy: SLAPolicy, spec: MachineSpec) -> None:
        self.policy = policy
        self.decided = [0] * len(_CLOCKS)
        self.breached = [0] * len(_CLOCKS)
        self._bits = mark_bits(spec.triggers)
        self._initial = spec.initial
        self._pauses = {stage: frozenset(_CLOCKS.index(clock) for clock in clocks)
                        for stage, clocks in policy.pauses.items()}
        self._targets = {urgency: tuple(None if (t := policy.target(urgency, clock)) is None
                                        else t // _MICRO for clock in _CLOCKS)
                         for urgency in Urgency}
        self._positions: dict[int, tuple[int, int]] = {}

    def counts(self) -> dict[SLAClock, tuple[int, int]]:
        """(decided, breached) per clock, for the clocks with a decided run."""
        return {clock: (self.decided[n], self.breached[n]) for n, clock in enumerate(_CLOCKS)
                if self.decided[n]}

    def count(self, program: CaseProgram, times: list[Stamp], urgency: Urgency) -> None:
        """Count the runs of one case of ``program``.

        ``times`` are the stamps of the positions of its trace, followed by the case's last
        (when it is judged) and first (when it opened): see :meth:`times`.
        """
        compiled = program.sla
        if not (isinstance(compiled, _Compiled) and compiled.counter is self):
            compiled = program.sla = self._compiled(program)
        checks = compiled.checks.get(urgency)
        if checks is None:
            targets = self._targets[urgency]
            checks = compiled.checks[urgency] = tuple(
                (clock, target, met, *span) for clock, met, span in compiled.runs
                if (target := targets[clock]) is not None)
        decided, breached, positions = self.decided, self.breached, self._positions
        for clock, target, met, start, end, ops in checks:
            if ops is None:  # started, then brought up to date once, running all along
                before, at = times[start], times[end]
                if at[0] > before[0]:
                    since = positions.get(before[0]) or self._position(before)
                    until = positions.get(at[0]) or self._position(at)
                    gain = (until[1] - since[1] if until[0] == since[0]
                            else self._between(before, at))
                else:
                    gain = 0
            else:
                gain = self._walk(ops, times)
            if gain > target:
                decided[clock] += 1
                breached[clock] += 1
            elif met:
                decided[clock] += 1

    @staticmethod
    def times(stamps: Sequence[Stamp], positions: Sequence[int] | None, first: Stamp,
              last: Stamp) -> list[Stamp]:
        """What :meth:`count` takes: the stamps of the trace's positions, then ``last``, ``first``.

        (An op's reference -1 is the first instant, -2 the last.)
        """
        times = list(stamps) if positions is None else [stamps[p] for p in positions]
        times += (last, first)
        return times

    def runs(self, program: CaseProgram, times: list[Stamp]) -> list[tuple[SLAClock, bool, timedelta]]:
        """Every run of one case of ``program``: its clock, whether it was met, its business time.

        What :meth:`count` judges against the targets (in the fold's order of starting them).
        """
        compiled = self._compiled(program)
        found = []
        for clock, met, (start, end, ops) in compiled.runs:
            walk = ((_START, start), (_RUN, end)) if ops is None else ops
            found.append((_CLOCKS[clock], met, timedelta(microseconds=self._walk(walk, times))))
        return found

    def compiled_runs(self, program: CaseProgram) -> tuple[tuple[SLAClock, Walk], ...]:
        """Every run the fold takes for ``program``'s history: its clock and how to measure it.

        In the fold's order of starting them (what :meth:`count` judges against the targets). A
        run is measured either from one reference to another while running (``(start, end,
        None)``), or through its own ops (``(0, 0, ops)``): see :meth:`stretches`.
        """
        compiled = program.sla
        if not (isinstance(compiled, _Compiled) and compiled.counter is self):
            compiled = program.sla = self._compiled(program)
        return compiled.clocked

    def gain(self, before: Stamp, at: Stamp) -> int:
        """Business microseconds from ``before`` to ``at`` (zero if not later; remembered)."""
        return self._gain(before, at) if at[0] > before[0] else 0

    def stretches(self, ops: tuple[tuple[int, int], ...], times: list[Stamp]) -> tuple[int, Stretches]:
        """A run's business time (microseconds) and running stretches, through its ``ops``.

        A stretch is ``(since, business microseconds before it, until)``: the run ran from
        ``since`` to ``until`` (the same instant or later). The first item is the run's start, as
        ``(start, -1, start)``. What the ladder's what-if judges its steps against
        (:mod:`.ladder_whatif`).
        """
        since = first = times[-1]  # every run's first op starts it
        started, elapsed = False, 0
        stretches: list[tuple[Stamp, int, Stamp]] = []
        for op, ref in ops:
            at = times[ref]
            if op == _START:
                since = at
                if not started:
                    first, started = at, True
            elif op == _RUN and at[0] >= since[0]:
                # Running up to ``at`` (a worker asking at that instant sees the run running,
                # even when the stretch is empty: resumed at the case's very last event, say).
                stretches.append((since, elapsed, at))
                elapsed += self.gain(since, at)
                since = at
            elif at[0] > since[0]:
                since = at
        return elapsed, ((first, -1, first), *stretches)

    def _walk(self, ops: tuple[tuple[int, int], ...], times: list[Stamp]) -> int:
        """The business time (microseconds) a run accumulates through its ``ops``."""
        since = times[-1]
        elapsed = 0
        for op, ref in ops:
            at = times[ref]
            if op == _START:
                since = at
            elif at[0] > since[0]:
                if op == _RUN:
                    elapsed += self._gain(since, at)
                since = at
        return elapsed

    def _gain(self, before: Stamp, at: Stamp) -> int:
        """Business microseconds from ``before`` to ``at`` (``at`` is the later)."""
        positions = self._positions
        since = positions.get(before[0]) or self._position(before)
        until = positions.get(at[0]) or self._position(at)
        return until[1] - since[1] if until[0] == since[0] else self._between(before, at)

    def _position(self, stamp: Stamp) -> tuple[int, int]:
        """The stamp's local year and business microseconds of that year before it (remembered).

        Within a year, the business time between two instants is the difference of theirs: each
        distinct instant of a log is worked out once, not each pair.
        """
        if len(self._positions) >= _MEMO:
            self._positions.clear()
        # From the instant's integer microseconds: no datetime arithmetic (see position_us).
        found = self._positions[stamp[0]] = self.policy.calendar.position_us(stamp[0])
        return found

    def _between(self, before: Stamp, at: Stamp) -> int:
        """Business microseconds from ``before`` to ``at`` (in different years: rare)."""
        return self.policy.calendar.between(before[1], at[1]) // _MICRO

    def _compiled(self, program: CaseProgram) -> _Compiled:
        ops, runs = self.compile(program.records, program.directions)
        # Each run's ops are its own: a run that is started, then brought up to date once while
        # running, is measured from one instant to the other without walking them.
        per_run: list[list[tuple[int, int]]] = [[] for _ in runs]
        for op, run, ref in ops:
            per_run[run].append((op, ref))
        return _Compiled(self, tuple(
            (clock, met, (walk[0][1], walk[1][1], None)
             if len(walk) == 2 and walk[0][0] == _START and walk[1][0] == _RUN
             else (0, 0, tuple(walk)))
            for (clock, met), walk in zip(runs, per_run, strict=True)))

    def compile(self, records: Sequence[Record], directions: Mapping[int, str] | None = None,
                ) -> tuple[tuple[Op, ...], tuple[tuple[int, bool], ...]]:
        """The operations the clock fold takes for a history of ``records`` (without times).

        ``directions`` are the interaction records' directions, by record number (a log shows
        them only where the mapping's ``interactions`` table gives them). Also returns, per run,
        its clock (index in :class:`SLAClock`) and whether it ends met.
        """
        fold = RunFold(self._pauses, self._initial, _FIRST_EVENT)
        rules = self.policy.interactions
        directions = directions or {}
        for number, (index, _, source, trigger, dest) in enumerate(records):
            bits = self._bits.get(trigger, 0)
            direction = directions.get(number)
            if direction is not None:  # the projection drops the mark: a log may not say it
                bits |= _INTERACTION
            if not bits and dest == source:
                continue  # changes no clock
            if not fold.marked(bits, source, dest, index) and _CUSTOMER in fold.open and (
                    bits & _CUSTOMER_UPDATE or (bits & _INTERACTION
                                                and restarts_cadence(direction, rules))):
                fold.start(_CUSTOMER, index)  # met now; the next update is due in turn
            # A promise starts a promised-response run only with an ETA: logs record none.
            fold.enter(dest, index)
        for run in fold.open.values():
            fold.catch_up(run, _LAST_EVENT)
        return tuple(fold.ops), tuple(zip(fold.clocks, fold.met, strict=True))


class _Compiled:
    """A trace's runs for one counter, and per urgency the runs with a target.

    Each run: its clock, whether it ends met, and how to measure it: a span ``(start, end,
    None)``, or its own ops ``(0, 0, ops)``.
    """

    __slots__ = ("checks", "clocked", "counter", "runs")

    def __init__(self, counter: BreachCounter,
                 runs: tuple[tuple[int, bool, tuple[int, int, tuple[tuple[int, int], ...] | None]],
                             ...]) -> None:
        self.counter = counter
        self.runs = runs
        self.clocked = tuple((_CLOCKS[clock], walk) for clock, _, walk in runs)
        self.checks: dict[Urgency, tuple[tuple[int, int, bool, int, int,
                                               tuple[tuple[int, int], ...] | None], ...]] = {}
