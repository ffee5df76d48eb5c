"""Watching transitions: what a ``fire`` or a store's ``apply`` did, for tracing and metrics.

An *observer* (:class:`~escalation_fsm.typing.Observer`) registered with
:meth:`EscalationMachine.observe <escalation_fsm.EscalationMachine.observe>` wraps every
``fire`` of that machine and every ``apply`` of a store (sync or async) firing through it: its
``observe(call)`` returns a context manager that the call runs inside. The
:class:`ObservedCall` fills in as the call goes (each attempt's source and destination, the
committed transition) and, when the context manager exits, holds the ``outcome``. A machine with
no observer pays one attribute check per ``fire``; while none of its observers is watching, the
machine asks them again every 256th call only (:meth:`EscalationMachine.watched
<escalation_fsm.EscalationMachine.watched>`). :mod:`escalation_fsm.otel` is the
OpenTelemetry observer.

Outcomes (:data:`OUTCOMES`): ``committed``; ``replayed`` (an idempotent retry answered from the
committed record); ``refused`` (guards; their names in ``failed_guards``); ``denied`` (role);
``invalid`` (no such transition from the stage); ``invalid_payload``; ``vetoed`` (a before-hook);
``lost_race`` (``ConcurrentUpdate`` after every attempt); ``stale`` (``expected_version`` no longer
current); ``error`` (anything else: the store failed, a host guard raised, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .errors import (
    ConcurrentUpdate,
    HookFailed,
    InvalidTransition,
    PermissionDenied,
    StaleTicket,
    TransitionRefused,
)

if TYPE_CHECKING:
    from .machine import EscalationMachine, TransitionResult
    from .models import Actor
    from .typing import Observer

__all__ = ["OUTCOMES", "ObservedCall", "observing", "outcome_of", "watched"]

OUTCOMES = ("committed", "replayed", "refused", "denied", "invalid", "invalid_payload", "vetoed",
            "lost_race", "stale", "error")
"""Every outcome an observed call may end with."""

_CURRENT: ContextVar[ObservedCall | None] = ContextVar("escalation_fsm_observed_call", default=None)


@dataclass(slots=True)
class ObservedCall:
    """One observed ``fire`` (``operation="fire"``) or store ``apply`` (``"apply"``).

    ``attempts`` counts the transitions tried (a store tries again after a lost race),
    ``computed`` those that produced a new ticket; ``source`` and ``destination`` are the last
    attempt's. ``result`` is the committed transition (``None``: nothing committed). ``outcome``,
    ``failed_guards`` and ``error`` are set when the call ends.
    """

    operation: str
    ticket_id: str
    trigger: str
    actor: Actor
    machine: EscalationMachine
    store: str | None = None
    source: str | None = None
    destination: str | None = None
    attempts: int = 0
    computed: int = 0
    result: TransitionResult | None = None
    outcome: str = ""
    failed_guards: tuple[str, ...] = field(default=())
    error: BaseException | None = None

    @property
    def retries(self) -> int:
        """Attempts after the first (each one follows a lost race)."""
        return max(0, self.attempts - 1)

    @property
    def lost_races(self) -> int:
        """Transitions computed and then thrown away because another writer won the race."""
        return self.computed - (1 if self.result is not None else 0)


def outcome_of(error: BaseException) -> str:
    """The outcome an exception raised out of ``fire`` or ``apply`` stands for."""
    if isinstance(error, HookFailed):
        return "committed" if error.phase == "after" else "vetoed"
    outcomes: Sequence[tuple[type[BaseException], str]] = (
        (TransitionRefused, "refused"), (PermissionDenied, "denied"),
        (InvalidTransition, "invalid"), (ValidationError, "invalid_payload"),
        (StaleTicket, "stale"), (ConcurrentUpdate, "lost_race"))
    for kind, outcome in outcomes:
        if isinstance(error, kind):
            return outcome
    return "error"


@contextmanager
def observing(observers: Sequence[Observer], call: ObservedCall) -> Iterator[ObservedCall]:
    """Run the body as ``call``, inside every observer's context manager (first one outermost)."""
    token = _CURRENT.set(call)
    try:
        with ExitStack() as stack:
            for observer in observers:
                stack.enter_context(observer.observe(call))
            try:
                yield call
            except BaseException as exc:
                call.outcome, call.error = outcome_of(exc), exc
                if isinstance(exc, TransitionRefused):
                    call.failed_guards = tuple(exc.failed_guards)
                raise
            call.outcome = "committed" if call.result is not None else "replayed"
    finally:
        _CURRENT.reset(token)


def watched(observers: Sequence[Observer]) -> bool:
    """Whether any of ``observers`` is watching now (its ``watching`` is true)."""
    return any(observer.watching for observer in observers)


current_call = _CURRENT.get
"""The observed call running in this context, or ``None`` (a C call: no Python frame)."""


def attempt_started(call: ObservedCall, source: str) -> None:
    """``call``'s transition is being tried from ``source`` (the machine calls this)."""
    call.attempts += 1
    call.source = source


def attempt_computed(call: ObservedCall, result: TransitionResult) -> None:
    """``call``'s transition produced ``result`` (not committed yet)."""
    call.computed += 1
    call.destination = result.record.dest


def committed(call: ObservedCall, result: TransitionResult) -> None:
    """``call``'s ``result`` was committed (its after-hooks are about to run)."""
    call.result = result
