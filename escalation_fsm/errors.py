"""The exception hierarchy of escalation_fsm.

Every error the library raises on purpose derives from :class:`EscalationError`, carries its
context as attributes, and where it makes sense also subclasses the builtin a caller would
already catch (``ValueError``, ``PermissionError``, ``RuntimeError``).

This module imports nothing else from the package so that any module may import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotation only: at run time this module imports nothing from the package
    from .models import Ticket
    from .policy import Decision

__all__ = [
    "CommitOutcomeUnknown",
    "ConcurrentUpdate",
    "CorruptTicket",
    "EscalationError",
    "FollowUpSetupError",
    "GraphvizUnavailable",
    "HolidaysUnavailable",
    "HookFailed",
    "IdempotencyConflict",
    "InconsistentTicket",
    "InvalidArgument",
    "InvalidTransition",
    "InvariantViolated",
    "LockTimeout",
    "LogError",
    "MappingError",
    "MigrationError",
    "PermissionDenied",
    "PostgresUnavailable",
    "RenderFailed",
    "ReplayError",
    "SLAPolicyMismatch",
    "SpecError",
    "SpecMismatch",
    "StaleTicket",
    "StoreError",
    "StoreReadOnly",
    "TicketExists",
    "TicketNotFound",
    "TransitionRefused",
    "UsageError",
]


def _listing(items: Iterable[str]) -> str:
    names = sorted(str(item) for item in items)
    return ", ".join(names) if names else "none"


def _restore(cls: type[BaseException], args: tuple[object, ...],
             state: dict[str, object]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class EscalationError(Exception):
    """Base class of every error raised by escalation_fsm."""

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take keyword-only context, so the default (cls(*args)) cannot rebuild them;
        # task queues and process pools pickle exceptions, so rebuild from args and attributes.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class SpecError(EscalationError, ValueError):
    """A machine spec is malformed; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid machine spec ({len(self.problems)} problem(s)):\n{lines}")


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
        because = "\n".join(f"  - {reason}" for reason in self.reasons)
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
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"ticket {ticket_id}: its state does not follow from its history "
                         f"({len(self.problems)} problem(s)):\n{lines}")


class InvalidArgument(EscalationError, ValueError):
    """An argument is not of the kind allowed: a store's filter, id, key or limit, an import's stage.

    ``name`` is the argument, ``value`` a short ``repr`` of what was given and ``allowed`` what
    would be accepted. The same check runs for every store, so a filter means the same thing
    everywhere. Nothing was read or written.
    """

    def __init__(self, *, name: str, value: str, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value} is not allowed: {allowed}")


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


class StoreError(EscalationError, RuntimeError):
    """A ticket store could not do what was asked (base of every store error).

    Raised as such when the database itself fails or is not usable (not a database, a schema
    written by a newer release); the subclasses below say more precisely what went wrong.
    """


class TicketNotFound(StoreError, KeyError):
    """No ticket with this id is stored. Also a ``KeyError``: a store is looked up by id."""

    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id
        super().__init__(f"ticket {ticket_id!r} is not in the store")

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and wrap it in quotes.
        return str(self.args[0])


class TicketExists(StoreError, ValueError):
    """``create`` was given a ticket whose id is already stored; nothing was written."""

    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id
        super().__init__(f"ticket {ticket_id!r} is already in the store")


class ConcurrentUpdate(StoreError):
    """Another writer changed the ticket first (optimistic-lock conflict); nothing was written.

    ``expected_version`` is the version this writer read; ``attempts`` is how many times
    ``apply`` tried (each on a fresh read) before giving up.
    """

    def __init__(self, *, ticket_id: str, trigger: str, expected_version: int, attempts: int = 1) -> None:
        self.ticket_id = ticket_id
        self.trigger = trigger
        self.expected_version = expected_version
        self.attempts = attempts
        super().__init__(
            f"ticket {ticket_id}: {trigger!r} lost the race for version {expected_version + 1} "
            f"after {attempts} attempt(s); another writer updated the ticket first, "
            f"nothing was written"
        )


class StaleTicket(ConcurrentUpdate):
    """``apply(..., expected_version=n)`` found the ticket at another version; nothing was written.

    The caller decided on version ``expected_version``; the stored ticket is at ``found_version``
    (someone else acted since). Unlike a lost race, this is never retried on a fresh read: read
    the ticket again and decide again.
    """

    def __init__(self, *, ticket_id: str, trigger: str, expected_version: int,
                 found_version: int) -> None:
        self.found_version = found_version
        super().__init__(ticket_id=ticket_id, trigger=trigger, expected_version=expected_version)
        self.args = (f"ticket {ticket_id}: {trigger!r} was asked of version {expected_version}, but "
                     f"the ticket is at version {found_version} (someone acted on it since); "
                     f"nothing was written: read it again and decide again",)


