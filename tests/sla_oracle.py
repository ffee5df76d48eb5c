"""The SLA clock walk as it was before the fold, kept as the oracle of the differential tests.

It recomputes every clock from the whole history, keyed by the default procedure's trigger names
(the policy's ``triggers`` setting of that release, with its defaults inlined below): tests may
name the default triggers, the library may not. ``tests/test_sla_fold.py`` checks that the fold
(``escalation_fsm.sla``) gives exactly these deadlines.

Original module docstring:

Deadlines computed from a ticket's own history, its SLA policy and a given time.

Nothing here is stored or remembered: the same ticket, policy and ``now`` always give the same
deadlines, so they are correct after a restart and for a ticket read from any store.

The history is walked record by record. Between two records the ticket sits in one stage, and
every open clock that the stage does not pause accumulates the business time of that stretch. Each
record may meet a clock (stop it), start one, or resume one, as the policy's
:class:`~escalation_fsm.sla.policy.SLATriggers` say.

A running clock's due time is fixed by the history (the instant its target is reached if nothing
else happens) and does not depend on ``now``; a paused clock has no due time until it runs again,
and its remaining time is frozen. So deadlines never move earlier as time passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from escalation_fsm.models import AuditRecord, Ticket
from escalation_fsm.sla import BusinessCalendar, Deadline, SLAClock, SLAPolicy

__all__ = ["clock_runs", "deadlines", "next_due"]


class _Names:
    """The default values of the removed ``SLAPolicy.triggers`` (``SLATriggers``)."""

    escalate = frozenset({"escalate"})
    tier2_update = frozenset({"follow_up"})
    customer_update = frozenset({"notify_customer", "follow_up"})
    promise = frozenset({"notify_customer"})
    resolve = frozenset({"resolve"})
    reopen = frozenset({"reopen"})
    interaction = frozenset({"record_interaction"})


_NAMES = _Names()

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_ELAPSED = BusinessCalendar.always()


@dataclass(slots=True)
class _Run:
    """One clock being walked through the history (mutable only inside this module)."""

    clock: SLAClock
    calendar: BusinessCalendar
    target: timedelta
    started_at: datetime
    since: datetime
    elapsed: timedelta = timedelta(0)
    reached_at: datetime | None = None
    paused: bool = False
    met_at: datetime | None = None
    history: list[Deadline] = field(default_factory=list)

    def advance(self, to: datetime, measured: dict[tuple[int, datetime, datetime], timedelta]) -> None:
        """Account for the time from ``since`` to ``to`` (nothing while paused or met).

        ``measured`` memoises business time per stretch: the clocks of one ticket mostly run
        over the same stretches, and measuring dominates the cost of a store's save.
        """
        if self.met_at is None and not self.paused and to > self.since:
            left = self.target - self.elapsed
            key = (id(self.calendar), self.since, to)
            gained = measured.get(key)
            if gained is None:
                gained = measured[key] = self.calendar.between(self.since, to)
            if self.reached_at is None and gained >= left:
                self.reached_at = self.calendar.add(self.since, left)
            self.elapsed += gained
        self.since = max(self.since, to)

    def due_at(self) -> datetime | None:
        if self.reached_at is not None:
            return self.reached_at
        if self.paused and self.met_at is None:
            return None  # depends on when it runs again
        # Running: fixed by the history. Met in time: when it would have fallen due.
        return self.calendar.add(self.since, self.target - self.elapsed)

    def snapshot(self) -> Deadline:
        remaining = self.target - self.elapsed
        return Deadline(clock=self.clock, started_at=self.started_at, target=self.target,
                        due_at=self.due_at(), remaining=remaining,
                        breached=remaining < timedelta(0),
                        paused=self.paused and self.met_at is None, met_at=self.met_at)


class _Walk:
    """The state of every clock while the history is replayed."""

    def __init__(self, ticket: Ticket, policy: SLAPolicy) -> None:
        self.ticket = ticket
        self.policy = policy
        self.open: dict[SLAClock, _Run] = {}
        self.done: list[Deadline] = []
        self.measured: dict[tuple[int, datetime, datetime], timedelta] = {}
        self.stage = ticket.history[0].source if ticket.history else ticket.stage
        # Triggers that start, meet or resume a clock; with stage changes, the only records
        # after which a clock's state differs.
        self.clock_triggers: frozenset[str] = frozenset().union(
            _NAMES.escalate, _NAMES.tier2_update, _NAMES.customer_update, _NAMES.promise,
            _NAMES.resolve, _NAMES.reopen, _NAMES.interaction)

    def start(self, clock: SLAClock, at: datetime, target: timedelta | None = None,
              calendar: BusinessCalendar | None = None) -> None:
        if target is None:
            target = self.policy.target(self.ticket.priority, clock)
        self.meet(clock, at)  # a clock started again ends its previous run
        if target is not None:
            self.open[clock] = _Run(clock=clock, calendar=calendar or self.policy.calendar,
                                    target=target, started_at=at, since=at,
                                    paused=clock in self.policy.paused(self.stage))

    def meet(self, clock: SLAClock, at: datetime) -> None:
        run = self.open.pop(clock, None)
        if run is not None:
            run.met_at = at
            self.done.append(run.snapshot())

    def advance(self, to: datetime) -> None:
        for run in self.open.values():
            run.advance(to, self.measured)

    def enter(self, stage: str) -> None:
        self.stage = stage
        paused = self.policy.paused(stage)
        for run in self.open.values():
            run.paused = run.clock in paused

    def record(self, record: AuditRecord) -> None:
        # Every instant in UTC: the same deadlines whether times were read back from JSON
        # (pydantic's TzInfo) or made in this process (another zone, or timezone.utc).
        at, trigger, names = record.at.astimezone(UTC), record.trigger, _NAMES
        if record.dest == record.source and trigger not in self.clock_triggers:
            # Nothing changes for any clock (a record_step, say): measuring now and at the next
            # change equals measuring once at the next change (business time is additive, a
            # tested property), and measuring per record made every store save O(history).
            return
        self.advance(at)
        if record.dest != record.source:
            self.meet(SLAClock.FIRST_RESPONSE, at)
        if trigger in names.resolve:
            for clock in (SLAClock.RESOLUTION, SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
                          SLAClock.PROMISED_RESPONSE):
                self.meet(clock, at)
        if trigger in names.reopen:
            self.resume_resolution(at)
        if trigger in names.tier2_update:
            self.meet(SLAClock.TIER2_UPDATE, at)
            self.meet(SLAClock.PROMISED_RESPONSE, at)
        if trigger in names.escalate:
            self.start(SLAClock.TIER2_UPDATE, at)
            self.start(SLAClock.CUSTOMER_UPDATE, at)
        elif trigger in names.customer_update and SLAClock.CUSTOMER_UPDATE in self.open:
            self.start(SLAClock.CUSTOMER_UPDATE, at)  # met now; the next update is due in turn
        elif trigger in names.interaction and SLAClock.CUSTOMER_UPDATE in self.open:
            rules = self.policy.interactions
            outbound = record.payload["direction"] == "outbound"
            if rules.outbound_is_update if outbound else rules.inbound_restarts_cadence:
                self.start(SLAClock.CUSTOMER_UPDATE, at)  # this period ends; a new one starts
        if trigger in names.promise:
            eta = record.payload.get("eta")
            if eta is not None:
                self.meet(SLAClock.PROMISED_RESPONSE, at)  # a new estimate replaces the old one
                calendar = self.policy.calendar if self.policy.promise_in_business_time else _ELAPSED
                self.start(SLAClock.PROMISED_RESPONSE, at, _DURATION.validate_python(eta), calendar)
        self.enter(record.dest)

    def resume_resolution(self, at: datetime) -> None:
        # The same run goes on: time spent resolved does not count, time before it still does.
        last = next((d for d in reversed(self.done) if d.clock is SLAClock.RESOLUTION), None)
        if last is None or SLAClock.RESOLUTION in self.open:
            return
        self.done.remove(last)
        elapsed = last.target - last.remaining
        self.open[SLAClock.RESOLUTION] = _Run(
            clock=SLAClock.RESOLUTION, calendar=self.policy.calendar, target=last.target,
            started_at=last.started_at, since=at, elapsed=elapsed,
            reached_at=last.due_at if last.remaining <= timedelta(0) else None)


def clock_runs(ticket: Ticket, policy: SLAPolicy, *, now: datetime) -> tuple[Deadline, ...]:
    """Every clock run of ``ticket`` as of ``now``, met ones included, ordered by start.

    A clock can run more than once (a customer update is due again after each one); for breach
    rates over a ticket's life. :func:`deadlines` keeps the latest run of each clock.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    now = now.astimezone(UTC)
    opened = ticket.opened_at or (ticket.history[0].at if ticket.history else None)
    if opened is None:
        return ()
    opened = opened.astimezone(UTC)
    walk = _Walk(ticket, policy)
    walk.start(SLAClock.FIRST_RESPONSE, opened)
    walk.start(SLAClock.RESOLUTION, opened)
    for record in ticket.history:
        walk.record(record)
    walk.advance(max(now, _walk_end(ticket, opened)))
    runs = [*walk.done, *(run.snapshot() for run in walk.open.values())]
    return tuple(sorted(runs, key=lambda d: (d.started_at, d.clock)))


