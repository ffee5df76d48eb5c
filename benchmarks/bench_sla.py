"""Cost of folding one more record into a ticket's SLA clocks and reading its next deadline (what
every store save does), by history length, and of the business-time arithmetic underneath, by span.

Run on demand:  python benchmarks/bench_sla.py

The first table folds one record into a ticket's stored clock state and asks for the next
deadline (``ClockState.after`` then ``next_due_at``), for the two kinds of record a save meets: a
step (no clock changes) and a customer update (the cadence clock restarts). It sits next to
recomputing the same deadline from the whole history (``sla.next_due``), what every save did
before the fold, measured in the same run. The goal: under 10 us whatever the history's length.

The second table times ``BusinessCalendar.add`` and ``between`` over spans of one day and one year
against the day-by-day algorithm they replaced (tests/calendar_oracle.py), in the same run: the
tables make a call cost the same whatever the span.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType

from escalation_fsm import (
    Actor,
    Assessment,
    Category,
    EscalationMachine,
    ManualClock,
    Role,
    Ticket,
    Trigger,
)
from escalation_fsm.sla import BusinessCalendar, PublicHolidays, clock_state, meaning_of, next_due


def fold_by_history() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC), tick=timedelta(minutes=7))
    machine = EscalationMachine(clock=clock)
    agent = Actor(id="a-1", role=Role.AGENT)
    ticket = machine.fire(Ticket(id="T-1", customer_id="C-1", category=Category.TECHNICAL,
                                 details="d", opened_at=clock.now()), Trigger.ATTEMPT, actor=agent)
    ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=agent, step="Checked KB-1")
    ticket = machine.fire(ticket, Trigger.ESCALATE, actor=agent, summary="Tier 2 please",
                          assessment=Assessment(complexity="high", frustration="low", urgency="high"))
    policy, meaning = machine.sla, meaning_of(machine.spec)
    step = machine.fire(ticket, Trigger.RECORD_STEP, actor=agent, step="More").history[-1]
    update = machine.fire(ticket, Trigger.NOTIFY_CUSTOMER, actor=agent,
                          message="Still on it").history[-1]
    print("history   fold a step + next due   fold an update + next due   recompute next due"
          "   recompute/fold")
    for size in (10, 100, 1_000, 10_000):
        while len(ticket.history) < size:
            ticket = machine.fire(ticket, Trigger.FOLLOW_UP, actor=agent, update="u",
                                  customer_message="m")
        state = clock_state(ticket, policy, machine.spec)
        figures = []
        for kind in (step, update):
            record = kind.model_copy(update={"seq": ticket.version + 1})
            figures.append(_per_call(
                lambda r=record, s=state, p=ticket.priority:
                    s.after(r, policy, meaning).next_due_at(policy, p)))
        recompute = _per_call(lambda t=ticket: next_due(t, policy, machine.spec), budget=0.5)
        print(f"{len(ticket.history):7,d}   {figures[0]:19.2f} us   {figures[1]:22.2f} us   "
              f"{recompute:15.1f} us   {recompute / figures[1]:13.0f}x")


def _oracle_module() -> ModuleType:
    # By path: tests/ is not a package, and the oracle is a test helper, not part of the library.
    path = Path(__file__).resolve().parent.parent / "tests" / "calendar_oracle.py"
    spec = importlib.util.spec_from_file_location("calendar_oracle", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # pydantic resolves the subclass's annotations through it
    spec.loader.exec_module(module)
    return module


def _per_call(call: Callable[[], object], budget: float = 0.2) -> float:
    """Median microseconds per call over 7 repeats of about ``budget`` seconds, after a warm-up."""
    call()   # builds the year tables (and the oracle's day cache): steady state is what counts
    number = max(1, int(budget / max(timeit.timeit(call, number=1), 1e-7)))
    return statistics.median(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def arithmetic_by_span() -> None:
    oracle = _oracle_module().oracle
    calendars = {
        "Berlin 9-17": BusinessCalendar(timezone="Europe/Berlin"),
        "Berlin 9-17 + DE holidays": BusinessCalendar(
            timezone="Europe/Berlin", public_holidays=PublicHolidays(country="DE", subdivision="BE")),
    }
    start = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)   # a Monday; a year on spans both DST changes
    print()
    print("calendar                    call     span     tables     oracle   oracle/tables")
    for name, new in calendars.items():
        old = oracle(new)
        for span_name, span in (("1 day", timedelta(days=1)), ("1 year", timedelta(days=365))):
            end = start + span
            duration = new.between(start, end)   # the business time that reaches ``end``
            assert new.add(start, duration) == old.add(start, duration)
            assert duration == old.between(start, end)
            for call_name, args in (("add", (start, duration)), ("between", (start, end))):
                fast, slow = (_per_call(partial(getattr(cal, call_name), *args)) for cal in (new, old))
                print(f"{name:26s}  {call_name:7s}  {span_name:6s}  {fast:7.2f} us  {slow:7.1f} us"
                      f"  {slow / fast:10.0f}x")


def main() -> None:
    fold_by_history()
    arithmetic_by_span()


if __name__ == "__main__":
    main()
