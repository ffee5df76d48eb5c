"""The PostgreSQL stores' rows: the statements that write and read them, and their values.

One definition of what a ticket's rows hold, used by the sync store
(:class:`~escalation_fsm.stores.PostgresStore`) and the async one
(:class:`~escalation_fsm.stores.AsyncPostgresStore`), which run the same statements on their own
connections: whichever store writes a ticket, the rows are the same (schema 6: the indexed
deadline ``next_due_at`` and next ladder step ``next_step_at`` included).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..models import Ticket
from ..sla import ClockState
from ._codec import Sealed, StoredRecord, StoredTicket, changed_columns, utc_text
from ._types import Row, Write

__all__ = ["APPEND_HISTORY", "HISTORY_COLUMNS", "INSERT_CREATED", "INSERT_DOCUMENT",
           "INSERT_TICKET", "appended_row", "created_rows", "document_row", "select",
           "stored_of", "swap_update", "ticket_row"]


# Each history row comes back as [seq, record, changes, key, hash] (texts exactly as stored), in
# order, inside one JSON array.
_HISTORY = ("(SELECT coalesce(json_agg(json_build_array(h.seq, h.record::text, h.changes::text, "
            "h.idempotency_key, h.hash) ORDER BY h.seq), '[]')::text "
            "FROM escalation_history h WHERE h.ticket_id = t.id AND h.seq > %s)")

_COLUMNS = ("t.id, t.stage, t.version, t.category, t.tier, d.document::text, d.base_version, "
            "d.hash, t.clocks::text, t.updated_at, t.next_due_at, t.spec")
# A left join: a ticket row without its document is corrupt, never silently left out.
_TICKETS = "escalation_tickets t LEFT JOIN escalation_documents d ON d.ticket_id = t.id"

INSERT_TICKET = ("INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
                 "clocks, next_due_at, next_step_at, spec) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING")
INSERT_DOCUMENT = ("INSERT INTO escalation_documents (ticket_id, base_version, document, hash) "
                   "VALUES (%s, %s, %s, %s)")
INSERT_CREATED = ("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, hash) "
                  "VALUES (%s, %s, %s, %s, %s, %s)")
HISTORY_COLUMNS = "ticket_id, seq, at, trigger, record, changes, idempotency_key, hash"
APPEND_HISTORY = ("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, changes, "
                  "idempotency_key, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
"""One history row of a write (``appended_row``'s values)."""


def ticket_row(ticket: Ticket, updated_at: datetime, clocks: ClockState,
               due: datetime | None, step: datetime | None) -> tuple[Any, ...]:
    """The values of a new ticket's row (``INSERT_TICKET``).

    ``due`` is its indexed deadline, ``step`` its next ladder step (``next_step_at``).
    """
    return (ticket.id, ticket.stage, ticket.category, ticket.tier, ticket.version, updated_at,
            clocks.to_json(), due, step, ticket.spec_fingerprint)


def document_row(ticket: Ticket, sealed: Sealed) -> tuple[Any, ...]:
    """The values of a new ticket's document row (``INSERT_DOCUMENT``)."""
    return (ticket.id, ticket.version, sealed.document, sealed.doc_hash)


def created_rows(ticket: Ticket, sealed: Sealed) -> list[tuple[Any, ...]]:
    """The values of a new ticket's history rows (``INSERT_CREATED``)."""
    return [(ticket.id, r.seq, r.at, r.trigger, text, hash_) for r, text, hash_ in sealed.records]


def swap_update(current: Ticket, new: Ticket, write: Write) -> tuple[str, tuple[Any, ...]]:
    """The compare-and-swap of a write and its values (only the columns that changed)."""
    columns = changed_columns(current, new)
    values: list[Any] = [getattr(new, name) for name in columns]
    if write.due_moved:
        columns, values = (*columns, "next_due_at"), [*values, write.due]
    if write.step_moved:
        columns, values = (*columns, "next_step_at"), [*values, write.step]
    if new.spec_fingerprint != current.spec_fingerprint:
        columns, values = (*columns, "spec"), [*values, new.spec_fingerprint]
    return _update_sql(columns), (new.version, write.record.at, write.clocks.to_json(), *values,
                                  new.id, current.version)


def appended_row(ticket_id: str, row: Row) -> tuple[Any, ...]:
    """The values of one history row of a write (``APPEND_HISTORY``)."""
    record = row.record
    return (ticket_id, record.seq, record.at, record.trigger, row.text, row.changes, row.key,
            row.hash)


_UPDATES: dict[tuple[str, ...], str] = {}


def _update_sql(columns: tuple[str, ...]) -> Any:
    """The compare-and-swap setting version, update time, clocks and ``columns`` (fixed names).

    Only what changed: an update that leaves every indexed column alone can be a HOT update.
    """
    sql = _UPDATES.get(columns)
    if sql is None:
        sets = "".join(f", {name} = %s" for name in columns)
        sql = _UPDATES[columns] = (f"UPDATE escalation_tickets SET version = %s, updated_at = %s, "  # noqa: S608
                                   f"clocks = %s{sets} WHERE id = %s AND version = %s")
    return sql


def stored_of(row: Any) -> StoredTicket:
    """A ticket as stored, from one row of the select (times as UTC text, history parsed)."""
    *columns, updated_at, next_due_at, spec, history = row
    rows = [StoredRecord(*item) for item in json.loads(history)]
    return StoredTicket._make((*columns, None if updated_at is None else utc_text(updated_at),
                              None if next_due_at is None else utc_text(next_due_at), spec, rows))


def select(where: str, params: list[Any], order: str, *, limit: int | None = None,
           after: int = 0) -> tuple[str, list[Any]]:
    """The single-statement read of the tickets passing ``where`` (fixed SQL), with its values.

    Each ticket comes with its history rows of ``seq > after`` (:func:`stored_of` reads a row).
    """
    sql = (f"SELECT {_COLUMNS}, {_HISTORY} FROM {_TICKETS} "  # noqa: S608 (fixed column names)
           f"WHERE {where} ORDER BY {order}")
    args = [after, *params]
    if limit is not None:
        sql, args = sql + " LIMIT %s", [*args, limit]
    return sql, args
