"""The small value types of the stores: filters, what a store remembers, listings, reports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import CorruptTicket
from ..integrity import IntegrityProblem
from ..models import AuditRecord, Ticket
from ..sla import ClockState, SLAPolicy, meaning_of
from ..spec import MachineSpec
from ._chain import link
from ._codec import encode_record

__all__ = ["KeyTaken", "Known", "Listing", "Row", "StoreStats", "StoreVerification", "TicketFilter",
           "TicketList", "TicketStream", "Write", "index_key", "index_meaning", "meaning_extends"]


def index_meaning(spec: MachineSpec) -> str:
    """What each trigger of ``spec`` means to the SLA clocks, as JSON (recorded with the index)."""
    return json.dumps(dict(sorted(meaning_of(spec).items())))


def meaning_extends(recorded: str | None, spec: MachineSpec) -> bool:
    """Whether ``spec`` means to the clocks what ``recorded`` said of every trigger it names.

    A spec that only adds triggers (a Tier 3, a ``close``) keeps an index built before valid: no
    folded record reads differently. Nor does one that drops or renames a trigger that meant
    nothing to the clocks (a step, say): the fold reads a trigger the spec lacks as meaning
    nothing, as recorded. Dropping or renaming one that did mean something is refused (the
    records that name it would fold differently).
    """
    if recorded is None:
        return False
    try:
        before = json.loads(recorded)
    except ValueError:
        return False
    now = meaning_of(spec)
    return isinstance(before, dict) and all(now.get(name, 0) == bits for name, bits in before.items())


def index_key(policy: SLAPolicy, spec: MachineSpec) -> str:
    """What a deadline index depends on: the SLA policy and what the spec's triggers mean to it.

    Equal across processes for an equal policy and equal clock meanings; trigger names, stage
    names and descriptions do not enter it, only the policy's content and the marks.
    """
    meaning = sorted(meaning_of(spec).items())
    digest = hashlib.sha256(json.dumps([policy.fingerprint, meaning]).encode("utf-8")).hexdigest()
    return f"{policy.fingerprint}-{digest[:8]}"


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """The filters of :meth:`TicketStore.query`, checked and normalised (``None``: any)."""

    stage: str | None = None
    category: str | None = None
    tier: int | None = None
    updated_before: datetime | None = None
    updated_since: datetime | None = None

    def matches(self, ticket: Ticket, updated_at: datetime) -> bool:
        """Whether ``ticket`` (last updated at ``updated_at``) passes every filter."""
        return (
            (self.stage is None or ticket.stage == self.stage)
            and (self.category is None or ticket.category == self.category)
            and (self.tier is None or ticket.tier == self.tier)
            and (self.updated_before is None or updated_at < self.updated_before)
            and (self.updated_since is None or updated_at >= self.updated_since)
        )


@dataclass(frozen=True, slots=True)
class Known:
    """What a store remembers of a ticket it read or wrote: the ticket, its clocks, its chain.

    ``document`` is the stored document's text as last read (SQL stores): a re-read whose row
    still has this version and this document returns ``ticket`` without decoding anything.
    ``head`` is the hash of its last history row (or of its document), which the next row chains
    to.
    """

    ticket: Ticket
    clocks: ClockState
    document: str | None = None
    due: datetime | None = None
    """The ticket's indexed next deadline, as stored (when ``due_known``)."""
    head: str | None = None
    due_known: bool = False
    """Whether ``due`` is known (a read does not derive it: reading needs no machine)."""


@dataclass(slots=True)
class StoreStats:
    """What one store object did since it was opened (per process, not per database)."""

    commits: int = 0
    """Transitions committed by ``apply``."""
    conflicts: int = 0
    """Compare-and-swaps lost to another writer (each one retried or reported)."""
    gave_up: int = 0
    """``apply`` calls that raised ``ConcurrentUpdate`` after ``max_attempts`` lost races."""
    replayed: int = 0
    """``apply`` calls answered from an idempotency key already committed (nothing applied)."""
    reconnects: int = 0
    """New connections made after the database connection was lost (PostgreSQL)."""
    skipped: int = 0
    """Rows left out of listings because they do not decode (see ``TicketList.skipped``)."""


