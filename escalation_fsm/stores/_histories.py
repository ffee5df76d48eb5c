"""The bulk read path: every stored history, a page at a time, in id order, trusted.

For readers that go through a whole store (a review, a migration's dry run, an export):
:meth:`HistoryReads.histories` and :meth:`HistoryReads.history_page` read each page of tickets
with one query (the ticket rows, their documents and their history rows, each ticket's history
aggregated by the database) and build every audit record without validating it again.

**The trust rule.** Every stored row was written by a store through validated models (``create``
validates the ticket, ``apply`` the transition), so reading it back needs no second validation;
what could have changed a row since is a writer outside the library, and that is what the hash
chain and :meth:`~escalation_fsm.stores.StoreBase.verify` detect. This path therefore checks no
hash and runs no pydantic validation: it parses the JSON texts (pydantic-core's parser), checks
what is cheap (the history runs ``seq`` 1..n without gaps, each record leaves the stage the one
before entered and has exactly an audit record's fields, the row's version and stage agree with
the history) and builds the records as they were written. A row it
cannot read this way (text that is not JSON, a field missing or of the wrong kind, a broken
sequence, no document) is skipped and reported in ``skipped``, never raised and never silently
dropped. Use ``get``/``stream`` (which check the chain and validate) for a ticket you act on, and
``verify`` to vouch for the data.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import from_json

from ..errors import CorruptTicket
from ..models import AuditRecord, FrozenDict, Ticket, freeze_json, trusted_from
from ._args import MAX_BATCH, checked_count, checked_id, checked_time
from ._types import StoreStats

__all__ = ["CHANGES_SEPARATOR", "RECORD_SEPARATOR", "HistoryPage", "HistoryReads", "HistoryRow",
           "HistoryStream", "TicketHistory",
           "history_of"]

RECORD_SEPARATOR = "\x1e"
"""Between the record texts of one ticket (JSON text never holds a raw control character)."""
CHANGES_SEPARATOR = "\x1f"
"""Between the change texts of one ticket (an empty text: the record changed no data)."""

_fromiso = datetime.fromisoformat
_WATCHED = ('"priority"', '"opened_at"')
_FIELDS = frozenset(AuditRecord.model_fields)
_EMPTY = FrozenDict()
_NESTED = frozenset({dict, list})


class HistoryRow(NamedTuple):
    """One ticket as a store's bulk query returns it: the row's columns and the texts.

    ``records`` holds the ticket's history record texts joined by :data:`RECORD_SEPARATOR`,
    ``seqs`` their sequence numbers (comma-separated, same order), ``changes`` their change texts
    joined by :data:`CHANGES_SEPARATOR` (``None``/empty: no history).
    """

    id: str
    stage: str
    version: int
    category: str | None
    tier: int
    document: str | None
    base_version: int | None
    seqs: str | None
    records: str | None
    changes: str | None


@dataclass(frozen=True, slots=True)
class TicketHistory:
    """One stored ticket as the bulk read path gives it: its row, its key fields, its history.

    ``stage``, ``version``, ``category`` and ``tier`` are the ticket row's; ``opened_at`` and
    ``priority`` the ticket's current values (its document as created, with the changes its
    records made); ``records`` its audit records, oldest first, built without validation (see
    the module's trust rule). :meth:`ticket` builds the whole ticket, validated.
    """

    id: str
    stage: str
    version: int
    category: str | None
    tier: int
    opened_at: datetime | None
    priority: str
    records: tuple[AuditRecord, ...]
    document: str = field(repr=False)
    """The ticket's document as created (JSON text, at version ``base_version``)."""
    base_version: int = field(repr=False)
    changes: tuple[str | None, ...] = field(repr=False)
    """Each record's change text (``None``: it changed no data), as stored."""

    @property
    def start(self) -> datetime | None:
        """When the ticket's case starts: ``opened_at``, else its first record (``None``: neither)."""
        if self.opened_at is not None:
            return self.opened_at
        return self.records[0].at if self.records else None

    def ticket(self) -> Ticket:
        """The whole ticket: the document with each later record's changes, validated.

        Costs what a validated read costs (no hash is checked); :class:`CorruptTicket` if the
        texts do not make a valid ticket.
        """
        from ._changes import patch  # noqa: PLC0415 (the slow path, rarely taken)

        try:
            fields = json.loads(self.document)
            base = self.base_version
            ticket = Ticket.model_validate({**fields, "history": self.records[:base]})
            for record, changes in zip(self.records[base:], self.changes[base:], strict=True):
                if changes is not None:
                    ticket = patch(ticket, json.loads(changes))
                ticket = ticket.model_copy(update={"stage": record.dest, "version": record.seq,
                                                   "history": (*ticket.history, record)})
            return Ticket.model_validate(ticket.model_dump())
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptTicket(ticket_id=self.id, reason=f"{type(exc).__name__}: {exc}") from exc


def history_of(row: HistoryRow) -> TicketHistory:
    """The :class:`TicketHistory` of one bulk row, or :class:`CorruptTicket` saying why not."""
    ticket_id = row.id
    try:
        return _built(row)
    except CorruptTicket:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"{type(exc).__name__}: {exc}") from exc


