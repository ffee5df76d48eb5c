"""Replaying cases through :class:`~escalation_fsm.machine.EscalationMachine`.

Every trigger is fired through the machine on the observable projection of the mapping's spec,
with a :class:`~escalation_fsm.clock.ManualClock` set to the event's recorded time: the same rules
as live firing. A deviating event is reported and skipped, and the replay goes on from the same
stage, so one case can show several deviations (the first is the one that decides the review).

Bulk speed comes from firing each step once per situation: when no observable guard reads the
ticket's history, a step (trigger choices and role) is fired once per ticket state (every field
but the history and the version); otherwise traces are kept in a trie, and a case only fires the
steps past the longest prefix already replayed. What a whole trace replays to (a
:class:`~.program.CaseProgram`) is kept for the next case with the same trace, which then only
measures its own times. That is exact as long as no observable guard reads the time; pass
``cache_traces=False`` for a spec whose guards do (every case is then fired through the machine).
``tests/test_replay_differential.py`` checks the trie against firing every case through the
machine, and both against an independent replayer, on random logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from ..clock import ManualClock
from ..errors import EscalationError, ReplayError, TransitionRefused
from ..machine import EscalationMachine
from ..marks import Mark
from ..models import Actor, AuditRecord, Category, FrozenDict, Ticket, Urgency, trusted
from ..sla import Deadline, SLAPolicy, clock_runs
from ..spec import MachineSpec
from .mapping import LogMapping
from .program import CaseProgram, Outcome, Status
from .reader import CaseData, LogStats, Progress, RawCase, case_data, read_case_data
from .results import CaseResult, Deviation, describe
from .rules import RowPlan, Step, Trace, urgency_word
from .specs import NotObservable, observable_projection, resolve_spec
from .times import Stamp

__all__ = ["CaseResult", "Deviation", "Measured", "Replayer", "Status"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Node = dict[tuple[tuple[str, ...], str | None], tuple[Outcome, Ticket, "_Node"]]
_MAX_NODES = 50_000
_MAX_PROGRAMS = 20_000
_GROWING = frozenset({"history", "version"})


class Measured(NamedTuple):
    """What one case adds to its trace's :class:`~.program.CaseProgram`: its own data and times."""

    category: str | None
    priority: str | None
    urgency: Urgency
    seconds: dict[str, float]
    backwards: bool
    first: Stamp
    """The earliest event (the case's start)."""
    last: Stamp
    """The latest event (the case's end)."""


_new_tuple = tuple.__new__


