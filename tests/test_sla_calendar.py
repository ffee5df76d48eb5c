"""Business-time arithmetic: properties of add/between, and named DST and holiday dates."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from escalation_fsm.sla import BusinessCalendar, HolidaysUnavailable, PublicHolidays, WorkingPeriod
from escalation_fsm.sla import holidays as holidays_module

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def period(start: int, end: int, start_minute: int = 0) -> WorkingPeriod:
    return WorkingPeriod(start=time(start, start_minute), end=time(end % 24))


OFFICE_UTC = BusinessCalendar()
NINE_FIVE_BERLIN = BusinessCalendar(timezone="Europe/Berlin")
OFFICE_BERLIN = BusinessCalendar(timezone="Europe/Berlin", hours=(period(8, 12), period(13, 17, 0)),
                                 holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6)}))
ALWAYS_BERLIN = BusinessCalendar(timezone="Europe/Berlin", working_days=frozenset(range(1, 8)),
                                 hours=(period(0, 24),))
NIGHT_SHIFT_BERLIN = BusinessCalendar(timezone="Europe/Berlin", working_days=frozenset({7}),
                                      hours=(period(1, 4), period(22, 24)))
NEW_YORK_LATE = BusinessCalendar(timezone="America/New_York", working_days=frozenset({1, 3, 5, 6}),
                                 hours=(period(6, 9, 30), period(18, 24)))
CALENDARS = [OFFICE_UTC, NINE_FIVE_BERLIN, OFFICE_BERLIN, ALWAYS_BERLIN, NIGHT_SHIFT_BERLIN, NEW_YORK_LATE]

instants = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1),
                        timezones=st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York")]))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=300))
calendars = st.sampled_from(CALENDARS)
lean = settings(max_examples=40, deadline=None)


@lean
@given(calendars, instants, durations)
def test_adding_then_measuring_gives_the_duration_back(cal: BusinessCalendar, start: datetime,
                                                       duration: timedelta) -> None:
    """between(start, add(start, d)) == d to the microsecond, in every zone and calendar."""
    end = cal.add(start, duration)
    assert end >= start
    assert cal.between(start, end) == duration


@lean
@given(calendars, instants, durations, durations)
def test_add_is_monotonic_and_lands_in_working_time(cal: BusinessCalendar, start: datetime,
                                                    a: timedelta, b: timedelta) -> None:
    """More business time never ends earlier; a positive sum ends inside (or at the end of) a period."""
    small, big = sorted((a, b))
    assert cal.add(start, small) <= cal.add(start, big)
    if big:
        end = cal.add(start, big)
        day = end.astimezone(cal.zone).date()
        spans = [p for d in (day - timedelta(days=1), day) for p in cal.periods(d)]
        assert any(s < end <= e for s, e in spans)


@lean
@given(calendars, st.lists(instants, min_size=3, max_size=3))
def test_between_is_additive_and_bounded_by_elapsed_time(cal: BusinessCalendar,
                                                         points: list[datetime]) -> None:
    """Splitting an interval splits its business time; it never exceeds wall time; reversed is 0."""
    # Sorted as instants: same-zone datetimes compare as wall clocks, and a wall-clock time inside a
    # skipped hour (New York 2026-03-08 02:00:00.000001, read as 03:00:00.000001 EDT) sorts before
    # 03:00 EDT although it is later.
    a, b, c = sorted(points, key=lambda when: when.astimezone(UTC))
    assert cal.between(a, b) + cal.between(b, c) == cal.between(a, c)
    # Elapsed time between UTC instants: two datetimes sharing one zone subtract as wall clocks,
    # which ignores a daylight-saving shift in between (Berlin 2026-04-01 .. 2027-01-01 is 1 h
    # longer than their wall-clock difference).
    assert cal.between(a, c) <= c.astimezone(UTC) - a.astimezone(UTC)
    if a < c:
        assert cal.between(c, a) == timedelta(0)


def test_always_is_plain_elapsed_time_in_utc() -> None:
    """The 24/7 UTC calendar adds and measures like datetime arithmetic."""
    cal = BusinessCalendar.always()
    start = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert cal.add(start, timedelta(hours=50)) == start + timedelta(hours=50)
    assert cal.between(start, start + timedelta(days=3)) == timedelta(days=3)


# -- daylight saving in Europe/Berlin: 2026-03-29 (23-hour day) and 2026-10-25 (25-hour day) -------

def test_spring_forward_day_has_23_business_hours_when_every_hour_counts() -> None:
    """2026-03-29: 02:00 CET jumps to 03:00 CEST, so that local day holds 23 hours."""
    assert ALWAYS_BERLIN.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == timedelta(hours=23)
    assert ALWAYS_BERLIN.add(berlin(2026, 3, 29), timedelta(hours=24)) == berlin(2026, 3, 30, 1)


def test_fall_back_day_has_25_business_hours_when_every_hour_counts() -> None:
    """2026-10-25: 03:00 CEST falls back to 02:00 CET, so that local day holds 25 hours."""
    assert ALWAYS_BERLIN.between(berlin(2026, 10, 25), berlin(2026, 10, 26)) == timedelta(hours=25)
    assert ALWAYS_BERLIN.add(berlin(2026, 10, 25), timedelta(hours=24)) == berlin(2026, 10, 25, 23)


def test_a_shift_across_the_change_is_shorter_or_longer_in_real_time() -> None:
    """The Sunday 01:00-04:00 shift is 2 real hours on 2026-03-29 and 4 on 2026-10-25."""
    assert NIGHT_SHIFT_BERLIN.between(berlin(2026, 3, 29), berlin(2026, 3, 29, 12)) == timedelta(hours=2)
    assert NIGHT_SHIFT_BERLIN.between(berlin(2026, 10, 25), berlin(2026, 10, 25, 12)) == timedelta(hours=4)
    assert NIGHT_SHIFT_BERLIN.between(berlin(2026, 3, 22), berlin(2026, 3, 22, 12)) == timedelta(hours=3)


def test_office_hours_stay_at_local_nine_across_the_change() -> None:
    """Friday 2026-03-27 16:00 CET + 2 business hours = Monday 2026-03-30 10:00 CEST (08:00 UTC)."""
    friday = berlin(2026, 3, 27, 16)
    due = NINE_FIVE_BERLIN.add(friday, timedelta(hours=2))
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 10
    assert due - friday == timedelta(hours=65)   # one hour less than a winter weekend
    autumn = NINE_FIVE_BERLIN.add(berlin(2026, 10, 23, 16), timedelta(hours=2))
    assert autumn == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)   # 10:00 CET


def test_lunch_break_does_not_count() -> None:
    """Periods 08-12 and 13-17: 11:00 + 2h is 14:00."""
    assert OFFICE_BERLIN.add(berlin(2026, 5, 5, 11), timedelta(hours=2)) == berlin(2026, 5, 5, 14)


# -- holidays ------------------------------------------------------------------------------------

def test_explicit_holidays_skip_easter_without_the_holidays_package() -> None:
    """Good Friday 2026-04-03 and Easter Monday 2026-04-06 listed by hand: Thursday 16:00 + 2h lands
    on Tuesday 2026-04-07 09:00 (the lunch-break calendar opens at 08:00)."""
    thursday = berlin(2026, 4, 2, 16)
    assert OFFICE_BERLIN.add(thursday, timedelta(hours=2)) == berlin(2026, 4, 7, 9)
    plain = OFFICE_BERLIN.model_copy(update={"holidays": frozenset()})
    assert plain.add(thursday, timedelta(hours=2)) == berlin(2026, 4, 3, 9)


def test_public_holidays_of_berlin_come_from_the_holidays_package() -> None:
    """DE-BE 2026: Good Friday, Easter Monday; Women's Day 2026-03-08 is a Sunday anyway."""
    cal = BusinessCalendar(timezone="Europe/Berlin",
                           public_holidays=PublicHolidays(country="DE", subdivision="BE"))
    assert cal.add(berlin(2026, 4, 2, 16), timedelta(hours=2)) == berlin(2026, 4, 7, 10)
    assert not cal.is_working_day(date(2026, 10, 3)) and not cal.is_working_day(date(2026, 12, 25))
    # 2027-03-08 (Women's Day, a Berlin-only holiday) is a Monday:
    assert not cal.is_working_day(date(2027, 3, 8))
    bavaria = BusinessCalendar(public_holidays=PublicHolidays(country="DE", subdivision="BY"))
    assert bavaria.is_working_day(date(2027, 3, 8))