def _built(row: HistoryRow) -> TicketHistory:
    ticket_id = row.id
    if row.document is None or row.base_version is None:
        raise CorruptTicket(ticket_id=ticket_id, reason="its document is missing "
                                                        "(escalation_documents has no row for it)")
    document = from_json(row.document)
    opened = document.get("opened_at")
    priority = document.get("priority", "normal")
    records: tuple[AuditRecord, ...] = ()
    changes: tuple[str | None, ...] = ()
    if row.records:
        texts = row.records
        data = from_json(f"[{texts.replace(RECORD_SEPARATOR, ',')}]")
        seqs = [int(seq) for seq in (row.seqs or "").split(",")]
        parts = (row.changes or "").split(CHANGES_SEPARATOR)
        if not len(seqs) == len(data) == len(parts):
            raise ValueError("the history's records, sequence numbers and changes do not line up")
        if seqs != sorted(seqs):  # the database may aggregate in any order: put it right
            order = sorted(range(len(seqs)), key=seqs.__getitem__)
            data, parts = [data[n] for n in order], [parts[n] for n in order]
        records = _records(ticket_id, data)
        changes = tuple(part or None for part in parts)
        if any(name in row.changes for name in _WATCHED if row.changes):
            for part in changes:  # the few changes that touch the fields read here
                if part is not None and any(name in part for name in _WATCHED):
                    patch = json.loads(part)
                    opened = _set(patch, "opened_at", opened)
                    priority = _set(patch, "priority", priority)
    if row.version != len(records):
        raise CorruptTicket(ticket_id=ticket_id, reason=(
            f"the row says version {row.version}, but {len(records)} history rows are stored"))
    if records and records[-1].dest != row.stage:
        raise CorruptTicket(ticket_id=ticket_id, reason=(
            f"the row says stage {row.stage!r}, but its last history record entered "
            f"{records[-1].dest!r}"))
    return TicketHistory(ticket_id, row.stage, row.version, row.category, row.tier,
                         None if opened is None else _fromiso(opened), str(priority), records,
                         row.document, row.base_version, changes)


def _records(ticket_id: str, data: list[Any]) -> tuple[AuditRecord, ...]:
    """The audit records of parsed record texts (in ``seq`` order), checked as far as is cheap."""
    built = []
    previous: str | None = None
    fields, make, nested = _FIELDS, trusted_from, _NESTED
    for expected, item in enumerate(data, start=1):
        source = item["source"]
        if item["seq"] != expected or (previous is not None and source != previous):
            raise CorruptTicket(ticket_id=ticket_id, seq=expected, reason=(
                f"history record {expected} does not follow the one before (found seq "
                f"{item['seq']}, leaving stage {source!r} after {previous!r})"))
        previous = item["dest"]
        item["at"] = _fromiso(item["at"])
        payload = item["payload"]
        if payload:
            for value in payload.values():
                if value.__class__ in nested:
                    item["payload"] = freeze_json(payload)
                    break
            else:  # flat: frozen in one step
                item["payload"] = FrozenDict(payload)
        else:
            item["payload"] = _EMPTY
        if item.keys() != fields:
            item.setdefault("spec_fingerprint", None)  # written before it was recorded
            if item.keys() != fields:
                raise ValueError(f"history record {expected} has fields {sorted(item)}, "
                                 f"not those of an audit record")
        built.append(make(AuditRecord, item))
    return tuple(built)


