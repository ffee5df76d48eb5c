"""The pre-rewrite business-time algorithm, kept as a test oracle.

``add`` and ``between`` below are ``BusinessCalendar``'s methods as they were before the table-based
rewrite (escalation_fsm/sla/calendar.py at commit 90fd3d3), copied verbatim with the helpers they
need: they walk the calendar day by day, so their cost grows with the span, but they are simple
enough to trust. The differential tests in test_sla_calendar.py and benchmarks/bench_sla.py compare
the rewrite with them. Wrap a calendar with :func:`oracle` to get one that computes this way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from escalation_fsm.sla import BusinessCalendar

__all__ = ["OracleCalendar", "oracle"]

_MAX_SEARCH_DAYS = 3 * 366
"""How far ``add`` looks for working time before concluding the calendar has none."""


class OracleCalendar(BusinessCalendar):
    """A :class:`BusinessCalendar` whose ``add`` and ``between`` walk day by day (pre-rewrite)."""

    def _periods_from(self, when: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods that end after ``when``, in order, for up to ``_MAX_SEARCH_DAYS``."""
        # Start a day early: a period of the previous local day may still run (late shifts).
        day = when.astimezone(self.zone).date() - timedelta(days=1)
        days = _days_of(self)
        for offset in range(_MAX_SEARCH_DAYS):
            for start, end in _periods(self, days, day + timedelta(days=offset)):
                if end > when:
                    yield start, end

    # -- arithmetic ---------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant (UTC) at which ``duration`` of business time has passed since ``start``.

        ``add(start, timedelta(0))`` is ``start`` itself. Raises ``ValueError`` for a naive
        ``start``, a negative ``duration``, or a calendar without working time for years ahead.
        """
        start = _utc(start, "start")
        if duration < timedelta(0):
            raise ValueError(f"business durations are not negative, got {duration}")
        if not duration:
            return start
        left = duration
        for period_start, period_end in self._periods_from(start):
            begin = max(period_start, start)
            available = period_end - begin
            if left <= available:
                return begin + left
            left -= available
        raise ValueError(f"the calendar has no working time within {_MAX_SEARCH_DAYS} days after "
                         f"{start.isoformat()}; check its working days and holidays")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time from ``start`` to ``end`` (zero if ``end`` is not after ``start``)."""
        start, end = _utc(start, "start"), _utc(end, "end")
        total = timedelta(0)
        if end <= start:
            return total
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        days = _days_of(self)
        for offset in range((last - first).days + 1):
            for period_start, period_end in _periods(self, days, first + timedelta(days=offset)):
                overlap = min(period_end, end) - max(period_start, start)
                if overlap > timedelta(0):
                    total += overlap
        return total


def oracle(calendar: BusinessCalendar) -> OracleCalendar:
    """The same calendar (same fields), computing business time the pre-rewrite way."""
    return OracleCalendar(**dict(calendar))


_Periods = tuple[tuple[datetime, datetime], ...]


@lru_cache(maxsize=64)
def _days_of(calendar: BusinessCalendar) -> dict[date, _Periods]:
    # The working periods of each day a calendar was asked about. Kept outside the model
    # (calendars are frozen and hashable) because a private attribute would take part in
    # pydantic's equality; fetched once per add/between, since hashing a model costs more than
    # looking a day up. A few hundred dates a year per calendar: small.
    return {}


def _periods(calendar: BusinessCalendar, days: dict[date, _Periods], day: date) -> _Periods:
    found = days.get(day)
    if found is None:
        if calendar.is_working_day(day):
            zone = calendar.zone
            found = tuple((start, end) for start, end in (p.on(day, zone) for p in calendar.hours)
                          if start < end)  # a period inside a skipped hour has no length
        else:
            found = ()
        days[day] = found
    return found


def _utc(when: datetime, name: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {when!r}")
    return when.astimezone(UTC)
