"""What the SQL stores share: reading tickets as stored, and listings that skip bad rows.

Each SQL store provides one primitive, :meth:`SQLStore._select`: the ticket rows a ``WHERE``
clause picks (with the store's placeholder), each with its document and history rows, as
:class:`~escalation_fsm.stores._codec.StoredTicket`. Everything else (one ticket, pages, queries,
due tickets, the rows ``verify`` checks) is built on it here, alike for SQLite and PostgreSQL.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any

from ..errors import CorruptTicket
from ._codec import StoredTicket, decode
from ._dry_run_read import SQLHistoryTexts
from ._types import Listing, TicketFilter
from .base import StoreBase

__all__ = ["SQLStore", "listing_of"]


def listing_of(rows: list[StoredTicket]) -> Listing:
    """The tickets of ``rows``, each decoded on its own: one that does not decode is skipped."""
    listing = Listing(rows=len(rows), last_id=rows[-1].id if rows else None)
    for stored in rows:
        try:
            listing.tickets.append(decode(stored)[0])
        except CorruptTicket as exc:
            listing.skipped.append(exc)
    return listing


class SQLStore(SQLHistoryTexts, StoreBase):
    """A store over SQL tables (``_schema``): the reads and listings of SQLite and PostgreSQL."""

    _mark = "?"
    """The driver's parameter placeholder."""

    @abstractmethod
    def _select(self, where: str, params: list[Any], order: str, *, limit: int | None = None,
                after: int = 0) -> list[StoredTicket]:
        """Tickets whose row passes ``where`` (columns of ``t``), in ``order``, up to ``limit``.

        Each comes with its history rows of ``seq > after``, all read in one snapshot.
        """

    def _time(self, when: datetime) -> Any:
        """A time as the driver compares it with a time column."""
        return when

    def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        found = self._select(f"t.id = {self._mark}", [ticket_id], "t.id", after=after)
        return found[0] if found else None

    def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        if after is None:
            return self._select("TRUE", [], "t.id", limit=size)
        return self._select(f"t.id > {self._mark}", [after], "t.id", limit=size)

    def _page(self, after: str | None, size: int) -> Listing:
        return listing_of(self._stored_page(after, size))

    def _query(self, where: TicketFilter, limit: int | None) -> Listing:
        clauses, params = ["TRUE"], []
        for column, op, value in (("stage", "=", where.stage), ("category", "=", where.category),
                                  ("tier", "=", where.tier),
                                  ("updated_at", "<", where.updated_before),
                                  ("updated_at", ">=", where.updated_since)):
            if value is not None:
                clauses.append(f"t.{column} {op} {self._mark}")
                params.append(self._time(value) if isinstance(value, datetime) else value)
        return listing_of(self._select(" AND ".join(clauses), params, "t.updated_at, t.id",
                                       limit=limit))

    def _due(self, by: datetime, limit: int | None) -> Listing:
        # Served by the partial index escalation_tickets_due (tests check the query plan).
        return listing_of(self._select(
            f"t.next_due_at IS NOT NULL AND t.next_due_at <= {self._mark}", [self._time(by)],
            "t.next_due_at, t.id", limit=limit))
