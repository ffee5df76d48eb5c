"""Tickets to rows and back, shared by the SQL stores.

A ticket is stored as:

* its row: the columns queries filter on (stage, category, tier, version, last update, next
  deadline) and its folded SLA clock state (``clocks``);
* its document as it was created (``escalation_documents``: the ticket without history, valid at
  ``base_version``), written once;
* one history row per audit record, with the patch of ticket data that transition made
  (:mod:`._changes`), so that a save writes the new record and its patch, never the ticket again.

Reading a row back validates every part, so a damaged or foreign row raises
:class:`~escalation_fsm.errors.CorruptTicket` naming the ticket instead of returning a half-built
one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from ..errors import CorruptTicket
from ..models import AuditRecord, Ticket, check_history, evolve
from ..sla import ClockState
from ._changes import diff, patch

__all__ = ["INDEX_KEY", "POLICY_KEY", "SCHEMA_VERSION", "TicketRow", "changed_columns", "decode",
           "decode_clocks",
           "decode_records", "encode_changes", "encode_document", "encode_record", "utc_text"]

SCHEMA_VERSION = 3
"""The layout of the tables this release writes; stored in the database, checked on open.

Version 2 added ``escalation_tickets.next_due_at`` and its index (the SLA deadline index).
Version 3 keeps the ticket document as created (``base_version``), a patch per history row
(``changes``) and the folded SLA clocks (``clocks``). Older databases are migrated when a store
opens them writable, never by a read-only open.
"""

INDEX_KEY = "sla_index"
"""The meta key holding the key of the SLA policy and trigger meaning the index was built with."""
POLICY_KEY = "sla_policy_json"
"""The meta key holding that SLA policy itself, so a reader can use it without being told."""

TicketRow = tuple[str, int, Any, int]
"""``(stage, version, document, base_version)`` as read from the tickets table."""

HistoryRow = tuple[Any, Any]
"""``(record, changes)`` as read from the history table (JSON text or already parsed)."""


def encode_document(ticket: Ticket) -> str:
    """The ticket as JSON, without its history."""
    return ticket.model_dump_json(exclude={"history"})


def encode_record(record: AuditRecord) -> str:
    """One history record as JSON."""
    return record.model_dump_json()


def encode_changes(before: Ticket, after: Ticket) -> str | None:
    """The patch of ticket data from ``before`` to ``after`` as JSON (``None``: nothing changed)."""
    changes = diff(before, after)
    return to_json(changes).decode("utf-8") if changes else None


_FILTERED = ("stage", "category", "tier")


def changed_columns(current: Ticket, new: Ticket) -> tuple[str, ...]:
    """The filter columns a save must set: the others keep their value and their index entries."""
    old, fresh = current.__dict__, new.__dict__
    return tuple(name for name in _FILTERED if old[name] != fresh[name])


def utc_text(when: datetime) -> str:
    """A fixed-width UTC timestamp whose text order is its time order (SQLite has no time type)."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json(ticket_id: str, value: Any, what: str) -> Any:
    if not isinstance(value, str | bytes):
        # PostgreSQL's drivers may hand JSON back already parsed.
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"{what} is not JSON: {exc}") from exc


def _problems(exc: ValidationError) -> str:
    shown = [f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in exc.errors()[:3]]
    more = exc.error_count() - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def decode_records(ticket_id: str, records: Sequence[Any]) -> tuple[AuditRecord, ...]:
    """History rows' records (JSON text or parsed) to records, in the given order."""
    try:
        return tuple(AuditRecord.model_validate(_json(ticket_id, r, "a history row")) for r in records)
    except ValidationError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"history row: {_problems(exc)}") from exc


def decode_clocks(ticket_id: str, text: Any) -> ClockState:
    """The stored SLA clock state of a ticket."""
    try:
        return ClockState.from_json(text if isinstance(text, str | bytes) else json.dumps(text))
    except ValueError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"its SLA clock state: {exc}") from exc


def decode(ticket_id: str, row: TicketRow, history: Sequence[HistoryRow],
           known: Ticket | None = None) -> Ticket:
    """A full ticket from its row and its history rows, or :class:`CorruptTicket`.

    ``history`` holds every history row, ordered by ``seq``, or with ``known`` (a version of the
    ticket read and validated earlier) only the rows after it.
    """
    stage, version, document, base_version = row
    records = decode_records(ticket_id, [record for record, _ in history])
    try:
        if known is None:
            ticket = _base(ticket_id, document, records[:base_version])
            ahead = zip(records[base_version:], history[base_version:], strict=True)
        else:
            ticket, ahead = known, zip(records, history, strict=True)
        for record, (_, changes) in ahead:
            if record.seq != ticket.version + 1:
                raise ValueError(f"history record {record.seq} follows version {ticket.version}")
            if record.source != ticket.stage:
                raise ValueError(f"history record {record.seq} leaves stage {record.source!r}, but "
                                 f"the ticket was in stage {ticket.stage!r}")
            if changes is not None:
                ticket = patch(ticket, _json(ticket_id, changes, "a history row's changes"))
            ticket = evolve(ticket, {"stage": record.dest, "version": record.seq,
                                     "history": (*ticket.history, record)})
        check_history(ticket)
    except ValidationError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=_problems(exc)) from exc
    except ValueError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=str(exc)) from exc
    if (ticket.id, ticket.stage, ticket.version) != (ticket_id, stage, version):
        raise CorruptTicket(
            ticket_id=ticket_id,
            reason=f"the row says id {ticket_id!r}, stage {stage!r}, version {version} but its "
                   f"document and history say id {ticket.id!r}, stage {ticket.stage!r}, "
                   f"version {ticket.version}",
        )
    return ticket


def _base(ticket_id: str, document: Any, history: tuple[AuditRecord, ...]) -> Ticket:
    """The ticket as created: its document with the history it had then."""
    if document is None:
        raise ValueError("its document is missing (escalation_documents has no row for it)")
    fields = _json(ticket_id, document, "the ticket document")
    if not isinstance(fields, dict):
        raise CorruptTicket(ticket_id=ticket_id,
                            reason=f"the ticket document is a {type(fields).__name__}, not an object")
    return Ticket.model_validate({**fields, "history": history})
