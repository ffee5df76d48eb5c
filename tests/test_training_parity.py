"""The training section's fast paths give what the plain computation they replaced gives.

``TrainingFigures.section`` compares each subject with the total of its kind less its own counts
(times as running totals, order statistics found by bisection, the normal quantile computed once)
and ``_fold`` looks each (person, category)'s cells up once. The references below are the plain
computations they replaced, kept here verbatim in substance: a new cell sum per comparison, a
linear walk over the bins, a normal quantile per interval, a generator per ticket.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from statistics import NormalDist
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st
from test_review_training import workload

from escalation_fsm.replay import training as training_module
from escalation_fsm.replay.training import (
    TrainingCase,
    TrainingFigures,
    TrainingFinding,
    TrainingSection,
    wilson_interval,
)

_ALL = training_module._ALL_CATEGORIES
_Cell = training_module._Cell


def reference_median_interval(times: list[int], confidence: float,
                              ) -> tuple[int, float, float, float]:
    """Count, median and interval of binned times, by walking the bins one by one."""
    n = sum(times)
    if n == 0:
        return 0, 0.0, 0.0, 0.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    ranks = (max(1, math.floor(n / 2 - z * math.sqrt(n) / 2)), math.ceil(n / 2),
             min(n, math.ceil(n / 2 + z * math.sqrt(n) / 2 + 1)))
    found, seen, wanted = [], 0, list(ranks)
    for index, count in enumerate(times):
        seen += count
        while wanted and seen >= wanted[0]:
            found.append(training_module._bin_hours(index))
            wanted.pop(0)
    low, median, high = found
    return n, median, low, high


def _plus(a: _Cell, b: _Cell) -> _Cell:
    return _Cell(a.taken + b.taken, a.escalated + b.escalated, a.first_contact + b.first_contact,
                 a.resolved + b.resolved, a.reopened + b.reopened,
                 [x + y for x, y in zip(a.times, b.times, strict=True)])


def _minus(a: _Cell, b: _Cell) -> _Cell:
    return _Cell(a.taken - b.taken, a.escalated - b.escalated, a.first_contact - b.first_contact,
                 a.resolved - b.resolved, a.reopened - b.reopened,
                 [x - y for x, y in zip(a.times, b.times, strict=True)])


def _sum(cells: list[_Cell]) -> _Cell:
    total = _Cell()
    for cell in cells:
        total = _plus(total, cell)
    return total


def reference_cells(cases: list[TrainingCase], teams: dict[str, str],
                    ) -> dict[tuple[str, str, str], _Cell]:
    """Every ticket added to each of its cells, one at a time, cells made as first met."""
    cells: defaultdict[tuple[str, str, str], _Cell] = defaultdict(_Cell)

    def cells_of(person: str | None, category: str) -> Iterator[_Cell]:
        for kind, who in (("agent", person), ("team", teams.get(person or ""))):
            if who is not None:
                for cat in (category, _ALL):
                    yield cells[kind, who, cat]

    for case in cases:
        category = case.category or "uncategorised"
        for cell in cells_of(case.agent, category):
            cell.taken += 1
            cell.escalated += case.escalated
            cell.first_contact += case.resolved_first_contact
            if case.first_response_seconds is not None:
                cell.times[training_module._bin(case.first_response_seconds)] += 1
        for cell in cells_of(case.resolver, category):
            cell.resolved += 1
            cell.reopened += case.reopened
    return dict(cells)


def reference_section(figures: TrainingFigures) -> TrainingSection:
    """The section as computed before: each rest a new cell, each interval on its own."""
    figures._fold()
    cells = figures._cells
    totals: defaultdict[tuple[str, str], _Cell] = defaultdict(_Cell)
    for (kind, _, category), cell in cells.items():
        totals[kind, category] = _plus(totals[kind, category], cell)  # a new cell each time
    single = len({category for _, _, category in cells} - {_ALL}) <= 1
    pairs = [(key, cell, _minus(totals[key[0], key[2]], cell)) for key, cell in cells.items()
             if not (single and key[2] == _ALL)]
    compared = sum(reference_comparisons(figures, cell, rest) for _, cell, rest in pairs)
    each = 1 - (1 - figures.confidence) / max(compared, 1)
    findings: list[TrainingFinding] = []
    for (kind, who, category), cell, rest in pairs:
        findings += reference_judge(figures, kind, who, category, cell, rest, each)  # type: ignore[arg-type]
    findings.sort(key=lambda f: (-(f.ratio or 0) if f.measure != "first_contact_resolution"
                                 else -(1 / f.ratio if f.ratio else math.inf),
                                 f.subject, f.category))
    subjects = {(kind, who) for kind, who, _ in cells}
    return TrainingSection(
        confidence=figures.confidence, min_tickets=figures.min_tickets,
        agents=sum(kind == "agent" for kind, _ in subjects),
        teams=sum(kind == "team" for kind, _ in subjects),
        pseudonymised=figures._key is not None, findings=findings)


def reference_comparisons(figures: TrainingFigures, cell: _Cell, rest: _Cell) -> int:
    """How many of the cell's measures are compared (for the Bonferroni widening)."""
    enough = figures.min_tickets
    return ((cell.taken >= enough and rest.taken >= enough) * 2
            + (cell.resolved >= enough and rest.resolved >= enough)
            + (sum(cell.times) >= enough and sum(rest.times) >= enough))


