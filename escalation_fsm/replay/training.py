"""Training opportunities: who escalates, resolves, reopens or responds far off their peers.

The procedure asks that escalated tickets be reviewed "for trends and training opportunities".
This module compares each agent (and each team, when a team mapping is given) with the rest of
the team, per category, on four measures, and keeps only the differences that stand out:

* escalation rate (of the tickets the agent took first) - higher stands out;
* first-contact resolution (resolved without escalation, of the same tickets) - lower stands out;
* reopen rate (of the tickets the agent resolved) - higher stands out;
* time to first response (from opening to the agent's first attempt) - longer stands out.

"Stands out" is decided with intervals, never with raw ratios, so four tickets are never a
finding: a rate is compared with Wilson score intervals (agent vs rest of the team), a time with
the distribution-free interval of each median; a difference is reported when the two intervals
do not overlap and both sides have at least ``min_tickets``. Many subjects, categories and
measures are compared at once, so each interval is widened for the number of comparisons
(Bonferroni): at ``confidence`` 0.95 the chance that a team with no real difference shows any
finding at all stays under 5%.
Only the direction that calls for training is reported. Counts are kept per (subject, category),
and times in fixed logarithmic bins, so memory does not grow with the number of tickets.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from operator import sub
from statistics import NormalDist
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Measure", "TrainingCase", "TrainingFigures", "TrainingFinding", "TrainingSection",
           "wilson_interval"]

Measure = Literal["escalation_rate", "first_contact_resolution", "reopen_rate",
                  "time_to_first_response"]
_ALL_CATEGORIES = "all categories"


def _z(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence``."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (``(0, 1)`` for no trials)."""
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    return _wilson(successes, trials, _z(confidence))


def _wilson(successes: int, trials: int, z: float) -> tuple[float, float]:
    """:func:`wilson_interval` of checked counts (``trials`` > 0), ``z`` for its confidence."""
    p, n = successes / trials, trials
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class TrainingCase:
    """What one ticket tells about the people who handled it.

    ``agent`` took it first (the actor of its first attempt); ``resolver`` resolved it first.
    """

    category: str | None
    agent: str | None
    escalated: bool
    resolved_first_contact: bool
    first_response_seconds: float | None
    resolver: str | None
    reopened: bool


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainingFinding(_Out):
    """One difference that stands out, with the figures behind it and a sentence for people."""

    subject: str
    subject_kind: Literal["agent", "team"]
    category: str
    measure: Measure
    tickets: int
    value: float
    """The subject's rate (0-1) or median hours."""
    low: float
    high: float
    rest_tickets: int
    rest_value: float
    rest_low: float
    rest_high: float
    ratio: float | None
    text: str


class TrainingSection(_Out):
    """The training-opportunities section of a review report."""

    confidence: float
    min_tickets: int
    agents: int
    teams: int
    pseudonymised: bool
    findings: list[TrainingFinding]


# Logarithmic bins for times: 1 minute to ~1 year, 24 per decade (within 10% of any time).
_BIN_BASE, _BINS_PER_DECADE, _BINS = 60.0, 24, 24 * 6
_MAX_PENDING = 4096
"""Distinct tickets held before they are added to the cells (bounded memory)."""


def _bin(seconds: float) -> int:
    if seconds <= _BIN_BASE:
        return 0
    return min(_BINS - 1, 1 + int(math.log10(seconds / _BIN_BASE) * _BINS_PER_DECADE))


def _bin_hours(index: int) -> float:
    return _BIN_BASE * 10 ** (max(index - 0.5, 0) / _BINS_PER_DECADE) / 3600


@dataclass(slots=True)
class _Cell:
    """Counts of one subject in one category."""

    taken: int = 0
    escalated: int = 0
    first_contact: int = 0
    resolved: int = 0
    reopened: int = 0
    times: list[int] = field(default_factory=lambda: [0] * _BINS)



@dataclass(slots=True)
class _Total:
    """The counts of every subject of one kind in one category, the times as running totals."""

    taken: int
    escalated: int
    first_contact: int
    resolved: int
    reopened: int
    cumulative: list[int]

    @classmethod
    def of(cls, cells: list[_Cell]) -> _Total:
        """The sum of ``cells`` (bin by bin for the times, then accumulated)."""
        return cls(sum(cell.taken for cell in cells), sum(cell.escalated for cell in cells),
                   sum(cell.first_contact for cell in cells),
                   sum(cell.resolved for cell in cells), sum(cell.reopened for cell in cells),
                   list(accumulate(map(sum, zip(*(cell.times for cell in cells), strict=True)))))


def _median_interval(times: list[int], confidence: float) -> tuple[int, float, float, float]:
    """Count, median and its distribution-free interval (order statistics), in hours."""
    return _median_interval_cumulative(list(accumulate(times)), _z(confidence))


