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

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
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
        return _day_periods(self, day)

    # -- arithmetic ---------------------------------------------------------------------------
    # Both operations read the tables of _Year: per local year, the working periods as sorted UTC
    # instants and the business time worked before each one, so a call costs two bisections
    # whatever the span (plus one addition per whole year in between).

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant (UTC) at which ``duration`` of business time has passed since ``start``.

        ``add(start, timedelta(0))`` is ``start`` itself. Raises ``ValueError`` for a naive
        ``start``, a negative ``duration``, or a calendar without working time for years ahead.
        """
        start = _utc(start, "start")
        if duration < _ZERO:
            raise ValueError(f"business durations are not negative, got {duration}")
        if not duration:
            return start
        tables = _tables_of(self)
        year = tables.year_of(start)
        target = year.worked(start) + duration   # business time since the year began
        while target > year.total:
            if year.last - start > _BEYOND_SEARCH:
                raise _no_working_time(start)
            target -= year.total
            year = tables.year(year.number + 1)
        # The first period whose end reaches the target: landing exactly on a period's end gives
        # that end, not the next period's start.
        index = bisect_left(year.sums, target) - 1
        found = year.starts[index] + (target - year.sums[index])
        # The day-by-day search gave up after _MAX_SEARCH_DAYS local days; only a result that far
        # out needs the (slower) exact comparison of local dates.
        if found - start > _SURELY_SEARCHED and year.day_of(index) > (
                start.astimezone(self.zone).date() + timedelta(days=_MAX_SEARCH_DAYS - 2)):
            raise _no_working_time(start)
        return found

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time from ``start`` to ``end`` (zero if ``end`` is not after ``start``)."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return _ZERO
        tables = _tables_of(self)
        first, last = tables.year_of(start), tables.year_of(end)
        if first.number == last.number:
            return last.worked(end) - first.worked(start)
        worked = first.total - first.worked(start) + last.worked(end)
        if last.number - first.number > 1:   # whole years in between
            worked += sum(map(tables.total, range(first.number + 1, last.number)), _ZERO)
        return worked

    def year_position(self, when: datetime) -> tuple[int, timedelta]:
        """Where ``when`` lies in business time: its local year, and that year's time before it.

        Within one local year, ``between(a, b)`` for ``a < b`` is the difference of the two
        positions' times: a caller that measures many stretches between the same instants can
        work each instant out once.
        """
        when = _utc(when, "when")
        year = _tables_of(self).year_of(when)
        return year.number, year.worked(when)

    def position_us(self, micros: int) -> tuple[int, int]:
        """:meth:`year_position` of the instant ``micros`` microseconds after the Unix epoch (UTC).

        In whole microseconds: ``(year, worked)`` with ``worked`` the year's business time before
        the instant, so that for ``a < b`` in one local year ``between(a, b)`` is, in microseconds,
        the difference of the two ``worked``. Bulk counters that keep their instants as integers
        work each one out with one bisection of integer tables, no datetime built.
        """
        return self.positions_us((micros,))[0]

    def positions_us(self, micros: Iterable[int]) -> list[tuple[int, int]]:
        """:meth:`position_us` of each instant of ``micros`` (one call for a ticket's instants)."""
        tables = _tables_of(self)
        found = tables.recent
        positions = []
        for instant in micros:
            if found is None or not found[0] <= instant < found[1]:
                year = tables.year_of(_EPOCH + timedelta(microseconds=instant))
                found = tables.recent = year.micros()
            index = bisect_right(found[2], instant)
            inside = instant - found[3][index]
            sums = found[4]
            positions.append((found[5], sums[index] + inside if inside > 0 else sums[index]))
        return positions


_ZERO = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
# Local dates and UTC instants differ by less than a day, and so do two offsets of one zone: these
# margins keep the cheap instant comparisons on the safe side of the exact local-date rule.
_BEYOND_SEARCH = timedelta(days=_MAX_SEARCH_DAYS + 3)
_SURELY_SEARCHED = timedelta(days=_MAX_SEARCH_DAYS - 5)
# Memory stays bounded: year tables take 60-110 kB (one or two periods a working day), at most
# _MAX_YEARS per calendar (the years around "now", and the four years add may search), for at most
# _MAX_CALENDARS calendars by value plus as many recent ones by identity.
_MAX_CALENDARS = 32
_MAX_YEARS = 8


def _day_periods(calendar: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if not calendar.is_working_day(day):
        return ()
    zone = calendar.zone
    return tuple((start, end) for start, end in (p.on(day, zone) for p in calendar.hours)
                 if start < end)  # a period inside a skipped hour has no length


def _new_year(year: int, zone: ZoneInfo) -> datetime:
    try:
        return datetime.combine(date(year, 1, 1), _MIDNIGHT, zone).astimezone(UTC)
    except (OverflowError, ValueError):   # beyond datetime's range, around years 1 and 9999 only
        return (datetime.min if year <= MINYEAR else datetime.max).replace(tzinfo=UTC)


YearMicros = tuple[int, int, list[int], list[int], list[int], int]
"""A year's first and last instant, period ends, starts and sums (microseconds), its number."""


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICRO


class _Year:
    """One local year of a calendar: its working periods as UTC instants, and running totals.

    ``starts[i]``/``ends[i]`` bound period ``i`` (sorted, disjoint); ``sums[i]`` is the business
    time of the year before period ``i`` (``sums[-1]`` is the year's). ``worked(t)`` is then the
    business time from the year's first instant to ``t``, and differences of it are ``between``.
    """

    __slots__ = ("day_index", "ends", "first", "first_day", "last", "number", "starts", "sums",
                 "total", "us")

    def __init__(self, calendar: BusinessCalendar, number: int) -> None:
        zone = calendar.zone
        self.number = number
        self.first, self.last = _new_year(number, zone), _new_year(number + 1, zone)
        self.first_day = date(number, 1, 1).toordinal()
        days = (date(number + 1, 1, 1).toordinal() if number < MAXYEAR else date.max.toordinal() + 1)
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.sums: list[timedelta] = [_ZERO]
        self.day_index: list[int] = []   # per local day, the index of its first period
        reached = self.first
        for ordinal in range(self.first_day, days):
            self.day_index.append(len(self.starts))
            try:
                periods = _day_periods(calendar, date.fromordinal(ordinal))
            except OverflowError:   # a shift of 9999-12-31 ending at midnight: not a datetime
                periods = ()
            for local_start, local_end in periods:
                # Wall-clock periods around a skipped hour can overlap in UTC (01:00-02:45 and
                # 03:00-04:00 on a spring-forward night: 02:45 is read as 03:45); counting the
                # overlap once keeps the instants sorted and between(start, add(start, d)) == d.
                start, end = max(local_start, reached), min(local_end, self.last)
                if start < end:
                    self.starts.append(start)
                    self.ends.append(end)
                    self.sums.append(self.sums[-1] + (end - start))
                    reached = end
        self.total = self.sums[-1]
        self.starts.append(self.last)   # sentinel: worked() needs no bounds check
        self.us: YearMicros | None = None

    def micros(self) -> YearMicros:
        """The year's tables in microseconds since the epoch (built on first use, then kept)."""
        found = self.us
        if found is None:
            found = self.us = (_micros(self.first), _micros(self.last),
                               [_micros(end) for end in self.ends],
                               [_micros(start) for start in self.starts],
                               [worked // _MICRO for worked in self.sums], self.number)
        return found

    def worked(self, when: datetime) -> timedelta:
        """Business time from the year's first instant to ``when`` (which lies in the year)."""
        index = bisect_right(self.ends, when)
        inside = when - self.starts[index]   # negative unless ``when`` is inside period ``index``
        return self.sums[index] + inside if inside > _ZERO else self.sums[index]

    def day_of(self, index: int) -> date:
        """The local day that period ``index`` belongs to."""
        return date.fromordinal(self.first_day + bisect_right(self.day_index, index) - 1)


class _Tables:
    """A calendar's year tables, built on first use; few are kept, year totals all."""

    __slots__ = ("calendar", "recent", "totals", "years")

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.recent: YearMicros | None = None
        """The year :meth:`BusinessCalendar.position_us` used last."""
        self.years: dict[int, _Year] = {}
        self.totals: dict[int, timedelta] = {}

    def year(self, number: int) -> _Year:
        found = self.years.get(number)
        if found is None:
            if len(self.years) >= _MAX_YEARS:
                self.years.pop(next(iter(self.years), number), None)   # the longest-kept year
            found = self.years[number] = _Year(self.calendar, number)
            self.totals[number] = found.total
        return found

    def year_of(self, when: datetime) -> _Year:
        """The local year holding UTC instant ``when`` (its UTC year, or one either side)."""
        year = self.year(when.year)
        if when < year.first:
            return self.year(when.year - 1)
        if when >= year.last:
            return self.year(when.year + 1)
        return year

    def total(self, number: int) -> timedelta:
        found = self.totals.get(number)
        return self.year(number).total if found is None else found


def _tables_of(calendar: BusinessCalendar) -> _Tables:
    # Kept outside the model (calendars are frozen and hashable) because a private attribute would
    # take part in pydantic's equality. Looked up by identity first: hashing a calendar costs
    # about as much as the rest of a call. The entry holds the calendar, so its id is not reused.
    entry = _recent.get(id(calendar))
    if entry is not None and entry[0] is calendar:
        return entry[1]
    tables = _shared_tables(calendar)
    if len(_recent) >= _MAX_CALENDARS:
        _recent.clear()   # refilled from _shared_tables at the cost of one hash per calendar
    _recent[id(calendar)] = (calendar, tables)
    return tables


_recent: dict[int, tuple[BusinessCalendar, _Tables]] = {}


@lru_cache(maxsize=_MAX_CALENDARS)
def _shared_tables(calendar: BusinessCalendar) -> _Tables:
    # By value, so that equal calendars built separately (one per policy, say) share tables.
    return _Tables(calendar)


def _no_working_time(start: datetime) -> ValueError:
    return ValueError(f"the calendar has no working time within {_MAX_SEARCH_DAYS} days after "
                      f"{start.isoformat()}; check its working days and holidays")


def _utc(when: datetime, name: str) -> datetime:
    if when.tzinfo is UTC:   # already a UTC instant (astimezone would return it as it is)
        return when
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {when!r}")
    return when.astimezone(UTC)
