"""The escalation review report: its versioned JSON schema and how it is computed from a replay.

:class:`ReviewReport` is the contract other tools consume (``escalation-fsm replay --format json``;
:func:`report_json_schema` gives its JSON Schema). ``schema_version`` follows semantic versioning:
a minor bump only adds fields, a major bump changes or removes them.

Definitions (per case; a case is a ticket):

* *fits*: every event was allowed by the observable rules and the case reached a final stage;
  *deviates*: at least one event was not allowed; *open*: allowed so far, not finished.
  Conformance rate = fitting / (fitting + deviating): open cases have not broken a rule yet.
* *resolved*: some event mapped to ``resolve``; time to resolution runs from the case's first
  event to its last ``resolve``.
* *first-contact resolution* rate: resolved cases never escalated nor reopened, over resolved cases.
* *escalation* rate: cases with an ``escalate`` event, over all cases.
* *reopen* rate: resolved cases with a ``reopen`` event, over resolved cases.
* *SLA breach rate* per clock (schema 1.1): breached runs over decided runs, measured in the
  business time of the SLA policy from the logged event times (see ``docs/sla.md``). A run is
  decided once met, or once over its target by the case's last event. Only measured when a
  policy is given; ``sla_source`` says which (schema 1.2).
* *data notes* (schema 1.2): every value the reader or a rule could not read, per column and
  rule, with examples, and every rule that never fired (see :mod:`.notes`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from .. import __version__
from ..sla import SLAClock, breach_rates
from .basis import ReportBasis, basis_of
from .breaches import BreachCounter
from .deviations import DeviationRule, Deviations
from .engine import CaseResult, Measured, Replayer
from .groups import KINDS, RESOLVED, Group, ResolutionBins, approximation_notes, median_p90, rate
from .ladder_whatif import LadderWhatIf
from .notes import data_notes
from .program import CaseProgram
from .quantiles import ExactBudget, Quantiles, quantile_of_sorted
from .reader import CaseData, LogStats
from .schema import (
    SCHEMA_VERSION,
    Breakdown,
    DataNote,
    DeviationSummary,
    Diagram,
    Durations,
    HistogramBin,
    Kpis,
    NotObservableRule,
    ReviewReport,
    SLABreachRate,
    StageTime,
    TransitionCount,
    UnknownActivity,
    report_json_schema,
)
from .training import TrainingFigures

__all__ = [
    "SCHEMA_VERSION",
    "Breakdown",
    "DataNote",
    "DeviationSummary",
    "Diagram",
    "Durations",
    "HistogramBin",
    "Kpis",
    "NotObservableRule",
    "ReportBasis",
    "ReportFigures",
    "ReviewReport",
    "SLABreachRate",
    "StageTime",
    "TransitionCount",
    "UnknownActivity",
    "basis_of",
    "build_report",
    "report_json_schema",
]

_HOUR = 3600.0
_SECOND = 1_000_000
_MAX_SEQUENCES = 4096
"""Distinct sequences of transitions counted before they are added up (bounded memory)."""
_MAX_WHERE = 4096
"""Distinct (month, category, priority) whose groups are remembered (bounded memory)."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` with linear interpolation; ``None`` if empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([5.0], 0.9), percentile([], 0.5)
    (2.5, 5.0, None)
    """
    return quantile_of_sorted(sorted(values), q) if values else None


def build_report(results: Iterable[CaseResult], replayer: Replayer, stats: LogStats, *,
                 log_name: str, diagram: Diagram | None = None,
                 sla_source: str | None = None) -> ReviewReport:
    """Consume the case results of a replay (streamed) and compute the report.

    Memory is bounded: it grows with neither the number of cases nor the number of events
    (medians past :data:`~.quantiles.EXACT_VALUES` values come from histograms, flagged).
    """
    figures = ReportFigures(replayer)
    for case in results:
        figures.add_result(case)
    return figures.report(stats, log_name=log_name, diagram=diagram, sla_source=sla_source)


class ReportFigures:
    """The report's figures, accumulated one case at a time.

    From a :class:`CaseResult` (:meth:`add_result`), or from a case and the replay of its trace
    (:meth:`add_case`), which builds no per-case object and counts the SLA clocks with
    :class:`~.breaches.BreachCounter`.
    """

    def __init__(self, basis: ReportBasis | Replayer, *,
                 training: TrainingFigures | None = None) -> None:
        replayer = basis if isinstance(basis, ReportBasis) else basis_of(basis)
        self.replayer = replayer
        self.training = training
        """Counted by the caller, who knows who handled each case; judged in :meth:`report`."""
        budget = self.budget = ExactBudget()
        """The values the report's medians keep exactly, all groups together."""
        self.overall = Group(budget)
        self.by_category: defaultdict[str, Group] = defaultdict(lambda: Group(budget))
        self.by_priority: defaultdict[str, Group] = defaultdict(lambda: Group(budget))
        self.by_month: defaultdict[str, Group] = defaultdict(lambda: Group(budget))
        self.resolution_bins = ResolutionBins()
        self.deviations = Deviations()
        self.stage_times: defaultdict[str, Quantiles] = defaultdict(lambda: Quantiles(budget))
        self.sla_decided: Counter[str] = Counter()
        self.sla_breached: Counter[str] = Counter()
        self.fired_sequences: dict[tuple[tuple[str, str], ...], int] = {}
        self.fired: Counter[tuple[str, str]] = Counter()
        """Transitions of the sequences added up so far (see :meth:`add`)."""
        self._fired_by_program: dict[CaseProgram, int] = {}
        """Cases counted per program by :meth:`add_case` (its ``fired``), until added up."""
        self.events = self.backwards = 0
        self._where: dict[tuple[str, str | None, str | None],
                          tuple[tuple[list[int], ...], tuple[Quantiles, ...]]] = {}
        """The groups of each (month, category, priority) seen (see :meth:`_groups_at`)."""
        self.breaches = (None if replayer.sla is None
                         else BreachCounter(replayer.sla, replayer.replay_spec))
        self.ladder = LadderWhatIf.of(replayer.sla, replayer.replay_spec)
        """The ladder's what-if, when the policy has a ladder (:mod:`.ladder_whatif`)."""

    def add(self, case_id: str, status: str, events: int, backwards: bool, escalated: bool,  # noqa: PLR0917
            reopened: bool, resolution_seconds: float | None, category: str | None,
            priority: str | None, month: str, deviations: tuple[DeviationRule, ...],
            stage_seconds: dict[str, float], fired: tuple[tuple[str, str], ...]) -> None:
        """Count one case (positional: called once per case of a large log)."""
        self.events += events
        self.backwards += backwards
        groups = [self.overall, self.by_month[month]]
        if category is not None:
            groups.append(self.by_category[category])
        if priority is not None:
            groups.append(self.by_priority[priority])
        kind = KINDS[status, escalated, reopened]
        if resolution_seconds is None:
            for group in groups:
                group.kinds[kind] += 1
        else:
            hours = resolution_seconds / _HOUR
            self.resolution_bins.add(hours)
            for group in groups:
                group.kinds[kind + RESOLVED] += 1
                group.ttr.add(hours)
        if deviations:
            self.deviations.add(case_id, deviations)
        stage_times = self.stage_times
        for stage, seconds in stage_seconds.items():
            stage_times[stage].add(seconds / _HOUR)
        # Counted per sequence of transitions (cases share them), added up when many.
        sequences = self.fired_sequences
        sequences[fired] = sequences.get(fired, 0) + 1
        if len(sequences) >= _MAX_SEQUENCES:
            self._add_up_sequences()

    def _add_up_sequences(self) -> None:
        """Add the transitions of the sequences counted so far to :attr:`fired`."""
        fired = self.fired
        for sequence, cases in self.fired_sequences.items():
            for transition in sequence:
                fired[transition] += cases
        self.fired_sequences.clear()
        for program, cases in self._fired_by_program.items():
            for transition in program.fired:
                fired[transition] += cases
        self._fired_by_program.clear()

    def add_result(self, case: CaseResult) -> None:
        """Count one case from its result (its SLA runs as the result gives them)."""
        self.add(case.case_id, case.status, case.events, case.clock_backwards, case.escalated,
                 case.reopened, case.resolution_seconds, case.category, case.priority,
                 f"{case.start.year:04d}-{case.start.month:02d}",
                 tuple((d.rule, d.kind, d.stage, d.trigger, d.reason) for d in case.deviations),
                 case.stage_seconds, case.fired)
        for found in breach_rates(case.sla_runs):
            self.sla_decided[found.clock] += found.decided
            self.sla_breached[found.clock] += found.breached

    def add_case(self, case: CaseData, program: CaseProgram, measured: Measured) -> None:
        """Count one case from the replay of its trace and what :meth:`Replayer.measure` found.

        What :meth:`add` counts, in the same order (so the same values reach the same groups'
        quantiles one by one, and the same groups leave the exact budget), with each case's
        groups looked up once per (month, category, priority) rather than gathered per case.
        """
        category, priority, urgency, stage_seconds, backwards, first, last = measured
        stamps, positions = case.stamps, case.positions
        self.events += len(stamps)
        self.backwards += backwards
        where = (first[2], category, priority)
        groups = self._where.get(where)
        if groups is None:
            groups = self._groups_at(where)
        kinds, ttrs = groups
        kind = KINDS[program.status, program.escalated, program.reopened]
        resolved = program.resolve_index
        if resolved is None:
            for counts in kinds:
                counts[kind] += 1
        else:
            if positions is not None:
                resolved = positions[resolved]
            hours = (case.instants[resolved] - first[0]) / _SECOND / _HOUR
            self.resolution_bins.add(hours)
            kind += RESOLVED
            for counts in kinds:
                counts[kind] += 1
            Quantiles.add_to_each(ttrs, hours)
        if program.deviation_rules:
            self.deviations.add(case.case_id, program.deviation_rules)
        stage_times = self.stage_times
        for stage, seconds in stage_seconds.items():
            stage_times[stage].add(seconds / _HOUR)
        programs = self._fired_by_program  # a program's hash is its id: cheaper than its tuple's
        programs[program] = programs.get(program, 0) + 1
        if len(programs) >= _MAX_SEQUENCES:
            self._add_up_sequences()
        breaches = self.breaches
        if breaches is not None:
            times = list(stamps) if positions is None else [stamps[p] for p in positions]
            times += (last, first)  # BreachCounter.times
            breaches.count(program, times, urgency)
            if self.ladder is not None:
                self.ladder.add_compiled(program, times, urgency, breaches,
                                         backwards=backwards)

    def _groups_at(self, where: tuple[str, str | None, str | None],
                   ) -> tuple[tuple[list[int], ...], tuple[Quantiles, ...]]:
        """The kind counts and resolution times of the groups of a case of ``where`` (remembered).

        ``where`` is (month, category, priority); the groups are made (when new) in the order
        :meth:`add` makes them.
        """
        month, category, priority = where
        groups = [self.overall, self.by_month[month]]
        if category is not None:
            groups.append(self.by_category[category])
        if priority is not None:
            groups.append(self.by_priority[priority])
        if len(self._where) >= _MAX_WHERE:
            self._where.clear()
        found = self._where[where] = (tuple(group.kinds for group in groups),
                                      tuple(group.ttr for group in groups))
        return found

    def _quantiles(self) -> Iterator[tuple[str, str, Quantiles]]:
        """Every group's values, as ``(figure, group, values)``, in the report's order."""
        yield "time_to_resolution", "overall", self.overall.ttr
        for name, groups in (("category", self.by_category), ("priority", self.by_priority),
                             ("month", self.by_month)):
            for key in sorted(groups):
                yield "time_to_resolution", f"{name} {key}", groups[key].ttr
        for stage in self.replayer.spec.stage_names:
            if stage in self.stage_times:
                yield "time_in_stage", f"stage {stage}", self.stage_times[stage]

    def report(self, stats: LogStats, *, log_name: str, diagram: Diagram | None = None,
               sla_source: str | None = None,
               source_kind: Literal["log", "store"] = "log") -> ReviewReport:
        """The report on every case counted so far."""
        replayer, spec, overall = self.replayer, self.replayer.spec, self.overall
        decided, breached = Counter(self.sla_decided), Counter(self.sla_breached)
        if self.breaches is not None:
            for clock, (n, late) in self.breaches.counts().items():
                decided[clock] += n
                breached[clock] += late
        stage_times = self.stage_times
        self._add_up_sequences()
        fired = self.fired
        if diagram is None:
            diagram = Diagram(available=False, note="state diagram not requested")
        return ReviewReport(
            generated_by=f"escalation-fsm {__version__}",
            log=log_name, mapping=replayer.source, spec=spec.name,
            rows=stats.rows, events=self.events, cases=overall.cases,
            period_start=stats.start, period_end=stats.end,
            overall=overall.kpis(),
            top_deviations=self.deviations.summaries(replayer.replay_spec),
            by_category=_breakdown(self.by_category, by_size=True),
            by_priority=_breakdown(self.by_priority, by_size=False),
            by_month=_breakdown(self.by_month, by_size=False),
            time_in_stage=[
                StageTime(stage=stage, cases=stage_times[stage].count,
                          **median_p90(stage_times[stage]),
                          total_hours=round(stage_times[stage].total(), 2))
                for stage in spec.stage_names if stage in stage_times
            ],
            transition_counts=[
                TransitionCount(source=t.source, trigger=t.trigger, dest=t.target,
                                count=fired[t.key])
                for t in spec.transitions if fired[t.key]
            ],
            not_observable=[NotObservableRule(rule=n.rule, reason=n.reason)
                            for n in replayer.not_observable],
            unknown_activities=[UnknownActivity(activity=a, events=n,
                                                first_line=stats.unknown_first_line[a])
                                for a, n in stats.unknown.most_common()],
            ignored_events=stats.ignored, reordered_cases=stats.reordered_cases,
            warnings=_warnings(stats, replayer, self.backwards) + LadderWhatIf.warnings(
                self.ladder, overall.cases), diagram=diagram,
            sla_breach_rates=[
                SLABreachRate(clock=clock, owed=clock.owed, decided=decided[clock],
                              breached=breached[clock],
                              rate=rate(breached[clock], decided[clock]))
                for clock in SLAClock if decided[clock]
            ],
            sla_policy=None if replayer.sla is None else replayer.sla.fingerprint,
            sla_source=None if replayer.sla is None else (sla_source or "a policy given in Python"),
            data_notes=data_notes(stats.notes.merge(replayer.notes()), replayer.never_fired())
            + ([] if self.ladder is None else self.ladder.notes(source_kind))
            + approximation_notes(self._quantiles(), self.budget),
            resolution_histogram=self.resolution_bins.bins(),
            training=None if self.training is None else self.training.section(),
            source_kind=source_kind,
            ladder_what_if=None if self.ladder is None or self.ladder.cases != overall.cases
            else self.ladder.section(),
        )


def _breakdown(groups: dict[str, Group], *, by_size: bool) -> list[Breakdown]:
    keys = sorted(groups, key=lambda k: (-groups[k].cases, k)) if by_size else sorted(groups)
    return [Breakdown(key=key, kpis=groups[key].kpis()) for key in keys]


def _warnings(stats: LogStats, replayer: ReportBasis, backwards: int) -> list[str]:
    warnings: list[str] = []
    if stats.unknown:
        total = sum(stats.unknown.values())
        warnings.append(f"{total} event(s) with {len(stats.unknown)} activit(ies) the mapping "
                        f"does not know were skipped (see unknown_activities)")
    if stats.reordered_cases:
        column = replayer.order_column
        warnings.append(f"{stats.reordered_cases} case(s) had rows out of order in the file; "
                        f"they were replayed in {column!r} order")
    if backwards:
        warnings.append(f"{backwards} case(s) have events timed earlier than the event before "
                        f"them in replay order; those gaps are not counted as time in a stage")
    return warnings
