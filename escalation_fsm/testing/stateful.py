"""A stateful property test of the procedure's guarantees that host projects subclass.

:class:`EscalationStateMachine` opens tickets and fires triggers through the host's machine, hooks
and optional store: a share of the firing steps drawn per run (half, 70% or 90%) pick an
allowed trigger with a payload that passes its guards, the others aim at a refusal (mostly a
defined trigger with a payload that one chosen guard refuses; also a forbidden role, a payload
the model rejects, an undefined trigger).
After every step it checks:

* every ticket's stage is a stage of the spec, and ``version`` == history length == commits seen;
* records already committed never change; a refused attempt changes nothing (ticket, store) and
  was refused for the right reason; the store holds exactly what the machine returned;
* every commit is in the **reference** (the spec under test, ``reference_spec``, or an approved
  snapshot, ``reference_snapshot``): declared from that stage, for that role, into that stage,
  with every guard the reference names passing when it fired, and the exact payload recorded;
* what the reference's **marks** promise is on the new ticket (an escalation raised the tier by
  one and tagged it for review, a resolution documented a solution, ...);
* only declared errors escape, no hook raised (unless ``allow_hook_failures``);
* ``temporal`` rules per ticket, and the host's :func:`ticket_invariant` / :func:`outcome_invariant`.

Every step is recorded (:mod:`.steps`), so a failure is re-raised by :meth:`run` (and by the
pytest ``TestCase``) with the minimal run as a ready pytest function; see :mod:`._runner`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

from hypothesis import settings as Settings  # noqa: N812 (hypothesis's own name for the class)
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pydantic import ValidationError

from ..clock import ManualClock
from ..errors import HookFailed, InvalidTransition, InvariantViolated, PermissionDenied, TransitionRefused
from ..machine import EscalationMachine
from ..models import Ticket
from ..policy import EscalationPolicy
from ..procedure import default_spec
from ..spec import MachineSpec, TransitionSpec
from . import _runner
from ._checker import Checker, Outcome, RunFailed, StoreLike
from ._checks import Reference
from ._choices import Chooser, as_json
from ._cover import actor_for
from ._decorators import host_rule, outcome_checks, outcome_invariant, ticket_checks, ticket_invariant
from ._examples import _EXAMPLE_TIME
from .coverage import CoverageReport
from .snapshot import SpecSnapshot
from .steps import Fire, Open, Step
from .strategies import (
    UNKNOWN_ROLE,
    UNKNOWN_TRIGGER,
    Hints,
    invalid_payloads,
    new_tickets,
    payloads,
    roles_of,
)
from .temporal import TemporalRule

__all__ = [
    "EscalationStateMachine",
    "InvariantViolated",
    "Outcome",
    "RunFailed",
    "StoreLike",
    "host_rule",
    "outcome_invariant",
    "ticket_invariant",
]

START = _EXAMPLE_TIME
_CHOICE = st.integers(0, 2519)
"""Choices are numbers taken modulo the options: the draw has the same shape in every state, so
when the shrinker deletes an earlier step a later one still picks the same thing where it can.
2520 is divisible by 1..10, so the pick is uniform over up to ten options."""

class EscalationStateMachine(RuleBasedStateMachine, Checker):
    """Subclass with your spec, hooks and store; ``TestX = YourClass.TestCase`` runs it in pytest.

    Class attributes: ``spec`` (``None``: the default procedure), ``reference_spec`` or
    ``reference_snapshot`` (what commits are judged against; default: ``spec``), ``policy``,
    ``hints`` (payload strategies per trigger), ``examples`` (payloads per trigger that pass the
    guards, for formats no generic candidate guesses), ``max_tickets``, ``allow_hook_failures``,
    ``declared_errors``, ``temporal`` (rules of :mod:`.temporal`), ``skip_checks`` (built-in
    check names your data legitimately breaks), ``require_coverage`` (``True`` or some of
    ``"transitions"``, ``"guards"``, ``"roles"``), ``drive_to_final``, ``shrink_with_hypothesis``.
    Methods to override: :meth:`register_hooks`, :meth:`make_store`, :meth:`make_machine`,
    :meth:`ticket_strategy`; add your own rules with :func:`host_rule`.
    """

    spec: ClassVar[MachineSpec | None] = None
    reference_spec: ClassVar[MachineSpec | None] = None
    reference_snapshot: ClassVar[str | os.PathLike[str] | SpecSnapshot | None] = None
    policy: ClassVar[EscalationPolicy | None] = None
    hints: ClassVar[Hints] = {}
    examples: ClassVar[Mapping[str, Sequence[Mapping[str, Any]]]] = {}
    max_tickets: ClassVar[int] = 2
    allow_hook_failures: ClassVar[bool] = False
    declared_errors: ClassVar[tuple[type[BaseException], ...]] = (
        InvalidTransition, PermissionDenied, TransitionRefused, ValidationError, HookFailed)
    temporal: ClassVar[Sequence[TemporalRule]] = ()
    skip_checks: ClassVar[frozenset[str]] = frozenset()
    require_coverage: ClassVar[bool | Collection[str]] = False
    drive_to_final: ClassVar[bool | None] = None
    """Drive open tickets to a final stage at the end (``None``: when an "eventually" rule needs it)."""
    shrink_with_hypothesis: ClassVar[bool] = False
    """Let hypothesis shrink a failure before the final pass (slow through a store: see the docs)."""

    TestCase = _runner.TestCaseProperty()  # type: ignore[assignment]  # ours runs run(), not hypothesis's

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        self.clock = ManualClock(START)
        self._tmp = None
        self.machine = self.make_machine()
        self.register_hooks(self.machine)
        self.store = self.make_store(self.machine)
        self.reference = cls.reference_of(self.machine.spec)
        self.tickets = {}
        self.committed = {}
        self.steps: list[Step] = []
        self._copies = {}
        self._clean = True
        self.allowed_share = 10
        self._roles = roles_of(self.machine.spec)
        self.chooser = Chooser(self.machine, self.examples)
        self._ticket_checks = ticket_checks(cls)
        self._outcome_checks = outcome_checks(cls)
        self.recorder = _runner.recorder_for(cls, self.machine.spec)
        self.recorder.runs += 1
        _runner.started(cls, self.steps)

    # -- what hosts override ------------------------------------------------------------------------

    def make_machine(self) -> EscalationMachine:
        """The machine under test (default: ``spec`` and ``policy`` with the run's manual clock)."""
        return EscalationMachine(self.spec, policy=self.policy, clock=self.clock)

    def register_hooks(self, machine: EscalationMachine) -> None:
        """Register the host's hooks on ``machine`` (default: none)."""

    def make_store(self, machine: EscalationMachine) -> StoreLike | None:
        """A store that fires through ``machine``, or ``None`` to fire on the machine.

        Called once per run, and again by :meth:`reopen_store`; put files in :attr:`tmp_path`.
        """
        return None

    def ticket_strategy(self, ticket_id: str) -> st.SearchStrategy[Ticket]:
        """New tickets to open with id ``ticket_id``, in the initial stage.

        By default one in five lacks its category or its details, so that the first guards are
        seen refusing.
        """
        complete = new_tickets(self.machine.spec, ids=st.just(ticket_id))
        return st.tuples(st.integers(0, 9), complete).map(lambda pair: _weakened(*pair))

    # -- the store's lifecycle ----------------------------------------------------------------------

    def close_store(self) -> None:
        """Close the store if it can be closed."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    def reopen_store(self) -> None:
        """Close the store and open it again with :meth:`make_store` (wrap it in a host rule).

        Every open ticket must read back exactly as the machine last returned it.
        """
        self.close_store()
        self.store = self.make_store(self.machine)
        for ticket in self.tickets.values():
            self.check_store(ticket, "after reopening the store")

    # -- running and replaying ----------------------------------------------------------------------

    @classmethod
    def reference_of(cls, spec: MachineSpec) -> Reference:
        """What commits are judged against: the snapshot, the reference spec, or ``spec`` itself."""
        if cls.reference_snapshot is not None and cls.reference_spec is not None:
            raise ValueError(f"{cls.__name__}: set reference_spec or reference_snapshot, not both")
        if cls.reference_snapshot is not None:
            return _runner.snapshot_for(cls.reference_snapshot)
        return spec if cls.reference_spec is None else cls.reference_spec

    @classmethod
    def run(cls, settings: Settings | None = None) -> CoverageReport:
        """Run as a property test; return the coverage report, or raise the minimal failure.

        A failure is re-raised as :class:`RunFailed` (an ``AssertionError``) naming the check and
        the step, with the minimal run (``.steps``) printed as a pytest function (``.test_source``).
        """
        return _runner.run(cls, settings)

    @classmethod
    def replay(cls, steps: Sequence[Step]) -> EscalationStateMachine:
        """Run ``steps`` on a fresh instance with every check, then the end-of-run checks.

        Raises what the run raised; returns the instance (its ``tickets``, ``store``) otherwise.
        """
        return _runner.replay(cls, steps)

    @classmethod
    def coverage(cls) -> CoverageReport:
        """The coverage report of the last :meth:`run` (or of every run so far).

        Of the spec the runs' machine had (``make_machine`` may build another than ``spec``).
        """
        found = _runner.last_recorder(cls)
        if found is None:
            found = _runner.recorder_for(cls, cls.spec if cls.spec is not None else default_spec())
        return found.report()

    # -- rules --------------------------------------------------------------------------------------

    @initialize(data=st.data(), allowed=st.sampled_from((10, 14, 18)))
    def open_first_ticket(self, data: st.DataObject, allowed: int) -> None:
        """Every run starts with one open ticket, and a share of allowed triggers of its own.

        Half, 70% or 90% of its firing steps are allowed triggers: runs that are mostly allowed
        go deep into the procedure, the others try many refusals (as hypothesis's swarm testing
        does with rules; one rule fires both, so that no run is stuck in the first stage).
        """
        self.allowed_share = allowed
        self._draw_open(data)

    @precondition(lambda self: len(self.tickets) < self.max_tickets)
    @rule(data=st.data())
    def open_ticket(self, data: st.DataObject) -> None:
        """Open another ticket (up to ``max_tickets``)."""
        self._draw_open(data)

    @rule(ticket=_CHOICE, aim=_CHOICE, move=_CHOICE, guard=_CHOICE, role=_CHOICE, pick=_CHOICE,
          data=st.data())
    def fire(self, ticket: int, aim: int, move: int, guard: int, role: int, pick: int,  # noqa: PLR0917
             data: st.DataObject) -> None:
        """Fire a trigger: half the time one allowed now, else one aimed at a refusal.

        An allowed trigger gets a permitted role and a payload that passes its guards. A refusal
        is mostly one chosen guard of a defined trigger, sometimes a forbidden role, a payload the
        model rejects or a trigger not defined from the stage.

        One rule for both: hypothesis's swarm testing switches whole rules off in some runs, and
        a run that could only be refused would never leave the first stage.
        """
        ticket_id = self._pick(ticket)
        current = self.tickets[ticket_id]
        # aim % 20 below the run's share: allowed (shrinking goes to 0). Else the refusal is
        # (aim // 20) % 10: 0-6 guard (small numbers and the upper bound, which hypothesis
        # favours, among them), 7 role, 8 payload, 9 undefined.
        step = (self._allowed(current, move, role, pick, data) if aim % 20 < self.allowed_share
                else self._refused(current, (aim // 20) % 10, move, guard, role, data))
        if step is not None:
            self.run_step(step)

    def _allowed(self, ticket: Ticket, move: int, role: int, pick: int, data: st.DataObject) -> Fire | None:
        defined = self.machine.spec.transitions_from(ticket.stage)
        permitted = self.machine.allowed(ticket)
        options = [t for t in defined if t.trigger in permitted] or list(defined)
        if not options:
            return None  # a final stage without outgoing transitions
        transition = options[move % len(options)]
        roles = sorted(map(str, transition.roles))
        actor = actor_for(roles[role % len(roles)])
        payload = data.draw(payloads(self.machine.spec, transition.trigger, hints=self.hints))
        if not self.machine.explain(ticket, transition.trigger, actor=actor, **payload).ok:
            passing = self.chooser.passing(ticket, transition.trigger, actor)
            payload = passing[pick % len(passing)] if passing else payload
        model = self.machine.spec.trigger(transition.trigger).payload
        return Fire(ticket.id, transition.trigger, actor.role, as_json(model, payload))

    def _refused(self, ticket: Ticket, kind: int, move: int, guard: int, role: int,  # noqa: PLR0917
                 data: st.DataObject) -> Fire:
        defined = list(self.machine.spec.transitions_from(ticket.stage))
        step: Fire | None = None
        transition = defined[move % len(defined)] if defined else None
        if transition is not None and kind <= 6:
            # The chosen transition first, then the others: a guard that can refuse now.
            rotated = defined[move % len(defined):] + defined[:move % len(defined)]
            step = next((found for t in rotated
                         if (found := self._guard_refusal(ticket, t, guard, role)) is not None), None)
        if transition is not None and step is None and kind <= 7:
            step = self._role_refusal(ticket, transition, role)
        if transition is not None and step is None and kind <= 8:
            invalid = invalid_payloads(self.machine.spec, transition.trigger)
            if not invalid.is_empty:
                roles = sorted(map(str, transition.roles))
                step = Fire(ticket.id, transition.trigger, roles[role % len(roles)], data.draw(invalid))
        if step is None:
            names = {t.trigger for t in defined}
            undefined = [n for n in (*self.machine.spec.trigger_names, UNKNOWN_TRIGGER) if n not in names]
            step = Fire(ticket.id, undefined[move % len(undefined)], self._roles[role % len(self._roles)])
        return step

    def _guard_refusal(self, ticket: Ticket, transition: TransitionSpec, guard: int,
                       role: int) -> Fire | None:
        """The transition with a payload one guard refuses, or ``None``.

        The guards are the *reference's*, so that a guard the spec under test dropped is aimed
        at too (and its commit reported).
        """
        approved = self.reference.transition(transition.source, transition.trigger)
        names = transition.guards if approved is None else approved.guards
        guards = [found for name in names if (found := self.reference_guard(name)) is not None]
        if not guards:
            return None
        roles = sorted(map(str, transition.roles))
        actor = actor_for(roles[role % len(roles)])
        count = len(guards)
        for offset in range(count):  # the chosen guard first; one that can refuse now otherwise
            name = guards[(guard + offset) % count].name
            payload = self.chooser.refusal(ticket, transition.trigger, guards, name, actor)
            if payload is not None:
                return Fire(ticket.id, transition.trigger, actor.role, payload)
        return None

    def _role_refusal(self, ticket: Ticket, transition: TransitionSpec, role: int) -> Fire | None:
        forbidden = [r for r in (*self._roles, UNKNOWN_ROLE) if r not in transition.roles]
        if not forbidden:
            return None
        allowed = actor_for(sorted(map(str, transition.roles))[0])
        passing = self.chooser.passing(ticket, transition.trigger, allowed)
        payload = passing[0] if passing else {}
        return Fire(ticket.id, transition.trigger, forbidden[role % len(forbidden)], payload)

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def procedure_holds(self) -> None:
        """The built-in invariants, then the host's ticket invariants, on every open ticket."""
        self._clean = False
        self.check_tickets()
        self._clean = True

    def teardown(self) -> None:
        """Finish the run (end-of-run checks, unless a step failed), close the store, clean up."""
        try:
            if self._clean:
                self.finish()
        finally:
            try:
                self.close_store()
            finally:
                if self._tmp is not None:
                    self._tmp.cleanup()
                    self._tmp = None

    # -- internals ----------------------------------------------------------------------------------

    def _pick(self, choice: int) -> str:
        # One draw of the same shape whatever the number of open tickets (see _CHOICE).
        ids = sorted(self.tickets, key=lambda i: int(i.removeprefix("T-")))
        return ids[choice % len(ids)]

    def _draw_open(self, data: st.DataObject) -> None:
        ticket_id = f"T-{len(self.tickets) + 1}"
        ticket = data.draw(self.ticket_strategy(ticket_id))
        fields = ticket.model_dump(mode="json", exclude={"id"}, exclude_defaults=True)
        if ticket.stage == self.machine.spec.initial:
            fields.pop("stage", None)
        self.run_step(Open(ticket_id, **fields))


def _weakened(choice: int, ticket: Ticket) -> Ticket:
    """``ticket`` without its category (choice 4) or details (5), else as drawn.

    Shrinking goes to 0, and hypothesis favours the bounds 0 and 9: neither weakens.
    """
    if choice == 4:
        return ticket.model_copy(update={"category": None})
    if choice == 5:
        return ticket.model_copy(update={"details": ""})
    return ticket

