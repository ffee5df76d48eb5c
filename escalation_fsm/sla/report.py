"""SLA breach rates over many tickets (or replayed cases), per clock.

A clock run counts once its outcome is known: it was met (in time or late), or it is still open
but already over its target. Open runs still within target are not counted yet, so a rate never
improves merely because a late ticket has not been closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..models import Ticket
from ..spec import MachineSpec
from .clocks import Deadline, clock_runs
from .policy import SLAClock, SLAPolicy

__all__ = ["BreachRate", "breach_rates", "breach_rates_of_tickets"]


@dataclass(frozen=True, slots=True)
class BreachRate:
    """How often one clock was breached: ``breached`` of ``decided`` runs (``rate`` is ``None`` at 0)."""

    clock: SLAClock
    decided: int
    breached: int

    @property
    def rate(self) -> float | None:
        """``breached / decided``, or ``None`` when no run is decided yet."""
        return self.breached / self.decided if self.decided else None


def breach_rates(runs: Iterable[Deadline]) -> tuple[BreachRate, ...]:
    """Breach rates per clock over ``runs``, in :class:`SLAClock` order, clocks without runs left out."""
    decided = dict.fromkeys(SLAClock, 0)
    breached = dict.fromkeys(SLAClock, 0)
    for run in runs:
        if run.met_at is not None or run.breached:
            decided[run.clock] += 1
            breached[run.clock] += run.breached
    return tuple(BreachRate(clock, decided[clock], breached[clock]) for clock in SLAClock
                 if decided[clock])


def breach_rates_of_tickets(tickets: Iterable[Ticket], policy: SLAPolicy, spec: MachineSpec, *,
                            now: datetime) -> tuple[BreachRate, ...]:
    """Breach rates over every clock run of ``tickets`` (of ``spec``) as of ``now``."""
    return breach_rates(run for ticket in tickets
                        for run in clock_runs(ticket, policy, spec, now=now))