def _median_interval_cumulative(cumulative: list[int], z: float,
                                ) -> tuple[int, float, float, float]:
    """:func:`_median_interval` of the running totals of the bins, ``z`` for its confidence.

    An order statistic of rank ``r`` lies in the first bin whose running total reaches ``r``
    (found by bisection: the running totals never decrease).
    """
    n = cumulative[-1] if cumulative else 0
    if n == 0:
        return 0, 0.0, 0.0, 0.0
    low, median, high = (
        _bin_hours(bisect_left(cumulative, rank))
        for rank in (max(1, math.floor(n / 2 - z * math.sqrt(n) / 2)), math.ceil(n / 2),
                     min(n, math.ceil(n / 2 + z * math.sqrt(n) / 2 + 1))))
    return n, median, low, high


_VERB = {
    "escalation_rate": "escalates {category} tickets {ratio} as often as the rest of the team",
    "first_contact_resolution": "resolves {category} tickets at first contact {ratio} as often as "
                                "the rest of the team",
    "reopen_rate": "sees the {category} tickets they resolved reopened {ratio} as often as the "
                   "rest of the team",
    "time_to_first_response": "takes {ratio} as long as the rest of the team to first respond to "
                              "{category} tickets",
}


class TrainingFigures:
    """Accumulates :class:`TrainingCase` figures one ticket at a time; :meth:`section` judges."""

    def __init__(self, *, teams: Mapping[str, str] | None = None, min_tickets: int = 10,
                 confidence: float = 0.95, pseudonymise: bool | str = False) -> None:
        if min_tickets < 1:
            raise ValueError(f"min_tickets must be at least 1, got {min_tickets}")
        if not 0.5 <= confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
        self.teams = dict(teams or {})
        self.min_tickets = min_tickets
        self.confidence = confidence
        # A random key unless one is given: pseudonyms are stable within a report, and across
        # reports only for someone who holds the key.
        self._key = (None if pseudonymise is False
                     else secrets.token_hex(16) if pseudonymise is True else pseudonymise)
        self._cells: defaultdict[tuple[str, str, str], _Cell] = defaultdict(_Cell)
        self._pending: dict[tuple[str, str | None, bool, bool, int | None, str | None, bool],
                            int] = {}

    def add(self, case: TrainingCase) -> None:
        """Count one ticket."""
        self.count(case.category, case.agent, case.escalated, case.resolved_first_contact,
                   case.first_response_seconds, case.resolver, case.reopened)

    def count(self, category: str | None, agent: str | None, escalated: bool,  # noqa: PLR0917
              resolved_first_contact: bool, first_response_seconds: float | None,
              resolver: str | None, reopened: bool) -> None:
        """:meth:`add` of a ticket given as the fields of its :class:`TrainingCase`.

        Positional: called once per ticket of a large store, without building the case.
        """
        # Tickets that tell the same are counted together (a log has few distinct ones) and
        # spread over the cells in bulk: see _fold.
        seconds = first_response_seconds
        key = (category or "uncategorised", agent, escalated, resolved_first_contact,
               None if seconds is None else _bin(seconds), resolver, reopened)
        pending = self._pending
        pending[key] = pending.get(key, 0) + 1
        if len(pending) >= _MAX_PENDING:
            self._fold()

    def _cells_of(self, agent: str | None, category: str) -> Iterator[_Cell]:
        """The cells a ticket counts in for ``agent``: theirs and their team's, per category."""
        for kind, who in (("agent", agent), ("team", self.teams.get(agent or ""))):
            if who is not None:
                for cat in (category, _ALL_CATEGORIES):
                    yield self._cells[kind, who, cat]

    def _fold(self) -> None:
        """Add the tickets counted so far to the cells of their subjects and categories."""
        # The cells of one (person, category) are looked up once (made in the same order).
        found: dict[tuple[str | None, str], list[_Cell]] = {}
        for (category, agent, escalated, first_contact, time_bin, resolver, reopened), n in (
                self._pending.items()):
            cells = found.get((agent, category))
            if cells is None:
                cells = found[agent, category] = list(self._cells_of(agent, category))
            for cell in cells:
                cell.taken += n
                cell.escalated += escalated * n
                cell.first_contact += first_contact * n
                if time_bin is not None:
                    cell.times[time_bin] += n
            cells = found.get((resolver, category))
            if cells is None:
                cells = found[resolver, category] = list(self._cells_of(resolver, category))
            for cell in cells:
                cell.resolved += n
                cell.reopened += reopened * n
        self._pending.clear()

    def extend(self, cases: Iterable[TrainingCase]) -> None:
        """Count many tickets."""
        for case in cases:
            self.add(case)

    def _name(self, who: str) -> str:
        if self._key is None:
            return who
        return "agent-" + hashlib.sha256(f"{self._key}:{who}".encode()).hexdigest()[:8]

    def section(self) -> TrainingSection:
        """The differences that stand out, largest ratio first."""
        self._fold()
        # Each subject is compared with the rest of its kind in its category: the total of
        # them all less its own counts (the totals' times kept as running totals, from which
        # an order statistic is found by bisection).
        members: defaultdict[tuple[str, str], list[_Cell]] = defaultdict(list)
        for (kind, _, category), cell in self._cells.items():
            members[kind, category].append(cell)
        totals = {key: _Total.of(cells) for key, cells in members.items()}
        # With a single category, "all categories" would repeat every finding.
        single = len({category for _, _, category in self._cells} - {_ALL_CATEGORIES}) <= 1
        pairs = [(key, cell, total, self._comparisons(cell, total))
                 for key, cell in self._cells.items() if not (single and key[2] == _ALL_CATEGORIES)
                 for total in (totals[key[0], key[2]],)]
        z = _z(1 - (1 - self.confidence) / max(sum(pair[3] for pair in pairs), 1))
        findings = []
        for (kind, who, category), cell, total, compared in pairs:
            if compared:  # a measure is only judged when it is compared (most cells are small)
                findings += self._judge(kind, who, category, cell, total, z)  # type: ignore[arg-type]
        findings.sort(key=lambda f: (-(f.ratio or 0) if f.measure != "first_contact_resolution"
                                     else -(1 / f.ratio if f.ratio else math.inf),
                                     f.subject, f.category))
        subjects = {(kind, who) for kind, who, _ in self._cells}
        return TrainingSection(
            confidence=self.confidence, min_tickets=self.min_tickets,
            agents=sum(kind == "agent" for kind, _ in subjects),
            teams=sum(kind == "team" for kind, _ in subjects),
            pseudonymised=self._key is not None, findings=findings)

    def _comparisons(self, cell: _Cell, total: _Total) -> int:
        """How many measures of ``cell`` are compared: those :meth:`_judge` may report."""
        enough, timed = self.min_tickets, sum(cell.times)
        return ((cell.taken >= enough and total.taken - cell.taken >= enough) * 2
                + (cell.resolved >= enough and total.resolved - cell.resolved >= enough)
                + (timed >= enough and total.cumulative[-1] - timed >= enough))

    def _judge(self, kind: Literal["agent", "team"], who: str, category: str, cell: _Cell,  # noqa: PLR0917
               total: _Total, z: float) -> list[TrainingFinding]:
        """The findings of ``cell`` against the rest of ``total``, at the normal quantile ``z``."""
        found = []
        rates: list[tuple[Measure, int, int, int, int, bool]] = [
            ("escalation_rate", cell.escalated, cell.taken, total.escalated - cell.escalated,
             total.taken - cell.taken, True),
            ("first_contact_resolution", cell.first_contact, cell.taken,
             total.first_contact - cell.first_contact, total.taken - cell.taken, False),
            ("reopen_rate", cell.reopened, cell.resolved, total.reopened - cell.reopened,
             total.resolved - cell.resolved, True),
        ]
        for measure, k, n, rest_k, rest_n, higher_is_worse in rates:
            if n < self.min_tickets or rest_n < self.min_tickets:
                continue
            low, high = _wilson(k, n, z)
            rest_low, rest_high = _wilson(rest_k, rest_n, z)
            if (low > rest_high) if higher_is_worse else (high < rest_low):
                found.append(self._finding(kind, who, category, measure, n, k / n, low, high,
                                           rest_n, rest_k / rest_n, rest_low, rest_high))
        timed = sum(cell.times)
        if timed < self.min_tickets or total.cumulative[-1] - timed < self.min_tickets:
            return found
        cumulative = list(accumulate(cell.times))
        n, median, low, high = _median_interval_cumulative(cumulative, z)
        rest_n, rest_median, rest_low, rest_high = _median_interval_cumulative(
            list(map(sub, total.cumulative, cumulative)), z)
        if low > rest_high:
            found.append(self._finding(kind, who, category, "time_to_first_response", n, median,
                                       low, high, rest_n, rest_median, rest_low, rest_high))
        return found

    def _finding(self, kind: Literal["agent", "team"], who: str, category: str,  # noqa: PLR0917
                 measure: Measure, n: int, value: float, low: float, high: float, rest_n: int,
                 rest_value: float, rest_low: float, rest_high: float) -> TrainingFinding:
        ratio = None if rest_value == 0 else value / rest_value
        shown = self._name(who) if kind == "agent" else f"team {who}"
        times = "infinitely" if ratio is None else f"{ratio:.1f}x"
        what = _VERB[measure].format(category=category.replace(_ALL_CATEGORIES, "all"),
                                     ratio=times)
        if kind == "team":
            what = what.replace("the rest of the team", "the other teams")
        unit = (f"median {value:.1f} h against {rest_value:.1f} h"
                if measure == "time_to_first_response"
                else f"{value:.0%} against {rest_value:.0%}")
        return TrainingFinding(
            subject=shown, subject_kind=kind, category=category, measure=measure, tickets=n,
            value=round(value, 4), low=round(low, 4), high=round(high, 4), rest_tickets=rest_n,
            rest_value=round(rest_value, 4), rest_low=round(rest_low, 4),
            rest_high=round(rest_high, 4), ratio=None if ratio is None else round(ratio, 2),
            text=f"{shown} {what} ({unit}, {n} tickets)")
