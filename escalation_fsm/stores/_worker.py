"""A follow-up worker: claims due ladder steps from a store, acts on each once, and records it.

:class:`FollowUpWorker` is what ``escalation-fsm follow-up --run`` runs, and what a host embeds
when it wants its own process model. It is built once, and everything that would make a step
impossible to act on is refused then, all at once (:class:`~escalation_fsm.errors.FollowUpSetupError`):
a read-only store, ``notify`` steps with no notifier, ``callback`` steps naming a callback not
given. A pass (:meth:`FollowUpWorker.run_once`) claims up to ``batch`` due steps under a lease
and acts on each with :meth:`~escalation_fsm.stores.StoreBase.act_on`; :meth:`FollowUpWorker.run`
repeats passes until its ``stop`` event is set, waiting ``poll`` seconds when nothing is due,
and gives back the claims it has not acted on when it stops. Many workers, in many processes and
on many machines, share one database: see ``docs/following-up.md``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import FollowUpSetupError
from ..sla import DueStep, StepAction
from ._args import checked_id
from ._follow_up import MAX_CLAIMS, MAX_LEASE, Claim, Perform, StepOutcome

if TYPE_CHECKING:
    from ..models import Ticket
    from .base import StoreBase

__all__ = ["FollowUpWorker", "WorkerPass", "WorkerTotals"]


@dataclass(frozen=True, slots=True)
class WorkerPass:
    """What one pass of a worker did: its claims and the outcome of each it acted on.

    ``released`` is how many claims it gave back unacted (it was told to stop).
    """

    claims: tuple[Claim, ...] = ()
    outcomes: tuple[StepOutcome, ...] = ()
    released: int = 0

    @property
    def recorded(self) -> int:
        """How many steps it recorded (the others were stale, lost or released)."""
        return sum(outcome.recorded for outcome in self.outcomes)

    @property
    def counts(self) -> Counter[str]:
        """How many steps ended in each outcome (``done``, ``refused``, ``failed``, ...)."""
        return Counter(outcome.outcome for outcome in self.outcomes)


@dataclass(slots=True)
class WorkerTotals:
    """Running totals over a worker's passes (the progress line)."""

    passes: int = 0
    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, done: WorkerPass) -> None:
        """Count one pass."""
        self.passes += 1
        self.claimed += len(done.claims)
        self.outcomes.update(done.counts)

    def line(self) -> str:
        """``3 passes, 12 claimed: done 10, refused 1, failed 1``."""
        parts = ", ".join(f"{name} {number}" for name, number in sorted(self.outcomes.items()))
        return (f"{self.passes} pass{'es' if self.passes != 1 else ''}, {self.claimed} claimed"
                + (f": {parts}" if parts else ""))


