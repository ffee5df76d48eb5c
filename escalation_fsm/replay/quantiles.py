"""Medians and percentiles in bounded memory: exact while a report holds few values, then binned.

The review report gives the median and 90th percentile of many groups of durations (time to
resolution overall, per category, priority and month; time in each stage). Kept exactly, those
are one float per ticket per group: memory that grows with the store or log reviewed. Here every
group of one report draws on one :class:`ExactBudget` of values (:data:`EXACT_VALUES`, 262,144
floats, 2 MiB, in all): a group keeps its values while the report holds no more than that, and
when an addition would overflow the budget the largest exact group moves its values into a
histogram of log-spaced buckets and keeps counting there. So:

* a report whose groups hold at most :data:`EXACT_VALUES` values together is exact, figure for
  figure what sorting every value gives (the shipped logs are: ServiceNow's groups hold 135,607);
* past it, the largest groups (the ones where one more value moves a quantile least) are read
  from their histograms: each order statistic within :data:`PRECISION` (0.1%) of the exact one,
  so a quantile interpolated between two of the same sign (every duration) is within 0.1% of
  the exact quantile. A value under :data:`ZERO` (far below a microsecond in hours) counts as 0.
  The report names every such group in a data note (``problem`` ``approximate``);
* memory is the budget plus a histogram per approximate group: one 8-byte counter per bucket
  between the smallest and largest value seen (about 1,150 buckets, 9 KiB, per factor of 10 the
  values span: 140 KiB from a microsecond to a century, and up to half as much again of room to
  grow), whatever the number of values, and a buffer of at most 1,024 values binned together
  (bucket numbers computed in bulk: cheaper than one at a time).

Which groups end up approximate depends on their sizes as they grow (the largest first), so on
the order values arrive in once the budget is full; a histogram's counts never do. Counts and
totals are always exact (totals to float rounding).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from math import ceil as _ceil
from math import log as _log
from operator import truediv

__all__ = ["EXACT_VALUES", "PRECISION", "ZERO", "ExactBudget", "Quantiles", "quantile_of_sorted"]

EXACT_VALUES = 1 << 18
"""Values the quantiles of one report keep exactly, all groups together (2 MiB of floats)."""
PRECISION = 0.001
"""Relative precision of an order statistic read from a histogram (0.1%)."""
ZERO = 1e-12
"""A value smaller than this in magnitude is counted as 0 by a histogram."""
_HUGE = 1e300
_PENDING = 1024
"""Values a histogram takes at a time (binned together: 8 KiB per group at most)."""
_GAMMA = (1 + PRECISION) / (1 - PRECISION)
"""Ratio of a bucket's upper bound to its lower bound."""
_LOG_GAMMA = math.log(_GAMMA)
_MIDDLE = 2 / (_GAMMA + 1)
"""A bucket's value, as a share of its upper bound: within PRECISION of all it holds."""


