"""The escalation review report's data: the versioned models behind ``--format json``.

:class:`ReviewReport` is the contract other tools consume; :func:`report_json_schema` gives its
JSON Schema (committed as ``docs/replay-report.schema.json``). ``schema_version`` follows
semantic versioning: a minor bump only adds fields, a major bump changes or removes them. How
the figures are computed is in :mod:`escalation_fsm.replay.report`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .training import TrainingFinding, TrainingSection

__all__ = [
    "SCHEMA_VERSION",
    "Breakdown",
    "DataNote",
    "DeviationSummary",
    "Diagram",
    "Durations",
    "HistogramBin",
    "Kpis",
    "LadderStepReach",
    "LadderWhatIfSection",
    "NotObservableRule",
    "ReviewReport",
    "SLABreachRate",
    "StageTime",
    "TrainingFinding",
    "TrainingSection",
    "TransitionCount",
    "UnknownActivity",
    "report_json_schema",
]

SCHEMA_VERSION = "1.4"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Durations(_Out):
    """A distribution of durations, in hours (``None`` when there is no data)."""

    count: int
    median_hours: float | None
    p90_hours: float | None


class Kpis(_Out):
    """The review figures for one set of cases (all, one category, one month...)."""

    cases: int
    fitting: int
    deviating: int
    open: int
    conformance_rate: float | None
    resolved: int
    first_contact_resolution_rate: float | None
    escalation_rate: float | None
    reopen_rate: float | None
    time_to_resolution: Durations


class Breakdown(_Out):
    """The figures of the cases sharing one value (a category, a priority, a month ``YYYY-MM``)."""

    key: str
    kpis: Kpis


class DeviationSummary(_Out):
    """One kind of deviation: how many cases it stopped first, how many events it refused in all."""

    rule: str
    kind: Literal["not_allowed", "refused", "role", "payload"]
    stage: str
    trigger: str
    reason: str
    cases: int
    """Cases whose *first* deviation is this one."""
    events: int
    """Deviating events of this kind, counting every case and every repeat."""
    examples: list[str]
    tickets: int = 0
    """Cases with at least one event of this kind (added in 1.2)."""
    description: str = ""
    """The deviation in plain words, e.g. "resolved before anyone worked on it" (added in 1.2)."""


class StageTime(_Out):
    """Time spent in a stage, per case that spent time there."""

    stage: str
    cases: int
    median_hours: float | None
    p90_hours: float | None
    total_hours: float


class TransitionCount(_Out):
    """How often a transition ``(source, trigger)`` was observed (committed) in the replay."""

    source: str
    trigger: str
    dest: str
    count: int


class SLABreachRate(_Out):
    """How often one SLA clock was breached over the replayed cases."""

    clock: str
    owed: str
    decided: int
    """Clock runs whose outcome is known: met, or already over target at the case's last event."""
    breached: int
    rate: float | None


class NotObservableRule(_Out):
    """A rule of the spec the log cannot show; never counted as a violation."""

    rule: str
    reason: str


class DataNote(_Out):
    """Values of one column that a rule (or the reader) could not read, or a rule that never fired.

    ``problem``: ``not_a_number``, ``unmapped_label``, ``unparseable_time``, ``unknown_urgency``
    (a priority naming no urgency), ``empty`` (a cell a rule needed was empty: information
    only), ``never_fired``, or ``approximate`` (a group whose median and 90th percentile come
    from a histogram, within 0.1%: information only). ``strict``: whether ``--strict`` makes it
    exit status 2.
    """

    column: str
    rule: str
    problem: str
    count: int
    examples: list[str]
    effect: str
    strict: bool


class HistogramBin(_Out):
    """Resolved cases whose time to resolution is below ``upper_hours`` (and not a lower bin)."""

    label: str
    upper_hours: float | None
    """``None`` for the last, open-ended bin."""
    cases: int


class UnknownActivity(_Out):
    """An activity the mapping does not know, and how its events were handled."""

    activity: str
    events: int
    first_line: int


class Diagram(_Out):
    """The state diagram annotated with the transition counts, when it could be produced."""

    available: bool
    mermaid: str | None = None
    svg: str | None = None
    note: str


