"""Business positions in whole microseconds (``position_us``) agree with ``year_position``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_fsm.sla import BusinessCalendar
from escalation_fsm.sla.calendar import WorkingPeriod

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
CALENDARS = (
    BusinessCalendar(),
    BusinessCalendar(timezone="Europe/Berlin", holidays=frozenset({date(2026, 3, 30)})),
    BusinessCalendar.always(),
    # Periods around a skipped hour, and one ending at midnight.
    BusinessCalendar(timezone="America/New_York", working_days=frozenset(range(1, 8)),
                     hours=(WorkingPeriod(start=time(1), end=time(2, 45)),
                            WorkingPeriod(start=time(3), end=time(0)))),
)
INSTANTS = st.datetimes(min_value=datetime(2024, 12, 25), max_value=datetime(2027, 1, 5),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(calendar=st.sampled_from(CALENDARS), instants=st.lists(INSTANTS, min_size=1, max_size=8))
def test_positions_in_microseconds_are_the_year_positions(calendar: BusinessCalendar,
                                                          instants: list[datetime]) -> None:
    """Invariant: for any calendar and instants (in any order, across years), positions_us of
    their microseconds gives each one's year_position, and within one year the difference of
    two positions is between() of the two instants."""
    micros = [(when - EPOCH) // MICRO for when in instants]
    found = calendar.positions_us(micros)
    for when, us, (year, worked) in zip(instants, micros, found, strict=True):
        number, before = calendar.year_position(when)
        assert (year, worked) == (number, before // MICRO) == calendar.position_us(us)
    for (a, (year_a, worked_a)), (b, (year_b, worked_b)) in zip(
            zip(instants, found, strict=True), zip(instants[1:], found[1:], strict=True),
            strict=False):
        if year_a == year_b and a <= b:
            assert calendar.between(a, b) // MICRO == worked_b - worked_a
