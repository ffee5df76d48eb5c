"""Errors of the ticket stores: :class:`StoreError` and what precisely went wrong below it."""

from __future__ import annotations

from ._base import EscalationError

__all__ = [
    "CommitOutcomeUnknown", "ConcurrentUpdate", "CorruptTicket", "IdempotencyConflict", "LockTimeout",
    "SLAPolicyMismatch", "StaleTicket", "StoreError", "StoreReadOnly", "TicketExists", "TicketNotFound",
]


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
