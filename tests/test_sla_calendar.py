"""Business-time arithmetic: properties of add/between, and named DST and holiday dates."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from calendar_oracle import oracle
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from escalation_fsm.sla import BusinessCalendar, HolidaysUnavailable, PublicHolidays, WorkingPeriod
from escalation_fsm.sla import calendar as calendar_module
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


# -- differential: the table-based add/between against the day-by-day oracle ----------------------
# tests/calendar_oracle.py holds the pre-rewrite algorithm; the rewrite must agree with it to the
# microsecond, errors included.

def _easter_and_christmas(year: int, easter_sunday: date) -> set[date]:
    return {easter_sunday - timedelta(days=2), easter_sunday + timedelta(days=1),
            date(year, 12, 24), date(year, 12, 25), date(year, 12, 26), date(year, 12, 31),
            date(year + 1, 1, 1)}


BERLIN_HOLIDAYS = BusinessCalendar(
    timezone="Europe/Berlin", hours=(period(8, 12), period(13, 17)),
    holidays=frozenset(_easter_and_christmas(2024, date(2024, 3, 31)) | _easter_and_christmas(2025, date(2025, 4, 20))
                       | _easter_and_christmas(2026, date(2026, 4, 5)) | _easter_and_christmas(2027, date(2027, 3, 28))))
GERMANY = BusinessCalendar(timezone="Europe/Berlin", public_holidays=PublicHolidays(country="DE"))
# Santiago changes its clocks at midnight (00:00 -> 01:00 in September, 24:00 -> 23:00 in April):
# a late shift ending at midnight and an early one starting there meet the change head-on.
SANTIAGO_MIDNIGHT = BusinessCalendar(timezone="America/Santiago", working_days=frozenset(range(1, 8)),
                                     hours=(period(0, 2), period(18, 24)))
HAVANA_ALWAYS = BusinessCalendar(timezone="America/Havana", working_days=frozenset(range(1, 8)),
                                 hours=(period(0, 24),))
LATE_SHIFT_BERLIN = BusinessCalendar(timezone="Europe/Berlin", working_days=frozenset({1, 2, 3, 4, 5, 6}),
                                     hours=(period(16, 24),))
DIFFERENTIAL_CALENDARS = [*CALENDARS, BERLIN_HOLIDAYS, GERMANY, SANTIAGO_MIDNIGHT, HAVANA_ALWAYS,
                          LATE_SHIFT_BERLIN, BusinessCalendar.always()]
ORACLES = {cal: oracle(cal) for cal in DIFFERENTIAL_CALENDARS}
ZONES = [UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("America/Santiago"), ZoneInfo("America/Havana")]


def _offset_changes(zone: ZoneInfo) -> list[datetime]:
    # UTC noons within a day after each offset change of 2024-2027: hypothesis rarely draws an
    # instant near one of the 8 change days a year by itself.
    noons = [datetime(2024, 1, 1, 12, tzinfo=UTC) + timedelta(days=n) for n in range(4 * 366)]
    return [b for a, b in itertools.pairwise(noons) if a.astimezone(zone).utcoffset() != b.astimezone(zone).utcoffset()]


CHANGES = sorted({when for zone in ZONES[1:] for when in _offset_changes(zone)})
anywhere = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.sampled_from(ZONES))
near_a_change = st.builds(lambda when, offset, zone: (when + offset).astimezone(zone), st.sampled_from(CHANGES),
                          st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)), st.sampled_from(ZONES))
# Whole local hours land on period boundaries, where "ends exactly at a period's end" is decided.
on_the_hour = anywhere.map(lambda when: when.replace(minute=0, second=0, microsecond=0))
points = st.one_of(anywhere, near_a_change, on_the_hour)
up_to_two_years = st.one_of(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
                            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=730)),
                            st.integers(min_value=0, max_value=730 * 24).map(lambda hours: timedelta(hours=hours)))
differential = settings(max_examples=300, deadline=None)


def outcome(compute: Callable[[], object]) -> object:
    """The result, or the ValueError's message: errors must agree too."""
    try:
        return compute()
    except ValueError as exc:
        return f"ValueError: {exc}"


@differential
@given(st.sampled_from(DIFFERENTIAL_CALENDARS), points, up_to_two_years)
def test_add_matches_the_day_by_day_oracle(cal: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    """add gives the oracle's UTC instant (or its ValueError) for durations up to two years, and
    between(start, add(start, d)) == d whenever add succeeds."""
    got, expected = outcome(lambda: cal.add(start, duration)), outcome(lambda: ORACLES[cal].add(start, duration))
    assert got == expected
    if isinstance(got, datetime):
        assert got.tzinfo is UTC
        assert cal.between(start, got) == duration


@differential
@given(st.sampled_from(DIFFERENTIAL_CALENDARS), points,
       st.one_of(up_to_two_years, st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(0))),
       st.sampled_from(ZONES))
