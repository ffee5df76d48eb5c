"""Deadlines skip measuring business time at records that change no clock; prove it changes nothing.

The reference measures at every record (as the walk did before), the library only where a clock
starts, stops, pauses or resumes. Random histories with random gaps must give identical clock runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ACTORS, VALID, new_ticket

from escalation_fsm import EscalationError, EscalationMachine, ManualClock, Ticket
from escalation_fsm.sla import clock_runs, default_sla_policy
from escalation_fsm.sla import clocks as clocks_module


class _Everything(frozenset[str]):
    def __contains__(self, item: object) -> bool:
        return True


def _histories() -> st.SearchStrategy[Ticket]:
    steps = st.lists(st.tuples(st.sampled_from(sorted(VALID)), st.sampled_from(ACTORS),
                               st.integers(min_value=1, max_value=60 * 60 * 30)),
                     min_size=1, max_size=25)

    def build(plan: list[tuple[str, Any, int]]) -> Ticket:
        clock = ManualClock(datetime(2026, 3, 27, 15, 0, tzinfo=UTC))  # across Berlin's DST weekend
        machine = EscalationMachine(clock=clock)
        ticket = new_ticket()
        for trigger, actor, gap in plan:
            clock.advance(timedelta(seconds=gap))
            try:
                ticket = machine.fire(ticket, trigger, actor=actor, **VALID[trigger])
            except EscalationError:
                continue
        return ticket

    return steps.map(build)


@settings(max_examples=60, deadline=None)
@given(_histories(), st.integers(min_value=0, max_value=60 * 60 * 24 * 10))
def test_skipping_quiet_records_gives_the_same_clocks(ticket: Ticket, later: int) -> None:
    """Every clock run equals the one measured record by record."""
    policy = default_sla_policy()
    now = (ticket.history[-1].at if ticket.history else datetime(2026, 3, 27, tzinfo=UTC)) + timedelta(
        seconds=later)
    lazy = clock_runs(ticket, policy, now=now)
    original_init = clocks_module._Walk.__init__

    def measuring_everywhere(self: Any, *args: Any) -> None:
        original_init(self, *args)
        self.clock_triggers = _Everything()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clocks_module._Walk, "__init__", measuring_everywhere)
        eager = clock_runs(ticket, policy, now=now)
    assert lazy == eager