def _set(patch: Any, name: str, value: Any) -> Any:
    """``value`` after ``patch`` (a change text's data), if it sets field ``name``."""
    operation = patch.get(name)
    if operation is None:
        return value
    if operation[0] != "=":
        raise ValueError(f"the change of {name!r} has operation {operation[0]!r}")
    return operation[1]


@dataclass(slots=True)
class HistoryPage:
    """One page of :meth:`HistoryReads.history_page`.

    ``histories`` in id order (those in the time window, if one was given); ``skipped`` one
    :class:`~escalation_fsm.errors.CorruptTicket` per ticket that could not be read; ``last_id``
    the last id read (pass it as ``after`` for the next page; ``None``: the page was empty);
    ``rows`` the tickets read, in the window or not (fewer than the page size: the last page).
    """

    histories: list[TicketHistory] = field(default_factory=list)
    skipped: list[CorruptTicket] = field(default_factory=list)
    last_id: str | None = None
    rows: int = 0


class HistoryStream(Iterator[TicketHistory]):
    """What :meth:`HistoryReads.histories` returns: the histories, plus what it left out.

    ``skipped`` grows as the stream goes, one :class:`~escalation_fsm.errors.CorruptTicket` per
    ticket that could not be read; ``read`` counts the tickets read (in the window or not).
    """

    def __init__(self, reads: HistoryReads, *, since: datetime | None, until: datetime | None,
                 page_size: int, after: str | None) -> None:
        self.skipped: list[CorruptTicket] = []
        self.read = 0
        self._items = self._pages(reads, since, until, page_size, after)

    def _pages(self, reads: HistoryReads, since: datetime | None, until: datetime | None,
               size: int, after: str | None) -> Iterator[TicketHistory]:
        while True:
            page = reads.history_page(after=after, size=size, since=since, until=until)
            self.skipped.extend(page.skipped)
            self.read += page.rows
            yield from page.histories
            if page.rows < size or page.last_id is None:
                return
            after = page.last_id

    def __next__(self) -> TicketHistory:
        return next(self._items)


class HistoryReads(ABC):
    """The bulk read half of :class:`~escalation_fsm.stores.StoreBase` (module docstring)."""

    stats: StoreStats

    def histories(self, *, since: datetime | None = None, until: datetime | None = None,
                  page_size: int = 1000, after: str | None = None) -> HistoryStream:
        """Every stored ticket's history, by id, ``page_size`` tickets per query, trusted.

        Fast: one query per page, no hash checked, no validation (the module's trust rule:
        what the store wrote is read back as written; ``verify`` vouches for it). ``since`` and
        ``until`` (timezone-aware) keep the tickets whose case starts in ``[since, until)``: opened
        then (``opened_at``), or, without an opening time, whose first record is then.
        ``after`` starts after that id. A ticket that cannot be read is left out and listed in
        the stream's ``skipped``. No transaction stays open between pages.
        """
        checked_count(page_size, "page_size", low=1, high=MAX_BATCH)
        since, until = _window(since, until)
        if after is not None:
            after = checked_id(after, "after")
        return HistoryStream(self, since=since, until=until, page_size=page_size, after=after)

    def history_page(self, *, after: str | None = None, size: int = 1000,
                     since: datetime | None = None,
                     until: datetime | None = None) -> HistoryPage:
        """Up to ``size`` tickets with ids greater than ``after``, by id: one page of :meth:`histories`.

        One query, one snapshot. The histories outside ``[since, until)`` are read and left out.
        """
        checked_count(size, "size", low=1, high=MAX_BATCH)
        since, until = _window(since, until)
        rows = self._history_rows(None if after is None else checked_id(after, "after"), size)
        page = HistoryPage(rows=len(rows), last_id=rows[-1].id if rows else None)
        for row in rows:
            try:
                history = history_of(row)
            except CorruptTicket as exc:
                page.skipped.append(exc)
                continue
            if since is not None or until is not None:
                start = history.start
                if start is None or (since is not None and start < since) or (
                        until is not None and start >= until):
                    continue
            page.histories.append(history)
        self.stats.skipped += len(page.skipped)
        return page

    @abstractmethod
    def _history_rows(self, after: str | None, size: int) -> list[HistoryRow]:
        """Up to ``size`` tickets with ids greater than ``after``, by id, as bulk rows."""


def _window(since: datetime | None,
            until: datetime | None) -> tuple[datetime | None, datetime | None]:
    return (None if since is None else checked_time(since, "since"),
            None if until is None else checked_time(until, "until"))
