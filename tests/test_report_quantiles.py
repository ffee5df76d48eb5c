"""The report's medians in bounded memory: exact under the budget, within 0.1% past it."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import START
from test_review_store import export, figures

from escalation_fsm import EscalationMachine, ManualClock
from escalation_fsm.replay import (
    ReviewReport,
    render_report,
    review,
    sample_log,
    shipped_mapping,
)
from escalation_fsm.replay import quantiles as quantiles_module
from escalation_fsm.replay import report as report_module
from escalation_fsm.replay.quantiles import PRECISION, ExactBudget, Quantiles
from escalation_fsm.replay.report import percentile
from escalation_fsm.replay.training import TrainingFigures
from escalation_fsm.review import review_store
from escalation_fsm.sla import SLAClock, SLAPolicy, default_sla_policy
from escalation_fsm.stores import MemoryStore
from escalation_fsm.testing.strategies import tickets

durations = st.floats(min_value=0, max_value=1e6, allow_nan=False)
"""Hours, as the report's groups hold them (a duration is never negative)."""
signed = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
shares = st.floats(min_value=0, max_value=1)


def filled(values: list[float], limit: int) -> Quantiles:
    group = Quantiles(ExactBudget(limit))
    for value in values:
        group.add(value)
    return group


@settings(max_examples=300, deadline=None)
@given(st.lists(signed, min_size=1, max_size=200), st.lists(shares, min_size=1, max_size=4),
       st.integers(min_value=0, max_value=50))
def test_under_the_budget_a_quantile_is_the_exact_one(values: list[float], qs: list[float],
                                                       spare: int) -> None:
    """Invariant: while a group holds no more values than the budget, every quantile, its count
    and total are what sorting (and summing) every value gives, to the last bit."""
    group = filled(values, len(values) + spare)
    assert group.exact
    assert group.quantiles(*qs) == [percentile(values, q) for q in qs]
    assert group.count == len(values)
    assert group.total() == sum(values)


def _neighbours(values: list[float], q: float) -> tuple[float, float]:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    return ordered[int(position)], ordered[min(int(position) + 1, len(ordered) - 1)]


@settings(max_examples=300, deadline=None)
@given(st.lists(durations, min_size=1, max_size=300), st.lists(shares, min_size=1, max_size=4),
       st.integers(min_value=0, max_value=20))
def test_past_the_budget_a_quantile_is_within_the_stated_precision(
        values: list[float], qs: list[float], limit: int) -> None:
    """Invariant: once its values outgrow the budget, a group's quantiles of durations are each
    within PRECISION (0.1%) of the exact one; count stays exact and total exact to rounding."""
    group = filled(values, limit)
    assert group.exact == (len(values) <= limit)
    found = group.quantiles(*qs)
    assert found is not None
    for q, value in zip(qs, found, strict=True):
        exact = percentile(values, q)
        assert exact is not None
        assert abs(value - exact) <= PRECISION * exact * (1 + 1e-9) + 1e-12
    assert group.count == len(values)
    assert group.total() == pytest.approx(math.fsum(values), rel=1e-12, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(signed, min_size=1, max_size=300), shares)
def test_a_quantile_between_values_of_either_sign_is_within_precision_of_its_neighbours(
        values: list[float], q: float) -> None:
    """Invariant: with values of both signs, a histogram's quantile is off the exact one by at
    most PRECISION of the larger (in magnitude) of the two order statistics it lies between."""
    (value,) = filled(values, 0).quantiles(q) or [math.nan]
    exact = percentile(values, q)
    assert exact is not None
    low, high = _neighbours(values, q)
    assert abs(value - exact) <= PRECISION * max(abs(low), abs(high)) * (1 + 1e-9) + 1e-12


def test_a_group_past_the_budget_stops_growing() -> None:
    """A group past the budget holds a histogram whose size depends on the range of its values,
    not their number: 40,000 more values in the same range add no counter (and never wait more
    than 1,024 at a time to be binned), and the budget's exact values stay within its limit."""
    generator = random.Random(16)
    budget = ExactBudget(1000)
    group = Quantiles(budget)
    for _ in range(10_000):
        group.add(generator.uniform(0.5, 500.0))
    assert not group.exact
    size = group.buckets
    assert 0 < size < 12_000
    for _ in range(40_000):
        group.add(generator.uniform(0.5, 500.0))
        assert len(group.values) <= 1024
    assert group.buckets == size
    assert group.count == 50_000
    assert budget.held == 0


def test_the_largest_groups_leave_the_budget_first() -> None:
    """When the budget overflows, the group holding most values moves to a histogram; smaller
    groups stay exact, and the values held never exceed the limit."""
    budget = ExactBudget(100)
    big, small = Quantiles(budget), Quantiles(budget)
    for n in range(80):
        big.add(float(n))
    for n in range(20):
        small.add(float(n))
    assert big.exact and small.exact and budget.held == 100
    small.add(20.0)
    assert not big.exact and small.exact
    assert budget.held == 21 <= budget.limit
    assert small.quantiles(0.5) == [10.0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
                          durations), max_size=300),
       st.integers(0, 120))
def test_adding_to_several_groups_at_once_is_adding_to_each_in_turn(
        additions: list[tuple[list[int], float]], limit: int) -> None:
    """Invariant: ``Quantiles.add_to_each(groups, value)`` leaves every group and the budget as
    ``group.add(value)`` on each group in turn does: the same values held, the same groups moved
    to histograms when the budget overflows (the largest at that moment), the same quantiles."""
    one_by_one, at_once = ExactBudget(limit), ExactBudget(limit)
    singles = [Quantiles(one_by_one) for _ in range(4)]
    batched = [Quantiles(at_once) for _ in range(4)]
    for chosen, value in additions:
        for n in chosen:
            singles[n].add(value)
        Quantiles.add_to_each([batched[n] for n in chosen], value)
    assert one_by_one.held == at_once.held
    for single, batch in zip(singles, batched, strict=True):
        assert (single.exact, single.count, list(single.values)) == (
            batch.exact, batch.count, list(batch.values))
        assert single.quantiles(0.5, 0.9) == batch.quantiles(0.5, 0.9)
        assert single.total() == batch.total()
    with pytest.raises(ValueError, match="finite numbers"):
        Quantiles.add_to_each(batched, math.nan)
    assert [group.count for group in batched] == [group.count for group in singles]


