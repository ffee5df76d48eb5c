"""SLA breach counts over stored histories: the clock fold worked out once per shape of history.

A ticket's SLA clocks are a fold of its audit records (:mod:`escalation_fsm.sla.fold`). Which runs
a history starts, meets, pauses and resumes, and when each is brought up to date, depends only on
its *shape*: each record's trigger (what its marks mean to the clocks), the stages it leaves and
enters, and the two payload values the fold reads (a promise's ETA, an interaction's direction
under the policy's rules); never on the times. So the fold is worked through once per shape,
without times, into a short list of operations per run, remembered; each ticket then replays its
runs' operations on its own times and counts every run that is decided (met, or over its target
by the ticket's last record) and breached, as :func:`~escalation_fsm.sla.clock_runs` with
:func:`~escalation_fsm.sla.breach_rates` count them (the parity test of ``review_store`` with a
replay, and ``tests/test_review_clocks.py``, check it). Stores hold few shapes (the paths through
the procedure), so the fold is rarely worked through at all.

A history with a migration record (whose renamed triggers are read under their new meaning) is
folded record by record with :func:`~escalation_fsm.sla.clock_runs` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import floordiv, sub
from typing import Any

from pydantic import TypeAdapter

from ..bounds import MIGRATE_TRIGGER
from ..models import Ticket, Urgency
from ..sla import SLAClock, SLAPolicy, breach_rates, clock_runs
from ..sla.runs import CLOCKS as _CLOCKS
from ..sla.runs import CUSTOMER as _CUSTOMER
from ..sla.runs import CUSTOMER_UPDATE as _CUSTOMER_UPDATE
from ..sla.runs import INTERACTION as _INTERACTION
from ..sla.runs import PROMISE as _PROMISE
from ..sla.runs import PROMISED as _PROMISED
from ..sla.runs import RUN as _RUN
from ..sla.runs import START as _START
from ..sla.runs import RunFold, mark_bits, restarts_cadence
from ..spec import MachineSpec
from ..stores import TicketHistory
from ..stores._digest import HistoryDigest

__all__ = ["ShapeBreaches", "micros_of"]

_PAYLOAD_BITS = _PROMISE | _INTERACTION

_OPENED, _END = -1, -2
"""Instants besides the records': when the clocks opened, and when the ticket is judged."""
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_MICRO = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_SHAPES = 20_000

Run = tuple[int, bool, int | None, bool, tuple[tuple[int, int], ...]]
"""(clock, met, ETA in microseconds or ``None``, measured in plain time, its operations)."""
Check = tuple[int, int, bool, bool, int, int, tuple[tuple[int, int], ...] | None]
"""(clock, target, met, plain, start, end, ops): a run with a target, measured from ``start``
to ``end`` while running throughout (``ops`` is ``None``), or else through its ``ops``."""


class Compiled:
    """A shape's runs, and per priority the runs with a target, ready to measure."""

    __slots__ = ("business", "checks", "runs")

    def __init__(self, runs: tuple[Run, ...]) -> None:
        self.runs = runs
        self.business = any(not plain for _, _, _, plain, _ in runs)
        """Whether some run is measured in business time (positions are needed)."""
        self.checks: dict[str, tuple[Check, ...]] = {}

    def judged(self, targets: tuple[int | None, ...]) -> tuple[Check, ...]:
        """The runs with a target under ``targets`` (per clock), as :class:`Check` items."""
        found = []
        for clock, met, eta, plain, ops in self.runs:
            target = targets[clock] if eta is None else eta
            if target is None:
                continue
            simple = len(ops) == 2 and ops[0][0] == _START and ops[1][0] == _RUN
            found.append((clock, target, met, plain, ops[0][1] if simple else 0,
                          ops[1][1] if simple else 0, None if simple else ops))
        return tuple(found)