def quantile_of_sorted(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of values already sorted (not empty), linearly interpolated."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _bucket(value: float) -> int:
    """The histogram bucket of ``value`` (finite): 0 for (about) zero, ``-b`` for ``-value``'s."""
    magnitude = abs(value)
    if magnitude < ZERO:
        return 0
    # Bucket b >= 1 holds magnitudes in (ZERO * gamma**(b - 2), ZERO * gamma**(b - 1)].
    bucket = _ceil(_log(magnitude / ZERO) / _LOG_GAMMA) + 1
    return bucket if value > 0 else -bucket


def _value(bucket: int) -> float:
    """The value a bucket stands for (within :data:`PRECISION` of every value it holds)."""
    if bucket == 0:
        return 0.0
    value = ZERO * math.exp((abs(bucket) - 1) * _LOG_GAMMA) * _MIDDLE
    return value if bucket > 0 else -value


class ExactBudget:
    """How many values the :class:`Quantiles` of one report keep exactly, all together.

    ``limit`` defaults to :data:`EXACT_VALUES` (read when the budget is made).
    """

    __slots__ = ("held", "limit", "members")

    def __init__(self, limit: int | None = None) -> None:
        limit = EXACT_VALUES if limit is None else limit
        if limit < 0:
            raise ValueError(f"an exact-value budget is a count of values (0 or more), got "
                             f"{limit!r}")
        self.limit = limit
        self.held = 0
        """Values the exact members hold now."""
        self.members: list[Quantiles] = []

    def overflow(self) -> None:
        """Move the largest exact members to histograms until the values held fit the budget."""
        while self.held > self.limit:
            largest = max((member for member in self.members if member.exact),
                          key=lambda member: member.count)
            largest.to_histogram()


class Quantiles:
    """The values of one group, for its count, total and quantiles, in bounded memory.

    Exact while its :class:`ExactBudget` allows (``values`` holds them all, in arrival order);
    afterwards a histogram (:attr:`exact` false), to which ``values`` is a buffer of at most
    :data:`_PENDING` values binned together.
    """

    __slots__ = ("_counts", "_exact", "_low", "_total", "budget", "count", "values")

    def __init__(self, budget: ExactBudget | None = None) -> None:
        self.budget = ExactBudget() if budget is None else budget
        self.budget.members.append(self)
        self.values: array[float] = array("d")
        self.count = 0
        self._exact = True
        self._counts: array[int] = array("q")
        self._low = 0
        """The bucket of ``_counts[0]``."""
        self._total = 0.0
        """The sum of the values binned so far."""

    @property
    def exact(self) -> bool:
        """Whether the quantiles are exact (every value is held)."""
        return self._exact

    def add(self, value: float) -> None:
        """Count one value (a finite number under ``1e300`` in magnitude)."""
        # What add_to_each does for one group, written out: the call costs more than the work.
        if not -_HUGE < value < _HUGE:  # also NaN
            raise ValueError(f"a group of values holds finite numbers under {_HUGE:g} in "
                             f"magnitude, got {value!r}")
        values = self.values
        values.append(value)
        self.count += 1
        if self._exact:
            budget = self.budget
            budget.held += 1
            if budget.held > budget.limit:
                budget.overflow()
        elif len(values) >= _PENDING:
            self._flush()

    @staticmethod
    def add_to_each(groups: Iterable[Quantiles], value: float) -> None:
        """Count ``value`` in each of ``groups``: what ``group.add(value)`` on each, in turn, does.

        One check of the value and no method call per group: a report counts each resolution
        time in up to four groups (overall, month, category, priority), once per ticket.
        """
        if not -_HUGE < value < _HUGE:  # also NaN
            raise ValueError(f"a group of values holds finite numbers under {_HUGE:g} in "
                             f"magnitude, got {value!r}")
        for group in groups:
            values = group.values
            values.append(value)
            group.count += 1
            if group._exact:  # noqa: SLF001 (its own class)
                budget = group.budget
                budget.held += 1
                if budget.held > budget.limit:
                    budget.overflow()
            elif len(values) >= _PENDING:
                group._flush()  # noqa: SLF001 (its own class)

    def to_histogram(self) -> None:
        """Move the values held into the histogram (frees them; idempotent)."""
        if not self._exact:
            return
        self._exact = False
        self.budget.held -= len(self.values)
        self._flush()

    def _flush(self) -> None:
        """Bin the values held, and let them go."""
        values = self.values
        if not values:
            return
        self._total += math.fsum(values)
        if min(values) >= ZERO:  # all positive: bucket numbers in bulk (as _bucket gives them)
            found = Counter(map(_ceil, map(truediv, map(_log, map(truediv, values,
                                                                     repeat(ZERO))),
                                           repeat(_LOG_GAMMA))))
            binned = [(bucket + 1, count) for bucket, count in found.items()]
        else:
            binned = list(Counter(map(_bucket, values)).items())
        for bucket, count in binned:
            position = bucket - self._low
            if not 0 <= position < len(self._counts):
                self._grow(bucket)
                position = bucket - self._low
            self._counts[position] += count
        self.values = array("d")

    def _grow(self, bucket: int) -> None:
        """Widen the counters to hold ``bucket``, with room to spare in that direction."""
        counts = self._counts
        if not counts:
            self._counts, self._low = array("q", [0]), bucket
            return
        spare = len(counts) // 2 + 16
        if bucket < self._low:
            new_low = bucket - spare
            self._counts = array("q", bytes(8 * (self._low - new_low))) + counts
            self._low = new_low
        else:
            counts.frombytes(bytes(8 * (bucket - self._low - len(counts) + 1 + spare)))

    @property
    def buckets(self) -> int:
        """How many counters the histogram holds (0 while exact): its memory, 8 bytes each."""
        return len(self._counts)

    def total(self) -> float:
        """The sum of the values (as ``sum`` gives it while exact, to float rounding after)."""
        if self._exact:
            return sum(self.values)
        self._flush()
        return self._total

    def quantiles(self, *qs: float) -> list[float] | None:
        """The ``qs`` quantiles (each 0..1, linearly interpolated); ``None`` without values.

        Exact while :attr:`exact`; otherwise each within :data:`PRECISION` of the exact one
        (for quantiles between values of one sign; see the module's docstring).
        """
        for q in qs:
            if not 0 <= q <= 1:
                raise ValueError(f"a quantile is between 0 and 1, got {q!r}")
        if not self.count:
            return None
        if self._exact:
            ordered = sorted(self.values)
            return [quantile_of_sorted(ordered, q) for q in qs]
        self._flush()
        ranks: set[int] = set()
        for q in qs:
            position = (self.count - 1) * q
            ranks.update((int(position), min(int(position) + 1, self.count - 1)))
        found = self._order_statistics(sorted(ranks))
        result = []
        for q in qs:
            position = (self.count - 1) * q
            low = int(position)
            high = min(low + 1, self.count - 1)
            result.append(found[low] + (found[high] - found[low]) * (position - low))
        return result

    def _order_statistics(self, ranks: list[int]) -> dict[int, float]:
        """The values (histogram buckets) of the given 0-based ranks, ascending."""
        found: dict[int, float] = {}
        wanted = iter(ranks)
        rank = next(wanted, None)
        seen = 0
        for position, count in enumerate(self._counts):
            if not count:
                continue
            seen += count
            while rank is not None and rank < seen:
                found[rank] = _value(position + self._low)
                rank = next(wanted, None)
            if rank is None:
                break
        return found
