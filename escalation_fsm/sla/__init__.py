"""SLA clocks in business time: a policy, a business calendar, and deadlines from ticket history.

* :class:`SLAPolicy`: targets per urgency (first response, Tier 2 update, customer-update cadence,
  resolution), the :class:`BusinessCalendar` they are measured in, and which stages pause which
  :class:`SLAClock`;
* which triggers start, meet and resume clocks is read from the spec's marks
  (:class:`~escalation_fsm.Mark`), never from trigger names;
* :func:`deadlines`: every clock of a ticket as of a given time, computed from the ticket's own
  history (also ``EscalationMachine.deadlines``); :func:`next_due` is what stores index;
* the escalation ladder (:class:`Ladder`, :class:`LadderStep`): steps at fractions of a target
  or offsets from the deadline, each naming an action; :func:`due_steps` and
  :func:`next_step_at` compute them from the folded clocks like deadlines (``docs/following-up.md``);
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
from .ladder import Ladder, LadderStep, StepAction
from .ladder_rules import clock_stages, escalating_transitions
from .policy import (
    DEFAULT_TARGETS,
    InteractionRules,
    SLAClock,
    SLAPolicy,
    SLATargets,
    default_sla_policy,
)
from .report import BreachRate, breach_rates, breach_rates_of_tickets
from .steps import DueStep, due_steps, ladder_steps, next_step, next_step_at, pending_steps, step_key

__all__ = [
    "DEFAULT_TARGETS",
    "BreachRate",
    "BusinessCalendar",
    "ClockRun",
    "ClockState",
    "Deadline",
    "DueStep",
    "HolidaysUnavailable",
    "InteractionRules",
    "Ladder",
    "LadderStep",
    "Meaning",
    "PublicHolidays",
    "SLAClock",
    "SLAPolicy",
    "SLATargets",
    "StepAction",
    "WorkingPeriod",
    "breach_rates",
    "breach_rates_of_tickets",
    "clock_runs",
    "clock_stages",
    "clock_state",
    "deadlines",
    "default_sla_policy",
    "due_steps",
    "escalating_transitions",
    "fold_records",
    "ladder_steps",
    "meaning_of",
    "next_due",
    "next_step",
    "next_step_at",
    "pending_steps",
    "step_key",
]