class ShapeBreaches:
    """Counts decided and breached SLA clock runs per clock, one stored history at a time."""

    def __init__(self, policy: SLAPolicy, spec: MachineSpec) -> None:
        self.policy, self.spec = policy, spec
        self.decided = [0] * len(_CLOCKS)
        self.breached = [0] * len(_CLOCKS)
        self._bits = mark_bits(spec.triggers)
        self._reads_payload = frozenset(name for name, bits in self._bits.items()
                                        if bits & _PAYLOAD_BITS)
        self.asked = tuple(sorted(self._reads_payload))
        """The triggers whose payload values (``eta``, ``direction``) the fold reads."""
        self._pauses = {stage: frozenset(_CLOCKS.index(clock) for clock in clocks)
                        for stage, clocks in policy.pauses.items()}
        self._targets: dict[str, tuple[int | None, ...]] = {
            urgency.value: tuple(None if (t := policy.target(urgency, clock)) is None
                                 else t // _MICRO for clock in _CLOCKS)
            for urgency in Urgency}
        self._shapes: dict[tuple[object, ...], Compiled | None] = {}

    def counts(self) -> dict[SLAClock, tuple[int, int]]:
        """(decided, breached) per clock, for the clocks with a decided run."""
        return {clock: (self.decided[n], self.breached[n]) for n, clock in enumerate(_CLOCKS)
                if self.decided[n]}

    def count(self, history: TicketHistory, micros: Sequence[int] | None = None,
              opened: int | None = None) -> None:
        """Count the runs of one stored history (its ``opened_at`` and ``priority`` too).

        ``micros`` are its records' times and ``opened`` its opening time in microseconds since
        the epoch (:func:`micros_of`), when the caller has them already.
        """
        triggers = history.triggers
        if not triggers:
            return
        key = self._key(history)
        compiled = self._shapes.get(key)
        if compiled is None:
            if key in self._shapes or MIGRATE_TRIGGER in triggers:
                self._shapes[key] = None
                self._folded(history)
                return
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            compiled = self._shapes[key] = self._compile(
                history.first_stage or "", history.triggers, history.stages, history.payload)
        if micros is None:
            micros = micros_of(history.times)
            opened = None if history.opened_at is None else micros_of((history.opened_at,))[0]
        self._count(compiled, micros, micros[0] if opened is None else opened, history.priority)

    def count_digest(self, digest: HistoryDigest, micros: Sequence[int],
                     opened: int | None) -> None:
        """:meth:`count` of a ticket read in brief (``micros`` and ``opened`` as for :meth:`count`)."""
        key = (digest.shape, digest.payloads)
        compiled = self._shapes.get(key)
        if compiled is None:  # digests hold no migration record: every shape compiles
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            compiled = self._shapes[key] = self._compile(
                digest.first_stage, digest.triggers, digest.stages, _payloads(digest, self.asked))
        self._count(compiled, micros, micros[0] if opened is None else opened, digest.priority)

    def _count(self, compiled: Compiled, micros: Sequence[int], opened: int,  # noqa: PLR0912
               priority: str) -> None:
        """One loop, inlined (PLR0912): it runs for every clock run of every ticket of a store."""
        checks = compiled.checks.get(priority)
        if checks is None:
            checks = compiled.checks[priority] = compiled.judged(
                self._targets.get(priority) or self._targets[Urgency(priority).value])
        last = micros[-1]
        at_ = [*micros, last if last > opened else opened, opened]  # refs -2 (_END), -1 (_OPENED)
        # Each instant's business position once: a stretch within a year is a subtraction.
        pos = self.policy.calendar.positions_us(at_) if compiled.business else []
        decided, breached = self.decided, self.breached
        for clock, target, met, plain, start, end, ops in checks:
            if ops is None:  # started, then brought up to date once, running all along
                at, before = at_[end], at_[start]
                if at <= before:
                    elapsed = 0
                elif plain:
                    elapsed = at - before
                else:
                    began, ended = pos[start], pos[end]
                    elapsed = (ended[1] - began[1] if ended[0] == began[0]
                               else self._between(before, at))
            else:
                since, elapsed = _OPENED, 0
                for op, ref in ops:
                    if op == _START:
                        since = ref
                        continue
                    at, before = at_[ref], at_[since]
                    if at > before:
                        if op == _RUN:
                            if plain:
                                elapsed += at - before
                            else:
                                first, then = pos[since], pos[ref]
                                elapsed += (then[1] - first[1] if then[0] == first[0]
                                            else self._between(before, at))
                        since = ref
            if elapsed > target:
                decided[clock] += 1
                breached[clock] += 1
            elif met:
                decided[clock] += 1

    def _between(self, before: int, at: int) -> int:
        """Business microseconds between two instants in different local years (rare)."""
        return self.policy.calendar.between(_EPOCH + before * _MICRO,
                                            _EPOCH + at * _MICRO) // _MICRO

    def _key(self, history: TicketHistory) -> tuple[object, ...]:
        """What the fold depends on besides the times."""
        triggers = history.triggers
        key: tuple[object, ...] = (history.first_stage, triggers, history.stages)
        reads_payload = self._reads_payload
        if reads_payload.isdisjoint(triggers):
            return key
        extra: list[object] = []
        for index, trigger in enumerate(triggers):
            if trigger in reads_payload:
                payload = history.payload(index)
                extra += (payload.get("eta"), payload.get("direction"))
        return (*key, *extra)

    def _folded(self, history: TicketHistory) -> None:
        """Count a history the exact, slow way: its records folded one by one."""
        records = history.records
        ticket = Ticket.model_construct(id="review", customer_id="review",
                                        stage=records[-1].dest, priority=Urgency(history.priority),
                                        opened_at=history.opened_at, history=records,
                                        version=len(records))
        for rate in breach_rates(clock_runs(ticket, self.policy, self.spec, now=records[-1].at)):
            index = _CLOCKS.index(rate.clock)
            self.decided[index] += rate.decided
            self.breached[index] += rate.breached

    def _compile(self, source: str, triggers: Sequence[str], stages: Sequence[str],
                 payload: Callable[[int], Mapping[str, Any]]) -> Compiled:
        """Each run a history of this shape has: its clock, whether met, its ETA, its operations.

        The steps of :meth:`~escalation_fsm.sla.ClockState.after`, in its order, without times.
        ``payload(index)`` is record ``index``'s payload (asked only of promises and interactions).
        """
        fold = RunFold(self._pauses, source, _OPENED)
        rules = self.policy.interactions
        for index, (trigger, dest) in enumerate(zip(triggers, stages, strict=True)):
            bits = self._bits.get(trigger, 0)
            if not bits and dest == source:
                continue  # changes no clock (its stage is the one it left)
            if not fold.marked(bits, source, dest, index) and _CUSTOMER in fold.open and (
                    bits & _CUSTOMER_UPDATE or (
                    bits & _INTERACTION and restarts_cadence(payload(index).get("direction"),
                                                             rules))):
                fold.start(_CUSTOMER, index)  # this period ends now; the next is due in turn
            if bits & _PROMISE and (eta := payload(index).get("eta")) is not None:
                fold.meet(_PROMISED, index)  # a new estimate replaces the old one
                fold.start(_PROMISED, index, eta=_DURATION.validate_python(eta) // _MICRO)
            fold.enter(dest, index)
            source = dest
        for run in fold.open.values():
            fold.catch_up(run, _END)
        return _runs(fold, self.policy.promise_in_business_time)


def micros_of(times: Iterable[datetime]) -> list[int]:
    """Aware datetimes as microseconds since the Unix epoch (C-level loops)."""
    return list(map(floordiv, map(sub, times, repeat(_EPOCH)), repeat(_MICRO)))


def _payloads(digest: HistoryDigest, asked: tuple[str, ...]) -> Callable[[int], Mapping[str, Any]]:
    """Record ``index``'s ``eta`` and ``direction``, from a digest's payload texts."""
    texts = iter(digest.payloads.split("\x1e") if digest.payloads is not None else ())
    found = {index: dict(zip(("eta", "direction"), json.loads(next(texts)), strict=True))
             for index, trigger in enumerate(digest.triggers) if trigger in asked}
    return lambda index: found.get(index, {})


def _runs(fold: RunFold, business_eta: bool) -> Compiled:
    return Compiled(tuple((clock, met, eta, eta is not None and not business_eta, tuple(ops))
                          for clock, met, eta, ops in zip(fold.clocks, fold.met, fold.etas,
                                                          fold.per_run(), strict=True)))


