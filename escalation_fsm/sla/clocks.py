"""Deadlines computed from a ticket's own history, its SLA policy, its spec and a given time.

Nothing here is stored or remembered: the same ticket, policy, spec and ``now`` always give the
same deadlines, so they are correct after a restart and for a ticket read from any store. Each
function folds the history record by record (:mod:`escalation_fsm.sla.fold`); stores keep the
folded :class:`~escalation_fsm.sla.fold.ClockState` beside each ticket and fold one record per
save instead.

A running clock's due time is fixed by the history (the instant its target is reached if nothing
else happens) and does not depend on ``now``; a paused clock has no due time until it runs again,
and its remaining time is frozen. So deadlines never move earlier as time passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from ..bounds import MIGRATE_TRIGGER
from ..models import AuditRecord, Ticket
from ..spec import MachineSpec
from .fold import ClockRun, ClockState, Deadline, Meaning, meaning_of
from .policy import SLAPolicy

__all__ = ["Deadline", "clock_runs", "clock_state", "deadlines", "next_due"]


def clock_state(ticket: Ticket, policy: SLAPolicy, spec: MachineSpec,
                done: list[ClockRun] | None = None) -> ClockState:
    """The clock state after folding the whole history of ``ticket`` (``done`` collects met runs)."""
    return fold_records(ticket.history, ticket.history[0].source if ticket.history else ticket.stage,
                        ticket.opened_at, policy=policy, spec=spec, done=done)


def fold_records(records: Iterable[AuditRecord], stage: str, opened_at: datetime | None, *,
                 policy: SLAPolicy, spec: MachineSpec,
                 done: list[ClockRun] | None = None) -> ClockState:
    """Fold ``records`` into the clocks of a ticket opened at ``opened_at`` in ``stage``.

    Records written before a migration that renamed triggers are read under their new names'
    marks (the migration records say which names changed).
    """
    records = tuple(records)
    meanings = _meanings(records, meaning_of(spec))
    state = ClockState.start(stage, opened_at, policy)
    for record, meaning in zip(records, meanings, strict=True):
        state = state.after(record, policy, meaning, done)
    return state


def _meanings(records: tuple[AuditRecord, ...], meaning: Meaning) -> list[Meaning]:
    """The meaning each record is read with: through the renames of the migrations after it."""
    if not any(r.trigger == MIGRATE_TRIGGER and r.payload.get("triggers") for r in records):
        return [meaning] * len(records)
    found: list[Meaning] = []
    alias: dict[str, str] = {}  # a name as written -> the name it has now
    current = meaning
    for record in reversed(records):
        found.append(current)
        renames = record.payload.get("triggers") if record.trigger == MIGRATE_TRIGGER else None
        if isinstance(renames, Mapping) and renames:
            alias = {name: alias.get(str(renames.get(name, name)), str(renames.get(name, name)))
                     for name in {*renames, *alias}}
            current = {**meaning, **{old: meaning.get(new, 0) for old, new in alias.items()}}
    found.reverse()
    return found


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    return now.astimezone(UTC)


def clock_runs(ticket: Ticket, policy: SLAPolicy, spec: MachineSpec, *,
               now: datetime) -> tuple[Deadline, ...]:
    """Every clock run of ``ticket`` as of ``now``, met ones included, ordered by start.

    A clock can run more than once (a customer update is due again after each one); for breach
    rates over a ticket's life. :func:`deadlines` keeps the latest run of each clock.
    """
    now = _aware(now)
    done: list[ClockRun] = []
    state = clock_state(ticket, policy, spec, done)
    runs = [*done, *(run for run in state.runs(policy, now=now) if run.met_at is None)]
    found = []
    for run in runs:
        target = run.target(policy, ticket.priority)
        if target is not None:
            found.append(run.deadline(policy, target))
    return tuple(sorted(found, key=lambda d: (d.started_at, d.clock)))


def deadlines(ticket: Ticket, policy: SLAPolicy, spec: MachineSpec, *,
              now: datetime) -> tuple[Deadline, ...]:
    """The latest run of each SLA clock of ``ticket`` as of ``now``: open ones first, by due time.

    Each carries its due time, the business time remaining and whether it is breached. A ticket
    with neither ``opened_at`` nor history has no clocks. ``spec`` says, by its triggers' marks,
    which records start, meet and resume clocks.
    """
    return clock_state(ticket, policy, spec).deadlines(policy, ticket.priority, now=_aware(now))


def next_due(ticket: Ticket, policy: SLAPolicy, spec: MachineSpec) -> Deadline | None:
    """The open, running clock that falls due first, or ``None``.

    Its ``due_at`` depends only on the history and the policy, never on the time of asking, which
    is what lets a store index it when the ticket is saved.
    """
    return clock_state(ticket, policy, spec).next_due(policy, ticket.priority)
