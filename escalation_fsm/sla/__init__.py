"""SLA clocks in business time: a policy, a business calendar, and deadlines from ticket history.

* :class:`SLAPolicy`: targets per urgency (first response, Tier 2 update, customer-update cadence,
  resolution), the :class:`BusinessCalendar` they are measured in, and which stages pause which
  :class:`SLAClock`;
* :func:`deadlines`: every clock of a ticket as of a given time, computed from the ticket's own
  history (also ``EscalationMachine.deadlines``); :func:`next_due` is what stores index.

Public holidays by country need the optional ``holidays`` package (the ``sla`` extra); explicit
holiday dates do not. See ``docs/sla.md``.
"""

from .calendar import BusinessCalendar, WorkingPeriod
from .clocks import Deadline, clock_runs, deadlines, next_due
from .holidays import HolidaysUnavailable, PublicHolidays
from .policy import DEFAULT_TARGETS, SLAClock, SLAPolicy, SLATargets, SLATriggers, default_sla_policy
from .report import BreachRate, breach_rates, breach_rates_of_tickets

__all__ = [
    "DEFAULT_TARGETS",
    "BreachRate",
    "BusinessCalendar",
    "Deadline",
    "HolidaysUnavailable",
    "PublicHolidays",
    "SLAClock",
    "SLAPolicy",
    "SLATargets",
    "SLATriggers",
    "WorkingPeriod",
    "breach_rates",
    "breach_rates_of_tickets",
    "clock_runs",
    "deadlines",
    "default_sla_policy",
    "next_due",
]
