"""What one stored ticket contributes to a review: its replay-style result and its people.

A stored ticket's history was committed through the machine, so it follows the procedure by
construction: its :class:`~escalation_fsm.replay.CaseResult` has no deviations, and it ``fits``
once it reached a final stage (``open`` before). Everything else is read from the history the
way the replay reads a log: what each record means comes from its trigger's marks in the spec.
"""

from __future__ import annotations

from datetime import datetime

from ..marks import Mark
from ..models import Ticket
from ..replay import CaseResult
from ..replay.training import TrainingCase
from ..sla import SLAPolicy, clock_runs
from ..spec import MachineSpec

__all__ = ["CaseReader", "start_of"]


def start_of(ticket: Ticket) -> datetime | None:
    """When the ticket's case starts: its ``opened_at``, else its first record (``None``: neither)."""
    if ticket.opened_at is not None:
        return ticket.opened_at
    return ticket.history[0].at if ticket.history else None


class CaseReader:
    """Reads stored tickets as review cases under one spec.

    What the spec's triggers mean is looked up once: a review reads every record of every ticket.
    """

    def __init__(self, spec: MachineSpec, sla: SLAPolicy | None = None) -> None:
        self.spec, self.sla = spec, sla
        self.finals = spec.finals
        self.moves = frozenset(t.key for t in spec.transitions)
        marked = {mark: frozenset(spec.marked(mark)) for mark in
                  (Mark.ATTEMPT, Mark.ESCALATE, Mark.RESOLVE, Mark.REOPEN)}
        self.attempting, self.escalating = marked[Mark.ATTEMPT], marked[Mark.ESCALATE]
        self.resolving, self.reopening = marked[Mark.RESOLVE], marked[Mark.REOPEN]

    def case(self, ticket: Ticket) -> CaseResult | None:
        """The ticket as the replay would report its case (``None``: it has no history)."""
        history = ticket.history
        start = start_of(ticket)
        if not history or start is None:
            return None
        seconds: dict[str, float] = {}
        finals = self.finals
        previous, stage = start, history[0].source
        escalated = reopened = False
        resolved_at = None
        for record in history:
            if stage not in finals:  # time in a final stage is not time anyone worked
                seconds[stage] = seconds.get(stage, 0.0) + (record.at - previous).total_seconds()
            trigger = record.trigger
            escalated = escalated or trigger in self.escalating
            reopened = reopened or trigger in self.reopening
            if trigger in self.resolving:
                resolved_at = record.at
            previous, stage = record.at, record.dest
        end = history[-1].at
        return CaseResult(
            case_id=ticket.id, status="fits" if ticket.stage in finals else "open",
            events=len(history), start=start, end=end, final_stage=ticket.stage, deviations=(),
            fired=tuple((r.source, r.trigger) for r in history
                        if (r.source, r.trigger) in self.moves),
            stage_seconds=seconds,
            category=None if ticket.category is None else str(ticket.category),
            priority=str(ticket.priority), escalated=escalated, reopened=reopened,
            resolved_at=resolved_at,
            sla_runs=() if self.sla is None else clock_runs(ticket, self.sla, self.spec, now=end),
        )

    def people(self, ticket: Ticket) -> TrainingCase:
        """Who took the ticket first (its first attempt), who resolved it, and how it went."""
        agent = resolver = None
        first_response = None
        escalated = resolved = reopened = False
        for record in ticket.history:
            trigger = record.trigger
            if trigger in self.attempting and agent is None:
                agent = record.actor_id
                if ticket.opened_at is not None:
                    first_response = (record.at - ticket.opened_at).total_seconds()
            escalated = escalated or trigger in self.escalating
            if trigger in self.resolving and resolver is None:
                resolver, resolved = record.actor_id, True
            elif trigger in self.reopening and resolved:
                reopened = True
        return TrainingCase(
            category=None if ticket.category is None else str(ticket.category), agent=agent,
            escalated=escalated, resolved_first_contact=resolved and not (escalated or reopened),
            first_response_seconds=first_response, resolver=resolver, reopened=reopened)
