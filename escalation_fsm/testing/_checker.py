"""What the stateful base does with one recorded step, and every check it makes afterwards.

Split from :mod:`.stateful` (which holds the rules hypothesis draws and the API hosts override):
this mixin executes :class:`~.steps.Open` and :class:`~.steps.Fire` steps, whether drawn by
hypothesis or replayed from a list, and raises :class:`RunFailed` naming the check that failed and
the step it failed at.
"""

from __future__ import annotations

import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..clock import ManualClock
from ..errors import HookFailed, InvalidTransition, InvariantViolated, PermissionDenied
from ..machine import EscalationMachine
from ..marks import Mark
from ..models import Actor, Ticket
from ..spec import GuardSpec, MachineSpec
from ._checks import Problem, Reference, mark_problems, review_tag_problems, table_problems
from ._cover import actor_for, cover_machine, explore
from .coverage import CoverageRecorder
from .steps import Fire, Open, Step
from .temporal import TemporalRule, check_temporal

__all__ = ["FAILURES", "TICK", "Checker", "Outcome", "RunFailed", "StoreLike"]

TICK = timedelta(minutes=1)
"""How far the base's clock moves before every attempt (host rules may move it further)."""


FAILURES: weakref.WeakKeyDictionary[type, tuple[float, int]] = weakref.WeakKeyDictionary()
"""When each state machine class first failed since its run started, and after how many steps."""


class RunFailed(InvariantViolated):
    """A check failed during a stateful run or a replay.

    ``check`` names it (a built-in check, a host invariant's method name, ``hook <name>``, a
    temporal rule); ``step`` is the 1-based number of the step it failed at (``None``: at the end
    of the run); ``detail`` is what was wrong. The runner adds ``steps`` (the minimal run) and
    ``test_source`` (it as a pytest function) when it re-raises a failure.
    """

    def __init__(self, check: str, step: int | None, detail: str) -> None:
        self.check = check
        self.step = step
        self.detail = detail
        self.steps: tuple[Step, ...] = ()
        self.test_source = ""
        self.stats: dict[str, float] = {}
        where = f"step {step}" if step is not None else "the end of the run"
        super().__init__(f"check {check!r} failed at {where}: {detail}")


class StoreLike(Protocol):
    """What the base needs of a store (the method names of ``escalation_fsm.stores.TicketStore``)."""

    def create(self, ticket: Ticket) -> Any:
        """Store a new ticket."""

    def get(self, ticket_id: str) -> Any:
        """The stored ticket."""

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Any:
        """Fire ``trigger`` on the stored ticket and save the result."""

    def history(self, ticket_id: str) -> Any:
        """The stored audit records, oldest first."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one fired trigger did: ``after`` is ``None`` and ``error`` set when nothing committed.

    After a committed transition whose after-hooks failed (``allow_hook_failures``), both are set.
    """

    ticket_id: str
    trigger: str
    actor: Actor
    payload: Mapping[str, Any] = field(hash=False)
    before: Ticket
    after: Ticket | None
    error: BaseException | None

    @property
    def committed(self) -> bool:
        """Whether the trigger committed a transition."""
        return self.after is not None