class Replayer:
    """Replays cases of a log mapped by ``mapping`` against its spec (or ``spec`` if given)."""

    def __init__(self, mapping: LogMapping, *, spec: MachineSpec | None = None,
                 cache_traces: bool = True, sla: SLAPolicy | None = None) -> None:
        self.mapping = mapping
        self.sla = sla
        self.spec = resolve_spec(mapping.spec) if spec is None else spec
        mapping.check_against(self.spec)
        if sla is not None and sla.problems(self.spec):
            raise ReplayError(f"the SLA policy does not fit spec {self.spec.name!r}: "
                              f"{'; '.join(sla.problems(self.spec))}")
        self.roles_observable = bool(mapping.roles) or mapping.default_role is not None
        projected, hidden = observable_projection(self.spec, mapping.guards_observable(self.spec),
                                                  roles_observable=self.roles_observable)
        self.replay_spec: MachineSpec = projected
        self._finals = projected.finals
        # The review figures read what triggers mean, never their names.
        self._escalating = frozenset(projected.marked(Mark.ESCALATE))
        self._reopening = frozenset(projected.marked(Mark.REOPEN))
        self._resolving = frozenset(projected.marked(Mark.RESOLVE))
        # Interactions move no stage; their direction (from the mapping) drives the SLA clocks.
        self._interacting = frozenset(self.spec.marked(Mark.INTERACTION))
        self.not_observable: tuple[NotObservable, ...] = (*hidden, *_undirected(mapping,
                                                                               self.spec))
        self.clock = ManualClock(_EPOCH)
        self.machine = EscalationMachine(projected, clock=self.clock)
        self.cache_traces = cache_traces
        # The ticket each replay starts from: only the data the log shows (the category, if any).
        self._blank = {flag: Ticket(id="replay", customer_id="unknown", stage=projected.initial,
                                    category=Category.OTHER if flag else None)
                       for flag in (False, True)}
        self._trie: dict[bool, _Node] = {}
        self._nodes = 0
        # A trace's outcome depends on its prefix only through the ticket it leaves, when no
        # observable guard reads the history (or the version): then steps are memoised per ticket
        # state (all fields but those two), which needs far fewer firings than per prefix.
        self._by_state = all(guard.ticket_fields is not None and not guard.ticket_fields & _GROWING
                             for guard in projected.guards)
        self._by_state_memo: dict[tuple[int, tuple[str, ...], str | None], tuple[Outcome, int]] = {}
        self._state_ids: dict[tuple[object, ...], int] = {}
        self._state_tickets: list[Ticket] = []
        for flag in (False, True):  # states 0 and 1: the two blank tickets (they differ)
            self._state_id(self._blank[flag])
        self._programs: dict[tuple[object, ...], CaseProgram] = {}
        self._moves = {(t.source, t.trigger): t for t in projected.transitions}
        self._actors: dict[str, Actor] = {}
        self._missing = frozenset(mapping.missing)
        self.plan = RowPlan(mapping, projected, cache=cache_traces)
        """The mapping compiled against the spec; its ``notes`` and ``fired`` count what the rules
        read and did over everything this replayer replayed."""
        self._by_activities: dict[tuple[bool, tuple[str, ...]], CaseProgram] | None = (
            {} if cache_traces and not self.roles_observable and self.plan.activities_only
            else None)
        """With no rules, roles or events left out, a case's program by (whether it has a
        category, its activities): what :meth:`compile` finds through its trace, found at once."""

    def replay(self, path: str | Path, stats: LogStats | None = None, *,
               progress: Progress | None = None) -> Iterator[CaseResult]:
        """Read the log at ``path`` and yield one :class:`CaseResult` per case, streamed."""
        for case, program in self.cases(path, stats, progress=progress):
            yield self.result(case, program)

    def replay_case(self, case: RawCase) -> CaseResult:
        """Replay one case's events (already in replay order)."""
        data = case_data(case)
        return self.result(data, self.compile(data))

    def cases(self, path: str | Path, stats: LogStats | None = None, *,
              progress: Progress | None = None) -> Iterator[tuple[CaseData, CaseProgram]]:
        """Each case of the log with the replay of its trace, streamed.

        What the review report aggregates, without building a :class:`CaseResult` per case.
        """
        for case in read_case_data(path, self.mapping, stats, progress=progress):
            yield case, self.compile(case)

    # -- mapping events to trigger steps, and steps to outcomes ----------------------------------

    def compile(self, case: CaseData) -> CaseProgram:
        """The replay of the case's trace: fired through the machine the first time it is seen.

        Sets ``case.positions`` (the events the trace holds, when not all).
        """
        by_activities = self._by_activities
        if by_activities is not None:  # the trace is the activities: no trace built per case
            key = (case.category is not None, tuple(case.activities))
            program = by_activities.get(key)
            if program is None:
                if len(by_activities) >= _MAX_PROGRAMS:
                    by_activities.clear()
                program = by_activities[key] = self._compile(case)
            case.positions = None
            return program
        return self._compile(case)

    def _compile(self, case: CaseData) -> CaseProgram:
        roles = tuple(map(self._role, case.resources)) if self.roles_observable else None
        trace, positions = self.plan.trace(case, roles)
        case.positions = positions
        category = case.category is not None
        if not self.cache_traces:
            steps = self.plan.steps(trace)
            return self._program(steps, *self._fire_each(case, steps, category), trace=trace)
        key = (category, trace)
        program = self._programs.get(key)
        if program is None:
            if len(self._programs) >= _MAX_PROGRAMS:  # bounded memory on endlessly varied logs
                self._programs.clear()
            steps = self.plan.steps(trace)
            program = self._programs[key] = self._program(
                steps, *self._fire_cached(case, steps, category), trace=trace)
        return program

    def _program(self, steps: list[Step], outcomes: list[Outcome], final_stage: str, *,
                 trace: Trace) -> CaseProgram:
        directions = self.mapping.interactions
        return CaseProgram(steps, outcomes, final_stage, length=len(trace.activities),
                           initial=self.replay_spec.initial, finals=self._finals,
                           require_final=self.mapping.require_final,
                           escalating=self._escalating, reopening=self._reopening,
                           resolving=self._resolving, interacting=self._interacting,
                           directions={index: directions[activity] for index, activity
                                       in enumerate(trace.activities) if activity in directions}
                           if directions else None)

    def _role(self, resource: str | None) -> str:
        if resource in self._missing:
            resource = None
        role = self.mapping.roles.get(resource or "", self.mapping.default_role)
        return role if role is not None else "unknown"

    def _fire_each(self, case: CaseData, steps: list[Step],
                   category: bool) -> tuple[list[Outcome], str]:
        ticket = self._blank[category].model_copy(update={"id": case.case_id})
        outcomes = []
        for index, choices, role in steps:
            outcome, ticket = self._fire(ticket, choices, role, _stamp(case, index)[1])
            outcomes.append(outcome)
        return outcomes, ticket.stage

    def _fire_cached(self, case: CaseData, steps: list[Step],
                     category: bool) -> tuple[list[Outcome], str]:
        if self._by_state:
            return self._fire_by_state(case, steps, category)
        # Walk the trie of traces replayed so far; fire only past the longest known prefix.
        if self._nodes > _MAX_NODES:  # bound the memory on logs with endless distinct traces
            self._trie.clear()
            self._nodes = 0
        ticket = self._blank[category]
        node = self._trie.setdefault(category, {})
        outcomes = []
        for index, choices, role in steps:
            entry = node.get((choices, role))
            if entry is None:
                outcome, after = self._fire(ticket, choices, role, _stamp(case, index)[1])
                entry = node[(choices, role)] = (outcome, after, {})
                self._nodes += 1
            outcomes.append(entry[0])
            ticket, node = entry[1], entry[2]
        return outcomes, ticket.stage

    def _fire_by_state(self, case: CaseData, steps: list[Step],
                       category: bool) -> tuple[list[Outcome], str]:
        # What a step does depends on the ticket, its history aside (no guard reads it): fire
        # each step once per ticket state, from a ticket in that state.
        memo, tickets = self._by_state_memo, self._state_tickets
        state = int(category)  # the blank tickets' states are numbers 0 and 1 (see __init__)
        outcomes = []
        for index, choices, role in steps:
            entry = memo.get((state, choices, role))
            if entry is None:
                outcome, after = self._fire(tickets[state], choices, role, _stamp(case, index)[1])
                entry = memo[state, choices, role] = (outcome, self._state_id(after))
            outcomes.append(entry[0])
            state = entry[1]
        return outcomes, tickets[state].stage

    def _state_id(self, ticket: Ticket) -> int:
        """A number for the ticket's state (all but its history and version), first seen with it."""
        state = tuple(value for name, value in ticket.__dict__.items() if name not in _GROWING)
        number = self._state_ids.get(state)
        if number is None:
            number = self._state_ids[state] = len(self._state_tickets)
            self._state_tickets.append(ticket)
        return number

    def _fire(self, ticket: Ticket, choices: tuple[str, ...], role: str | None,
              at: datetime) -> tuple[Outcome, Ticket]:
        """Fire the first of ``choices`` defined in the ticket's stage through the machine."""
        moves = self._moves
        stage = ticket.stage
        trigger = next((c for c in choices if (stage, c) in moves), choices[0])
        transition = moves.get((stage, trigger))
        if role is None:  # roles not observable: act with a role the transition allows
            role = min(transition.roles) if transition is not None else "system"
        self.clock.set(at)
        actor = self._actors.get(role)
        if actor is None:
            actor = self._actors[role] = Actor(id="log", role=role)
        try:
            after = self.machine.fire(ticket, trigger, actor=actor)
        except (EscalationError, ValidationError) as exc:
            kind, rule, reason = describe(exc, stage, trigger)
            if isinstance(exc, TransitionRefused) and exc.failed_guards:
                rule += f" by {', '.join(exc.failed_guards)}"
            return ("dev", stage, trigger, kind, rule, reason), ticket
        record = after.history[-1]
        return ("ok", record.source, record.trigger, record.dest), after

    # -- per-case result ----------------------------------------------------------------------------

    def measure(self, case: CaseData, program: CaseProgram) -> Measured:
        """What the case adds to its trace: category, priority, times (notes what it cannot read)."""
        instants = case.instants
        seconds, backwards = program.stage_seconds(instants, case.positions)
        stamps = case.stamps
        if backwards:  # the first of the earliest events, the first of the latest
            first = stamps[instants.index(min(instants))]
            last = stamps[instants.index(max(instants))]
        else:  # in time order
            first, last = stamps[0], stamps[instants.index(instants[-1])]
        priority, urgency = self.plan.priority(case, urgency_needed=self.sla is not None)
        # tuple.__new__ directly: a named tuple's own __new__ is a Python call (once per case)
        return _new_tuple(Measured, (self.plan.category(case), priority, urgency, seconds,
                                     backwards, first, last))

    def result(self, case: CaseData, program: CaseProgram,
               measured: Measured | None = None) -> CaseResult:
        """The :class:`CaseResult` of a case whose trace replays to ``program``."""
        if measured is None:
            measured = self.measure(case, program)
        stamps, positions = case.stamps, case.positions
        start, end = measured.first[1], measured.last[1]
        deviations = tuple(
            Deviation(index=index, line=case.lines[index], at=stamps[index][1],
                      activity=case.activities[index], stage=stage, trigger=trigger,
                      kind=kind,  # type: ignore[arg-type]
                      rule=rule, reason=reason)
            for index, (_, stage, trigger, kind, rule, reason) in (
                program.deviations if positions is None else
                ((positions[at], outcome) for at, outcome in program.deviations)))
        resolved = program.resolve_index
        return CaseResult(
            case_id=case.case_id, status=program.status, events=len(stamps),
            start=start, end=end, final_stage=program.final_stage, deviations=deviations,
            fired=program.fired, stage_seconds=measured.seconds, category=measured.category,
            priority=measured.priority, escalated=program.escalated, reopened=program.reopened,
            resolved_at=None if resolved is None else _stamp(case, resolved)[1],
            clock_backwards=measured.backwards,
            sla_runs=() if self.sla is None else _sla_runs(
                self.sla, self.replay_spec, case, program, start=start, end=end,
                urgency=measured.urgency),
        )