class FollowUpWorker:
    """Acts on the due ladder steps of ``store`` as ``worker_id`` (see the module).

    ``notify`` is called with the ticket and the step of every ``notify`` step (the step's
    ``role`` says whom to tell); ``callbacks`` maps the names ``callback`` steps use to the
    host's functions, called the same way. A function that raises fails its step, which is
    recorded with the error and not tried again. ``lease`` is how long a claim is this worker's;
    it must be longer than acting on ``batch`` steps takes (a worker that overruns loses the
    rest of its claims, which another worker then acts on: nothing is recorded twice).
    """

    def __init__(self, store: StoreBase, worker_id: str, *, notify: Perform | None = None,
                 callbacks: Mapping[str, Perform] | None = None,
                 lease: timedelta = timedelta(seconds=60), batch: int = 10) -> None:
        self.store = store
        self.notify = notify
        self.callbacks = dict(callbacks or {})
        self.lease = lease
        self.batch = batch
        problems = self._problems(worker_id)
        if problems:
            raise FollowUpSetupError(problems)
        self.worker_id = worker_id

    def _problems(self, worker_id: str) -> list[str]:
        problems = []
        try:
            checked_id(worker_id, "worker_id")
        except ValueError as exc:
            problems.append(str(exc))
        if self.store.readonly:
            problems.append("the store is read-only: a worker records what it does")
        if type(self.batch) is not int or not 1 <= self.batch <= MAX_CLAIMS:
            problems.append(f"batch {self.batch!r} is not a whole number from 1 to {MAX_CLAIMS:,}")
        if not isinstance(self.lease, timedelta) or not timedelta(0) < self.lease <= MAX_LEASE:
            problems.append(f"lease {self.lease!r} is not a timedelta above zero and at most "
                            f"one day")
        for name, function in self.callbacks.items():
            if not callable(function):
                problems.append(f"callback {name!r} is a {type(function).__name__}, not callable")
        steps = self.store.machine.sla.ladder.every()
        if self.notify is None and (notifying := sorted(
                {f"{clock.value}/{step.name}" for clock, _, step in steps
                 if step.action is StepAction.NOTIFY})):
            problems.append(f"the ladder has notify steps ({', '.join(notifying)}) but no "
                            f"notifier was given")
        missing = sorted({step.callback for _, _, step in steps
                          if step.action is StepAction.CALLBACK and step.callback is not None
                          and step.callback not in self.callbacks})
        if missing:
            given = ", ".join(map(repr, sorted(self.callbacks))) or "none"
            problems.append(f"the ladder names callbacks {', '.join(map(repr, missing))} that "
                            f"were not given (given: {given})")
        return problems

    def _perform(self, ticket: Ticket, step: DueStep) -> None:
        if step.step.action is StepAction.NOTIFY:
            assert self.notify is not None  # noqa: S101 (checked when the worker was built)
            self.notify(ticket, step)
        else:
            assert step.step.callback is not None  # noqa: S101 (validated with the ladder)
            self.callbacks[step.step.callback](ticket, step)

    def run_once(self, *, by: datetime | None = None,
                 stop: Callable[[], bool] | None = None) -> WorkerPass:
        """One pass: claim up to ``batch`` steps due by ``by`` (default: now) and act on each.

        ``stop`` is asked before each step; once it says so, the claims not yet acted on are
        released and the pass ends.
        """
        claims = self.store.claim_due(self.worker_id, by=by, limit=self.batch, lease=self.lease)
        outcomes: list[StepOutcome] = []
        for position, claim in enumerate(claims):
            if stop is not None and stop():
                released = self.store.release(claims[position:])
                return WorkerPass(tuple(claims), tuple(outcomes), released)
            outcomes.append(self.store.act_on(claim, perform=self._perform))
        return WorkerPass(tuple(claims), tuple(outcomes))

    def drain(self, *, by: datetime | None = None, stop: Callable[[], bool] | None = None,
              on_pass: Callable[[WorkerPass], None] | None = None) -> WorkerTotals:
        """Passes until nothing is due by ``by`` (or ``stop``): what a cron job runs.

        It also ends after a pass that recorded nothing (every claim stale or lost to another
        worker), so that it never spins; the next run picks up what is left.
        """
        totals = WorkerTotals()
        while not (stop is not None and stop()):
            done = self.run_once(by=by, stop=stop)
            if not done.claims:
                break
            totals.add(done)
            if on_pass is not None:
                on_pass(done)
            if not done.recorded:
                break
        return totals

    def run(self, stop: threading.Event, *, poll: float = 5.0,
            by: Callable[[], datetime] | None = None,
            on_pass: Callable[[WorkerPass], None] | None = None) -> WorkerTotals:
        """Passes until ``stop`` is set, waiting ``poll`` seconds whenever nothing was due.

        ``by`` gives the instant each pass claims up to (default: the machine's clock). A step
        being acted on when ``stop`` is set is finished and recorded; the claims after it are
        released for other workers.
        """
        totals = WorkerTotals()
        while not stop.is_set():
            done = self.run_once(by=None if by is None else by(), stop=stop.is_set)
            if done.claims:
                totals.add(done)
                if on_pass is not None:
                    on_pass(done)
            if not done.recorded:  # nothing due, or only stale claims: do not spin
                stop.wait(poll)
        return totals
