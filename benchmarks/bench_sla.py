"""Cost of computing a ticket's next deadline (what every store save indexes) by history length.

Run on demand:  python benchmarks/bench_sla.py

Each save recomputes ``next_due`` from the whole history, so its cost grows with the history;
records that change no clock (record_step and other self-loops outside the policy's triggers) are
skipped without measuring business time.
"""

from __future__ import annotations

import statistics
import timeit
from datetime import UTC, datetime, timedelta

from escalation_fsm import Actor, Category, EscalationMachine, ManualClock, Role, Ticket, Trigger
from escalation_fsm.sla import next_due


def main() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC), tick=timedelta(minutes=7))
    machine = EscalationMachine(clock=clock)
    agent = Actor(id="a-1", role=Role.AGENT)
    ticket = machine.fire(Ticket(id="T-1", customer_id="C-1", category=Category.TECHNICAL,
                                 details="d"), Trigger.ATTEMPT, actor=agent)
    print("history records  next_due per call")
    for size in (1, 20, 200, 2000):
        while len(ticket.history) < size:
            ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=agent, step="Checked KB-1")
        number = max(20, 20_000 // size)
        runs = timeit.repeat(lambda t=ticket: next_due(t, machine.sla), number=number, repeat=5)
        print(f"{len(ticket.history):15,d}  {statistics.median(runs) / number * 1e6:10.1f} us")


if __name__ == "__main__":
    main()