class IdempotencyConflict(StoreError, ValueError):
    """An idempotency key already names another call on this ticket; nothing was written.

    A key identifies one ``apply`` call: a retry with the same key returns the ticket it
    committed, but the same key with another trigger, actor or payload is a bug in the caller
    (``seq`` is the record the key belongs to).
    """

    def __init__(self, *, ticket_id: str, key: str, seq: int, reason: str) -> None:
        self.ticket_id = ticket_id
        self.key = key
        self.seq = seq
        self.reason = reason
        super().__init__(f"ticket {ticket_id}: idempotency key {key!r} already belongs to history "
                         f"record {seq}, {reason}; nothing was written (use a new key per call)")


class LockTimeout(TimeoutError, StoreError):
    """The database did not grant a lock in time (a busy writer); nothing was written.

    Retryable: the same call may succeed a moment later. Also a ``TimeoutError`` (first among
    its bases: ``OSError`` must build the instance).
    """

    __reduce__ = EscalationError.__reduce__

    def __init__(self, *, what: str, where: str, detail: str = "") -> None:
        self.what = what
        self.where = where
        self.detail = detail
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{what} on {where} timed out waiting for a lock{extra}; nothing was "
                         f"written, the call may be retried")


class CommitOutcomeUnknown(StoreError):
    """The connection was lost while committing and no new one could be made to check the outcome.

    The transition may or may not be committed. Retry the same call with the same
    ``idempotency_key`` once the database is back: it returns the committed ticket if the first
    call landed, and applies it once if not. ``key`` is the key the call had (``None``: none).
    """

    def __init__(self, *, ticket_id: str, trigger: str, key: str | None, detail: str) -> None:
        self.ticket_id = ticket_id
        self.trigger = trigger
        self.key = key
        self.detail = detail
        hint = (f"retry with idempotency_key={key!r}" if key is not None else
                "get the ticket once the database is back to see whether it landed (pass an "
                "idempotency_key to make such retries safe)")
        super().__init__(f"ticket {ticket_id}: the outcome of {trigger!r} is unknown, the "
                         f"connection was lost while committing ({detail}); {hint}")


class CorruptTicket(StoreError, ValueError):
    """A stored row does not decode to a consistent ticket (damaged, or written by other code).

    No half-built ticket is returned; ``reason`` says what is wrong, the decoding error is chained.
    Listings skip such rows and report them (see ``docs/integrity.md``).
    """

    def __init__(self, *, ticket_id: str, reason: str, seq: int | None = None) -> None:
        self.ticket_id = ticket_id
        self.reason = reason
        self.seq = seq
        """The first history record that does not match (``None``: the ticket row or document)."""
        super().__init__(f"ticket {ticket_id!r}: stored data is corrupt or foreign: {reason}")


class StoreReadOnly(StoreError):
    """A write was asked of a store opened read-only (``readonly=True``); nothing was written."""

    def __init__(self, what: str, where: str) -> None:
        self.what = what
        self.where = where
        super().__init__(f"cannot {what}: {where} was opened read-only")


class SLAPolicyMismatch(StoreError, ValueError):
    """The store's deadline index was built under another SLA policy (or trigger meaning).

    ``recorded`` is the fingerprint stored with the index, ``current`` the one of the policy the
    store was opened with. Nothing was changed: re-indexing is an explicit
    ``store.reindex()`` (or ``escalation-fsm reindex``), never a side effect of opening.
    """

    def __init__(self, *, where: str, recorded: str, current: str) -> None:
        self.where = where
        self.recorded = recorded
        self.current = current
        super().__init__(
            f"{where}: its SLA deadlines were indexed under policy {recorded}, but it was opened "
            f"with policy {current}; open it with the recorded policy, or re-index it under the "
            f"new one (open it without a machine, then store.reindex(machine); or the command "
            f"escalation-fsm reindex)")


