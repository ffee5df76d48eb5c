"""Errors of firing a trigger: not defined, refused, not permitted, a failing hook, a bad ticket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ._base import EscalationError, _bullets, _listing

if TYPE_CHECKING:  # annotation only: at run time the errors import nothing from the package
    from ..models import Ticket
    from ..policy import Decision

__all__ = ["HookFailed", "InconsistentTicket", "InvalidTransition", "PermissionDenied", "TransitionRefused"]


class InvalidTransition(EscalationError, ValueError):
    """The trigger is not defined from the ticket's current stage (or not at all)."""

    def __init__(
        self, *, ticket_id: str, stage: str, trigger: str, defined: Iterable[str], known: bool = True
    ) -> None:
        self.ticket_id = ticket_id
        self.stage = stage
        self.trigger = trigger
        self.defined: frozenset[str] = frozenset(defined)
        what = f"trigger {trigger!r}" if known else f"unknown trigger {trigger!r}"
        super().__init__(
            f"ticket {ticket_id}: {what} cannot be fired from stage {stage!r}; "
            f"triggers defined there: {_listing(self.defined)}"
        )


class TransitionRefused(EscalationError):
    """The trigger is defined from this stage but its guards refused it.

    ``reasons`` holds one readable sentence per failing guard, ready to show an agent.
    ``failed_guards`` maps the name of each guard that said no to its decision, in the
    transition's order (empty when a before-hook refused with its own reasons).
    ``allowed`` holds the triggers the same actor could fire from this stage right now.
    """

    def __init__(
        self,
        *,
        ticket_id: str,
        stage: str,
        trigger: str,
        reasons: Sequence[str],
        allowed: Iterable[str] = (),
        failed_guards: Mapping[str, Decision] | None = None,
    ) -> None:
        self.ticket_id = ticket_id
        self.stage = stage
        self.trigger = trigger
        self.reasons: tuple[str, ...] = tuple(reasons)
        self.allowed: frozenset[str] = frozenset(allowed)
        self.failed_guards: dict[str, Decision] = dict(failed_guards or {})
        because = _bullets(self.reasons)
        super().__init__(
            f"ticket {ticket_id}: {trigger!r} refused in stage {stage!r} because:\n{because}\n"
            f"allowed now: {_listing(self.allowed)}"
        )


class PermissionDenied(EscalationError, PermissionError):
    """The actor's role may not fire this trigger from this stage."""

    def __init__(
        self, *, ticket_id: str, stage: str, trigger: str, actor_id: str, role: str,
        allowed_roles: Iterable[str],
    ) -> None:
        self.ticket_id = ticket_id
        self.stage = stage
        self.trigger = trigger
        self.actor_id = actor_id
        self.role = role
        self.allowed_roles: frozenset[str] = frozenset(allowed_roles)
        super().__init__(
            f"ticket {ticket_id}: actor {actor_id!r} with role {role!r} may not fire {trigger!r} "
            f"from stage {stage!r}; roles allowed: {_listing(self.allowed_roles)}"
        )


class InconsistentTicket(EscalationError, ValueError):
    """A ticket's stage, version or derived fields do not follow from its audit records.

    A ticket is its history: ``fire`` refuses a ticket whose stage is not its last record's
    destination (or, without history, the spec's initial stage), and stores refuse to ``create``
    one that :meth:`EscalationMachine.verify <escalation_fsm.EscalationMachine.verify>` finds
    fault with. ``problems`` lists every inconsistency found, one sentence each. A ticket that
    enters the procedure mid-way does so through
    :func:`~escalation_fsm.integrity.import_ticket`.
    """

    def __init__(self, *, ticket_id: str, problems: Sequence[str]) -> None:
        self.ticket_id = ticket_id
        self.problems: tuple[str, ...] = tuple(problems)
        lines = _bullets(self.problems)
        super().__init__(f"ticket {ticket_id}: its state does not follow from its history "
                         f"({len(self.problems)} problem(s)):\n{lines}")


class HookFailed(EscalationError, RuntimeError):
    """One or more host hooks raised.

    ``phase`` is ``"before"`` (the transition was vetoed: ``ticket`` is the unchanged ticket) or
    ``"after"`` (the transition was committed: ``ticket`` is the new ticket, so it is never lost).
    ``failures`` pairs each failing hook's name with the exception it raised; the first one is
    also chained as ``__cause__``.
    """

    def __init__(
        self, *, phase: str, trigger: str, ticket: Ticket, failures: Sequence[tuple[str, BaseException]]
    ) -> None:
        self.phase = phase
        self.trigger = trigger
        self.ticket = ticket
        self.failures: tuple[tuple[str, BaseException], ...] = tuple(failures)
        listing = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in self.failures)
        outcome = (
            "the transition was vetoed and nothing changed"
            if phase == "before"
            else "the transition WAS committed; the new ticket is on .ticket"
        )
        super().__init__(f"{len(self.failures)} {phase}-hook(s) failed on {trigger!r} ({outcome}): {listing}")
