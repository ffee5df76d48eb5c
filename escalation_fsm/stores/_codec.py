"""Tickets to rows and back, shared by the SQL stores.

The ticket row holds the ticket document without its history (the history table is the one
place the history lives) plus the columns queries filter on. Reading a row back validates the
whole ticket, so a damaged or foreign row raises :class:`~escalation_fsm.errors.CorruptTicket`
naming the ticket instead of returning a half-built one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..errors import CorruptTicket
from ..models import AuditRecord, Ticket

__all__ = ["SCHEMA_VERSION", "SLA_POLICY_KEY", "TicketRow", "decode", "decode_records", "encode_document",
           "encode_record", "utc_text"]

SCHEMA_VERSION = 2
"""The layout of the tables this release writes; stored in the database, checked on open.

Version 2 added ``escalation_tickets.next_due_at`` and its index (the SLA deadline index); a
version 1 database is migrated when opened.
"""

SLA_POLICY_KEY = "sla_policy"
"""The meta key holding the fingerprint of the SLA policy the deadline index was built with."""

TicketRow = tuple[str, int, Any]
"""``(stage, version, document)`` as read from the tickets table."""


def encode_document(ticket: Ticket) -> str:
    """The ticket as JSON, without its history."""
    return ticket.model_dump_json(exclude={"history"})


def encode_record(record: AuditRecord) -> str:
    """One history record as JSON."""
    return record.model_dump_json()


def utc_text(when: datetime) -> str:
    """A fixed-width UTC timestamp whose text order is its time order (SQLite has no time type)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def decode_records(ticket_id: str, records: Iterable[Any]) -> tuple[AuditRecord, ...]:
    """History rows (JSON text or parsed) to records, ordered by ``seq``."""
    try:
        parsed = [AuditRecord.model_validate(_json(ticket_id, r, "a history row")) for r in records]
    except ValidationError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"history row: {_problems(exc)}") from exc
    return tuple(sorted(parsed, key=lambda record: record.seq))


def decode(ticket_id: str, row: TicketRow, records: Iterable[Any],
           known: tuple[AuditRecord, ...] = ()) -> Ticket:
    """A full ticket from its row and its history rows, or :class:`CorruptTicket`.

    ``known`` is history already read (and validated) earlier; ``records`` then holds only the
    rows after it.
    """
    stage, version, document = row
    fields = _json(ticket_id, document, "the ticket document")
    if not isinstance(fields, dict):
        raise CorruptTicket(ticket_id=ticket_id,
                            reason=f"the ticket document is a {type(fields).__name__}, not an object")
    history = known + decode_records(ticket_id, records)
    try:
        ticket = Ticket.model_validate({**fields, "history": history})
    except ValidationError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=_problems(exc)) from exc
    if (ticket.id, ticket.stage, ticket.version) != (ticket_id, stage, version):
        raise CorruptTicket(
            ticket_id=ticket_id,
            reason=f"the row says id {ticket_id!r}, stage {stage!r}, version {version} but its "
                   f"document says id {ticket.id!r}, stage {ticket.stage!r}, version {ticket.version}",
        )
    return ticket