class SpecMismatch(EscalationError, ValueError):
    """A ticket was written under another version of the procedure than the machine's; unchanged.

    ``found`` and ``expected`` are the fingerprints (``found`` is ``None`` for records written
    before spec versions were recorded), ``found_label`` and ``expected_label`` name the versions;
    ``reasons`` says why the ticket cannot go on (what the newer spec changed, or where its
    history breaks under it). Register a :class:`~escalation_fsm.migration.Migration`, or declare
    the spec ``compatible_with`` the old one (see ``docs/versions.md``).
    """

    def __init__(self, *, ticket_id: str, found: str | None, expected: str, found_label: str,
                 expected_label: str, reasons: Sequence[str] = ()) -> None:
        self.ticket_id = ticket_id
        self.found = found
        self.expected = expected
        self.found_label = found_label
        self.expected_label = expected_label
        self.reasons: tuple[str, ...] = tuple(reasons)
        because = "".join(f"\n  - {reason}" for reason in self.reasons)
        hint = ("adopt the tickets under the spec that wrote them (store.adopt(spec), or "
                "escalation-fsm migrate --from REF --to REF)" if found is None else
                "register a Migration to this spec (or run escalation-fsm migrate), or declare "
                "the spec compatible_with the old one")
        super().__init__(f"ticket {ticket_id} was written under {found_label}, but the machine "
                         f"runs {expected_label}: {hint}{because}")


class MigrationError(EscalationError, ValueError):
    """A :class:`~escalation_fsm.migration.Migration` is malformed; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid migration ({len(self.problems)} problem(s)):\n{lines}")


class ReplayError(EscalationError, ValueError):
    """Base of the replay errors; the message says what is wrong and where."""


class MappingError(ReplayError):
    """The mapping file is invalid. ``problems`` lists each one with its line and key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid mapping {source} ({len(self.problems)} problem(s)):\n{lines}")


class LogError(ReplayError):
    """The log cannot be replayed as mapped: missing columns, bad rows, unknown activities.

    ``line`` is the 1-based line (CSV: of the file, header = 1; JSON Lines: of the file) when the
    problem is tied to one row.
    """

    def __init__(self, source: str, message: str, *, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")


_INSTALL_PACKAGE = "pip install 'escalation-fsm[svg]'"
_INSTALL_PROGRAM = (
    "install Graphviz so that `dot` is on PATH (Debian/Ubuntu: apt-get install graphviz; "
    "Fedora: dnf install graphviz; macOS: brew install graphviz; Windows: winget install graphviz)"
)


class GraphvizUnavailable(EscalationError, RuntimeError):
    """An SVG or PNG was asked for but the Python ``graphviz`` package or ``dot`` is missing.

    ``missing`` is ``"package"`` or ``"program"``; the message says what to install.
    """

    def __init__(self, fmt: str, missing: Literal["package", "program"], detail: str = "") -> None:
        self.format = fmt
        self.missing = missing
        what = (f"the Python package 'graphviz' is not installed: {_INSTALL_PACKAGE}"
                if missing == "package"
                else f"the Graphviz program `dot` was not found: {_INSTALL_PROGRAM}")
        message = f"cannot render {fmt}: {what}. Mermaid and DOT text need neither."
        super().__init__(f"{message} ({detail})" if detail else message)


class RenderFailed(EscalationError, RuntimeError):
    """Graphviz ``dot`` ran but failed to lay out a diagram; ``detail`` is what it printed."""

    def __init__(self, fmt: str, detail: str) -> None:
        self.format = fmt
        self.detail = detail
        super().__init__(f"Graphviz `dot` failed to render {fmt}: {detail or 'no message'}")


class HolidaysUnavailable(EscalationError, ImportError):
    """A calendar uses public holidays but the optional ``holidays`` package is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "public holidays need the optional 'holidays' package: "
            "pip install 'escalation-fsm[sla]' (or list the dates in BusinessCalendar.holidays)"
        )


class PostgresUnavailable(EscalationError, ImportError):
    """A PostgreSQL store was asked for but the optional ``psycopg`` package is not installed."""

    def __init__(self) -> None:
        super().__init__("PostgreSQL stores need psycopg 3, which is an optional extra: "
                         "pip install 'escalation-fsm[postgres]'")


class UsageError(EscalationError, ValueError):
    """A command-line argument or file that cannot be used; the CLI prints it as one line."""


class InvariantViolated(AssertionError):
    """A guarantee of the procedure was broken in a property test (:mod:`escalation_fsm.testing`).

    An ``AssertionError`` (a test failure, not a library error): the message says which
    guarantee, on which ticket.
    """


class FollowUpSetupError(EscalationError, ValueError):
    """A follow-up worker cannot start: ``problems`` lists every reason at once.

    Raised when the worker is built, never when a step comes due: a ladder step that names a
    callback the host did not register, notify steps without a notifier, an unusable lease.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("the follow-up worker cannot start: " + "; ".join(self.problems))
