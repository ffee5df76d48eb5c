"""Injected time. The library never reads the wall clock except through a :class:`Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .typing import Clock

__all__ = ["Clock", "ManualClock", "SystemClock"]


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


class ManualClock:
    """A clock for tests, demos and replays: time moves only when told to.

    ``tick`` advances the clock after every reading, which gives distinct, ordered timestamps
    without any sleeping.

    >>> clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC), tick=timedelta(minutes=1))
    >>> clock.now().isoformat(), clock.now().isoformat()
    ('2026-01-05T09:00:00+00:00', '2026-01-05T09:01:00+00:00')
    """

    def __init__(self, start: datetime, *, tick: timedelta = timedelta(0)) -> None:
        if start.tzinfo is None:
            raise ValueError(f"ManualClock needs a timezone-aware start, got naive {start!r}")
        self._now = start
        self._tick = tick

    def now(self) -> datetime:
        """The current manual time, then advance by ``tick``."""
        current = self._now
        self._now = current + self._tick
        return current

    def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``."""
        self._now += delta

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (timezone-aware)."""
        if when.tzinfo is None:
            raise ValueError(f"ManualClock.set needs a timezone-aware datetime, got {when!r}")
        self._now = when