def test_missing_holidays_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the package a named country fails loudly at construction; explicit dates still work."""
    monkeypatch.setitem(sys.modules, "holidays", None)   # makes `import holidays` raise ImportError
    holidays_module._year.cache_clear()
    with pytest.raises(HolidaysUnavailable, match=r"pip install 'escalation-fsm\[sla\]'") as caught:
        PublicHolidays(country="FR")
    assert isinstance(caught.value, ImportError)
    assert OFFICE_BERLIN.add(berlin(2026, 4, 2, 16), timedelta(hours=2)) == berlin(2026, 4, 7, 9)
    holidays_module._year.cache_clear()


def test_public_holidays_import_lazily() -> None:
    """Importing the library (and the sla package) does not import the holidays package."""
    import subprocess

    code = ("import sys, escalation_fsm, escalation_fsm.sla\n"
            "assert 'holidays' not in sys.modules, 'holidays imported eagerly'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "message"), [
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"hours": (period(9, 12), period(11, 17))}, "overlap"),
    ({"hours": (period(0, 24), period(9, 10))}, "overlap"),
    ({"working_days": frozenset({8})}, "less than or equal to 7"),
    ({"working_days": frozenset()}, "at least 1"),
    ({"public_holidays": {"country": "XX"}}, "no public holidays known"),
    ({"public_holidays": {"country": "DE", "subdivision": "ZZ"}}, "no public holidays known"),
])
def test_bad_calendars_are_refused(fields: dict[str, object], message: str) -> None:
    """Every malformed calendar fails when it is built, with a readable reason."""
    with pytest.raises(ValidationError, match=message):
        BusinessCalendar.model_validate(fields)


def test_bad_working_periods_and_arguments_are_refused() -> None:
    """Periods end after they start and carry no zone; instants are aware; durations are not negative."""
    with pytest.raises(ValidationError, match="must end after"):
        WorkingPeriod(start=time(17), end=time(9))
    with pytest.raises(ValidationError, match="local wall-clock"):
        WorkingPeriod(start=time(9, tzinfo=UTC), end=time(17))
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE_UTC.add(datetime(2026, 1, 5, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE_UTC.between(datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 6))
    with pytest.raises(ValueError, match="not negative"):
        OFFICE_UTC.add(datetime(2026, 1, 5, 9, tzinfo=UTC), timedelta(hours=-1))


def test_a_calendar_without_working_time_says_so() -> None:
    """Every Monday for years a holiday and only Mondays worked: add gives up with a reason."""
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(200))
    cal = BusinessCalendar(working_days=frozenset({1}), holidays=mondays)
    with pytest.raises(ValueError, match="no working time within"):
        cal.add(datetime(2026, 1, 5, tzinfo=UTC), timedelta(minutes=1))