def _walk_end(ticket: Ticket, opened: datetime) -> datetime:
    """The latest instant the history itself knows of (``now`` is never taken earlier)."""
    return max(opened, ticket.history[-1].at.astimezone(UTC)) if ticket.history else opened


def deadlines(ticket: Ticket, policy: SLAPolicy, *, now: datetime) -> tuple[Deadline, ...]:
    """The latest run of each SLA clock of ``ticket`` as of ``now``: open ones first, by due time.

    Each carries its due time, the business time remaining and whether it is breached. A ticket
    with neither ``opened_at`` nor history has no clocks.
    """
    latest: dict[SLAClock, Deadline] = {}
    for run in clock_runs(ticket, policy, now=now):
        latest[run.clock] = run
    return tuple(sorted(latest.values(), key=_order))


def _order(deadline: Deadline) -> tuple[bool, bool, datetime, str]:
    far = datetime.max.replace(tzinfo=UTC)
    return (not deadline.is_open, deadline.paused, deadline.due_at or far, deadline.clock.value)


def next_due(ticket: Ticket, policy: SLAPolicy) -> Deadline | None:
    """The open, running clock that falls due first, or ``None``.

    Its ``due_at`` depends only on the history and the policy, never on the time of asking, which
    is what lets a store index it when the ticket is saved.
    """
    opened = ticket.opened_at or (ticket.history[0].at if ticket.history else None)
    if opened is None:
        return None
    running = [d for d in deadlines(ticket, policy, now=_walk_end(ticket, opened))
               if d.is_open and not d.paused and d.due_at is not None]
    return min(running, key=lambda d: (d.due_at, d.clock.value), default=None)
