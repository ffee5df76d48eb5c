"""The PostgreSQL store's connection: typed errors, and what to do when the connection is lost.

A lost connection (a server restart, a dropped network, an idle timeout) is replaced: a read is
run again on a new connection, and a write whose commit may or may not have happened is looked
up (``landed``), so it is neither lost nor applied twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CommitOutcomeUnknown, LockTimeout, StoreError
from ._types import KeyTaken, StoreStats

if TYPE_CHECKING:
    import psycopg

__all__ = ["Connection"]

# SQLSTATEs of a lock not granted in time: retryable, nothing was written.
_LOCK_STATES = frozenset({"55P03", "57014", "40P01", "40001"})

_T = TypeVar("_T")


class Connection:
    """The connection half of :class:`~escalation_fsm.stores.PostgresStore`."""

    _pg: Any
    _conn: psycopg.Connection[tuple[Any, ...]]
    _closed: bool
    _connect_timeout: int
    stats: StoreStats

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        raise NotImplementedError  # pragma: no cover (PostgresStore's)

    def _where(self) -> str:
        return "the PostgreSQL database"

    # -- errors and lost connections ------------------------------------------------------------

    def _error(self, what: str, ticket_id: str | None, exc: Exception) -> StoreError:
        subject = f"ticket {ticket_id!r}: " if ticket_id is not None else ""
        if getattr(exc, "sqlstate", None) in _LOCK_STATES:
            return LockTimeout(what=f"{subject}PostgreSQL {what}", where=self._where(),
                               detail=f"{type(exc).__name__}: {exc}")
        return StoreError(f"{subject}PostgreSQL {what} failed: {type(exc).__name__}: {exc}")

    @contextmanager
    def _errors(self, what: str, ticket_id: str | None = None) -> Iterator[None]:
        try:
            yield
        except self._pg.Error as exc:
            raise self._error(what, ticket_id, exc) from exc

    def _lost(self) -> bool:
        """Whether the connection broke under the last statement (and the store is not closed)."""
        return not self._closed and (self._conn.closed or self._conn.broken)

    def _reconnect(self) -> None:
        """Replace a lost connection, trying for up to ``connect_timeout`` seconds."""
        self._conn.close()
        deadline = time.monotonic() + self._connect_timeout
        while True:
            try:
                self._conn = self._connect()
            except self._pg.Error as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"lost the connection to PostgreSQL and could not connect "
                                     f"again within {self._connect_timeout} s: {exc}") from exc
                time.sleep(0.1)
            else:
                self.stats.reconnects += 1
                return

    def _call(self, what: str, ticket_id: str | None, action: Callable[[], _T]) -> _T:
        """Run a statement that writes nothing; on a lost connection, reconnect and run it again."""
        if self._closed:
            raise StoreError("the PostgreSQL store was closed")
        try:
            return action()
        except self._pg.Error as exc:
            if not self._lost():
                raise self._error(what, ticket_id, exc) from exc
        self._reconnect()
        with self._errors(what, ticket_id):
            return action()

    def _committed(self, what: str, ticket_id: str, *, trigger: str, key: str | None,
                   write: Callable[[], _T], landed: Callable[[], bool]) -> _T | None:
        """Run a write transaction; if the connection broke under it, whether it ``landed``.

        Returns ``write()``'s value, or ``None`` when the connection was lost and the write is
        known to have landed (``landed()`` on a new connection); runs ``write`` again once when it
        is known not to have. :class:`CommitOutcomeUnknown` when no new connection can be made.
        """
        if self._closed:
            raise StoreError("the PostgreSQL store was closed")
        for _ in range(2):
            try:
                return write()
            except self._pg.errors.UniqueViolation as exc:
                if "escalation_history_key" in str(exc):
                    raise KeyTaken from exc
                raise self._error(what, ticket_id, exc) from exc
            except self._pg.Error as exc:
                if not self._lost():
                    raise self._error(what, ticket_id, exc) from exc
                detail = f"{type(exc).__name__}: {exc}"
            try:
                self._reconnect()
                done = self._call("read", ticket_id, landed)
            except StoreError as exc:
                raise CommitOutcomeUnknown(ticket_id=ticket_id, trigger=trigger, key=key,
                                           detail=f"{detail}; then {exc}") from exc
            if done:
                return None
        raise CommitOutcomeUnknown(ticket_id=ticket_id, trigger=trigger, key=key, detail=detail)

