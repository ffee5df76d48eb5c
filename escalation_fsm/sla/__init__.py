"""SLA clocks in business time: a policy, a business calendar, and deadlines from ticket history.

* :class:`SLAPolicy`: targets per urgency (first response, Tier 2 update, customer-update cadence,
  resolution), the :class:`BusinessCalendar` they are measured in, and which stages pause which
  :class:`SLAClock`;
* which triggers start, meet and resume clocks is read from the spec's marks
  (:class:`~escalation_fsm.Mark`), never from trigger names;
* :func:`deadlines`: every clock of a ticket as of a given time, computed from the ticket's own
  history (also ``EscalationMachine.deadlines``); :func:`next_due` is what stores index;
* :class:`ClockState`: the same as a fold, one record at a time (``after``), which is what stores
  keep beside each ticket so that a save never walks the history.

Public holidays by country need the optional ``holidays`` package (the ``sla`` extra); explicit
holiday dates do not. See ``docs/sla.md``.
"""

from ..errors import HolidaysUnavailable
from .calendar import BusinessCalendar, WorkingPeriod
from .clocks import clock_runs, clock_state, deadlines, fold_records, next_due
from .fold import ClockRun, ClockState, Deadline, Meaning, meaning_of
from .holidays import PublicHolidays
from .policy import (
    DEFAULT_TARGETS,
    InteractionRules,
    SLAClock,
    SLAPolicy,
    SLATargets,
    default_sla_policy,
)
from .report import BreachRate, breach_rates, breach_rates_of_tickets

__all__ = [
    "DEFAULT_TARGETS",
    "BreachRate",
    "BusinessCalendar",
    "ClockRun",
    "ClockState",
    "Deadline",
    "HolidaysUnavailable",
    "InteractionRules",
    "Meaning",
    "PublicHolidays",
    "SLAClock",
    "SLAPolicy",
    "SLATargets",
    "WorkingPeriod",
    "breach_rates",
    "breach_rates_of_tickets",
    "clock_runs",
    "clock_state",
    "deadlines",
    "default_sla_policy",
    "fold_records",
    "meaning_of",
    "next_due",
]