class TicketList(list[Ticket]):
    """The tickets a listing (``query``, ``due``) returns: a ``list``, plus what it left out.

    ``skipped`` holds one :class:`~escalation_fsm.errors.CorruptTicket` per row that matched but
    does not decode (``.ticket_id``, ``.reason``), in the listing's order: one bad row never
    hides the others, and is never hidden itself.
    """

    def __init__(self, tickets: list[Ticket] | None = None,
                 skipped: tuple[CorruptTicket, ...] = ()) -> None:
        super().__init__(tickets or ())
        self.skipped: tuple[CorruptTicket, ...] = skipped


@dataclass(slots=True)
class Listing:
    """One batch a store read: the tickets, the rows it skipped, and the last id it looked at."""

    tickets: list[Ticket] = field(default_factory=list)
    skipped: list[CorruptTicket] = field(default_factory=list)
    last_id: str | None = None
    rows: int = 0
    """Rows read (decoded or skipped), which keyset pagination and limits count."""


class TicketStream(Iterator[Ticket]):
    """What :meth:`StoreBase.stream` returns: an iterator of tickets, plus what it left out.

    ``skipped`` grows, as the stream goes, with one
    :class:`~escalation_fsm.errors.CorruptTicket` per row that does not decode.
    """

    def __init__(self, page: Callable[[str | None, int], Listing], batch_size: int) -> None:
        self.skipped: list[CorruptTicket] = []
        self._tickets = self._pages(page, batch_size)

    def _pages(self, page: Callable[[str | None, int], Listing], size: int) -> Iterator[Ticket]:
        after: str | None = None
        while True:
            batch = page(after, size)
            self.skipped.extend(batch.skipped)
            yield from batch.tickets
            if batch.rows < size or batch.last_id is None:
                return
            after = batch.last_id

    def __next__(self) -> Ticket:
        return next(self._tickets)


class Row:
    """One history row a save appends: the record, its texts, its key and its chained hash."""

    __slots__ = ("changes", "hash", "key", "record", "text")

    def __init__(self, record: AuditRecord, text: str, changes: str | None, key: str | None,
                 previous: str) -> None:
        self.record = record
        self.text = text
        self.changes = changes
        self.key = key
        self.hash = link(previous, text, changes, key)


class Write:
    """What one ``apply`` saves: history rows, and the ticket row's clocks and deadline.

    Usually one row; two when the ticket was migrated on the way (the migration record, then the
    trigger's). ``record``, ``text``, ``changes``, ``key`` and ``hash`` are the last row's;
    ``clocks`` and ``due`` the row's new SLA clock state and indexed deadline (``due_moved``: the
    deadline changed); ``step``/``step_moved`` the same for the next ladder step
    (``next_step_at``).
    """

    __slots__ = ("changes", "clocks", "due", "due_moved", "hash", "key", "record", "rows", "step",
                 "step_moved", "text")

    def __init__(self, records: tuple[AuditRecord, ...], *, changes: str | None, key: str | None,
                 previous: str, clocks: ClockState, due: datetime | None, due_moved: bool,
                 step: datetime | None = None, step_moved: bool = False) -> None:
        rows = []
        for position, record in enumerate(records, start=1):
            last = position == len(records)
            row = Row(record, encode_record(record), changes if last else None,
                      key if last else None, previous)
            rows.append(row)
            previous = row.hash
        self.rows: tuple[Row, ...] = tuple(rows)
        self.record, self.text, self.changes = rows[-1].record, rows[-1].text, changes
        self.key, self.hash = key, rows[-1].hash
        self.clocks = clocks
        self.due = due
        self.due_moved = due_moved
        self.step = step
        self.step_moved = step_moved


class KeyTaken(Exception):
    """A store's ``_swap`` found the idempotency key already used (and wrote nothing)."""


@dataclass(frozen=True, slots=True)
class StoreVerification:
    """What :meth:`StoreBase.verify` found: every problem of every ticket it checked.

    ``problems`` lists, per ticket, its row, document and history problems (the first history row
    that does not match its hash, not the ones after it) and what
    :meth:`~escalation_fsm.EscalationMachine.verify` says of the decoded ticket.
    """

    checked: int
    problems: tuple[IntegrityProblem, ...]

    @property
    def ok(self) -> bool:
        """Whether every ticket checked is what the library wrote."""
        return not self.problems

    @property
    def tickets(self) -> tuple[str, ...]:
        """The ids of the tickets with problems, in the order checked."""
        return tuple(dict.fromkeys(problem.ticket_id for problem in self.problems))
