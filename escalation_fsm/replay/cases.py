"""What the reader yields: a log's cases as rows (:class:`RawCase`) or as columns (:class:`CaseData`).

Also what it counts while reading (:class:`LogStats`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from .notes import ReadNotes
from .times import Stamp

__all__ = ["CaseData", "LogStats", "Progress", "RawCase", "RawEvent"]

Progress = Callable[[int, int], None]
"""Called now and then with (bytes read, total bytes) while a log is read."""


class RawEvent(NamedTuple):
    """One row as the replay needs it. ``line`` is its line in the file (for messages).

    A named tuple rather than a frozen dataclass: one is built per row, and a frozen dataclass
    costs several times more to construct.
    """

    line: int
    at: datetime
    activity: str
    resource: str | None
    conditions: tuple[str | None, ...]
    """The values of the mapping's condition columns, in the order of ``mapping.all_rules``."""


@dataclass(slots=True)
class RawCase:
    """The events of one case, in replay order, and its attributes (first value seen)."""

    case_id: str
    events: list[RawEvent]
    category: str | None
    priority: str | None
    reordered: bool
    """Whether the rows were not already in replay order in the file."""


@dataclass(slots=True)
class CaseData:
    """One case as columns, in replay order: what the replayer works on (see :class:`RawCase`).

    ``resources`` and ``conditions`` (one list per rule of ``mapping.all_rules``) hold the cells
    as read: a value of the mapping's ``missing`` still stands for no value.
    """

    case_id: str
    lines: Sequence[int]
    stamps: list[Stamp]
    activities: list[str]
    resources: list[str | None]
    conditions: list[list[str | None]]
    category: str | None
    priority: str | None
    reordered: bool = False
    keys: list[int] = field(default_factory=list)
    """The values of the ``order`` column while the case is read."""
    instants: list[int] = field(default_factory=list)
    """The instants of ``stamps`` (microseconds since the epoch), once the case is read."""
    positions: tuple[int, ...] | None = None
    """The events its trace holds, when not all (set by the replayer: the others fire nothing)."""


@dataclass(slots=True)
class LogStats:
    """What was read: counts and the anomalies that did not stop the replay."""

    source: str
    rows: int = 0
    cases: int = 0
    unknown: Counter[str] = field(default_factory=Counter)
    """Events with an activity the mapping does not know, skipped (``on_unknown = "skip"``)."""
    unknown_first_line: dict[str, int] = field(default_factory=dict)
    ignored: int = 0
    reordered_cases: int = 0
    start: datetime | None = None
    end: datetime | None = None
    notes: ReadNotes = field(default_factory=ReadNotes)
    """Values the reader could not read (an unparseable time: the row is skipped)."""
