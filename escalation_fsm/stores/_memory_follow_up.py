"""The memory store's claims: the same leases and checks as the databases, under one lock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ._codec import StoredRecord
from ._types import KeyTaken, Known

if TYPE_CHECKING:
    from ..models import Ticket
    from ._follow_up import Claim
    from ._types import Write
    from .memory import MemoryTickets

__all__ = ["MemoryFollowUps"]


class MemoryFollowUps:
    """The follow-up primitives of :class:`~escalation_fsm.stores.MemoryStore`."""

    tickets: MemoryTickets

    def _claim_rows(self, worker_id: str, by: datetime, limit: int,
                    lease: timedelta) -> list[tuple[str, datetime]]:
        tickets = self.tickets
        with tickets.lock:
            now = time.time()
            free = sorted((when, ticket_id) for ticket_id, when in tickets.steps.items()
                          if when <= by and tickets.leases.get(ticket_id, ("", 0.0))[1] < now)
            until = now + lease.total_seconds()
            picked = [ticket_id for _, ticket_id in free[:limit]]
            for ticket_id in picked:
                tickets.leases[ticket_id] = (worker_id, until)
        end = datetime.fromtimestamp(until, UTC)
        return [(ticket_id, end) for ticket_id in picked]

    def _release_rows(self, worker_id: str, ticket_ids: list[str]) -> int:
        tickets = self.tickets
        released = 0
        with tickets.lock:
            for ticket_id in ticket_ids:
                if tickets.leases.get(ticket_id, ("", 0.0))[0] == worker_id:
                    del tickets.leases[ticket_id]
                    released += 1
        return released

    def _act(self, claim: Claim, current: Ticket, new: Ticket, writes: list[Write],
             step_at: datetime | None) -> bool:
        tickets = self.tickets
        last = writes[-1]
        with tickets.lock:
            row = tickets.rows[new.id]
            owner, until = tickets.leases.get(new.id, ("", 0.0))
            if (row.known.ticket.version != current.version or owner != claim.worker_id
                    or until < time.time()):
                return False
            if any(w.key is not None and w.key in row.keys for w in writes):
                raise KeyTaken
            row.known = Known(new, last.clocks, row.document, last.due, last.hash, due_known=True)
            row.updated_at = last.record.at
            for write in writes:
                row.records += [StoredRecord(r.record.seq, r.text, r.changes, r.key, r.hash)
                                for r in write.rows]
                if write.key is not None:
                    row.keys[write.key] = write.record.seq
            tickets.index(new.id, last.due)
            tickets.step(new.id, step_at)
            del tickets.leases[new.id]
        return True
