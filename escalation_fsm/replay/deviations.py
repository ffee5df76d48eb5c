"""The report's top deviations: which rules cases broke, how often, with example cases.

Cases of one trace break the same rules in the same order, so each case only counts its
sequence of refused steps (:data:`DeviationRule` tuples, the one object its trace's
:class:`~.program.CaseProgram` holds) and, while a rule has fewer than three, gives its id as an
example; the sequences are spread over the rules in bulk (:meth:`Deviations.add` holds at most
:data:`MAX_PENDING` distinct ones). The counts are those of counting every case's refused steps
one by one, and each rule's sample (its kind, stage, trigger and reason) is the one of its first
refusal in the log: sequences are spread in the order they were first seen, so the first
sequence holding a rule is the first case's.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ..spec import MachineSpec
from .schema import DeviationSummary
from .words import describe_deviation

__all__ = ["MAX_PENDING", "DeviationRule", "Deviations"]

DeviationRule = tuple[str, str, str, str, str]
"""(rule, kind, stage, trigger, reason) of one refused event."""
MAX_PENDING = 4096
"""Distinct sequences of refused steps held before they are spread over the rules."""
_EXAMPLES = 3


class Deviations:
    """Counts the refused steps of the cases added, per rule (see the module's docstring)."""

    def __init__(self) -> None:
        self.first: Counter[str] = Counter()
        """Cases whose first refused step broke the rule."""
        self.tickets: Counter[str] = Counter()
        """Cases with a refused step that broke the rule."""
        self.events: Counter[str] = Counter()
        """Refused steps that broke the rule."""
        self.examples: defaultdict[str, list[str]] = defaultdict(list)
        """The first cases whose first refused step broke the rule (up to three)."""
        self.sample: dict[str, tuple[str, str, str, str]] = {}
        self._pending: dict[tuple[DeviationRule, ...], int] = {}

    def add(self, case_id: str, deviations: tuple[DeviationRule, ...]) -> None:
        """Count one case's refused steps (in replay order; at least one)."""
        pending = self._pending
        pending[deviations] = pending.get(deviations, 0) + 1
        examples = self.examples[deviations[0][0]]
        if len(examples) < _EXAMPLES:
            examples.append(case_id)
        if len(pending) >= MAX_PENDING:
            self._spread()

    def _spread(self) -> None:
        """Spread the sequences counted so far over their rules (in the order first seen)."""
        tickets, events, sample = self.tickets, self.events, self.sample
        for deviations, cases in self._pending.items():
            self.first[deviations[0][0]] += cases
            for rule in {deviation[0] for deviation in deviations}:
                tickets[rule] += cases
            for rule, kind, stage, trigger, reason in deviations:
                events[rule] += cases
                if rule not in sample:
                    sample[rule] = (kind, stage, trigger, reason)
        self._pending.clear()

    def summaries(self, spec: MachineSpec) -> list[DeviationSummary]:
        """One summary per rule broken, the most often first broken first."""
        self._spread()
        first, events, sample = self.first, self.events, self.sample
        rules = sorted(events, key=lambda r: (-first[r], -events[r], r))
        return [
            DeviationSummary(rule=rule, kind=sample[rule][0], stage=sample[rule][1],
                             trigger=sample[rule][2], reason=sample[rule][3], cases=first[rule],
                             events=events[rule], examples=self.examples.get(rule, []),
                             tickets=self.tickets[rule],
                             description=describe_deviation(spec, *sample[rule], rule=rule))
            for rule in rules
        ]

