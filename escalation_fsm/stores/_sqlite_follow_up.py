"""SQLite's claims: under the database's write lock (``BEGIN IMMEDIATE``), one writer at a time.

A claim picks the due, unleased rows by the ``next_step_at`` index and leases them in the same
write transaction, so two workers never hold one ticket; acting is one write transaction with
the compare-and-swap on the version and the lease. Leases are measured on this host's clock
(a SQLite database is shared by the processes of one machine).
"""

from __future__ import annotations

import sqlite3
import time
from abc import abstractmethod
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ._codec import changed_columns, utc_text
from ._types import KeyTaken

if TYPE_CHECKING:
    import threading

    from ..models import Ticket
    from ._follow_up import Claim
    from ._types import Row, Write

__all__ = ["SQLiteFollowUps"]


class SQLiteFollowUps:
    """The follow-up primitives of :class:`~escalation_fsm.stores.SQLiteStore`."""

    _lock: threading.Lock

    @abstractmethod
    def _errors(self, what: str, ticket_id: str | None = None) -> AbstractContextManager[None]: ...

    @abstractmethod
    def _transaction(self, begin: str = "BEGIN") -> AbstractContextManager[sqlite3.Connection]: ...

    @staticmethod
    @abstractmethod
    def _append(db: sqlite3.Connection, ticket_id: str, row: Row) -> None: ...

    def _claim_rows(self, worker_id: str, by: datetime, limit: int,
                    lease: timedelta) -> list[tuple[str, datetime]]:
        with self._lock, self._errors("claim"), self._transaction("BEGIN IMMEDIATE") as db:
            now = time.time()
            until = now + lease.total_seconds()
            rows = db.execute(
                "SELECT id FROM escalation_tickets WHERE next_step_at IS NOT NULL "
                "AND next_step_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
                "ORDER BY next_step_at, id LIMIT ?", (utc_text(by), now, limit)).fetchall()
            ids = [row[0] for row in rows]
            db.executemany("UPDATE escalation_tickets SET lease_owner = ?, lease_until = ? "
                           "WHERE id = ?", [(worker_id, until, ticket_id) for ticket_id in ids])
        end = datetime.fromtimestamp(until, UTC)
        return [(ticket_id, end) for ticket_id in ids]

    def _release_rows(self, worker_id: str, ticket_ids: list[str]) -> int:
        with self._lock, self._errors("release"), self._transaction("BEGIN IMMEDIATE") as db:
            return sum(db.execute(
                "UPDATE escalation_tickets SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?", (ticket_id, worker_id)).rowcount
                for ticket_id in ticket_ids)

    def _act(self, claim: Claim, current: Ticket, new: Ticket, writes: list[Write],
             step_at: datetime | None) -> bool:
        last = writes[-1]
        columns = changed_columns(current, new)
        values: list[object] = [getattr(new, name) for name in columns]
        if any(w.due_moved for w in writes):
            columns, values = (*columns, "next_due_at"), [*values, _text(last.due)]
        if new.spec_fingerprint != current.spec_fingerprint:
            columns, values = (*columns, "spec"), [*values, new.spec_fingerprint]
        sets = "".join(f", {name} = ?" for name in columns)
        sql = (f"UPDATE escalation_tickets SET version = ?, updated_at = ?, clocks = ?{sets}, "  # noqa: S608
               f"next_step_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND "
               f"version = ? AND lease_owner = ? AND lease_until >= ?")
        with self._lock, self._errors("follow-up write", new.id), \
                self._transaction("BEGIN IMMEDIATE") as db:
            swapped = db.execute(sql, (new.version, utc_text(last.record.at),
                                       last.clocks.to_json(), *values, _text(step_at), new.id,
                                       current.version, claim.worker_id, time.time())).rowcount
            if swapped != 1:
                return False
            for row in (row for write in writes for row in write.rows):
                try:
                    self._append(db, new.id, row)
                except sqlite3.IntegrityError as exc:
                    if "idempotency_key" in str(exc):
                        raise KeyTaken from exc
                    raise
        return True


def _text(when: datetime | None) -> str | None:
    return None if when is None else utc_text(when)


