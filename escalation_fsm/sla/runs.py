"""The SLA fold stepped through without times: which clock run is open, paused or met.

:class:`~escalation_fsm.sla.ClockState` folds one record at a time, with its instant. Bulk
counters (the replay's breach rates, the store review's per-shape counts) compile a history once
into *ops* instead: which run starts, runs, idles or restarts at which record, known from the
transitions alone, so that business time is measured later from each case's own instants. Both
counters share this one compiler of the fold's run bookkeeping and what the marks every record
may carry do to the clocks (:meth:`RunFold.marked`); the rest (a customer update, an interaction,
a promise's ETA) stays with each caller, and tests pin both against ``ClockState``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..marks import Mark
from .policy import InteractionRules, SLAClock

START, RUN, IDLE = range(3)
"""Ops: a run starts (or resumes) at a record; it ran up to it; it stood still up to it."""

CLOCKS = tuple(SLAClock)
"""The clocks in index order: a clock is its position here."""
FIRST, RESOLUTION, TIER2, CUSTOMER, PROMISED = (
    CLOCKS.index(c) for c in (SLAClock.FIRST_RESPONSE, SLAClock.RESOLUTION,
                              SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
                              SLAClock.PROMISED_RESPONSE))
ENDED_BY_RESOLVING = (RESOLUTION, TIER2, CUSTOMER, PROMISED)
# What a trigger does to the clocks, as bits (read from its marks once: an enum member looked up
# on its class goes through a descriptor).
ESCALATE, TIER_UPDATE, CUSTOMER_UPDATE, PROMISE, RESOLVE, REOPEN, INTERACTION = (
    1 << n for n in range(7))
_BITS = {Mark.ESCALATE: ESCALATE, Mark.TIER_UPDATE: TIER_UPDATE,
         Mark.CUSTOMER_UPDATE: CUSTOMER_UPDATE, Mark.PROMISE: PROMISE, Mark.RESOLVE: RESOLVE,
         Mark.REOPEN: REOPEN, Mark.INTERACTION: INTERACTION}


class _Marked(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def marks(self) -> frozenset[Mark]: ...


def mark_bits(triggers: Iterable[_Marked]) -> dict[str, int]:
    """Each trigger's clock bits, by name (a trigger without a clock mark has 0)."""
    return {t.name: sum(bit for mark, bit in _BITS.items() if mark in t.marks) for t in triggers}

def restarts_cadence(direction: object, rules: InteractionRules) -> bool:
    """Whether an interaction in ``direction`` restarts the customer-update cadence, by ``rules``."""
    if direction == "outbound":
        return rules.outbound_is_update
    return direction == "inbound" and rules.inbound_restarts_cadence

Op = tuple[int, int, int]
"""``(op, run, ref)``: an op of run number ``run`` at the record (or marker) ``ref``."""


class RunFold:
    """The clock runs of one history, compiled as ops in the fold's order.

    ``pauses`` maps a stage to the clock indices (positions in :class:`SLAClock`) it pauses;
    ``opened`` is the ref of the ticket's opening, where the first-response and resolution clocks
    start. Each run may carry an ETA (microseconds) for the promised-response clock.
    """

    def __init__(self, pauses: dict[str, frozenset[int]], stage: str, opened: int) -> None:
        self.pauses, self.stage = pauses, stage
        self.ops: list[Op] = []
        self.clocks: list[int] = []
        self.etas: list[int | None] = []
        self.met: list[bool] = []
        self.paused: list[bool] = []
        self.open: dict[int, int] = {}
        self.last: dict[int, int] = {}
        for clock in (FIRST, RESOLUTION):  # the clocks start when the ticket opens
            self.new(clock, opened)

    def marked(self, bits: int, source: str, dest: str, index: int) -> bool:
        """What record ``index`` (``source`` to ``dest``, clock ``bits``) does by its marks alone.

        Any move answers the first response; resolving meets every clock it ends, reopening
        resumes the resolution, a Tier 2 update meets its clock and the promise; an escalation
        starts the Tier 2 and customer-update clocks (then True: the caller's customer-update
        check does not apply). The caller then applies what needs more than marks, and enters
        ``dest``.
        """
        if dest != source:
            self.meet(FIRST, index)
        if bits & RESOLVE:
            for clock in ENDED_BY_RESOLVING:
                self.meet(clock, index)
        if bits & REOPEN:
            self.resume_resolution(index)
        if bits & TIER_UPDATE:
            self.meet(TIER2, index)
            self.meet(PROMISED, index)
        if bits & ESCALATE:
            self.start(TIER2, index)
            self.start(CUSTOMER, index)
            return True
        return False

    def per_run(self) -> list[list[tuple[int, int]]]:
        """Each run's own ``(op, ref)`` list, in run order."""
        grouped: list[list[tuple[int, int]]] = [[] for _ in self.clocks]
        for op, run, ref in self.ops:
            grouped[run].append((op, ref))
        return grouped

    def new(self, clock: int, ref: int, eta: int | None = None) -> None:
        """Open a new run of ``clock`` at ``ref`` (paused if the current stage pauses it)."""
        run = len(self.clocks)
        self.clocks.append(clock)
        self.etas.append(eta)
        self.met.append(False)
        self.paused.append(clock in self.pauses.get(self.stage, ()))
        self.open[clock] = run
        self.ops.append((START, run, ref))

    def catch_up(self, run: int, ref: int) -> None:
        """Bring ``run`` up to ``ref``: running time counts unless it is paused or met."""
        self.ops.append((IDLE if self.paused[run] or self.met[run] else RUN, run, ref))

    def meet(self, clock: int, ref: int) -> None:
        """Stop ``clock``'s open run at ``ref``, met (nothing if none is open)."""
        run = self.open.pop(clock, None)
        if run is not None:
            self.catch_up(run, ref)
            self.met[run] = True
            self.last[clock] = run

    def start(self, clock: int, ref: int, eta: int | None = None) -> None:
        """Start ``clock`` again at ``ref``: its open run, if any, is met first."""
        self.meet(clock, ref)  # a clock started again ends its previous run
        self.new(clock, ref, eta)

    def enter(self, stage: str, ref: int) -> None:
        """The ticket enters ``stage`` at ``ref``: the open runs it pauses or resumes change."""
        self.stage = stage
        paused = self.pauses.get(stage, ())
        if not paused and not any(self.paused[run] for run in self.open.values()):
            return  # nothing pauses or resumes: the common case
        for clock, run in self.open.items():
            now_paused = clock in paused
            if now_paused != self.paused[run]:
                self.catch_up(run, ref)
                self.paused[run] = now_paused

    def resume_resolution(self, ref: int) -> None:
        """A reopening at ``ref``: the met resolution run goes on (time resolved not counted)."""
        run = self.last.get(RESOLUTION)
        if run is None or RESOLUTION in self.open:
            return
        del self.last[RESOLUTION]
        self.met[run] = False
        self.paused[run] = RESOLUTION in self.pauses.get(self.stage, ())
        self.open[RESOLUTION] = run
        self.ops.append((START, run, ref))
