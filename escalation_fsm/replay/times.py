"""Timestamps of a log column, parsed once per distinct text (logs repeat the same times a lot).

Each distinct text becomes a :data:`Stamp`: the instant in whole microseconds since the epoch
(for arithmetic and comparisons without datetime objects), the aware ``datetime`` as parsed (what
results and reports show, in the log's own offset) and its ``YYYY-MM`` month (the report's
breakdown key).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import LogError

__all__ = ["EPOCH", "Stamp", "Timestamps", "micros", "stamp_of", "timezone"]

Stamp = tuple[int, datetime, str]
"""(microseconds since the epoch, the parsed aware datetime, its ``YYYY-MM``)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_MEMO = 100_000
_NUMERIC = {"%d": "day", "%m": "month", "%Y": "year", "%H": "hour", "%M": "minute",
            "%S": "second"}
_ARGUMENTS = ("year", "month", "day", "hour", "minute", "second")
_DEFAULTS = (1900, 1, 1, 0, 0, 0)
_TEXTS = tuple(map(str, _DEFAULTS))
_ISO = "{0}-{1:0>2}-{2:0>2}T{3:0>2}:{4:0>2}:{5:0>2}"


def micros(when: datetime) -> int:
    """Whole microseconds from the epoch to aware ``when``."""
    return (when - EPOCH) // _MICRO


def stamp_of(when: datetime) -> Stamp:
    """The stamp of an aware datetime."""
    return (when - EPOCH) // _MICRO, when, f"{when.year:04d}-{when.month:02d}"


def timezone(name: str, source: str) -> tzinfo:
    """The zone ``columns.timezone`` names; :class:`LogError` if there is none by that name."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LogError(source, f"unknown timezone {name!r} in columns.timezone") from exc


class Timestamps:
    """Parses one column's timestamps to stamps; memoised in :attr:`seen` (bounded).

    Purely numeric ``strptime`` formats (``%d/%m/%Y %H:%M`` and the like) use a compiled regular
    expression: ``strptime`` costs ~40 us a call, which dominated reading a large log.
    """

    def __init__(self, fmt: str, zone: tzinfo) -> None:
        self.fmt = fmt
        self.zone = zone
        self.seen: dict[str | None, Stamp] = {}
        self.months: dict[int, str] = {}
        self.days: dict[tuple[str, ...], tuple[datetime, int, str]] = {}
        """Per (year, month, day) text of a numeric format: its midnight, instant and month."""
        self.clocks: dict[tuple[str, ...], tuple[timedelta, int]] = {}
        """Per (hour, minute, second) text of a numeric format: its time of day, as a timedelta
        and in microseconds (a log's thousands of distinct times share a few hundred days and
        at most 86,400 times of day)."""
        self.fast: re.Pattern[str] | None = None
        self.pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = tuple
        self.iso = _ISO
        parts = re.split(r"(%.)", fmt)
        numeric = [_NUMERIC[p] for p in parts if p in _NUMERIC]
        if fmt != "iso" and all(p in _NUMERIC or "%" not in p for p in parts) and (
                len(set(numeric)) == len(numeric)):
            self.fast = re.compile("".join(
                f"(\\d{{{4 if p == '%Y' else '1,2'}}})" if p in _NUMERIC else re.escape(p)
                for p in parts) + r"\Z")
            # The datetime arguments, from the numbers matched followed by the defaults.
            self.pick = itemgetter(*(numeric.index(name) if name in numeric
                                     else len(numeric) + n for n, name in enumerate(_ARGUMENTS)))
            # Written out in ISO 8601 they parse several times faster than datetime(...) builds
            # them (with the same errors for a day or hour out of range).
            self.iso = _ISO + ("+00:00" if zone is UTC else "")

    def __call__(self, value: str) -> Stamp:
        """The stamp of ``value``; ``ValueError`` says why it does not parse."""
        found = self.seen.get(value)
        return self.new(value) if found is None else found

    def new(self, value: str) -> Stamp:
        """The stamp of ``value``, parsed (it is not in :attr:`seen` yet)."""
        found = None if self.fast is None else self._by_day(value)
        if found is None:
            when = self.parse(value)
            key = when.year * 100 + when.month
            month = self.months.get(key)
            if month is None:
                month = self.months[key] = f"{when.year:04d}-{when.month:02d}"
            found = ((when - EPOCH) // _MICRO, when, month)
        if len(self.seen) >= _MEMO:  # bounded memory on huge logs of unique timestamps
            self.seen.clear()
        self.seen[value] = found
        return found

    def _by_day(self, value: str) -> Stamp | None:
        """The stamp of a numeric format's ``value``, from its day's midnight (worked out once).

        The same as :meth:`parse` gives; ``None`` leaves it to :meth:`parse` (which says why a
        value does not parse).
        """
        match = self.fast.match(value) if self.fast is not None else None
        if match is None:
            return None
        year, month, day, hour, minute, second = self.pick((*match.groups(), *_TEXTS))
        clock = self.clocks.get((hour, minute, second))
        if clock is None:
            hours, minutes, seconds = int(hour), int(minute), int(second)
            if hours > 23 or minutes > 59 or seconds > 59:
                return None
            offset = hours * 3600 + minutes * 60 + seconds
            if len(self.clocks) >= _MEMO:
                self.clocks.clear()
            clock = self.clocks[hour, minute, second] = (timedelta(0, offset), offset * 1_000_000)
        known = self.days.get((year, month, day))
        if known is None:
            try:
                midnight = datetime(int(year), int(month), int(day), tzinfo=self.zone)
            except ValueError:
                return None
            if len(self.days) >= _MEMO:
                self.days.clear()
            known = self.days[year, month, day] = (
                midnight, micros(midnight), f"{midnight.year:04d}-{midnight.month:02d}")
        # Wall-clock arithmetic in the zone, as datetime(...) builds it (fold 0, same tzinfo).
        when = known[0] + clock[0]
        instant = known[1] + clock[1] if self.zone is UTC else (when - EPOCH) // _MICRO
        return instant, when, known[2]

    def parse(self, value: str) -> datetime:
        """``value`` as an aware datetime (in the mapping's zone when it gives no offset)."""
        if self.fmt == "iso":
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self.zone)
        if self.fast is not None:
            match = self.fast.match(value)
            if match is None:
                raise ValueError(f"does not match {self.fmt!r}")
            numbers = match.groups()
            try:
                parsed = datetime.fromisoformat(self.iso.format(*self.pick((*numbers, *_TEXTS))))
            except ValueError:  # out of range, or digits ISO 8601 does not know: as datetime says
                year, month, day, hour, minute, second = self.pick((*map(int, numbers),
                                                                   *_DEFAULTS))
                return datetime(year, month, day, hour, minute, second, tzinfo=self.zone)
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self.zone)
        parsed = datetime.strptime(value, self.fmt)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self.zone)