def _sla_runs(policy: SLAPolicy, spec: MachineSpec, case: CaseData, program: CaseProgram, *,
              start: datetime, end: datetime, urgency: Urgency) -> tuple[Deadline, ...]:
    """The SLA clocks of the case, from its committed transitions at their logged times.

    The case opens at its first event and is judged as of its last one. Logs carry no
    payloads, so there is no ETA (no promised-response clock).
    """
    records = tuple(
        trusted(AuditRecord, seq=seq, at=_stamp(case, index)[1], actor_id="log",
                actor_role=role or "unknown", trigger=trigger, source=source, dest=dest,
                payload=FrozenDict())
        for seq, (index, role, source, trigger, dest) in enumerate(program.records, start=1))
    # Built without validation: every value comes from the replay, which validated it.
    ticket = Ticket.model_construct(id=case.case_id, customer_id="unknown",
                                    stage=program.final_stage, priority=urgency, opened_at=start,
                                    history=records, version=len(records))
    return clock_runs(ticket, policy, spec, now=end)


def _stamp(case: CaseData, position: int) -> Stamp:
    """The time of the event at ``position`` in the case's trace."""
    return case.stamps[position if case.positions is None else case.positions[position]]


def urgency_of(priority: str | None) -> Urgency:
    """The urgency a log's priority text names (``"2 - High"`` is high); normal when unclear.

    The replay itself notes every unclear priority (see :class:`~escalation_fsm.replay.rules.RowPlan`).

    >>> urgency_of("1 - Critical"), urgency_of("3 - Moderate"), urgency_of(None)
    (<Urgency.CRITICAL: 'critical'>, <Urgency.NORMAL: 'normal'>, <Urgency.NORMAL: 'normal'>)
    """
    return (urgency_word(priority) if priority else None) or Urgency.NORMAL


def _undirected(mapping: LogMapping, spec: MachineSpec) -> tuple[NotObservable, ...]:
    """A note for the interaction activities whose direction the mapping does not give."""
    activities = [activity for activity in mapping.activities
                  if activity not in mapping.interactions
                  and mapping.interaction_triggers(activity, spec)]
    if not activities:
        return ()
    return (NotObservable(
        rule=f"interaction direction: {', '.join(map(repr, activities))}",
        reason="the mapping's [interactions] table does not say whether the customer or the "
               "helpdesk spoke, so these interactions leave the customer-update clock as it is"),)
