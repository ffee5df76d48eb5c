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

from datetime import UTC, timedelta

from pydantic import TypeAdapter

from ..bounds import MIGRATE_TRIGGER
from ..marks import Mark
from ..models import Ticket, Urgency
from ..sla import SLAClock, SLAPolicy, breach_rates, clock_runs
from ..sla.runs import RUN as _RUN
from ..sla.runs import START as _START
from ..sla.runs import RunFold
from ..spec import MachineSpec
from ..stores import TicketHistory

__all__ = ["ShapeBreaches"]

_CLOCKS = tuple(SLAClock)
_FIRST, _RESOLUTION, _TIER2, _CUSTOMER, _PROMISED = (
    _CLOCKS.index(c) for c in (SLAClock.FIRST_RESPONSE, SLAClock.RESOLUTION,
                               SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
                               SLAClock.PROMISED_RESPONSE))
_ENDED_BY_RESOLVING = (_RESOLUTION, _TIER2, _CUSTOMER, _PROMISED)
_ESCALATE, _TIER_UPDATE, _CUSTOMER_UPDATE, _PROMISE, _RESOLVE, _REOPEN, _INTERACTION = (
    1 << n for n in range(7))
_BITS = {Mark.ESCALATE: _ESCALATE, Mark.TIER_UPDATE: _TIER_UPDATE,
         Mark.CUSTOMER_UPDATE: _CUSTOMER_UPDATE, Mark.PROMISE: _PROMISE, Mark.RESOLVE: _RESOLVE,
         Mark.REOPEN: _REOPEN, Mark.INTERACTION: _INTERACTION}
_PAYLOAD_BITS = _PROMISE | _INTERACTION

_OPENED, _END = -1, -2
"""Instants besides the records': when the clocks opened, and when the ticket is judged."""
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_MICRO = timedelta(microseconds=1)
_MAX_SHAPES = 20_000

Run = tuple[int, bool, int | None, bool, tuple[tuple[int, int], ...]]
"""(clock, met, ETA in microseconds or ``None``, measured in plain time, its operations)."""


class ShapeBreaches:
    """Counts decided and breached SLA clock runs per clock, one stored history at a time."""

    def __init__(self, policy: SLAPolicy, spec: MachineSpec) -> None:
        self.policy, self.spec = policy, spec
        self.decided = [0] * len(_CLOCKS)
        self.breached = [0] * len(_CLOCKS)
        self._bits = {t.name: sum(bit for mark, bit in _BITS.items() if mark in t.marks)
                      for t in spec.triggers}
        self._reads_payload = frozenset(name for name, bits in self._bits.items()
                                        if bits & _PAYLOAD_BITS)
        self._pauses = {stage: frozenset(_CLOCKS.index(clock) for clock in clocks)
                        for stage, clocks in policy.pauses.items()}
        self._targets: dict[str, tuple[int | None, ...]] = {
            urgency.value: tuple(None if (t := policy.target(urgency, clock)) is None
                                 else t // _MICRO for clock in _CLOCKS)
            for urgency in Urgency}
        self._shapes: dict[tuple[object, ...], tuple[Run, ...] | None] = {}

    def counts(self) -> dict[SLAClock, tuple[int, int]]:
        """(decided, breached) per clock, for the clocks with a decided run."""
        return {clock: (self.decided[n], self.breached[n]) for n, clock in enumerate(_CLOCKS)
                if self.decided[n]}

    def count(self, history: TicketHistory) -> None:  # noqa: PLR0912
        """Count the runs of one stored history (its ``opened_at`` and ``priority`` too).

        One loop, inlined (PLR0912): it runs for every clock run of every ticket of a store.
        """
        triggers, times = history.triggers, history.times
        if not triggers:
            return
        key = self._key(history)
        runs = self._shapes.get(key)
        if runs is None:
            if key in self._shapes or MIGRATE_TRIGGER in triggers:
                self._shapes[key] = None
                self._folded(history)
                return
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            runs = self._shapes[key] = self._compiled(history)
        opened = history.opened_at or times[0]
        if opened.tzinfo is not UTC:
            opened = opened.astimezone(UTC)
        last = times[-1]
        at_ = [*times, last if last > opened else opened, opened]  # refs -2 (_END), -1 (_OPENED)
        priority = history.priority
        targets = self._targets.get(priority) or self._targets[Urgency(priority).value]
        between = self.policy.calendar.between
        gained: dict[tuple[int, int], int] = {}
        decided, breached = self.decided, self.breached
        for clock, met, eta, plain, ops in runs:
            target = targets[clock] if eta is None else eta
            if target is None:
                continue
            since, elapsed = _OPENED, 0
            for op, ref in ops:
                if op == _START:
                    since = ref
                    continue
                at, before = at_[ref], at_[since]
                if at > before:
                    if op == _RUN:
                        if plain:
                            elapsed += (at - before) // _MICRO
                        else:
                            gain = gained.get((since, ref))
                            if gain is None:
                                gain = gained[since, ref] = between(before, at) // _MICRO
                            elapsed += gain
                    since = ref
            if elapsed > target:
                decided[clock] += 1
                breached[clock] += 1
            elif met:
                decided[clock] += 1

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

    def _compiled(self, history: TicketHistory) -> tuple[Run, ...]:
        """Each run a history of this shape has: its clock, whether met, its ETA, its operations.

        The steps of :meth:`~escalation_fsm.sla.ClockState.after`, in its order, without times.
        """
        source = history.first_stage or ""
        fold = RunFold(self._pauses, source, _OPENED)
        rules = self.policy.interactions
        for index, (trigger, dest) in enumerate(zip(history.triggers, history.stages,
                                                    strict=True)):
            bits = self._bits.get(trigger, 0)
            if not bits and dest == source:
                continue  # changes no clock (its stage is the one it left)
            if dest != source:
                fold.meet(_FIRST, index)
            if bits & _RESOLVE:
                for clock in _ENDED_BY_RESOLVING:
                    fold.meet(clock, index)
            if bits & _REOPEN:
                fold.resume_resolution(index)
            if bits & _TIER_UPDATE:
                fold.meet(_TIER2, index)
                fold.meet(_PROMISED, index)
            if bits & _ESCALATE:
                fold.start(_TIER2, index)
                fold.start(_CUSTOMER, index)
            elif _CUSTOMER in fold.open and (bits & _CUSTOMER_UPDATE or (
                    bits & _INTERACTION and _restarts(history.payload(index).get("direction"),
                                                      rules.outbound_is_update,
                                                      rules.inbound_restarts_cadence))):
                fold.start(_CUSTOMER, index)  # this period ends now; the next is due in turn
            if bits & _PROMISE and (eta := history.payload(index).get("eta")) is not None:
                fold.meet(_PROMISED, index)  # a new estimate replaces the old one
                fold.start(_PROMISED, index, eta=_DURATION.validate_python(eta) // _MICRO)
            fold.enter(dest, index)
            source = dest
        for run in fold.open.values():
            fold.catch_up(run, _END)
        return _runs(fold, self.policy.promise_in_business_time)


def _restarts(direction: object, outbound_is_update: bool, inbound_restarts: bool) -> bool:
    if direction == "outbound":
        return outbound_is_update
    return direction == "inbound" and inbound_restarts


def _runs(fold: RunFold, business_eta: bool) -> tuple[Run, ...]:
    return tuple((clock, met, eta, eta is not None and not business_eta, tuple(ops))
                 for clock, met, eta, ops in zip(fold.clocks, fold.met, fold.etas,
                                                 fold.per_run(), strict=True))
