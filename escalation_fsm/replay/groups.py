"""The figures of one set of cases (all, a category, a priority, a month), in bounded memory.

A set of cases is counted by kind (one addition a case) and its times to resolution kept as
:class:`~.quantiles.Quantiles` drawing on the report's :class:`~.quantiles.ExactBudget`: exact
while the report holds few values, a fine histogram past that, and the report says which
(:func:`approximation_notes`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from .quantiles import PRECISION, ExactBudget, Quantiles
from .schema import DataNote, Durations, HistogramBin, Kpis

__all__ = ["KINDS", "RESOLVED", "Group", "ResolutionBins", "approximation_notes", "median_p90",
           "rate"]

_STATUSES = ("fits", "deviates", "open")
KINDS = {(status, escalated, reopened): n * 4 + escalated * 2 + reopened
         for n, status in enumerate(_STATUSES) for escalated in (False, True)
         for reopened in (False, True)}
"""A case's kind: its status, whether it escalated, whether it reopened (``RESOLVED`` more if it
was resolved); a set of cases is counted by kind, one addition a case."""
RESOLVED = len(KINDS)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places (``None`` when ``whole`` is 0)."""
    return None if whole == 0 else round(part / whole, 4)


def median_p90(values: Quantiles) -> dict[str, float | None]:
    """The median and 90th percentile of ``values``, rounded (sorted once: there may be many)."""
    found = values.quantiles(0.5, 0.9)
    if found is None:
        return {"median_hours": None, "p90_hours": None}
    return {"median_hours": round(found[0], 3), "p90_hours": round(found[1], 3)}


class Group:
    """Accumulates the figures of a set of cases: a count per kind, the resolved cases' hours.

    (Counted by :meth:`~.report.ReportFigures.add`: a case of kind ``k`` adds one to
    ``kinds[k]``, or to ``kinds[k + RESOLVED]`` and its hours to ``ttr`` when it was resolved.)
    """

    __slots__ = ("kinds", "ttr")

    def __init__(self, budget: ExactBudget) -> None:
        self.kinds = [0] * (2 * RESOLVED)
        self.ttr = Quantiles(budget)

    @property
    def cases(self) -> int:
        """How many cases were counted."""
        return sum(self.kinds)

    def kpis(self) -> Kpis:
        """The set's figures."""
        count = dict.fromkeys(("fits", "deviates", "open", "escalated", "resolved", "reopened",
                               "fcr"), 0)
        for (status, escalated, reopened), kind in KINDS.items():
            cases, resolved = self.kinds[kind], self.kinds[kind + RESOLVED]
            count[status] += cases + resolved
            count["escalated"] += (cases + resolved) * escalated
            count["resolved"] += resolved
            count["reopened"] += resolved * reopened
            count["fcr"] += resolved * (not (escalated or reopened))
        cases, fitting, deviating = self.cases, count["fits"], count["deviates"]
        return Kpis(
            cases=cases, fitting=fitting, deviating=deviating, open=count["open"],
            conformance_rate=rate(fitting, fitting + deviating), resolved=count["resolved"],
            first_contact_resolution_rate=rate(count["fcr"], count["resolved"]),
            escalation_rate=rate(count["escalated"], cases),
            reopen_rate=rate(count["reopened"], count["resolved"]),
            time_to_resolution=Durations(count=self.ttr.count, **median_p90(self.ttr)),
        )


_BINS = ((1.0, "under 1 hour"), (4.0, "1-4 hours"), (8.0, "4-8 hours"), (24.0, "8-24 hours"),
         (48.0, "1-2 days"), (96.0, "2-4 days"), (168.0, "4-7 days"), (336.0, "1-2 weeks"),
         (672.0, "2-4 weeks"), (None, "over 4 weeks"))
_UPPERS = tuple(upper for upper, _ in _BINS if upper is not None)


class ResolutionBins:
    """How many resolved cases took how long, in the report's fixed bins (exact, 10 counters)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0] * len(_BINS)

    def add(self, hours: float) -> None:
        """Count one resolved case: it falls in the first bin whose upper bound is above it."""
        self.counts[bisect_right(_UPPERS, hours)] += 1

    def bins(self) -> list[HistogramBin]:
        """The bins (none when no case was resolved)."""
        if not any(self.counts):
            return []
        return [HistogramBin(label=label, upper_hours=upper, cases=count)
                for (upper, label), count in zip(_BINS, self.counts, strict=True)]


def approximation_notes(groups: Iterable[tuple[str, str, Quantiles]],
                        budget: ExactBudget) -> list[DataNote]:
    """A data note for each ``(figure, group, values)`` whose quantiles come from a histogram."""
    return [
        DataNote(column=figure, rule=group, problem="approximate", count=values.count,
                 examples=[], strict=False,
                 effect=f"median and p90 read from a histogram, each within {PRECISION:.1%} of "
                        f"the exact figure (the report keeps {budget.limit:,} values exactly, "
                        f"in all; count and total are exact)")
        for figure, group, values in groups if not values.exact
    ]
