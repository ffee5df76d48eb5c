"""Tickets to stored texts and back, shared by every store.

A ticket is stored as:

* its row: the columns queries filter on (stage, category, tier, version, last update, next
  deadline) and its folded SLA clock state (``clocks``);
* its document as it was created (``escalation_documents``: the ticket without history, valid at
  ``base_version``), written once, with the hash its chain starts from (:mod:`._chain`);
* one history row per audit record, with the patch of ticket data that transition made
  (:mod:`._changes`), its idempotency key if the call had one, and its chained hash, so that a
  save writes the new record and its patch, never the ticket again.

Reading a ticket back checks its chain and validates every part, so a damaged or foreign row
raises :class:`~escalation_fsm.errors.CorruptTicket` naming the ticket (and the first history row
that does not match) instead of returning a half-built or silently altered one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import to_json

from ..errors import CorruptTicket
from ..models import AuditRecord, Ticket, check_history, evolve
from ..sla import ClockState
from ._chain import genesis, link
from ._changes import diff, patch

__all__ = ["INDEX_KEY", "MEANING_KEY", "POLICY_KEY", "SCHEMA_VERSION", "Sealed", "StoredRecord",
           "StoredTicket", "changed_columns", "decode", "decode_clocks", "encode_changes", "encode_document",
           "encode_record", "seal", "utc_text"]

SCHEMA_VERSION = 6
"""The layout of the tables this release writes; stored in the database, checked on open.

Version 2 added ``escalation_tickets.next_due_at`` and its index (the SLA deadline index).
Version 3 keeps the ticket document as created (``base_version``), a patch per history row
(``changes``) and the folded SLA clocks (``clocks``). Version 4 adds the hash chain (a ``hash``
per document and per history row) and each history row's ``idempotency_key``, unique per ticket.
Version 5 adds the specs seen (``escalation_specs``) and each ticket row's ``spec`` fingerprint.
Version 6 adds each ticket row's next SLA ladder step (``next_step_at``, indexed) and its lease
(``lease_owner``, ``lease_until``) for follow-up workers (``docs/following-up.md``).
Older databases are migrated when a store opens them writable, never by a read-only open.
"""

INDEX_KEY = "sla_index"
"""The meta key holding the key of the SLA policy and trigger meaning the index was built with."""
POLICY_KEY = "sla_policy_json"
"""The meta key holding that SLA policy itself, so a reader can use it without being told."""
MEANING_KEY = "sla_meaning_json"
"""The meta key holding what each trigger meant to the clocks when the index was built, so a
spec that only adds triggers (and keeps what the others mean) can use the index as it is."""


class StoredRecord(NamedTuple):
    """One history row as stored: texts exactly as written (the chain hashes them)."""

    seq: int
    record: str
    changes: str | None
    key: str | None
    hash: str | None


class StoredTicket(NamedTuple):
    """A ticket's row, document and history rows as stored.

    ``rows`` holds only the rows after a known prefix when the reader asked for those. Times are
    :func:`utc_text`.
    """

    id: str
    stage: str
    version: int
    category: str | None
    tier: int
    document: str | None
    base_version: int | None
    doc_hash: str | None
    clocks: str | None
    updated_at: str | None
    next_due_at: str | None
    spec: str | None
    """The fingerprint of the spec the ticket's last record was written under (``None``:
    none, or unknown)."""
    rows: list[StoredRecord]


class Sealed(NamedTuple):
    """What ``create`` writes: the document, its hash, each record's text and hash, the head."""

    document: str
    doc_hash: str
    records: list[tuple[AuditRecord, str, str]]
    head: str


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


def seal(ticket: Ticket) -> Sealed:
    """A new ticket's texts and chain (its history rows carry no patch and no key)."""
    document = encode_document(ticket)
    head = start = genesis(ticket.id, ticket.version, document)
    records = []
    for record in ticket.history:
        text = encode_record(record)
        head = link(head, text, None, None)
        records.append((record, text, head))
    return Sealed(document, start, records, head)


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


def _json(ticket_id: str, value: str, what: str, seq: int | None = None) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"{what} is not JSON: {exc}",
                            seq=seq) from exc


def _problems(exc: ValidationError) -> str:
    shown = [f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in exc.errors()[:3]]
    more = exc.error_count() - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def decode_clocks(ticket_id: str, text: str) -> ClockState:
    """The stored SLA clock state of a ticket."""
    try:
        return ClockState.from_json(text)
    except ValueError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"its SLA clock state: {exc}") from exc