def test_bad_values_and_quantiles_are_refused() -> None:
    """A histogram cannot hold NaN or an infinity, a quantile is in [0, 1], a budget is not
    negative: each is refused with what is allowed, and the group is unchanged."""
    group = filled([1.0, 2.0], 0)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite numbers"):
            group.add(bad)
    with pytest.raises(ValueError, match="between 0 and 1"):
        group.quantiles(1.5)
    with pytest.raises(ValueError, match="0 or more"):
        ExactBudget(-1)
    assert group.quantiles(0.0, 1.0) == [pytest.approx(1.0, rel=PRECISION),
                                         pytest.approx(2.0, rel=PRECISION)]
    assert filled([], 0).quantiles(0.5) is None


@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_a_report_past_its_budget_is_within_precision_and_says_so(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """With a budget of 40 values, a sample's report gives every median and p90 within 0.1% of
    the exact report's (plus the rounding to 0.001 hours), every count, histogram bin and
    transition count equal, and names each approximate group in a data note that the rendered
    report shows; with the default budget it has no such note."""
    def run() -> dict[str, object]:
        report = review(sample_log(name), shipped_mapping(name), sla=default_sla_policy(),
                        training=TrainingFigures(min_tickets=2))
        return report.model_dump(mode="json")

    exact = run()
    assert not [n for n in exact["data_notes"] if n["problem"] == "approximate"]  # type: ignore[attr-defined]
    monkeypatch.setattr(quantiles_module, "EXACT_VALUES", 40)
    approximate = run()
    notes = [n for n in approximate["data_notes"] if n["problem"] == "approximate"]  # type: ignore[attr-defined]
    assert any(n["rule"] == "overall" and n["column"] == "time_to_resolution" for n in notes)
    assert any(n["column"] == "time_in_stage" for n in notes)

    def close(ours: object, theirs: object) -> None:
        if isinstance(ours, dict) and isinstance(theirs, dict):
            assert ours.keys() == theirs.keys()
            for key in ours:
                if key in {"median_hours", "p90_hours"} and ours[key] is not None:
                    assert abs(ours[key] - theirs[key]) <= PRECISION * theirs[key] + 0.0005
                elif key == "total_hours":
                    assert ours[key] == pytest.approx(theirs[key], abs=0.01)
                else:
                    close(ours[key], theirs[key])
        elif isinstance(ours, list) and isinstance(theirs, list):
            assert len(ours) == len(theirs)
            for a, b in zip(ours, theirs, strict=True):
                close(a, b)
        else:
            assert ours == theirs

    for key in ("overall", "by_category", "by_priority", "by_month", "time_in_stage",
                "resolution_histogram", "transition_counts", "sla_breach_rates", "training"):
        close(approximate[key], exact[key])
    assert notes[0]["effect"] in render_report(review(
        sample_log(name), shipped_mapping(name)), "table")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(data=st.data())
def test_a_store_reviews_like_its_histories_replayed_past_the_budget(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """Invariant: with no value kept exactly (a budget of 0: every group a histogram, whatever
    order the tickets come in), review_store and the replay of the same histories still give
    the same figures and name the same approximate groups: they share the bounded code."""
    clock = ManualClock(START, tick=timedelta(minutes=41))
    policy = SLAPolicy()
    machine = EscalationMachine(clock=clock, sla=policy)
    drawn = data.draw(st.lists(tickets(machine, max_steps=8), min_size=1, max_size=6))
    store = MemoryStore(machine=machine)
    stored = [store.create(ticket.model_copy(update={
        "id": f"T-{number}", "opened_at": ticket.history[0].at - timedelta(minutes=number + 1)}))
        for number, ticket in enumerate(drawn) if ticket.history]
    if not stored:
        return
    log, mapping = export(stored, tmp_path_factory.mktemp("export"), machine)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quantiles_module, "EXACT_VALUES", 0)
        ours, theirs = review_store(store), review(log, mapping, sla=policy)
    ours_figures, their_figures = figures(ours), figures(theirs)
    for found in (ours_figures, their_figures):
        found["sla_breach_rates"] = [
            rate for rate in found["sla_breach_rates"]  # type: ignore[attr-defined]
            if rate["clock"] != SLAClock.PROMISED_RESPONSE]
    assert ours_figures == their_figures

    def approximate(report: ReviewReport) -> list[tuple[str, str, int]]:
        return [(n.column, n.rule, n.count) for n in report.data_notes
                if n.problem == "approximate"]

    assert approximate(ours) == approximate(theirs)
    assert ("time_to_resolution", "overall", ours.overall.resolved) in approximate(ours) or (
        ours.overall.resolved == 0)


@pytest.mark.parametrize("name", ["helpdesk", "servicenow"])
def test_transition_counts_do_not_depend_on_when_sequences_are_added_up(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The report counts each distinct sequence of transitions and adds them up when it holds
    many (bounded memory): adding them up after every case gives the same JSON report."""
    def run() -> str:
        return render_report(review(sample_log(name), shipped_mapping(name),
                                    sla=default_sla_policy()), "json")

    reference = run()
    monkeypatch.setattr(report_module, "_MAX_SEQUENCES", 1)
    assert run() == reference