class LadderStepReach(_Out):
    """One step of an escalation ladder: how many tickets would have reached it (added in 1.4).

    A ticket reaches a step when the step's instant, computed as the live ladder computes it,
    came before its clock stopped or before the ticket's last event (see
    :mod:`escalation_fsm.replay.ladder_whatif`).
    """

    clock: str
    urgency: str
    step: str
    action: str
    when: str
    """When it comes due, as the policy says it: ``75% of the target``."""
    description: str
    """The step in words: ``notify team lead at 75% of the Tier 2 response target``."""
    acting: bool
    """It would have changed the history (escalate, raise the urgency): not re-simulated."""
    owed: str
    """What is owed while its clock runs (``a Tier 2 response``)."""
    eligible: int
    """Tickets of this urgency in which the clock ran."""
    tickets: int
    """Of those, the tickets that would have reached the step."""
    runs: int
    """Clock runs that would have reached it (a clock may run several times in one ticket)."""
    rate: float | None
    """``tickets / eligible``."""
    escalated_later: int
    """Tickets reaching it that were escalated, in reality, after the step's instant."""
    resolved_later: int
    """Tickets reaching it that were resolved, in reality, after the step's instant."""


class LadderWhatIfSection(_Out):
    """The ladder of an SLA policy tried on the reviewed tickets ("what-if", added in 1.4)."""

    policy: str
    """The fingerprint of the policy."""
    tickets: int
    steps: list[LadderStepReach]
    note: str
    """How the steps were counted, in words (acting steps are not re-simulated)."""


class ReviewReport(_Out):
    """The escalation review report (JSON schema version :data:`SCHEMA_VERSION`)."""

    schema_version: Literal["1.4"] = "1.4"
    generated_by: str
    log: str
    mapping: str
    spec: str
    rows: int
    events: int
    cases: int
    period_start: datetime | None
    period_end: datetime | None
    overall: Kpis
    top_deviations: list[DeviationSummary]
    by_category: list[Breakdown]
    by_priority: list[Breakdown]
    by_month: list[Breakdown]
    time_in_stage: list[StageTime]
    transition_counts: list[TransitionCount]
    not_observable: list[NotObservableRule]
    unknown_activities: list[UnknownActivity]
    ignored_events: int
    reordered_cases: int
    warnings: list[str]
    diagram: Diagram
    sla_breach_rates: list[SLABreachRate] = []
    """Per SLA clock (added in 1.1; empty when the replay had no SLA policy)."""
    sla_policy: str | None = None
    """The fingerprint of the SLA policy the rates were measured with."""
    sla_source: str | None = None
    """Where that policy came from (a file, ``default``), ``None`` when SLA was not measured
    (added in 1.2)."""
    data_notes: list[DataNote] = []
    """Values that could not be read, and rules that never fired (added in 1.2)."""
    resolution_histogram: list[HistogramBin] = []
    """How long resolved cases took, in bins (added in 1.2)."""
    source_kind: Literal["log", "store"] = "log"
    """What was reviewed: an event log replayed through a mapping, or the histories held in a
    ticket store (``log`` is then the store, ``mapping`` says none was needed; added in 1.3)."""
    training: TrainingSection | None = None
    """Training opportunities: agents and teams whose figures stand out from their peers'
    (added in 1.3; ``None`` when not computed)."""
    ladder_what_if: LadderWhatIfSection | None = None
    """How many tickets would have reached each step of the SLA policy's escalation ladder
    (added in 1.4; ``None`` without a policy, or a policy without a ladder)."""

    @property
    def strict_problems(self) -> int:
        """How many data notes ``--strict`` turns into exit status 2."""
        return sum(1 for note in self.data_notes if note.strict)

    def counts(self) -> dict[tuple[str, str], int]:
        """``transition_counts`` keyed by ``(source, trigger)``, as the diagrams take them."""
        return {(t.source, t.trigger): t.count for t in self.transition_counts}


def report_json_schema() -> dict[str, object]:
    """The JSON Schema of :class:`ReviewReport` (for consumers of ``--format json``)."""
    return ReviewReport.model_json_schema()
