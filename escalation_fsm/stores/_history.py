"""One stored ticket as the bulk read path gives it (:class:`TicketHistory`), and its decoding.

A bulk reader mostly needs a few things of every record (its trigger, the stage it entered, its
time, its actor) and the records themselves only sometimes: :func:`history_of` parses a ticket's
texts once and keeps those as columns, built by C-level loops; the audit records are built from
the same parsed data when first asked for. See :mod:`._histories` for the trust rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from itertools import repeat
from operator import eq, itemgetter
from typing import Any, NamedTuple

from pydantic_core import from_json

from ..errors import CorruptTicket
from ..models import AuditRecord, FrozenDict, Ticket, freeze_json, trusted_from

__all__ = ["CHANGES_SEPARATOR", "RECORD_SEPARATOR", "HistoryRow", "TicketHistory", "expected_seqs",
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
_SEQ, _AT, _SOURCE, _DEST, _TRIGGER, _ACTOR, _PAYLOAD = map(itemgetter, (
    "seq", "at", "source", "dest", "trigger", "actor_id", "payload"))
_RANGES: dict[int, tuple[str, list[int]]] = {}


class HistoryRow(NamedTuple):
    """One ticket as a store's bulk query returns it: the row's columns and the texts.

    ``records`` holds the ticket's history record texts joined by :data:`RECORD_SEPARATOR`,
    ``seqs`` their sequence numbers (comma-separated, same order), ``changes`` their change texts
    joined by :data:`CHANGES_SEPARATOR` (``None``: no history).
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


class TicketHistory:
    """One stored ticket as the bulk read path gives it: its row, its key fields, its history.

    ``stage``, ``version``, ``category`` and ``tier`` are the ticket row's; ``opened_at`` and
    ``priority`` the ticket's current values (its document as created, with the changes its
    records made). The history comes as columns, one entry per record, oldest first:
    ``triggers``, ``stages`` (the stage each record entered), ``times`` and ``actors`` (actor
    ids), with ``first_stage`` the stage the first record left; :attr:`records` are the audit
    records themselves, built (without validation: see the trust rule of
    :meth:`~escalation_fsm.stores.StoreBase.histories`) when first asked for, and
    :meth:`payload` one record's payload. :meth:`ticket` builds the whole ticket, validated.
    Treat it as a value: nothing in it is meant to change.
    """

    __slots__ = ("_data", "_records", "actors", "base_version", "category", "changes", "document",
                 "first_stage", "id", "opened_at", "priority", "stage", "stages", "tier", "times",
                 "triggers", "version")

    def __init__(self, row: HistoryRow, *, opened_at: datetime | None, priority: str,
                 data: list[dict[str, Any]], times: tuple[datetime, ...],
                 changes: tuple[str | None, ...]) -> None:
        self.id, self.stage, self.version = row.id, row.stage, row.version
        self.category, self.tier = row.category, row.tier
        self.opened_at, self.priority = opened_at, priority
        self.document: str = row.document or ""
        """The ticket's document as created (JSON text, at version ``base_version``)."""
        self.base_version: int = row.base_version or 0
        self.changes = changes
        """Each record's change text (``None``: it changed no data), as stored."""
        self.first_stage: str | None = data[0]["source"] if data else None
        self.triggers: tuple[str, ...] = tuple(map(_TRIGGER, data))
        self.stages: tuple[str, ...] = tuple(map(_DEST, data))
        self.times = times
        self.actors: tuple[str, ...] = tuple(map(_ACTOR, data))
        self._data = data
        self._records: tuple[AuditRecord, ...] | None = None

    @classmethod
    def of_ticket(cls, ticket: Ticket) -> TicketHistory:
        """A ticket (read or built elsewhere) as a history, as if read from a store."""
        data = [record.__dict__ for record in ticket.history]
        found = cls(HistoryRow(ticket.id, ticket.stage, ticket.version,
                               None if ticket.category is None else str(ticket.category),
                               ticket.tier, None, None, None, None, None),
                    opened_at=ticket.opened_at, priority=str(ticket.priority), data=data,
                    times=tuple(record.at for record in ticket.history),
                    changes=(None,) * ticket.version)
        found._records = ticket.history
        return found

    def __repr__(self) -> str:
        return (f"TicketHistory(id={self.id!r}, stage={self.stage!r}, version={self.version}, "
                f"triggers={self.triggers!r})")

    @property
    def start(self) -> datetime | None:
        """When the ticket's case starts: ``opened_at``, else its first record (``None``: neither)."""
        if self.opened_at is not None:
            return self.opened_at
        return self.times[0] if self.times else None

    @property
    def records(self) -> tuple[AuditRecord, ...]:
        """The audit records, oldest first (built on first use, then kept)."""
        found = self._records
        if found is None:
            found = self._records = tuple(
                trusted_from(AuditRecord, {**item, "at": at, "payload": _frozen(item["payload"])})
                for item, at in zip(self._data, self.times, strict=True))
        return found

    def payload(self, index: int) -> Mapping[str, Any]:
        """The payload of record ``index`` (read-only), without building every record."""
        if self._records is not None:
            return self._records[index].payload
        return _frozen(self._data[index]["payload"])  # type: ignore[no-any-return]

    def ticket(self) -> Ticket:
        """The whole ticket: the document with each later record's changes, validated.

        Costs what a validated read costs (no hash is checked); :class:`CorruptTicket` if the
        texts do not make a valid ticket.
        """
        from ._changes import patch  # noqa: PLC0415 (the slow path, rarely taken)

        records = self.records
        try:
            fields = json.loads(self.document)
            base = self.base_version
            ticket = Ticket.model_validate({**fields, "history": records[:base]})
            for record, changes in zip(records[base:], self.changes[base:], strict=True):
                if changes is not None:
                    ticket = patch(ticket, json.loads(changes))
                ticket = ticket.model_copy(update={"stage": record.dest, "version": record.seq,
                                                   "history": (*ticket.history, record)})
            return Ticket.model_validate(ticket.model_dump())
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptTicket(ticket_id=self.id, reason=f"{type(exc).__name__}: {exc}") from exc


