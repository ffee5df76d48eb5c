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

from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from .. import __version__
from ..sla import SLAClock, breach_rates
from ..spec import MachineSpec
from .engine import CaseResult, Replayer
from .notes import STRICT_PROBLEMS, ReadNotes
from .reader import LogStats
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
from .words import describe_deviation

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
    "ReviewReport",
    "SLABreachRate",
    "StageTime",
    "TransitionCount",
    "UnknownActivity",
    "build_report",
    "report_json_schema",
]

_HOUR = 3600.0
_EXAMPLES = 3


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` with linear interpolation; ``None`` if empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([5.0], 0.9), percentile([], 0.5)
    (2.5, 5.0, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Acc:
    """Accumulates the figures of a set of cases: a few counters and one float per resolved case."""

    __slots__ = ("cases", "deviating", "escalated", "fcr", "fitting", "open", "reopened",
                 "resolved", "ttr")

    def __init__(self) -> None:
        self.cases = self.fitting = self.deviating = self.open = 0
        self.resolved = self.fcr = self.escalated = self.reopened = 0
        self.ttr = array("d")  # 8 bytes a case: memory grows with cases, never with events

    def add(self, status: str, escalated: bool, reopened: bool, hours: float | None) -> None:
        """Count one case (its resolution time in ``hours``, ``None`` if unresolved)."""
        self.cases += 1
        if status == "fits":
            self.fitting += 1
        elif status == "deviates":
            self.deviating += 1
        else:
            self.open += 1
        self.escalated += escalated
        if hours is not None:
            self.resolved += 1
            self.ttr.append(hours)
            self.reopened += reopened
            self.fcr += not (escalated or reopened)

    def kpis(self) -> Kpis:
        judged = self.fitting + self.deviating
        return Kpis(
            cases=self.cases, fitting=self.fitting, deviating=self.deviating, open=self.open,
            conformance_rate=_rate(self.fitting, judged), resolved=self.resolved,
            first_contact_resolution_rate=_rate(self.fcr, self.resolved),
            escalation_rate=_rate(self.escalated, self.cases),
            reopen_rate=_rate(self.reopened, self.resolved),
            time_to_resolution=Durations(count=len(self.ttr), median_hours=_q(self.ttr, 0.5),
                                         p90_hours=_q(self.ttr, 0.9)),
        )


def _q(values: Sequence[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 3)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


class _Deviations:
    def __init__(self) -> None:
        self.first: Counter[str] = Counter()
        self.tickets: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.sample: dict[str, tuple[str, str, str, str]] = {}

    def add(self, case: CaseResult) -> None:
        self.tickets.update({deviation.rule for deviation in case.deviations})
        for position, deviation in enumerate(case.deviations):
            rule = deviation.rule
            self.events[rule] += 1
            self.sample.setdefault(rule, (deviation.kind, deviation.stage, deviation.trigger,
                                          deviation.reason))
            if position == 0:
                self.first[rule] += 1
                if len(self.examples[rule]) < _EXAMPLES:
                    self.examples[rule].append(case.case_id)

    def summaries(self, spec: MachineSpec) -> list[DeviationSummary]:
        rules = sorted(self.events, key=lambda r: (-self.first[r], -self.events[r], r))
        return [
            DeviationSummary(rule=rule, kind=self.sample[rule][0],
                             stage=self.sample[rule][1], trigger=self.sample[rule][2],
                             reason=self.sample[rule][3], cases=self.first[rule],
                             events=self.events[rule], examples=self.examples.get(rule, []),
                             tickets=self.tickets[rule],
                             description=describe_deviation(spec, *self.sample[rule], rule=rule))
            for rule in rules
        ]


def build_report(results: Iterable[CaseResult], replayer: Replayer, stats: LogStats, *,
                 log_name: str, diagram: Diagram | None = None,
                 sla_source: str | None = None) -> ReviewReport:
    """Consume the case results of a replay (streamed) and compute the report.

    Memory grows with the number of cases (a few floats each), not with the number of events.
    """
    overall = _Acc()
    groups: dict[str, defaultdict[str, _Acc]] = {k: defaultdict(_Acc)
                                                 for k in ("category", "priority", "month")}
    deviations = _Deviations()
    stage_times: defaultdict[str, array[float]] = defaultdict(lambda: array("d"))
    sla_decided: Counter[str] = Counter()
    sla_breached: Counter[str] = Counter()
    fired: Counter[tuple[str, str]] = Counter()
    events = backwards = 0
    by_category, by_priority, by_month = groups["category"], groups["priority"], groups["month"]
    for case in results:
        events += case.events
        backwards += case.clock_backwards
        seconds = case.resolution_seconds
        figures = (case.status, case.escalated, case.reopened,
                   None if seconds is None else seconds / _HOUR)
        overall.add(*figures)
        if case.category is not None:
            by_category[case.category].add(*figures)
        if case.priority is not None:
            by_priority[case.priority].add(*figures)
        by_month[f"{case.start.year:04d}-{case.start.month:02d}"].add(*figures)
        if case.deviations:
            deviations.add(case)
        for stage, seconds in case.stage_seconds.items():
            stage_times[stage].append(seconds / _HOUR)
        fired.update(case.fired)
        for rate in breach_rates(case.sla_runs):
            sla_decided[rate.clock] += rate.decided
            sla_breached[rate.clock] += rate.breached
    spec = replayer.spec
    warnings = _warnings(stats, replayer, backwards)
    if diagram is None:
        diagram = Diagram(available=False, note="state diagram not requested")
    return ReviewReport(
        generated_by=f"escalation-fsm {__version__}",
        log=log_name, mapping=replayer.mapping.source, spec=spec.name,
        rows=stats.rows, events=events, cases=overall.cases,
        period_start=stats.start, period_end=stats.end,
        overall=overall.kpis(),
        top_deviations=deviations.summaries(replayer.replay_spec),
        by_category=_breakdown(groups["category"], by_size=True),
        by_priority=_breakdown(groups["priority"], by_size=False),
        by_month=_breakdown(groups["month"], by_size=False),
        time_in_stage=[
            StageTime(stage=stage, cases=len(stage_times[stage]),
                      median_hours=_q(stage_times[stage], 0.5),
                      p90_hours=_q(stage_times[stage], 0.9),
                      total_hours=round(sum(stage_times[stage]), 2))
            for stage in spec.stage_names if stage in stage_times
        ],
        transition_counts=[
            TransitionCount(source=t.source, trigger=t.trigger, dest=t.target, count=fired[t.key])
            for t in spec.transitions if fired[t.key]
        ],
        not_observable=[NotObservableRule(rule=n.rule, reason=n.reason)
                        for n in replayer.not_observable],
        unknown_activities=[UnknownActivity(activity=a, events=n,
                                            first_line=stats.unknown_first_line[a])
                            for a, n in stats.unknown.most_common()],
        ignored_events=stats.ignored, reordered_cases=stats.reordered_cases,
        warnings=warnings, diagram=diagram,
        sla_breach_rates=[
            SLABreachRate(clock=clock, owed=clock.owed, decided=sla_decided[clock],
                          breached=sla_breached[clock],
                          rate=_rate(sla_breached[clock], sla_decided[clock]))
            for clock in SLAClock if sla_decided[clock]
        ],
        sla_policy=None if replayer.sla is None else replayer.sla.fingerprint,
        sla_source=None if replayer.sla is None else (sla_source or "a policy given in Python"),
        data_notes=data_notes(stats.notes.merge(replayer.plan.notes), replayer.plan.never_fired()),
        resolution_histogram=_histogram(overall.ttr),
    )


def _breakdown(groups: dict[str, _Acc], *, by_size: bool) -> list[Breakdown]:
    keys = sorted(groups, key=lambda k: (-groups[k].cases, k)) if by_size else sorted(groups)
    return [Breakdown(key=key, kpis=groups[key].kpis()) for key in keys]


def _warnings(stats: LogStats, replayer: Replayer, backwards: int) -> list[str]:
    warnings: list[str] = []
    if stats.unknown:
        total = sum(stats.unknown.values())
        warnings.append(f"{total} event(s) with {len(stats.unknown)} activit(ies) the mapping "
                        f"does not know were skipped (see unknown_activities)")
    if stats.reordered_cases:
        column = replayer.mapping.columns.order or replayer.mapping.columns.timestamp
        warnings.append(f"{stats.reordered_cases} case(s) had rows out of order in the file; "
                        f"they were replayed in {column!r} order")
    if backwards:
        warnings.append(f"{backwards} case(s) have events timed earlier than the event before "
                        f"them in replay order; those gaps are not counted as time in a stage")
    return warnings


_EFFECTS = {
    "not_a_number": "not compared (the rule needs a number)",
    "unmapped_label": "not compared (the label is not in the column's value map)",
    "unparseable_time": "row skipped (it cannot be placed in time)",
    "unknown_urgency": "counted as normal urgency for the SLA targets",
    "empty": "not compared; the previous value stays the reference",
    "never_fired": "the rule changed nothing in this log: is its column or value right?",
}


def data_notes(notes: ReadNotes, never_fired: Iterable[str]) -> list[DataNote]:
    """The report's data notes: what could not be read (most frequent first), then idle rules."""
    found = [
        DataNote(column=column, rule=rule, problem=problem, count=count,
                 examples=notes.examples.get((column, rule, problem), []),
                 effect=_EFFECTS[problem], strict=problem in STRICT_PROBLEMS)
        for (column, rule, problem), count in sorted(notes.counts.items(),
                                                     key=lambda item: (-item[1], item[0]))
    ]
    found += [DataNote(column="", rule=rule, problem="never_fired", count=0, examples=[],
                       effect=_EFFECTS["never_fired"], strict=True) for rule in never_fired]
    return found


_BINS = ((1.0, "under 1 hour"), (4.0, "1-4 hours"), (8.0, "4-8 hours"), (24.0, "8-24 hours"),
         (48.0, "1-2 days"), (96.0, "2-4 days"), (168.0, "4-7 days"), (336.0, "1-2 weeks"),
         (672.0, "2-4 weeks"), (None, "over 4 weeks"))


def _histogram(hours: Sequence[float]) -> list[HistogramBin]:
    counts = [0] * len(_BINS)
    for value in hours:
        counts[next(i for i, (upper, _) in enumerate(_BINS) if upper is None or value < upper)] += 1
    return [HistogramBin(label=label, upper_hours=upper, cases=count)
            for (upper, label), count in zip(_BINS, counts, strict=True)] if hours else []
