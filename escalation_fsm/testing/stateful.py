"""A stateful property test of the procedure's guarantees that host projects subclass.

:class:`EscalationStateMachine` opens tickets, fires random triggers (mostly allowed ones with
payloads searched to pass the guards, and also undefined triggers, forbidden roles and malformed
payloads) through the host's machine, hooks and optional store, and checks after every step:

* every ticket's stage is a stage of the spec;
* ``version`` == length of the history == number of transitions the test saw commit;
* records already committed never change afterwards (compared with copies taken at commit);
* a refused, invalid or permission-denied trigger changes nothing: not the ticket passed in, not
  the store (and was refused for the right reason);
* every committed transition was declared from that stage for that role, recorded exactly the
  payload fired, and satisfied every guard of the **reference spec** at the moment it fired
  (``reference_spec``, by default the machine's own spec: set it to ``default_spec()`` to prove a
  custom spec keeps the shipped procedure's guards);
* only declared error types escape (``declared_errors``);
* the host's own checks, marked with :func:`ticket_invariant` or :func:`outcome_invariant`.

A store is optional and duck-typed (:class:`StoreLike`): anything with ``create``, ``get``,
``apply`` and ``history`` as in ``escalation_fsm.stores.TicketStore``. With a store, triggers are
fired through ``store.apply`` and the stored ticket and history must match what the test saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pydantic import ValidationError

from ..clock import ManualClock
from ..errors import (
    HookFailed,
    InvalidTransition,
    InvariantViolated,
    PermissionDenied,
    TransitionRefused,
)
from ..machine import EscalationMachine
from ..models import Actor, AuditRecord, Ticket
from ..policy import EscalationPolicy, GuardContext
from ..spec import MachineSpec, evaluate_guards
from ._cover import actor_for
from .strategies import (
    UNKNOWN_ROLE,
    UNKNOWN_TRIGGER,
    Hints,
    invalid_payloads,
    new_tickets,
    payloads,
    roles_of,
    valid_payloads,
)

__all__ = [
    "EscalationStateMachine",
    "InvariantViolated",
    "Outcome",
    "StoreLike",
    "outcome_invariant",
    "ticket_invariant",
]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_CHOICE = st.integers(0, 2519)


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


F = TypeVar("F", bound=Callable[..., Any])
_TICKET_CHECK = "_escalation_ticket_invariant"
_OUTCOME_CHECK = "_escalation_outcome_invariant"


def ticket_invariant(check: F) -> F:
    """Mark a method ``check(self, ticket)`` to run on every open ticket after every step."""
    setattr(check, _TICKET_CHECK, True)
    return check


def outcome_invariant(check: F) -> F:
    """Mark a method ``check(self, outcome: Outcome)`` to run after every fired trigger."""
    setattr(check, _OUTCOME_CHECK, True)
    return check


class EscalationStateMachine(RuleBasedStateMachine):
    """Subclass with your spec, hooks and store; ``TestX = YourClass.TestCase`` runs it in pytest.

    Class attributes to set: ``spec`` (``None``: the default procedure), ``reference_spec``,
    ``policy``, ``hints`` (payload strategies per trigger, see
    :mod:`escalation_fsm.testing.strategies`), ``max_tickets``, ``allow_hook_failures`` (a hook
    raising is otherwise reported as a failure), ``declared_errors``. Methods to override:
    :meth:`register_hooks`, :meth:`make_store`, :meth:`make_machine`, :meth:`ticket_strategy`.
    """

    spec: ClassVar[MachineSpec | None] = None
    reference_spec: ClassVar[MachineSpec | None] = None
    policy: ClassVar[EscalationPolicy | None] = None
    hints: ClassVar[Hints] = {}
    max_tickets: ClassVar[int] = 2
    allow_hook_failures: ClassVar[bool] = False
    declared_errors: ClassVar[tuple[type[BaseException], ...]] = (
        InvalidTransition, PermissionDenied, TransitionRefused, ValidationError, HookFailed)

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(START, tick=timedelta(minutes=1))
        self.machine = self.make_machine()
        self.register_hooks(self.machine)
        self.store = self.make_store(self.machine)
        self.reference = self.machine.spec if self.reference_spec is None else self.reference_spec
        self.tickets: dict[str, Ticket] = {}
        self.committed: dict[str, int] = {}
        self._copies: dict[str, list[str]] = {}  # each record as JSON, taken when it committed
        self._roles = roles_of(self.machine.spec)
        members = [getattr(type(self), name) for name in dir(type(self))]
        self._ticket_checks = [m for m in members if getattr(m, _TICKET_CHECK, False)]
        self._outcome_checks = [m for m in members if getattr(m, _OUTCOME_CHECK, False)]

    # -- what hosts override ------------------------------------------------------------------------

    def make_machine(self) -> EscalationMachine:
        """The machine under test (default: ``spec`` and ``policy`` with a manual clock)."""
        return EscalationMachine(self.spec, policy=self.policy, clock=self.clock)

    def register_hooks(self, machine: EscalationMachine) -> None:
        """Register the host's hooks on ``machine`` (default: none)."""

    def make_store(self, machine: EscalationMachine) -> StoreLike | None:
        """A fresh store that fires through ``machine``, or ``None`` to fire on the machine."""
        return None

    def ticket_strategy(self, ticket_id: str) -> st.SearchStrategy[Ticket]:
        """New tickets to open with id ``ticket_id`` (default: complete, in the initial stage)."""
        return new_tickets(self.machine.spec, ids=st.just(ticket_id))

    # -- rules --------------------------------------------------------------------------------------

    @initialize(data=st.data())
    def open_first_ticket(self, data: st.DataObject) -> None:
        """Every run starts with one open ticket."""
        self._open(data)

    @precondition(lambda self: len(self.tickets) < self.max_tickets)
    @rule(data=st.data())
    def open_ticket(self, data: st.DataObject) -> None:
        """Open another ticket (up to ``max_tickets``)."""
        self._open(data)

    @rule(data=st.data())
    def fire_allowed(self, data: st.DataObject) -> None:
        """Fire a trigger allowed now, by a permitted role, with a payload searched to pass."""
        ticket_id = self._pick(data)
        ticket = self.tickets[ticket_id]
        defined = self.machine.spec.transitions_from(ticket.stage)
        permitted = self.machine.allowed(ticket)
        options = [t for t in defined if t.trigger in permitted] or list(defined)
        if not options:
            return  # a final stage without outgoing transitions
        # Choices are numbers from a fixed range, taken modulo the options: the draw has the same
        # shape in every state, so when the shrinker deletes an earlier step this step still
        # picks the same trigger wherever it can (drawing from the options themselves misaligned
        # every later step and kept detours in shrunk examples). 2520 is divisible by 1..10, so
        # the pick is uniform over up to ten options.
        transition = options[data.draw(_CHOICE, label="trigger choice") % len(options)]
        roles = sorted(transition.roles)
        actor = actor_for(roles[data.draw(_CHOICE, label="role choice") % len(roles)])
        payload = data.draw(valid_payloads(self.machine, ticket, transition.trigger, actor,
                                           hints=self.hints, strict=False), label="payload")
        self._fire(ticket_id, transition.trigger, actor, payload)

    @rule(data=st.data())
    def fire_anything(self, data: st.DataObject) -> None:
        """Fire any trigger (or an unknown one) by any role (or none) with any payload."""
        ticket_id = self._pick(data)
        spec = self.machine.spec
        trigger = data.draw(st.sampled_from([*spec.trigger_names, UNKNOWN_TRIGGER]), label="trigger")
        actor = actor_for(data.draw(st.sampled_from([*self._roles, UNKNOWN_ROLE]), label="role"))
        payload: dict[str, Any] = {}
        if spec.has_trigger(trigger):
            payload = data.draw(payloads(spec, trigger, hints=self.hints)
                                | invalid_payloads(spec, trigger), label="payload")
        self._fire(ticket_id, trigger, actor, payload)

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def procedure_holds(self) -> None:
        """The built-in invariants, then the host's ticket invariants, on every open ticket."""
        for ticket_id, ticket in self.tickets.items():
            self._check(self.machine.spec.has_stage(ticket.stage),
                        f"{ticket_id}: stage {ticket.stage!r} is not a stage of the spec")
            self._check(ticket.version == len(ticket.history) == self.committed[ticket_id],
                        f"{ticket_id}: version {ticket.version}, history length {len(ticket.history)} "
                        f"and committed transitions {self.committed[ticket_id]} differ")
            if self.store is not None:
                self._check_store(ticket_id, ticket)
            for check in self._ticket_checks:
                check(self, ticket)

    def teardown(self) -> None:
        """Close the store if it can be closed."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    # -- internals ----------------------------------------------------------------------------------

    @staticmethod
    def _check(condition: bool, message: str | Callable[[], str]) -> None:
        # Messages that repr whole tickets are built only on failure (a lambda): eagerly they
        # doubled the run time.
        if not condition:
            raise InvariantViolated(message if isinstance(message, str) else message())

    def _pick(self, data: st.DataObject) -> str:
        # Always one draw of the same shape, whatever the number of open tickets: the shrinker
        # deletes steps (opening a ticket, say), and draws that change shape with the state
        # misalign every later step, which stopped it from finding the minimal example.
        ids = sorted(self.tickets, key=lambda i: int(i.removeprefix("T-")))
        index = data.draw(st.integers(0, max(self.max_tickets, 1) - 1), label="ticket")
        return ids[min(index, len(ids) - 1)]

    def _open(self, data: st.DataObject) -> None:
        ticket_id = f"T-{len(self.tickets) + 1}"
        ticket = data.draw(self.ticket_strategy(ticket_id), label="new ticket")
        if self.store is not None:
            self.store.create(ticket)
        self.tickets[ticket_id] = ticket
        self.committed[ticket_id] = 0
        self._copies[ticket_id] = [r.model_dump_json() for r in ticket.history]

    def _apply(self, ticket_id: str, ticket: Ticket, trigger: str, actor: Actor,
               payload: Mapping[str, Any]) -> Ticket:
        if self.store is None:
            return self.machine.fire(ticket, trigger, actor=actor, **payload)
        result = self.store.apply(ticket_id, trigger, actor=actor, **payload)
        return result if isinstance(result, Ticket) else self._stored(ticket_id)[0]

    def _stored(self, ticket_id: str) -> tuple[Any, tuple[Any, ...]]:
        assert self.store is not None  # noqa: S101 (only called with a store)
        return self.store.get(ticket_id), tuple(self.store.history(ticket_id))

    def _check_store(self, ticket_id: str, ticket: Ticket) -> None:
        stored, history = self._stored(ticket_id)
        self._check(stored == ticket, lambda: f"{ticket_id}: the store holds a different ticket than "
                                              f"the last one the machine returned:\n"
                                              f"  stored   {stored!r}\n  expected {ticket!r}")
        self._check(history == ticket.history,
                    f"{ticket_id}: the store's history has {len(history)} record(s), the ticket "
                    f"{len(ticket.history)}; they differ")

    def _fire(self, ticket_id: str, trigger: str, actor: Actor, payload: Mapping[str, Any]) -> None:
        before = self.tickets[ticket_id]
        attempt = _Attempt(ticket_id, trigger, actor, dict(payload), before)
        snapshot = before.model_dump_json()  # JSON, not a copy: a copy would share the records it checks
        after: Ticket | None = None
        error: BaseException | None = None
        try:
            after = self._apply(ticket_id, before, trigger, actor, payload)
        except HookFailed as exc:
            self._check(self.allow_hook_failures, f"{attempt}: a hook failed: {exc}")
            error = exc
            after = exc.ticket if exc.phase == "after" and isinstance(exc.ticket, Ticket) else None
        except self.declared_errors as exc:
            error = exc
        except Exception as exc:
            raise InvariantViolated(f"{attempt}: undeclared error {type(exc).__name__}: {exc}") from exc
        note(f"{attempt} -> " + (f"committed, now in {after.stage!r}" if after is not None
                                 else f"{type(error).__name__}"))
        self._check(before.model_dump_json() == snapshot,
                    lambda: f"{attempt}: the ticket passed in was changed:\n  was {snapshot}\n"
                            f"  now {before.model_dump_json()}")
        self._check_history(attempt, before)
        if after is None:
            self._check_refusal(attempt, error)
        else:
            self._check_commit(attempt, after)
        outcome = Outcome(ticket_id, trigger, actor, attempt.payload, before, after, error)
        for check in self._outcome_checks:
            check(self, outcome)

    def _check_history(self, attempt: _Attempt, ticket: Ticket) -> None:
        """Records committed earlier are unchanged (hooks see them and could mutate them)."""
        copies = self._copies[attempt.ticket_id]
        for seq, (record, copy) in enumerate(zip(ticket.history, copies, strict=False), start=1):
            now = record.model_dump_json()
            if now != copy:
                raise InvariantViolated(f"{attempt}: history record {seq} of {attempt.ticket_id} "
                                        f"changed after it was committed:\n  was {copy}\n  now {now}")

    def _check_refusal(self, attempt: _Attempt, error: BaseException | None) -> None:
        transition = self.machine.spec.transition(attempt.before.stage, attempt.trigger)
        if isinstance(error, InvalidTransition):
            self._check(transition is None, f"{attempt}: InvalidTransition, but the spec defines it")
        elif isinstance(error, PermissionDenied):
            self._check(transition is not None and attempt.actor.role not in transition.roles,
                        f"{attempt}: PermissionDenied, but the role is allowed")
        if self.store is not None:
            self._check_store(attempt.ticket_id, attempt.before)

    def _check_commit(self, attempt: _Attempt, after: Ticket) -> None:
        spec, before, actor = self.machine.spec, attempt.before, attempt.actor
        transition = spec.transition(before.stage, attempt.trigger)
        self._check(transition is not None, f"{attempt}: committed, but not defined from this stage")
        assert transition is not None  # noqa: S101 (narrowing for mypy; checked just above)
        self._check(actor.role in transition.roles, f"{attempt}: committed for a role not allowed")
        self._check(after.version == before.version + 1 == len(after.history),
                    f"{attempt}: committed, but version went {before.version} -> {after.version} "
                    f"with {len(after.history)} record(s)")
        self._check(after.history[:-1] == before.history,
                    f"{attempt}: committing changed earlier history records")
        record = after.history[-1]
        fired = spec.trigger(attempt.trigger).payload.model_validate(attempt.payload)
        expected = fired.model_dump(mode="json")
        self._check(
            (record.trigger, record.source, record.dest, record.actor_id, record.actor_role)
            == (attempt.trigger, before.stage, transition.target, actor.id, actor.role)
            and after.stage == transition.target,
            lambda: f"{attempt}: the audit record or stage does not match the transition: {record!r}")
        self._check(record.payload == expected, lambda: f"{attempt}: the audit record holds payload "
                                                        f"{record.payload!r}, but {expected!r} was fired")
        self._check_reference(attempt, record)
        self.tickets[attempt.ticket_id] = after
        self.committed[attempt.ticket_id] += 1
        self._copies[attempt.ticket_id].append(record.model_dump_json())
        self._check_history(attempt, after)

    def _check_reference(self, attempt: _Attempt, record: AuditRecord) -> None:
        """The committed transition satisfied the reference spec's roles and guards when it fired."""
        ref, actor = self.reference, attempt.actor
        rule_ = ref.transition(attempt.before.stage, attempt.trigger)
        self._check(rule_ is not None and actor.role in rule_.roles and rule_.target == record.dest,
                    f"{attempt}: committed, but the reference spec {ref.name!r} does not allow it")
        assert rule_ is not None  # noqa: S101 (narrowing for mypy; checked just above)
        model = ref.trigger(attempt.trigger).payload.model_validate(attempt.payload)
        ctx = GuardContext(ticket=attempt.before, actor=actor, payload=model,
                           policy=self.machine.policy, now=record.at, trigger=attempt.trigger)
        verdict = evaluate_guards((ref.guard(name) for name in rule_.guards), ctx)
        self._check(verdict.ok, lambda: f"{attempt}: committed although guard(s) of {ref.name!r} "
                                        f"said no when it fired: " + " | ".join(
            f"{name}: {'; '.join(verdict.decisions[name].reasons) or ref.guard(name).requirement}"
            for name in verdict.failed))


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One trigger the test fires: what, by whom, on which ticket (as it was before)."""

    ticket_id: str
    trigger: str
    actor: Actor
    payload: dict[str, Any]
    before: Ticket

    def __str__(self) -> str:
        return (f"{self.ticket_id} in {self.before.stage!r}: {self.trigger!r} by "
                f"{self.actor.role!r} with {self.payload!r}")