def _frozen(payload: dict[str, Any]) -> Any:
    """A parsed payload made read-only (in one step when it is flat)."""
    if not payload:
        return _EMPTY
    for value in payload.values():
        if value.__class__ in _NESTED:
            return freeze_json(payload)
    return FrozenDict(payload)


def history_of(row: HistoryRow) -> TicketHistory:
    """The :class:`TicketHistory` of one bulk row, or :class:`CorruptTicket` saying why not."""
    try:
        return _built(row)
    except CorruptTicket:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CorruptTicket(ticket_id=row.id, reason=f"{type(exc).__name__}: {exc}") from exc


def _built(row: HistoryRow) -> TicketHistory:
    ticket_id = row.id
    if row.document is None or row.base_version is None:
        raise CorruptTicket(ticket_id=ticket_id, reason="its document is missing "
                                                        "(escalation_documents has no row for it)")
    document = from_json(row.document)
    opened = document.get("opened_at")
    priority = document.get("priority", "normal")
    data: list[dict[str, Any]] = []
    changes: tuple[str | None, ...] = ()
    if row.records:
        data = from_json(f"[{row.records.replace(RECORD_SEPARATOR, ',')}]")
        parts = (row.changes or "").split(CHANGES_SEPARATOR)
        data, parts = _in_order(ticket_id, row.seqs or "", data, parts)
        _check(ticket_id, data)
        changes = tuple(part or None for part in parts)
        if row.changes and any(name in row.changes for name in _WATCHED):
            for part in changes:  # the few changes that touch the fields read here
                if part is not None and any(name in part for name in _WATCHED):
                    patch = json.loads(part)
                    opened = _set(patch, "opened_at", opened)
                    priority = _set(patch, "priority", priority)
    if row.version != len(data):
        raise CorruptTicket(ticket_id=ticket_id, reason=(
            f"the row says version {row.version}, but {len(data)} history rows are stored"))
    times = tuple(map(_fromiso, map(_AT, data)))
    history = TicketHistory(row, opened_at=None if opened is None else _fromiso(opened),
                            priority=str(priority), data=data, times=times, changes=changes)
    if data and history.stages[-1] != row.stage:
        raise CorruptTicket(ticket_id=ticket_id, reason=(
            f"the row says stage {row.stage!r}, but its last history record entered "
            f"{history.stages[-1]!r}"))
    return history


def expected_seqs(count: int) -> str:
    """``"1,2,...,count"``: the sequence numbers of a history of ``count`` records, as a text."""
    expected = _RANGES.get(count)
    if expected is None:
        expected = _RANGES[count] = (",".join(map(str, range(1, count + 1))),
                                     list(range(1, count + 1)))
    return expected[0]


def _in_order(ticket_id: str, seqs: str, data: list[Any],
              parts: list[str]) -> tuple[list[Any], list[str]]:
    """The records and changes in ``seq`` order 1..n, as the sequence column says."""
    count = len(data)
    expected = _RANGES.get(count)
    if expected is None:
        expected = _RANGES[count] = (",".join(map(str, range(1, count + 1))),
                                     list(range(1, count + 1)))
    if len(parts) != count:
        raise ValueError("the history's records and changes do not line up")
    if seqs != expected[0]:  # the database may aggregate in any order: put it right, or say why
        found = [int(seq) for seq in seqs.split(",")]
        if sorted(found) != expected[1]:
            raise CorruptTicket(ticket_id=ticket_id, reason=(
                f"its history rows are numbered {seqs}, not 1 to {count} without gaps"))
        order = sorted(range(count), key=found.__getitem__)
        data, parts = [data[n] for n in order], [parts[n] for n in order]
    return data, parts


def _check(ticket_id: str, data: list[Any]) -> None:
    """What is cheap to check of parsed records (C-level loops): fields, sequence, stages."""
    if not all(map(eq, repeat(_FIELDS), map(dict.keys, data))):
        for item in data:
            item.setdefault("spec_fingerprint", None)  # written before it was recorded
            if item.keys() != _FIELDS:
                raise CorruptTicket(ticket_id=ticket_id, seq=item.get("seq"), reason=(
                    f"a history record has fields {sorted(item)}, not those of an audit record"))
    if list(map(_SEQ, data)) != _RANGES[len(data)][1]:
        raise CorruptTicket(ticket_id=ticket_id, reason="its records' sequence numbers do not "
                                                        "run 1..n in the order of its rows")
    sources, dests = list(map(_SOURCE, data)), list(map(_DEST, data))
    if sources[1:] != dests[:-1]:
        seq = next(n for n, (a, b) in enumerate(zip(sources[1:], dests, strict=False), 2) if a != b)
        raise CorruptTicket(ticket_id=ticket_id, seq=seq, reason=(
            f"history record {seq} does not leave the stage the record before entered"))
    if not all(map(isinstance, map(_PAYLOAD, data), repeat(dict))):
        raise CorruptTicket(ticket_id=ticket_id, reason="a history record's payload is not an "
                                                        "object")


def _set(patch: Any, name: str, value: Any) -> Any:
    """``value`` after ``patch`` (a change text's data), if it sets field ``name``."""
    operation = patch.get(name)
    if operation is None:
        return value
    if operation[0] != "=":
        raise ValueError(f"the change of {name!r} has operation {operation[0]!r}")
    return operation[1]