def _checked_chain(stored: StoredTicket, head: str | None) -> str:
    """The chain's head after ``stored.rows``, checked against every stored hash."""
    ticket_id = stored.id
    if head is None:
        if stored.document is None or stored.base_version is None:
            raise CorruptTicket(ticket_id=ticket_id, reason="its document is missing "
                                                            "(escalation_documents has no row for it)")
        head = genesis(ticket_id, stored.base_version, stored.document)
        if head != stored.doc_hash:
            raise CorruptTicket(ticket_id=ticket_id, reason="its document does not match its hash: "
                                                            "it was changed outside the library")
    for row in stored.rows:
        head = link(head, row.record, row.changes, row.key)
        if head != row.hash:
            raise CorruptTicket(ticket_id=ticket_id, seq=row.seq, reason=(
                f"history row {row.seq} does not match its hash: it, or a row before it, was "
                f"changed, removed or inserted outside the library"))
    return head


def decode(stored: StoredTicket, known: Ticket | None = None, head: str | None = None, *,
           upto: int | None = None) -> tuple[Ticket, str]:
    """A full ticket and its chain's head from what is stored, or :class:`CorruptTicket`.

    ``stored.rows`` holds every history row, ordered by ``seq``, or with ``known`` (a version of
    the ticket read and validated earlier, whose chain ended in ``head``) only the rows after it.
    ``upto`` decodes the ticket as it was at that version (an idempotent call's result).
    """
    ticket_id = stored.id
    rows = stored.rows if upto is None else [row for row in stored.rows if row.seq <= upto]
    head = _checked_chain(stored._replace(rows=rows), None if known is None else head)
    try:
        records = tuple(AuditRecord.model_validate(_json(ticket_id, row.record, "a history row",
                                                         row.seq)) for row in rows)
    except ValidationError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"history row: {_problems(exc)}") from exc
    try:
        if known is None:
            base = stored.base_version or 0
            ticket = _base(ticket_id, stored.document, records[:base])
            ahead = zip(records[base:], rows[base:], strict=True)
        else:
            ticket, ahead = known, zip(records, rows, strict=True)
        for record, row in ahead:
            if record.seq != ticket.version + 1:
                raise ValueError(f"history record {record.seq} follows version {ticket.version}")
            if record.source != ticket.stage:
                raise ValueError(f"history record {record.seq} leaves stage {record.source!r}, but "
                                 f"the ticket was in stage {ticket.stage!r}")
            if row.changes is not None:
                ticket = patch(ticket, _json(ticket_id, row.changes, "a history row's changes",
                                             row.seq))
            ticket = evolve(ticket, {"stage": record.dest, "version": record.seq,
                                     "history": (*ticket.history, record)})
        check_history(ticket)
    except ValidationError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=_problems(exc)) from exc
    except ValueError as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=str(exc)) from exc
    if upto is None:
        _check_row(stored, ticket)
    return ticket, head


def _check_row(stored: StoredTicket, ticket: Ticket) -> None:
    if stored.spec != ticket.spec_fingerprint:
        raise CorruptTicket(ticket_id=stored.id, reason=(
            f"the row says it was written under spec {stored.spec}, but its last history record "
            f"says {ticket.spec_fingerprint}"))
    found = (ticket.id, ticket.stage, ticket.version, ticket.category, ticket.tier)
    if (stored.id, stored.stage, stored.version, stored.category, stored.tier) != found:
        raise CorruptTicket(
            ticket_id=stored.id,
            reason=f"the row says id {stored.id!r}, stage {stored.stage!r}, version "
                   f"{stored.version}, category {stored.category!r}, tier {stored.tier} but its "
                   f"document and history say id {ticket.id!r}, stage {ticket.stage!r}, version "
                   f"{ticket.version}, category {_plain(ticket.category)!r}, tier {ticket.tier}",
        )


def _plain(value: Any) -> Any:
    return None if value is None else str(value)


def _base(ticket_id: str, document: str | None, history: tuple[AuditRecord, ...]) -> Ticket:
    """The ticket as created: its document with the history it had then."""
    if document is None:
        raise ValueError("its document is missing (escalation_documents has no row for it)")
    fields = _json(ticket_id, document, "the ticket document")
    if not isinstance(fields, dict):
        raise CorruptTicket(ticket_id=ticket_id,
                            reason=f"the ticket document is a {type(fields).__name__}, not an object")
    return Ticket.model_validate({**fields, "history": history})
