"""PostgreSQL's claims: ``FOR UPDATE SKIP LOCKED`` on the ``next_step_at`` index.

Many workers on many machines claim at once without waiting for each other: each locks the
due, unleased rows no other claim has locked, and leases them in the same statement. Leases are
measured on the server's ``clock_timestamp()``, one clock for every machine. Acting is one
transaction with the compare-and-swap on the version and the lease.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ._codec import changed_columns

if TYPE_CHECKING:
    import psycopg

    from ..models import Ticket
    from ._follow_up import Claim
    from ._types import Row, Write

__all__ = ["CLAIM_SQL", "PostgresFollowUps"]

_T = TypeVar("_T")

CLAIM_SQL = """
WITH picked AS (
    SELECT id FROM escalation_tickets
    WHERE next_step_at IS NOT NULL AND next_step_at <= %(by)s
      AND (lease_until IS NULL OR lease_until < clock_timestamp())
    ORDER BY next_step_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE escalation_tickets t
SET lease_owner = %(worker)s, lease_until = clock_timestamp() + %(lease)s
FROM picked WHERE t.id = picked.id
RETURNING t.id, t.lease_until, t.next_step_at
"""
"""The claim: the due rows no other transaction holds, leased in one statement (the benchmark
prints its plan)."""


class PostgresFollowUps:
    """The follow-up primitives of :class:`~escalation_fsm.stores.PostgresStore`."""

    _conn: psycopg.Connection[tuple[Any, ...]]

    @abstractmethod
    def _call(self, what: str, ticket_id: str | None, action: Callable[[], _T]) -> _T: ...

    @abstractmethod
    def _committed(self, what: str, ticket_id: str, *, trigger: str, key: str | None,
                   write: Callable[[], _T], landed: Callable[[], bool]) -> _T | None: ...

    @abstractmethod
    def _append(self, ticket_id: str, row: Row) -> None: ...

    def _claim_rows(self, worker_id: str, by: datetime, limit: int,
                    lease: timedelta) -> list[tuple[str, datetime]]:
        def claim() -> list[tuple[str, datetime]]:
            with self._conn.transaction():
                rows = self._conn.execute(CLAIM_SQL, {"by": by, "limit": limit, "worker": worker_id,
                                                      "lease": lease}).fetchall()
            rows.sort(key=lambda row: (row[2], row[0]))
            return [(row[0], row[1]) for row in rows]

        # A claim lost with the connection only leases rows until the lease ends: run it again.
        return self._call("claim", None, claim)

    def _release_rows(self, worker_id: str, ticket_ids: list[str]) -> int:
        def release() -> int:
            return int(self._conn.execute(
                "UPDATE escalation_tickets SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ANY(%s) AND lease_owner = %s", (ticket_ids, worker_id)).rowcount)

        return self._call("release", None, release)

    def _act(self, claim: Claim, current: Ticket, new: Ticket, writes: list[Write],
             step_at: datetime | None) -> bool:
        last = writes[-1]
        columns = changed_columns(current, new)
        values: list[Any] = [getattr(new, name) for name in columns]
        if any(w.due_moved for w in writes):
            columns, values = (*columns, "next_due_at"), [*values, last.due]
        if new.spec_fingerprint != current.spec_fingerprint:
            columns, values = (*columns, "spec"), [*values, new.spec_fingerprint]
        sets = "".join(f", {name} = %s" for name in columns)
        sql = (f"UPDATE escalation_tickets SET version = %s, updated_at = %s, clocks = %s{sets}, "  # noqa: S608
               f"next_step_at = %s, lease_owner = NULL, lease_until = NULL WHERE id = %s AND "
               f"version = %s AND lease_owner = %s AND lease_until >= clock_timestamp()")

        def act() -> bool:
            with self._conn.transaction():
                swapped = self._conn.execute(sql, (
                    new.version, last.record.at, last.clocks.to_json(), *values, step_at, new.id,
                    current.version, claim.worker_id)).rowcount
                if swapped != 1:
                    return False
                for row in (row for write in writes for row in write.rows):
                    self._append(new.id, row)
            return True

        def landed() -> bool:
            row = self._conn.execute("SELECT hash FROM escalation_history WHERE ticket_id = %s "
                                     "AND seq = %s", (new.id, last.record.seq)).fetchone()
            return row is not None and row[0] == last.hash

        done = self._committed("follow-up write", new.id, trigger=last.record.trigger,
                               key=last.key, write=act, landed=landed)
        return True if done is None else done