def test_between_matches_the_day_by_day_oracle(cal: BusinessCalendar, start: datetime, span: timedelta,
                                               end_zone: ZoneInfo) -> None:
    """between equals the oracle for spans up to two years (and is zero for reversed ones), whatever
    zone each end is given in."""
    end = (start + span).astimezone(end_zone)
    assert cal.between(start, end) == ORACLES[cal].between(start, end)


@pytest.mark.parametrize(("cal", "start", "duration", "expected"), [
    # Every hour counts: Saturday noon + 47 h is Monday noon, one real hour short of two days.
    (ALWAYS_BERLIN, berlin(2026, 3, 28, 12), timedelta(hours=47), berlin(2026, 3, 30, 12)),
    (ALWAYS_BERLIN, berlin(2026, 10, 24, 12), timedelta(hours=49), berlin(2026, 10, 26, 12)),
    # The Sunday 01:00-04:00 shift lasts 2 real hours in spring: 2 h end exactly at 04:00 CEST...
    (NIGHT_SHIFT_BERLIN, berlin(2026, 3, 29), timedelta(hours=2), berlin(2026, 3, 29, 4)),
    # ... and one microsecond more opens the 22:00 shift.
    (NIGHT_SHIFT_BERLIN, berlin(2026, 3, 29), timedelta(hours=2, microseconds=1),
     berlin(2026, 3, 29, 22) + timedelta(microseconds=1)),
    # In autumn the same shift lasts 4 real hours and ends at 04:00 CET.
    (NIGHT_SHIFT_BERLIN, berlin(2026, 10, 25), timedelta(hours=4), berlin(2026, 10, 25, 4)),
    # A late shift ends at midnight before the change (00:00 CET), not at the next day's start.
    (LATE_SHIFT_BERLIN, berlin(2026, 3, 28, 20), timedelta(hours=4), berlin(2026, 3, 29)),
    (LATE_SHIFT_BERLIN, berlin(2026, 3, 28, 20), timedelta(hours=5), berlin(2026, 3, 30, 17)),
    (LATE_SHIFT_BERLIN, berlin(2026, 10, 24, 23), timedelta(hours=2), berlin(2026, 10, 26, 17)),
    # Office hours across both weekends: Friday 16:00 + 2 h is Monday 10:00, in CEST then in CET.
    (NINE_FIVE_BERLIN, berlin(2026, 3, 27, 16), timedelta(hours=2), berlin(2026, 3, 30, 10)),
    (NINE_FIVE_BERLIN, berlin(2026, 10, 23, 16), timedelta(hours=2), berlin(2026, 10, 26, 10)),
    # Zero is the start itself, as a UTC instant, even outside working hours.
    (NINE_FIVE_BERLIN, berlin(2026, 3, 29, 2, 30), timedelta(0), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
])
def test_berlin_dst_weekends_of_2026(cal: BusinessCalendar, start: datetime, duration: timedelta,
                                     expected: datetime) -> None:
    """Named instants across 2026-03-29 and 2026-10-25: add lands where a person would say, agrees
    with the oracle, and measuring back gives the duration."""
    got = cal.add(start, duration)
    assert got == expected
    assert got.tzinfo is UTC
    assert got == ORACLES.get(cal, oracle(cal)).add(start, duration)
    assert cal.between(start, got) == duration == ORACLES.get(cal, oracle(cal)).between(start, got)


@pytest.mark.parametrize(("days_off", "found"), [(1095, True), (1096, False)])
def test_the_search_horizon_is_the_oracles_to_the_day(days_off: int, found: bool) -> None:
    """Working time first available on the last local day the oracle searched (start's day + 1096)
    is found; a day later it is the same 'no working time' error."""
    start = datetime(2026, 1, 5, 12, tzinfo=UTC)
    off = frozenset(date(2026, 1, 4) + timedelta(days=n) for n in range(days_off + 2))
    cal = BusinessCalendar(working_days=frozenset(range(1, 8)), holidays=off)
    got, expected = outcome(lambda: cal.add(start, timedelta(hours=1))), outcome(lambda: oracle(cal).add(start, timedelta(hours=1)))
    assert got == expected
    assert isinstance(got, datetime) is found


def test_bad_arguments_get_the_oracles_messages() -> None:
    """Naive instants and negative durations raise the same ValueError messages as before."""
    naive, aware = datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 9, tzinfo=UTC)
    old = oracle(OFFICE_UTC)
    for compute in (lambda c: c.add(naive, timedelta(hours=1)), lambda c: c.add(aware, timedelta(hours=-1)),
                    lambda c: c.between(naive, aware), lambda c: c.between(aware, naive)):
        assert outcome(lambda compute=compute: compute(OFFICE_UTC)) == outcome(lambda compute=compute: compute(old))
        assert str(outcome(lambda compute=compute: compute(OFFICE_UTC))).startswith("ValueError: ")


