"""A stored ticket in brief (:class:`HistoryDigest`): what a bulk counter reads of every record.

A review reads, of each record, its trigger, the stage it entered, its time and its actor, and of
a few records two payload values; never the rest of the record. A store that can pull those out
in its query (SQLite's JSON functions) hands them over as one :class:`DigestRow` per ticket: no
record text crosses into Python, only a short JSON array of the four values of each record
(parsed in one call per ticket). :func:`digest_of` turns such a row into a
:class:`HistoryDigest`, checking what the full bulk read checks where the digest carries it (a
document; the history's sequence numbers run 1..n in both the rows and the records; every record
has a trigger, a stage and an actor that are texts, and a readable time; the last record entered
the row's stage; the row's version is the history's length). A row that fails any check, or holds
a migration record (read under renamed meanings: it needs the records), gives ``None``: its
caller reads that page through the full bulk read instead, which reads it or skips it and says
why (:mod:`._histories`), so a digest never counts what the full read would have left out. What
the digest does not carry is not checked here: the stages each record left (the full read checks
they chain) and the record's other fields; :meth:`~escalation_fsm.stores.StoreBase.verify`
vouches for those.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import floordiv, sub
from typing import Any, NamedTuple

from pydantic_core import from_json

from ..bounds import MIGRATE_TRIGGER
from ._history import expected_seqs

__all__ = ["DigestRow", "HistoryDigest", "digest_of"]

_ITEM = "\x1e"
_CHANGE = "\x1f"
_fromiso = datetime.fromisoformat
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_TRIGGERS: dict[str, tuple[str, ...] | None] = {}
_MAX_TRIGGER_TEXTS = 20_000
_NUMBERS: dict[int, tuple[int, ...]] = {}
_MAX_REMEMBERED_COUNT = 1_000


class DigestRow(NamedTuple):
    r"""One ticket as a store's digest query returns it (``None`` texts: no history).

    ``records`` joins with ``,`` each record's JSON array ``[seq, at, actor_id, dest]`` (its own
    sequence number, time, actor and the stage it entered); ``triggers`` the rows' triggers with
    ``\\x1e``; ``payloads`` the JSON array ``[eta, direction]`` of each record whose trigger was
    asked for, with ``\\x1e``; ``watched`` the change texts that mention ``priority`` or
    ``opened_at``, with ``\\x1f``. ``seqs`` are the rows' sequence numbers.
    """

    id: str
    stage: str
    version: int
    category: str | None
    has_document: int
    opened: str | None
    priority: str | None
    seqs: str | None
    records: str | None
    first_stage: str | None
    triggers: str | None
    payloads: str | None
    watched: str | None


class HistoryDigest:
    """What a counter reads of one stored ticket (see the module docstring).

    ``shape`` names the history's first stage, triggers and stages (its first stage, triggers
    text and stages): histories with equal shapes went the same way through the procedure. ``payloads``
    holds, in record order, one JSON text ``[eta, direction]`` per record whose trigger the
    reader asked about.
    """

    __slots__ = ("actors", "category", "first_stage", "id", "micros", "opened_at", "opened_us",
                 "payloads", "priority", "shape", "stage", "stages", "times", "triggers")

    def __init__(self, row: DigestRow, *, first_stage: str, triggers: tuple[str, ...],
                 stages: tuple[str, ...], times: list[datetime], micros: list[int],
                 actors: tuple[str, ...], opened_at: datetime | None, opened_us: int | None,
                 priority: str) -> None:
        self.id, self.stage, self.category = row.id, row.stage, row.category
        self.first_stage, self.triggers, self.stages = first_stage, triggers, stages
        self.shape = (first_stage, row.triggers, stages)
        self.times, self.actors = times, actors
        self.micros: list[int] = micros
        """The records' times in microseconds since the Unix epoch."""
        self.opened_at, self.priority = opened_at, priority
        self.opened_us: int | None = opened_us
        self.payloads: str | None = row.payloads

    def __repr__(self) -> str:
        return f"HistoryDigest(id={self.id!r}, stage={self.stage!r}, triggers={self.triggers!r})"

    @property
    def start(self) -> datetime:
        """When the ticket's case starts: ``opened_at``, else its first record."""
        return self.times[0] if self.opened_at is None else self.opened_at


def digest_of(row: DigestRow) -> HistoryDigest | None:
    """The digest of one ticket with history, or ``None`` when only the full read may judge it."""
    count = row.version
    if not row.has_document or row.records is None or row.triggers is None:
        return None
    if row.seqs != expected_seqs(count) or row.first_stage is None:
        return None
    triggers = _TRIGGERS[row.triggers] if row.triggers in _TRIGGERS else _triggers(row.triggers)
    if triggers is None or len(triggers) != count:
        return None
    try:
        records = from_json(f"[{row.records}]")
        seqs, times_text, actors, stages = zip(*records, strict=True)
        # join() refuses anything but texts (a missing value is JSON null): cheaper than a test
        # of each value's type, and what the full read's validation would refuse too.
        "".join(actors)
        "".join(stages)
        times = list(map(_fromiso, times_text))
        opened, priority = _current(row)
        opened_at = None if opened is None else _fromiso(opened)
        # Aware times only (a naive one cannot be subtracted from the epoch: TypeError).
        micros = list(map(floordiv, map(sub, times, repeat(_EPOCH)), repeat(_MICRO)))
        opened_us = None if opened_at is None else (opened_at - _EPOCH) // _MICRO
    except (ValueError, TypeError, IndexError):
        return None
    if len(seqs) != count or seqs != _numbers(count) or stages[-1] != row.stage:
        return None
    return HistoryDigest(row, first_stage=row.first_stage, triggers=triggers, stages=stages,
                         times=times, micros=micros, actors=actors, opened_at=opened_at,
                         opened_us=opened_us, priority=priority)


def _numbers(count: int) -> tuple[int, ...]:
    """``(1, ..., count)``, remembered for the usual lengths."""
    found = _NUMBERS.get(count)
    if found is None:
        found = tuple(range(1, count + 1))
        if count <= _MAX_REMEMBERED_COUNT:
            _NUMBERS[count] = found
    return found


def _triggers(text: str) -> tuple[str, ...] | None:
    """A triggers text as a tuple, remembered; ``None`` if it holds a migration record."""
    parts = tuple(text.split(_ITEM))
    found = None if MIGRATE_TRIGGER in parts else parts
    if len(_TRIGGERS) >= _MAX_TRIGGER_TEXTS:
        _TRIGGERS.clear()
    _TRIGGERS[text] = found
    return found


def _current(row: DigestRow) -> tuple[Any, str]:
    """The ticket's opening time and priority: its document's, then what its changes set."""
    opened, priority = row.opened, row.priority
    if row.watched:
        for part in row.watched.split(_CHANGE):
            for name, operation in zip(("priority", "opened_at"), from_json(part), strict=True):
                if operation is not None:
                    if operation[0] != "=":
                        raise ValueError(f"the change of {name!r} has operation {operation[0]!r}")
                    if name == "opened_at":
                        opened = operation[1]
                    else:
                        priority = operation[1]
    return opened, "normal" if priority is None else str(priority)