def reference_judge(figures: TrainingFigures, kind: Literal["agent", "team"], who: str,  # noqa: PLR0917
                    category: str, cell: _Cell, rest: _Cell, confidence: float,
                    ) -> list[TrainingFinding]:
    found = []
    rates = [
        ("escalation_rate", cell.escalated, cell.taken, rest.escalated, rest.taken, True),
        ("first_contact_resolution", cell.first_contact, cell.taken, rest.first_contact,
         rest.taken, False),
        ("reopen_rate", cell.reopened, cell.resolved, rest.reopened, rest.resolved, True),
    ]
    for measure, k, n, rest_k, rest_n, higher_is_worse in rates:
        if n < figures.min_tickets or rest_n < figures.min_tickets:
            continue
        low, high = wilson_interval(k, n, confidence)
        rest_low, rest_high = wilson_interval(rest_k, rest_n, confidence)
        if (low > rest_high) if higher_is_worse else (high < rest_low):
            found.append(figures._finding(kind, who, category, measure, n, k / n, low, high,  # type: ignore[arg-type]
                                          rest_n, rest_k / rest_n, rest_low, rest_high))
    n, median, low, high = reference_median_interval(cell.times, confidence)
    rest_n, rest_median, rest_low, rest_high = reference_median_interval(rest.times, confidence)
    if n >= figures.min_tickets and rest_n >= figures.min_tickets and low > rest_high:
        found.append(figures._finding(kind, who, category, "time_to_first_response", n, median,
                                      low, high, rest_n, rest_median, rest_low, rest_high))
    return found


def _both(cases: list[TrainingCase], **options: object) -> tuple[TrainingSection, TrainingSection]:
    fast, slow = (TrainingFigures(**options), TrainingFigures(**options))  # type: ignore[arg-type]
    fast.extend(cases)
    slow.extend(cases)
    return fast.section(), reference_section(slow)


_BINS = st.lists(st.one_of(st.just(0), st.integers(0, 3), st.integers(0, 10_000)),
                 min_size=training_module._BINS, max_size=training_module._BINS)


@settings(max_examples=300, deadline=None)
@given(_BINS, st.floats(0.5, 0.999999999))
def test_the_median_interval_by_bisection_is_the_walk_over_the_bins(times: list[int],
                                                                    confidence: float) -> None:
    """Invariant: for any binned times (empty, one ticket, huge counts) and any confidence, the
    count, median and interval found by bisecting running totals equal the walk over the bins."""
    assert training_module._median_interval(times, confidence) == reference_median_interval(
        times, confidence)


_PEOPLE = st.sampled_from(["a", "b", "c", "d", "e", None])
_CASES = st.lists(st.builds(
    TrainingCase, category=st.sampled_from(["billing", "technical", None]), agent=_PEOPLE,
    escalated=st.booleans(), resolved_first_contact=st.booleans(),
    first_response_seconds=st.one_of(st.none(), st.floats(0, 4e7)), resolver=_PEOPLE,
    reopened=st.booleans()), max_size=200)


@settings(max_examples=150, deadline=None)
@given(_CASES, st.integers(1, 6), st.sampled_from([0.5, 0.8, 0.95]),
       st.sampled_from([{}, {"a": "red", "b": "red", "c": "blue"}]))
def test_the_section_is_the_one_of_the_plain_computation(cases: list[TrainingCase],
                                                         min_tickets: int, confidence: float,
                                                         teams: dict[str, str]) -> None:
    """Invariant: for any tickets, thresholds and team maps, the section (every finding, its
    figures and its place in the order) and the cells (their counts and the order they were
    made in), and how many comparisons each cell counts for, equal those of the plain
    computation."""
    fast = TrainingFigures(teams=teams, min_tickets=min_tickets, confidence=confidence)
    fast.extend(cases)
    slow = TrainingFigures(teams=teams, min_tickets=min_tickets, confidence=confidence)
    slow.extend(cases)
    assert fast.section() == reference_section(slow)
    assert list(fast._cells.items()) == list(reference_cells(cases, teams).items())
    members: defaultdict[tuple[str, str], list[_Cell]] = defaultdict(list)
    for (kind, _, category), cell in fast._cells.items():
        members[kind, category].append(cell)
    for (kind, _, category), cell in fast._cells.items():
        cells = members[kind, category]
        rest = _minus(_sum(cells), cell)
        assert fast._comparisons(cell, training_module._Total.of(cells)) == (
            reference_comparisons(fast, cell, rest))


def test_workloads_with_findings_of_every_measure_match_the_plain_computation() -> None:
    """Workloads that flag every measure (escalation, first contact, reopenings, slow first
    responses; agents and teams) give the plain computation's section, finding for finding."""
    rnd = random.Random(5)
    slow_responder = [TrainingCase("billing", agent, False, True,
                                   rnd.expovariate(1 / (36000 if agent == "slow" else 3600)),
                                   agent, agent == "slow" and rnd.random() < 0.5)
                      for agent in ("slow", "a", "b", "c") * 100]
    cases = workload(3, biased="a-1", tickets=6000) + slow_responder
    teams = {f"a-{i}": "red" if i < 3 else "blue" for i in range(10)} | {"slow": "green"}
    fast, slow = _both(cases, teams=teams)
    assert fast == slow
    assert {f.measure for f in fast.findings} == {
        "escalation_rate", "first_contact_resolution", "reopen_rate", "time_to_first_response"}
    assert {f.subject_kind for f in fast.findings} == {"agent", "team"}


def test_a_subject_compared_on_one_measure_only_is_still_judged() -> None:
    """A resolver who never took a ticket is compared on reopenings alone (one comparison, no
    escalation, first-contact or response figures): the section still flags them, as the plain
    computation does."""
    cases = [TrainingCase("technical", f"t-{n % 4}", False, True, 600.0, f"r-{n % 5}",
                          (n % 5 == 1 and n % 2 == 0) or (n % 5 != 1 and n % 40 == 0))
             for n in range(300)]
    fast, slow = _both(cases)
    assert fast == slow
    assert [(f.subject, f.measure) for f in fast.findings] == [("r-1", "reopen_rate")]
