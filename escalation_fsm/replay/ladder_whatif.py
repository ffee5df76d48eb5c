"""The escalation ladder's what-if on the past: how many tickets would have reached each step.

Given an SLA policy with a ladder (:mod:`escalation_fsm.sla.ladder`), a review counts, per step
(clock, urgency, step), the tickets whose real history would have reached it: the step's instant,
computed like the live ladder's (:func:`escalation_fsm.sla.pending_steps`), came before its clock
stopped (met, or paused for good) or before the ticket's last event. That is exactly what a
follow-up worker polling without pause would have found due at some moment of the history: a
step counts when, between two records (or after the last one, up to the ticket's last event), the
live step code puts its instant before the next record.

Steps that act (``escalate``, ``raise_urgency``) are counted as *would have fired*; what they
would have changed is **not re-simulated**: the later steps of the ticket are counted on its
history as it really went. (After an escalation the real history might have been different in
every respect: a new Tier 2 clock, another team, another outcome. Nothing short of a
re-simulation of people says how, so the report says so instead of guessing.) For each step the
report also gives how many of the tickets reaching it were in reality escalated, or resolved,
*after* the step's instant: "the ladder would have escalated 1,204 tickets; 800 of them the team
escalated anyway, later".

Two ways in, one result:

* :meth:`LadderWhatIf.add_history` walks a ticket's audit records through the clock fold
  (:class:`~escalation_fsm.sla.ClockState`) and asks the live step code about each run when it
  changes (what a store review does, record by record);
* :meth:`LadderWhatIf.add_compiled` is the replay's: the clock fold is compiled once per trace
  (:class:`~.breaches.BreachCounter`), and each run's running stretches, measured for the breach
  rates anyway, say whether and when it crossed each step's threshold (the calendar's ``add``
  from the stretch it was crossed in, as the live code does). A case whose times run backwards
  takes the first way. ``tests/test_ladder_whatif.py`` checks both against the live step code
  asked at every record of random histories fired through the machine.

Memory is the counts: a few integers per step and per (clock, urgency).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..marks import Mark
from ..models import AuditRecord, FrozenDict, Urgency, trusted
from ..sla import ClockRun, ClockState, LadderStep, SLAClock, SLAPolicy, StepAction, pending_steps
from ..sla.clocks import record_meanings
from ..spec import MachineSpec
from .schema import DataNote, LadderStepReach, LadderWhatIfSection
from .words import LADDER_NOTE as NOTE
from .words import describe_step

if TYPE_CHECKING:
    from .breaches import BreachCounter, Stretches, Walk
    from .program import CaseProgram
    from .times import Stamp

__all__ = ["ACTING", "LadderWhatIf", "describe_step"]

ACTING = frozenset({StepAction.ESCALATE, StepAction.RAISE_URGENCY})
"""The actions that would have changed the history (not re-simulated: see the module docstring)."""

_MICRO = timedelta(microseconds=1)
_MEMO = 100_000
_StepKey = tuple[SLAClock, Urgency, str]
_TICKETS, _RUNS, _ESCALATED, _RESOLVED = range(4)
_RunKey = tuple[SLAClock, object, str]
_Plan = tuple[tuple[int, ...],
              tuple[tuple[tuple[tuple[int, int], ...], int, "Walk"], ...],
              tuple[int, ...], tuple[int, ...]]
"""Per trace and urgency: the (clock, urgency) it runs, each run with steps (its steps by
threshold, the least, how to measure it), and the positions of escalations and resolutions."""


class LadderWhatIf:
    """Counts, one ticket at a time, how many would have reached each step of ``policy``'s ladder.

    ``spec`` is the procedure the histories follow (for a replay, its observable projection):
    which records start, meet and pause the clocks, and which escalate or resolve, is read from
    its marks.
    """

    def __init__(self, policy: SLAPolicy, spec: MachineSpec) -> None:
        self.policy = policy
        self.spec = spec
        self.initial = spec.initial
        self.escalating = frozenset(spec.marked(Mark.ESCALATE))
        self.resolving = frozenset(spec.marked(Mark.RESOLVE))
        self.steps = policy.ladder.every()
        self._with_steps = {(clock, urgency) for clock, urgency, _ in self.steps}
        # Per (urgency, clock), each step with its threshold in microseconds (targets are fixed
        # by the urgency; a promised response's ETA is not: logs record none).
        self._thresholds: dict[tuple[Urgency, SLAClock], tuple[tuple[LadderStep, int], ...]] = {}
        for clock, urgency in self._with_steps:
            target = policy.target(urgency, clock)
            if target is not None:
                self._thresholds[urgency, clock] = tuple(
                    (step, step.threshold(target) // _MICRO) for step in policy.ladder.of(clock, urgency))
        self.cases = 0
        # Counted by number (hashing enums is a Python call): per step, its tickets, runs,
        # escalated and resolved later; per (clock, urgency) of the ladder, tickets it ran in.
        self._index = {(clock, urgency, step.name): n for n, (clock, urgency, step)
                       in enumerate(self.steps)}
        self._counts = [[0, 0, 0, 0] for _ in self.steps]
        self._pairs = sorted(self._with_steps)
        self._pair_index = {pair: n for n, pair in enumerate(self._pairs)}
        self._ran = [0] * len(self._pairs)
        self.calendar = policy.calendar
        self._plans: dict[tuple[int, Urgency], tuple[CaseProgram, BreachCounter, _Plan]] = {}
        self._per_urgency: dict[Urgency, dict[SLAClock, tuple[tuple[int, int], ...]]] = {}
        for (urgency, clock), steps in self._thresholds.items():
            self._per_urgency.setdefault(urgency, {})[clock] = tuple(sorted(
                ((self._index[clock, urgency, step.name], threshold) for step, threshold in steps),
                key=lambda item: item[1]))

    @classmethod
    def of(cls, policy: SLAPolicy | None, spec: MachineSpec) -> LadderWhatIf | None:
        """A what-if for ``policy``'s ladder (``None``: no policy, or one without a ladder)."""
        return None if policy is None or not policy.ladder else cls(policy, spec)

    @staticmethod
    def warnings(what_if: LadderWhatIf | None, cases: int) -> list[str]:
        """A warning when some reviewed case was not counted (the section is then left out)."""
        if what_if is None or what_if.cases == cases:
            return []
        return [f"the escalation ladder's what-if was left out: it needs each ticket's history, "
                f"and only {what_if.cases} of the {cases} cases came with theirs (count them with "
                f"review() or review_store(), not from CaseResults)"]

    # -- a ticket's history, through the live clock fold and step code ----------------------------

    def add_history(self, records: Sequence[AuditRecord], *, stage: str,
                    opened_at: datetime | None, priority: Urgency, end: datetime) -> None:
        """Count one ticket from its audit records (opened at ``opened_at`` in ``stage``).

        ``end`` is its last event: a run still open then counts its steps due before it.
        """
        policy = self.policy
        state = ClockState.start(stage, opened_at, policy)
        watch: dict[int, tuple[ClockRun, datetime]] = {}  # run -> the latest instant it lasted to
        found: dict[_RunKey, datetime] = {}
        ran: set[SLAClock] = set()
        for record, meaning in zip(records, record_meanings(records, self.spec), strict=True):
            at = record.at.astimezone(UTC)
            for run in state.open:
                held = watch.get(id(run))
                watch[id(run)] = (run, at if held is None or at > held[1] else held[1])
            state = state.after(record, policy, meaning)
            current = {id(run) for run in state.open}
            for key in [key for key in watch if key not in current]:
                run, until = watch.pop(key)
                self._settle(state, run, until, priority, found)
                ran.add(run.clock)
        for run in state.open:
            held = watch.get(id(run))
            until = end if held is None or end > held[1] else held[1]
            self._settle(state, run, until, priority, found)
            ran.add(run.clock)
        escalations = [r.at for r in records if r.trigger in self.escalating]
        resolutions = [r.at for r in records if r.trigger in self.resolving]
        self._count(priority, ran, found, max(escalations, default=None),
                    max(resolutions, default=None))

    def _settle(self, state: ClockState, run: ClockRun, until: datetime, priority: Urgency,
                found: dict[_RunKey, datetime]) -> None:
        """The steps of ``run`` the live code puts before ``until`` (acted-on records ignored)."""
        if (run.clock, priority) not in self._with_steps:
            return
        alone = replace(state, open=(run,), acted=frozenset())
        for step in pending_steps(alone, self.policy, priority):
            if step.due_at >= until:
                break
            key = (step.clock, step.run_started_at, step.name)
            if key not in found or step.due_at < found[key]:
                found[key] = step.due_at

    # -- a replayed case, from the compiled clock fold -------------------------------------------

    def add_compiled(self, program: CaseProgram, times: list[Stamp], urgency: Urgency,
                     counter: BreachCounter, *, backwards: bool) -> None:
        """Count one replayed case of ``program`` at its ``times`` (see ``BreachCounter.times``)."""
        if backwards:  # the stretches are not the intervals between records: walk the records
            self.add_history(_records(program, times), stage=self.initial,
                             opened_at=times[-1][1], priority=urgency, end=times[-2][1])
            return
        self.cases += 1
        plan = self._plan(program, urgency, counter)
        if plan is None:
            return
        eligible, runs, escalating, resolving = plan
        ran = self._ran
        for pair in eligible:
            ran[pair] += 1
        # In time order (the case's times do not run backwards): the last is the latest.
        escalated = times[escalating[-1]] if escalating else None
        resolved = times[resolving[-1]] if resolving else None
        reached: dict[int, list[int]] = {}
        for steps, least, (start, end, ops) in runs:
            if ops is None:  # started, then running until it was brought up to date once
                first, last = times[start], times[end]
                if last[0] < first[0]:
                    continue  # it never ran (its time runs backwards: no stretch)
                total = counter.gain(first, last)
                if total < least:
                    continue  # no step's threshold reached: nothing to work out
                stretches: Stretches = ((first, -1, first), (first, 0, last))
            else:
                total, stretches = counter.stretches(ops, times)
                if len(stretches) < 2 or total < least:
                    continue
            self._judge(steps, total, stretches, (escalated, resolved), reached, counter)
        counts = self._counts
        for step, (count, escalated_later, resolved_later) in reached.items():
            counted = counts[step]
            counted[_TICKETS] += 1
            counted[_RUNS] += count
            counted[_ESCALATED] += escalated_later
            counted[_RESOLVED] += resolved_later

    def _judge(self, steps: tuple[tuple[int, int], ...], total: int, stretches: Stretches,  # noqa: PLR0917
               real: tuple[Stamp | None, Stamp | None], reached: dict[int, list[int]],
               counter: BreachCounter) -> None:
        """Count the steps one run reached: (runs, escalated later, resolved later) per step.

        Whether a real escalation (resolution) came after a step's instant: surely, at or after
        the run's end; within a run that ran in one stretch, when the run's business time by
        then is past the threshold (before it: not); otherwise the instant decides.
        """
        until = stretches[-1][2][1]
        single = len(stretches) == 2
        business: list[int | None] = [None, None, None]  # the run's business time by each
        for key, threshold in steps:  # by threshold
            if threshold > total:
                break  # its business time never reached this one (nor the next)
            # Past the threshold, the step's instant is surely before the run's end (business
            # time never decreases); exactly at it, the instant decides.
            due_at: datetime | None = None
            if threshold == total:
                due_at = self.crossing(stretches, threshold)
                if due_at >= until:
                    continue
            entry = reached.get(key)
            if entry is None:
                entry = reached[key] = [0, 0, 0]
            entry[0] += 1
            # Later than the step's instant in one run: later than its first instant.
            for slot, when in enumerate(real, start=1):
                if when is not None and not entry[slot]:
                    if when[1] >= until:  # the instant is before the run's end
                        entry[slot] = 1
                        continue
                    if single:
                        gained = business[slot]
                        if gained is None:
                            gained = business[slot] = counter.gain(stretches[1][0], when)
                        if gained != threshold:
                            entry[slot] = gained > threshold
                            continue
                    if due_at is None:
                        due_at = self.crossing(stretches, threshold)
                    entry[slot] = when[1] > due_at

    def _plan(self, program: CaseProgram, urgency: Urgency, counter: BreachCounter) -> _Plan | None:
        """What a case of ``program`` at ``urgency`` is judged on (the same for every such case)."""
        per_clock = self._per_urgency.get(urgency)
        if per_clock is None:
            return None
        memo = self._plans.get((id(program), urgency))
        if memo is not None and memo[0] is program and memo[1] is counter:
            return memo[2]
        if len(self._plans) >= _MEMO:
            self._plans.clear()
        runs = tuple((steps, steps[0][1], walk) for clock, walk in counter.compiled_runs(program)
                     if (steps := per_clock.get(clock)))
        plan = (tuple(sorted({self._pair_index[clock, urgency]
                              for clock, walk in counter.compiled_runs(program)
                              if clock in per_clock})), runs,
                tuple(index for index, _, _, trigger, _ in program.records
                      if trigger in self.escalating),
                tuple(index for index, _, _, trigger, _ in program.records
                      if trigger in self.resolving))
        self._plans[id(program), urgency] = (program, counter, plan)
        return plan

    def crossing(self, stretches: Sequence[tuple[Stamp, int, Stamp]], threshold: int) -> datetime:
        """When a run's business time reaches ``threshold`` (it does), as the live code says.

        ``stretches`` as :meth:`~.breaches.BreachCounter.stretches` gives them: the calendar's
        ``add`` from the last stretch started below the threshold.
        """
        if threshold <= 0:
            return stretches[0][0][1]  # due as the run starts
        since, before = stretches[1][0], 0
        for start, elapsed, _ in stretches[2:]:
            if elapsed >= threshold:
                break
            since, before = start, elapsed
        return self.calendar.add(since[1], timedelta(microseconds=threshold - before))

    # -- counting and the report's section --------------------------------------------------------

    @property
    def eligible(self) -> Counter[tuple[SLAClock, Urgency]]:
        """Per (clock, urgency) of the ladder, the tickets of that urgency in which the clock ran."""
        return Counter({pair: self._ran[n] for n, pair in enumerate(self._pairs)})

    def _figure(self, slot: int) -> Counter[_StepKey]:
        return Counter({(clock, urgency, step.name): self._counts[n][slot]
                        for n, (clock, urgency, step) in enumerate(self.steps)})

    @property
    def tickets(self) -> Counter[_StepKey]:
        """Per step (clock, urgency, name): the tickets that would have reached it."""
        return self._figure(_TICKETS)

    @property
    def runs(self) -> Counter[_StepKey]:
        """Per step: the clock runs that would have reached it."""
        return self._figure(_RUNS)

    @property
    def escalated_later(self) -> Counter[_StepKey]:
        """Per step: of its tickets, those escalated after its instant, in reality."""
        return self._figure(_ESCALATED)

    @property
    def resolved_later(self) -> Counter[_StepKey]:
        """Per step: of its tickets, those resolved after its instant, in reality."""
        return self._figure(_RESOLVED)

    def _count(self, urgency: Urgency, ran: set[SLAClock], found: dict[_RunKey, datetime],
               escalated: datetime | None, resolved: datetime | None) -> None:
        self.cases += 1
        for clock in ran:
            if (clock, urgency) in self._with_steps:
                self._ran[self._pair_index[clock, urgency]] += 1
        first: dict[_StepKey, datetime] = {}
        for (clock, _run, name), due_at in found.items():
            key = (clock, urgency, name)
            self._counts[self._index[key]][_RUNS] += 1
            if key not in first or due_at < first[key]:
                first[key] = due_at
        for key, due_at in first.items():
            counted = self._counts[self._index[key]]
            counted[_TICKETS] += 1
            counted[_ESCALATED] += escalated is not None and escalated > due_at
            counted[_RESOLVED] += resolved is not None and resolved > due_at

    def section(self) -> LadderWhatIfSection:
        """The report's section on every ticket counted so far."""
        steps = []
        ran = self.eligible
        for n, (clock, urgency, step) in enumerate(self.steps):
            tickets, runs, escalated_later, resolved_later = self._counts[n]
            eligible = ran[clock, urgency]
            steps.append(LadderStepReach(
                clock=clock.value, urgency=urgency.value, step=step.name, action=step.action.value,
                when=step.when, description=describe_step(clock, step),
                acting=step.action in ACTING, owed=clock.owed, eligible=eligible,
                tickets=tickets, runs=runs,
                rate=None if not eligible else round(tickets / eligible, 4),
                escalated_later=escalated_later, resolved_later=resolved_later))
        return LadderWhatIfSection(policy=self.policy.fingerprint, tickets=self.cases, steps=steps,
                                   note=NOTE)

    def notes(self, source_kind: str) -> list[DataNote]:
        """A data note per clock and urgency of the ladder that no ticket ran: its steps count 0."""
        found = []
        ran = self.eligible
        for clock, urgency in sorted(self._with_steps):
            if ran[clock, urgency]:
                continue
            why = ("a log records no promised ETA, so that clock never runs in a replay"
                   if clock is SLAClock.PROMISED_RESPONSE and source_kind == "log" else
                   f"no {urgency.value}-urgency ticket ran that clock here")
            found.append(DataNote(
                column="", rule=f"ladder {clock.value}/{urgency.value}", problem="ladder_idle",
                count=0, examples=[], strict=False,
                effect=f"its steps were never judged ({why}): is the ladder's clock or urgency "
                       f"right for this data?"))
        return found


def _records(program: CaseProgram, times: list[Stamp]) -> tuple[AuditRecord, ...]:
    """The audit records the replay of a case commits, at its times (as ``CaseResult`` builds)."""
    # Built without validation: every value comes from the replay, which validated it.
    return tuple(trusted(AuditRecord, seq=seq, at=times[index][1], actor_id="log",
                         actor_role=role or "unknown", trigger=trigger, source=source, dest=dest,
                         payload=FrozenDict())
                 for seq, (index, role, source, trigger, dest) in enumerate(program.records, start=1))