class Checker:
    """Executes steps and checks them; mixed into :class:`~.stateful.EscalationStateMachine`."""

    clock: ManualClock
    machine: EscalationMachine
    store: StoreLike | None
    reference: Reference
    tickets: dict[str, Ticket]
    committed: dict[str, int]
    steps: list[Step]
    recorder: CoverageRecorder
    allow_hook_failures: ClassVar[bool]
    declared_errors: ClassVar[tuple[type[BaseException], ...]]
    temporal: ClassVar[Sequence[TemporalRule]]
    skip_checks: ClassVar[frozenset[str]]
    drive_to_final: ClassVar[bool | None]
    examples: ClassVar[Mapping[str, Sequence[Mapping[str, Any]]]]
    _copies: dict[str, list[str]]
    _ticket_checks: list[Callable[[Any, Ticket], None]]
    _outcome_checks: list[Callable[[Any, Outcome], None]]
    _clean: bool
    _tmp: tempfile.TemporaryDirectory[str] | None

    @property
    def tmp_path(self) -> Path:
        """A private directory for this run (a store's files), removed at teardown."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="escalation-run-")
        return Path(self._tmp.name)

    # -- failing ------------------------------------------------------------------------------------

    def fail(self, check: str, detail: str | Callable[[], str], *, at_end: bool = False,
             cause: BaseException | None = None) -> None:
        """Raise :class:`RunFailed` for ``check`` (unless the host skips it) at the current step."""
        if check in self.skip_checks:
            return
        FAILURES.setdefault(type(self), (time.perf_counter(), len(self.steps)))
        raise RunFailed(check, None if at_end else len(self.steps),
                        detail if isinstance(detail, str) else detail()) from cause

    def _expect(self, condition: bool, check: str, detail: str | Callable[[], str]) -> None:
        # Messages that repr whole tickets are built only on failure (a lambda).
        if not condition:
            self.fail(check, detail)

    def _problems(self, problems: list[Problem], prefix: str) -> None:
        for check, detail in problems:
            self.fail(check, f"{prefix}: {detail}")

    # -- steps --------------------------------------------------------------------------------------

    def run_step(self, step: Step) -> None:
        """Record ``step`` and execute it (an :class:`Open` or a :class:`Fire`) with every check."""
        self.steps.append(step)
        self._clean = False
        if isinstance(step, Open):
            self._open(step)
        elif isinstance(step, Fire):
            self._fire(step)
        else:
            raise TypeError(f"run_step executes Open and Fire steps; call host rules directly: {step!r}")
        self._clean = True

    def _open(self, step: Open) -> None:
        fields = {"stage": self.machine.spec.initial, **step.fields}
        ticket = Ticket(id=step.ticket_id, **fields)
        if step.ticket_id in self.tickets:
            raise ValueError(f"{step!r}: ticket {step.ticket_id} is already open")
        if self.store is not None:
            self.store.create(ticket)
        self.tickets[ticket.id] = ticket
        self.committed[ticket.id] = len(ticket.history)
        self._copies[ticket.id] = [r.model_dump_json() for r in ticket.history]

    def _apply(self, ticket: Ticket, trigger: str, actor: Actor, payload: Mapping[str, Any]) -> Ticket:
        if self.store is None:
            return self.machine.fire(ticket, trigger, actor=actor, **payload)
        result = self.store.apply(ticket.id, trigger, actor=actor, **payload)
        return result if isinstance(result, Ticket) else self.store.get(ticket.id)

    def _fire(self, step: Fire) -> None:
        if step.ticket_id not in self.tickets:
            raise KeyError(f"{step!r}: ticket {step.ticket_id} was never opened")
        before = self.tickets[step.ticket_id]
        actor = actor_for(step.role)
        what = f"{step.ticket_id} in {before.stage!r}: {step.trigger!r} by {step.role!r}" + (
            f" with {step.payload!r}" if step.payload else "")
        self.clock.advance(TICK)
        snapshot = before.model_dump_json()  # JSON, not a copy: a copy would share the records it checks
        after: Ticket | None = None
        error: BaseException | None = None
        undeclared = False
        try:
            after = self._apply(before, step.trigger, actor, step.payload)
        except HookFailed as exc:
            error = exc
            after = exc.ticket if exc.phase == "after" and isinstance(exc.ticket, Ticket) else None
        except self.declared_errors as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 (an undeclared error is a finding, reported below)
            error, undeclared = exc, True
        self.recorder.attempt(before.stage, step.trigger, step.role, error, committed=after is not None)
        if isinstance(error, HookFailed) and not self.allow_hook_failures:
            names = ", ".join(name.rsplit(".<locals>.", 1)[-1] for name, _ in error.failures)
            self.fail(f"hook {names}", f"{what}: {error}", cause=error)
        if undeclared and error is not None:
            self.fail("undeclared-error", f"{what}: undeclared error {type(error).__name__}: {error}",
                      cause=error)
        self._expect(before.model_dump_json() == snapshot, "unchanged-input",
                     lambda: f"{what}: the ticket passed in was changed:\n  was {snapshot}\n"
                             f"  now {before.model_dump_json()}")
        self._check_history(what, before)
        if after is None:
            self._check_refusal(what, before, step, error)
        else:
            self._check_commit(what, before, after, step, actor)
        outcome = Outcome(step.ticket_id, step.trigger, actor, step.payload, before, after, error)
        for check in self._outcome_checks:
            self._host_check(check, outcome, what)

    def _host_check(self, check: Callable[[Any, Any], None], value: object, what: str) -> None:
        try:
            check(self, value)
        except Exception as exc:  # noqa: BLE001 (a host check failing in any way is reported by name)
            name = getattr(check, "__name__", repr(check))
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.fail(name, f"{what}: {detail}", cause=exc)

    # -- checks -------------------------------------------------------------------------------------

    def _check_history(self, what: str, ticket: Ticket) -> None:
        """Records committed earlier are unchanged (hooks see them and could mutate them)."""
        copies = self._copies[ticket.id]
        for seq, (record, copy) in enumerate(zip(ticket.history, copies, strict=False), start=1):
            now = record.model_dump_json()
            if now != copy:
                self.fail("history-immutable", f"{what}: history record {seq} of {ticket.id} changed "
                                               f"after it was committed:\n  was {copy}\n  now {now}")

    def _check_refusal(self, what: str, before: Ticket, step: Fire, error: BaseException | None) -> None:
        transition = self.machine.spec.transition(before.stage, step.trigger)
        if isinstance(error, InvalidTransition):
            self._expect(transition is None, "refusal-kind", f"{what}: InvalidTransition, but the spec "
                                                             f"defines it")
        elif isinstance(error, PermissionDenied):
            self._expect(transition is not None and step.role not in transition.roles, "refusal-kind",
                         f"{what}: PermissionDenied, but the role is allowed")
        if self.store is not None:
            self.check_store(before, what)

    def _check_commit(self, what: str, before: Ticket, after: Ticket, step: Fire, actor: Actor) -> None:
        spec = self.machine.spec
        transition = spec.transition(before.stage, step.trigger)
        if transition is None or actor.role not in transition.roles:
            self.fail("commit-declared", f"{what}: committed, but the spec does not allow it")
            return
        self._expect(after.version == before.version + 1 == len(after.history), "commit-declared",
                     f"{what}: committed, but version went {before.version} -> {after.version} with "
                     f"{len(after.history)} record(s)")
        self._expect(after.history[:-1] == before.history, "commit-declared",
                     f"{what}: committing changed earlier history records")
        record = after.history[-1]
        self._expect((record.trigger, record.source, record.dest, record.actor_id, record.actor_role)
                     == (step.trigger, before.stage, transition.target, actor.id, actor.role)
                     and after.stage == transition.target, "commit-declared",
                     lambda: f"{what}: the audit record or stage does not match the transition: {record!r}")
        payload = spec.trigger(step.trigger).payload.model_validate(step.payload)
        expected = payload.model_dump(mode="json")
        self._expect(record.payload == expected, "record-payload",
                     lambda: f"{what}: the audit record holds payload {record.payload!r}, but "
                             f"{expected!r} was fired")
        self._problems(table_problems(self.reference, self.reference_guard, before=before,
                                      trigger=step.trigger, actor=actor, target=after.stage,
                                      payload=payload, policy=self.machine.policy, now=record.at), what)
        marks = self.reference.marks_of(step.trigger)
        self._problems(mark_problems(marks, before, after, payload), what)
        self.tickets[after.id] = after
        self.committed[after.id] += 1
        self._copies[after.id].append(record.model_dump_json())
        self._check_history(what, after)
        finals = spec.finals
        for violation in check_temporal(self.temporal, after, spec, finished=after.stage in finals):
            self.fail(f"temporal: {violation.rule}", f"{what}: {violation.message}")

    def reference_guard(self, name: str) -> GuardSpec | None:
        """Guard ``name`` of the reference spec, else of the spec under test (``None``: neither)."""
        for source in (self.reference, self.machine.spec):
            if isinstance(source, MachineSpec):
                try:
                    return source.guard(name)
                except KeyError:
                    continue
        return None

    def check_store(self, ticket: Ticket, what: str = "") -> None:
        """The store holds ``ticket`` and its history, exactly."""
        assert self.store is not None  # noqa: S101 (only called with a store)
        stored, history = self.store.get(ticket.id), tuple(self.store.history(ticket.id))
        prefix = f"{what}: " if what else ""
        self._expect(stored == ticket, "store-matches", lambda: (
            f"{prefix}{ticket.id}: the store holds a different ticket than the last one the machine "
            f"returned:\n  stored   {stored!r}\n  expected {ticket!r}"))
        if history != ticket.history:
            missing = [r.seq for r in ticket.history if r not in history]
            extra = [getattr(r, "seq", r) for r in history if r not in ticket.history]
            self.fail("store-matches", f"{prefix}{ticket.id}: the store's history has {len(history)} "
                                       f"record(s), the ticket {len(ticket.history)}; missing seq "
                                       f"{missing or 'none'}, unexpected {extra or 'none'}")

    def check_tickets(self) -> None:
        """Every open ticket: built-in invariants, the store, then the host's ticket invariants."""
        escalates = any(Mark.ESCALATE in self.reference.marks_of(t) for t in self.machine.spec.trigger_names)
        for ticket_id, ticket in self.tickets.items():
            self._expect(self.machine.spec.has_stage(ticket.stage), "stage-known",
                         f"{ticket_id}: stage {ticket.stage!r} is not a stage of the spec")
            self._expect(ticket.version == len(ticket.history) == self.committed[ticket_id],
                         "version-count",
                         f"{ticket_id}: version {ticket.version}, history length {len(ticket.history)} "
                         f"and committed transitions {self.committed[ticket_id]} differ")
            if escalates:
                self._problems(review_tag_problems(ticket), ticket_id)
            if self.store is not None:
                self.check_store(ticket)
            for check in self._ticket_checks:
                self._host_check(check, ticket, ticket_id)

    # -- the end of a run ----------------------------------------------------------------------------

    def finish(self) -> None:
        """Drive open tickets to a final stage (when "eventually" rules need it), then check them."""
        spec = self.machine.spec
        drive = self.drive_to_final
        if drive is None:
            drive = any(rule.liveness for rule in self.temporal)
        if drive:
            for ticket_id in sorted(self.tickets):
                self._drive(ticket_id)
        for ticket_id, ticket in self.tickets.items():
            # A ticket driven as far as it goes is judged as finished: an obligation still pending
            # there can never be met by the end of the procedure.
            final = ticket.stage in spec.finals
            for violation in check_temporal(self.temporal, ticket, spec, finished=final or drive):
                where = "" if final else " (it could not be driven to a final stage)"
                self.fail(f"temporal: {violation.rule}", f"{ticket_id}{where}: {violation.message}",
                          at_end=True)

    def _drive(self, ticket_id: str) -> None:
        """Fire, through the machine under test, a shortest path from the ticket to a final stage."""
        spec = self.machine.spec
        ticket = self.tickets[ticket_id]
        if ticket.stage in spec.finals:
            return
        search = cover_machine(spec, self.machine.policy)
        path = next((reached.steps for reached in explore(search, [ticket], self.examples)
                     if reached.ticket.stage in spec.finals), None)
        for step in path or ():
            model = spec.trigger(step.trigger).payload
            payload = model.model_validate(step.payload).model_dump(mode="json", exclude_unset=True)
            version = self.tickets[ticket_id].version
            self.run_step(Fire(ticket_id, step.trigger, step.role, payload))
            if self.tickets[ticket_id].version == version:
                return  # the machine under test refused (a hook vetoed): stop driving this ticket