def test_wall_clock_periods_overlapping_in_utc_count_once() -> None:
    """01:00-02:45 and 03:00-04:00 on 2026-03-29: 02:45 does not exist and is read as 03:45 CEST, so
    the periods overlap from 03:00 to 03:45 CEST. Those 45 minutes count once (00:00-02:00 UTC, 2 h
    in all), keeping between(start, add(start, d)) == d; the oracle counted them twice and broke it."""
    cal = BusinessCalendar(timezone="Europe/Berlin", working_days=frozenset({7}),
                           hours=(WorkingPeriod(start=time(1), end=time(2, 45)), period(3, 4)))
    sunday, monday = berlin(2026, 3, 29), berlin(2026, 3, 30)
    assert cal.between(sunday, monday) == timedelta(hours=2)
    assert cal.add(sunday, timedelta(hours=2)) == berlin(2026, 3, 29, 4)
    assert cal.add(sunday, timedelta(hours=1)) == datetime(2026, 3, 29, 1, tzinfo=UTC)   # 03:00 CEST
    old = oracle(cal)
    assert old.between(sunday, monday) == timedelta(hours=2, minutes=45)
    assert old.between(sunday, old.add(sunday, timedelta(hours=2))) != timedelta(hours=2)


def test_tables_cover_only_the_years_asked_about_and_stay_bounded() -> None:
    """A measurement within 2026 builds 2026 alone; twenty years measured still agree with the
    oracle while at most a few year tables and calendars are kept."""
    cal = BusinessCalendar(timezone="Europe/Berlin", holidays=frozenset({date(2026, 6, 1)}))
    cal.between(berlin(2026, 5, 4), berlin(2026, 7, 1))
    assert set(calendar_module._tables_of(cal).years) == {2026}
    start, end = berlin(2010, 5, 4, 10), berlin(2030, 5, 4, 10)
    assert cal.between(start, end) == oracle(cal).between(start, end)
    assert len(calendar_module._tables_of(cal).years) <= calendar_module._MAX_YEARS
    for n in range(3 * calendar_module._MAX_CALENDARS):
        BusinessCalendar(holidays=frozenset({date(2026, 1, 1) + timedelta(days=n)})).between(start, end)
    assert len(calendar_module._recent) <= calendar_module._MAX_CALENDARS
    assert calendar_module._shared_tables.cache_info().currsize <= calendar_module._MAX_CALENDARS


def test_using_a_calendar_leaves_it_equal_to_a_fresh_one() -> None:
    """The tables live outside the model: a used calendar still equals, and hashes like, an unused
    copy (a private attribute would make them differ)."""
    cal = BusinessCalendar(timezone="Europe/Berlin", holidays=frozenset({date(2026, 6, 2)}))
    fresh = BusinessCalendar(**dict(cal))
    cal.add(berlin(2026, 5, 4), timedelta(hours=100))
    assert cal == fresh
    assert hash(cal) == hash(fresh)


def test_giving_up_builds_no_tables_beyond_the_search_horizon() -> None:
    """With every working day off for twenty years, add raises the oracle's error after looking at
    the years the oracle searched (2026-2029), not at the twenty."""
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(20 * 53))
    cal = BusinessCalendar(working_days=frozenset({1}), holidays=mondays)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    got = outcome(lambda: cal.add(start, timedelta(minutes=1)))
    assert str(got).startswith("ValueError: the calendar has no working time within 1098 days")
    assert got == outcome(lambda: oracle(cal).add(start, timedelta(minutes=1)))
    assert max(calendar_module._tables_of(cal).years) <= 2030


@pytest.mark.parametrize(("cal", "start", "end"), [
    (NINE_FIVE_BERLIN, datetime(1, 1, 3, tzinfo=UTC), datetime(1, 3, 1, tzinfo=UTC)),   # 0001-01-01 00:00 CET is not a datetime
    # (the late shift of 9999-12-31 would end at 10000-01-01: the oracle raised OverflowError there)
    (NEW_YORK_LATE, datetime(9999, 6, 1, tzinfo=UTC), datetime(9999, 12, 30, 20, tzinfo=UTC)),
])
def test_the_first_and_last_years_of_datetime_work(cal: BusinessCalendar, start: datetime, end: datetime) -> None:
    """Years 1 and 9999, whose local new year lies outside datetime's range in some zones, measure
    and add like the oracle."""
    assert cal.between(start, end) == oracle(cal).between(start, end)
    assert cal.add(start, timedelta(hours=5)) == oracle(cal).add(start, timedelta(hours=5))
