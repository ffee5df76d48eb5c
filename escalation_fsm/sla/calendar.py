"""Business time: a working calendar in one time zone, and arithmetic on it.

A :class:`BusinessCalendar` says when work happens: the working days of the week, the working
periods of such a day (local wall-clock times, so "09:00-17:00" stays 09:00-17:00 across a
daylight-saving change), and the days off (explicit dates, plus a country's public holidays through
the optional ``holidays`` package). Two operations are built on it:

* :meth:`BusinessCalendar.add`: the earliest instant at which ``duration`` of business time has
  passed since ``start``;
* :meth:`BusinessCalendar.between`: how much business time lies between two instants.

They are inverses: ``between(start, add(start, d)) == d`` for every ``d >= 0``, to the
microsecond. All arithmetic happens on UTC instants; local times are only used to find where the
working periods of each day begin and end, so a day on which the clocks change simply has a
shorter (or longer) working period when it spans the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .holidays import PublicHolidays

__all__ = ["BusinessCalendar", "WorkingPeriod"]

_MAX_SEARCH_DAYS = 3 * 366
"""How far ``add`` looks for working time before concluding the calendar has none."""

_MIDNIGHT = time(0)


class WorkingPeriod(BaseModel):
    """One stretch of working time within a working day, in local wall-clock time.

    ``end`` of ``00:00`` means midnight at the end of the day, so ``00:00-00:00`` is a whole day.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        # A time zone per period would contradict the calendar's one zone.
        if value.tzinfo is not None:
            raise ValueError("working period times are local wall-clock times: give no time zone")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end != _MIDNIGHT and self.end <= self.start:
            raise ValueError(f"working period must end after it starts: {self.start} - {self.end}")
        return self

    def on(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period on local ``day`` as a pair of UTC instants."""
        end_day = day + timedelta(days=1) if self.end == _MIDNIGHT else day
        return (datetime.combine(day, self.start, zone).astimezone(UTC),
                datetime.combine(end_day, self.end, zone).astimezone(UTC))


_NINE_TO_FIVE = (WorkingPeriod(start=time(9), end=time(17)),)


class BusinessCalendar(BaseModel):
    """When business time runs: a time zone, working weekdays and hours, and days off.

    ``working_days`` are ISO weekday numbers (1 = Monday ... 7 = Sunday). ``holidays`` are explicit
    local dates without work; ``public_holidays`` adds a country's public holidays (this needs the
    ``sla`` extra: ``pip install 'escalation-fsm[sla]'``).

    >>> cal = BusinessCalendar(timezone="Europe/Berlin")  # Monday to Friday, 09:00-17:00
    >>> friday_4pm = datetime(2026, 3, 27, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    >>> due = cal.add(friday_4pm, timedelta(hours=2))
    >>> due.astimezone(ZoneInfo("Europe/Berlin")).isoformat()  # summer time began on Sunday
    '2026-03-30T10:00:00+02:00'
    >>> cal.between(friday_4pm, due)
    datetime.timedelta(seconds=7200)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "UTC"
    working_days: Annotated[frozenset[Annotated[int, Field(ge=1, le=7)]], Field(min_length=1)] = (
        frozenset({1, 2, 3, 4, 5}))
    hours: Annotated[tuple[WorkingPeriod, ...], Field(min_length=1)] = _NINE_TO_FIVE
    holidays: frozenset[date] = frozenset()
    public_holidays: PublicHolidays | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "'Europe/Berlin')") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _sorted_disjoint(cls, value: tuple[WorkingPeriod, ...]) -> tuple[WorkingPeriod, ...]:
        # Overlapping periods would count the same minutes twice.
        ordered = tuple(sorted(value, key=lambda p: p.start))
        for before, after in pairwise(ordered):
            if before.end == _MIDNIGHT or after.start < before.end:
                raise ValueError(f"working periods overlap: {before.start}-{before.end} and "
                                 f"{after.start}-{after.end}")
        return ordered

    @classmethod
    def always(cls) -> BusinessCalendar:
        """Every instant counts (24 hours a day, 7 days a week): plain elapsed time."""
        return cls(working_days=frozenset(range(1, 8)),
                   hours=(WorkingPeriod(start=_MIDNIGHT, end=_MIDNIGHT),))

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone (``ZoneInfo`` caches its instances)."""
        return ZoneInfo(self.timezone)

    # -- days ---------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Whether local ``day`` has working hours (a working weekday and no holiday)."""
        if day.isoweekday() not in self.working_days or day in self.holidays:
            return False
        return self.public_holidays is None or not self.public_holidays.contains(day)

    def periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of local ``day`` as UTC instants (empty on a day off).

        A period that starts or ends in a skipped or repeated hour of a daylight-saving change is
        placed the way :mod:`zoneinfo` resolves that wall-clock time (``fold=0``).
        """
        return _periods(self, _days_of(self), day)

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
