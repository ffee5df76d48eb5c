"""Injected time: the manual clock used by tests, the demo and replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalation_fsm import Clock, ManualClock, SystemClock


def test_manual_clock_moves_only_when_told() -> None:
    """now() is stable without a tick; advance() and set() move it."""
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
    clock.advance(timedelta(hours=2))
    assert clock.now() == datetime(2026, 3, 1, 2, tzinfo=UTC)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2027


def test_manual_clock_refuses_naive_times() -> None:
    """History timestamps must be aware, so the clock refuses naive datetimes up front."""
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 3, 1, tzinfo=UTC)).set(datetime(2026, 3, 2))


def test_system_clock_is_aware_utc() -> None:
    """The default clock gives aware UTC times and satisfies the Clock protocol."""
    now = SystemClock().now()
    assert now.tzinfo is UTC and isinstance(SystemClock(), Clock)
