"""Reading event logs: CSV (plain or inside a ``.zip``) and JSON Lines, streamed case by case.

Only the columns the mapping names are kept. With ``grouped = true`` (the default) the rows of a
case must be contiguous and only one case's events are held in memory at a time (plus the ids of
the cases already read, to detect a case that reappears later: an error that says how to fix it),
so memory grows with the number of cases, never with the number of events.

Rows arrive in chunks (:mod:`.source`) and are checked and grouped a chunk at a time, with one
Python call per column rather than per cell; a chunk with anything unusual in it (a bad row, an
unknown activity, an empty cell where a value is required, a time that does not parse) is read
row by row instead, with the same checks in the same order, so a problem is reported exactly as
before. A case is held as columns (:class:`CaseData`); :func:`read_cases` gives the public view,
one :class:`RawEvent` per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import compress, islice
from operator import gt, itemgetter, ne, not_
from pathlib import Path
from typing import NamedTuple

from .cases import CaseData, LogStats, Progress, RawCase, RawEvent
from .errors import LogError
from .mapping import LogMapping
from .source import Chunk, check_columns, open_log
from .times import Stamp, Timestamps, stamp_of, timezone

__all__ = ["CaseData", "LogStats", "Progress", "RawCase", "RawEvent", "case_data",
           "read_case_data", "read_cases"]


def read_cases(path: str | Path, mapping: LogMapping, stats: LogStats | None = None, *,
               progress: Progress | None = None) -> Iterator[RawCase]:
    """Yield the cases of the log at ``path`` (``.csv``, ``.zip``, ``.jsonl``/``.ndjson``).

    Raises :class:`LogError` for a missing file, an empty log, missing columns, a bad row, an
    unknown activity when ``on_unknown = "error"`` (after reading the whole log, with counts), or
    a case whose rows are not contiguous in a ``grouped`` log.
    """
    missing = frozenset(mapping.missing)
    for case in read_case_data(path, mapping, stats, progress=progress):
        yield RawCase(case.case_id, [
            RawEvent(line, stamp[1], activity, None if resource in missing else resource,
                     tuple(None if (v := column[index]) in missing else v
                           for column in case.conditions))
            for index, (line, stamp, activity, resource) in enumerate(zip(
                case.lines, case.stamps, case.activities, case.resources, strict=True))],
            case.category, case.priority, case.reordered)


def case_data(case: RawCase) -> CaseData:
    """The columns of a :class:`RawCase` (for replaying one built by hand)."""
    events = case.events
    width = len(events[0].conditions) if events else 0
    stamps = [stamp_of(event.at) for event in events]
    return CaseData(case.case_id, [event.line for event in events], stamps,
                    [event.activity for event in events], [event.resource for event in events],
                    [[event.conditions[k] for event in events] for k in range(width)],
                    case.category, case.priority, case.reordered,
                    instants=[s[0] for s in stamps])


def read_case_data(path: str | Path, mapping: LogMapping, stats: LogStats | None = None, *,
                   progress: Progress | None = None) -> Iterator[CaseData]:
    """Like :func:`read_cases`, yielding each case as columns."""
    path = Path(path)
    stats = stats if stats is not None else LogStats(source=str(path))
    with ExitStack() as stack:
        header, chunks, size, position = open_log(path, mapping, stack)
        check_columns(header, mapping, str(path))
        grouper = _Grouper(header, mapping, stats, str(path))
        for chunk in chunks:
            yield from grouper.feed(chunk)
            if progress is not None:
                progress(position(), size)
        yield from grouper.close()
    if stats.unknown and mapping.on_unknown == "error":
        listing = ", ".join(f"{name!r} ({count} events, first at line {stats.unknown_first_line[name]})"
                            for name, count in stats.unknown.most_common())
        raise LogError(str(path), f"{len(stats.unknown)} activit(ies) the mapping does not know: "
                                  f"{listing}; map them in [activities], list them in `ignore`, "
                                  f"or set on_unknown = \"skip\"")
    if stats.rows == 0:
        raise LogError(str(path), "the log has a header but no rows")
    if stats.cases == 0 and stats.notes.counts:
        example = next(iter(stats.notes.examples.values()))[0]
        raise LogError(str(path), f"no timestamp could be read with format "
                                  f"{mapping.columns.timestamp_format!r} (e.g. {example}); check "
                                  f"columns.timestamp_format")


class _Rows(NamedTuple):
    """The rows of a chunk that are kept, with what was already read of them."""

    column: Callable[[int], list[str | None]]
    """The cells of a column (by index in the header), one per row kept."""
    lines: list[int] | range
    cases: list[str]
    activities: list[str]
    stamps: list[Stamp]
    keys: list[int] | None
    counted: int
    """Rows of the chunk that count as read (empty lines do not)."""


_INSTANT = itemgetter(0)


def _kept(column: Callable[[int], list[str | None]],
          keep: list[bool]) -> Callable[[int], list[str | None]]:
    """The cells of a column for the rows ``keep`` marks."""
    return lambda index: list(compress(column(index), keep))


class _Columns(NamedTuple):
    """Where the columns the mapping names are in the header (``None``: not named)."""

    case: int
    activity: int
    time: int
    order: int | None
    resource: int | None
    category: int | None
    priority: int | None
    conditions: tuple[int, ...]


class _Grouper:
    """Checks the rows of each chunk and groups them into cases (state kept across chunks)."""

    def __init__(self, header: list[str], mapping: LogMapping, stats: LogStats,
                 source: str) -> None:
        cols = mapping.columns
        index = {name: i for i, name in enumerate(header)}
        self.width = len(header)
        self.mapping, self.stats, self.source = mapping, stats, source
        self.case_of, self.activity_of = itemgetter(index[cols.case]), itemgetter(index[cols.activity])
        self.time_of = itemgetter(index[cols.timestamp])
        self.order_of = itemgetter(index[cols.order]) if cols.order else None
        self.at = _Columns(index[cols.case], index[cols.activity], index[cols.timestamp],
                           index[cols.order] if cols.order else None,
                           index[cols.resource] if cols.resource else None,
                           index[cols.category] if cols.category else None,
                           index[cols.priority] if cols.priority else None,
                           tuple(index[c.column] for c in mapping.all_rules))
        self.missing = frozenset(mapping.missing)
        self.no_id = self.missing | {None}
        self.ignored = frozenset(mapping.ignore)
        self.known = frozenset(mapping.activities) | self.ignored
        self.skip_unknown = mapping.on_unknown == "skip"
        self.parse = Timestamps(cols.timestamp_format, timezone(cols.timezone, source))
        self.low: Stamp | None = None
        self.high: Stamp | None = None
        self.finished: set[str] = set()
        self.held: dict[str, CaseData] = {}
        self.current: CaseData | None = None

    def feed(self, chunk: Chunk) -> Iterator[CaseData]:
        """Yield the cases that end in ``chunk``; raise at its first bad row, after the cases before."""
        kept = self._clean(chunk)
        error = None
        if kept is None:
            kept, error = self._row_by_row(chunk)
        if kept.cases:
            yield from self._group(kept)
        else:
            self.stats.rows += kept.counted
        if error is not None:
            raise error

    def _clean(self, chunk: Chunk) -> _Rows | None:
        """The chunk read a column at a time, or ``None`` if some row needs a closer look."""
        if not chunk.uniform(self.width):
            return None
        column: Callable[[int], list[str | None]] = chunk.column
        cases = column(self.at.case)
        activities = column(self.at.activity)
        unknown = not self.known.issuperset(activities)
        if not self.no_id.isdisjoint(cases) or (unknown and None in activities):
            return None
        lines: list[int] | range = chunk.lines  # type: ignore[assignment]
        every = keep = None
        if unknown:  # rows to skip (counted once every other check has passed)
            every, keep = (activities, lines), [a in self.known for a in activities]
            column = _kept(column, keep)
            lines, cases, activities = (list(compress(lines, keep)), list(compress(cases, keep)),
                                        list(compress(activities, keep)))
        times = column(self.at.time)
        seen = self.parse.seen
        stamps = list(map(seen.get, times))
        if None in stamps:
            new = self.parse.new
            for i in [i for i, stamp in enumerate(stamps) if stamp is None]:
                raw = times[i]
                if raw is None or raw in self.missing:
                    return None
                found = seen.get(raw)  # the same text may come twice in a chunk
                try:
                    stamps[i] = new(raw) if found is None else found
                except ValueError:
                    return None
        keys = None
        if self.at.order is not None:
            try:
                keys = list(map(int, column(self.at.order)))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None
        if self.ignored:
            self.stats.ignored += sum(map(self.ignored.__contains__, activities))
        counted = len(cases)
        if every is not None and keep is not None:
            self._count_unknown(*every, keep)
            counted = len(keep)
        return _Rows(column, lines, cases, activities, stamps,  # type: ignore[arg-type]
                     keys, counted)

    def _count_unknown(self, activities: list[str | None], lines: list[int] | range,
                       keep: list[bool]) -> None:
        """Count the rows not kept (unknown activities) as :meth:`_row_by_row` counts them.

        They are skipped either way: with ``on_unknown = "error"`` reading goes on, so that the
        error can list every unknown activity with its count and first line.
        """
        unknown, first = self.stats.unknown, self.stats.unknown_first_line
        skipped = list(map(not_, keep))
        for activity, line in zip(compress(activities, skipped), compress(lines, skipped),
                                  strict=True):
            unknown[activity] += 1  # type: ignore[index]
            first.setdefault(activity, line)  # type: ignore[arg-type]

    def _row_by_row(self, chunk: Chunk) -> tuple[_Rows, LogError | None]:
        """The rows to keep, checked one by one, and the first error (after which none is kept)."""
        stats, source, cols = self.stats, self.source, self.mapping.columns
        kept: list[list[str | None]] = []
        lines: list[int] = []
        cases: list[str] = []
        activities: list[str] = []
        stamps: list[Stamp] = []
        keys: list[int] | None = None if self.order_of is None else []
        counted = 0
        error = None
        for line, row in zip(chunk.lines, chunk.rows, strict=True):
            if len(row) != self.width:
                if not row:
                    continue
                error = LogError(source, f"{len(row)} fields where the header has {self.width}",
                                 line=line)
                break
            counted += 1
            case_id = self.case_of(row)
            if case_id is None or case_id in self.missing:
                error = LogError(source, f"empty case id in column {cols.case!r}", line=line)
                break
            activity = self.activity_of(row) or ""
            if activity not in self.known:
                # Skipped either way; with on_unknown = "error" reading goes on (no more cases
                # are yielded) so that the error can list every unknown activity with its count.
                stats.unknown[activity] += 1
                stats.unknown_first_line.setdefault(activity, line)
                continue
            if activity in self.ignored:
                stats.ignored += 1
            raw = self.time_of(row)
            if raw is None or raw in self.missing:
                error = LogError(source, f"no timestamp in column {cols.timestamp!r}", line=line)
                break
            try:
                stamp = self.parse(raw)
            except ValueError as exc:
                # Counted and shown in the report's data notes; the row cannot be placed in time.
                stats.notes.add(cols.timestamp, "timestamp", "unparseable_time",
                                f"line {line}: {raw!r} ({exc})")
                continue
            if keys is not None and self.order_of is not None:
                value = self.order_of(row)
                try:
                    keys.append(int(value or ""))
                except ValueError:
                    error = LogError(source, f"order column {cols.order!r} holds {value!r}, not "
                                             f"an integer", line=line)
                    break
            kept.append(row)
            lines.append(line)
            cases.append(case_id)
            activities.append(activity)
            stamps.append(stamp)
        return _Rows(lambda index: [row[index] for row in kept], lines, cases, activities, stamps,
                     keys, counted), error

    def _group(self, kept: _Rows) -> Iterator[CaseData]:  # noqa: PLR0912 (one loop: hot)
        """Add the rows ``kept`` of a chunk to their cases; yield each case once it has ended."""
        stats = self.stats
        base = stats.rows
        cases, count, column, at = kept.cases, len(kept.cases), kept.column, self.at
        lines, stamps, activities, keys = kept.lines, kept.stamps, kept.activities, kept.keys
        low, high = min(stamps, key=_INSTANT), max(stamps, key=_INSTANT)
        if self.low is None or low[0] < self.low[0]:
            self.low = low
        if self.high is None or high[0] > self.high[0]:
            self.high = high
        resources: list[str | None] = (column(at.resource) if at.resource is not None
                                       else [None] * count)
        conditions = [column(index) for index in at.conditions]
        categories = column(at.category) if at.category is not None else None
        priorities = column(at.priority) if at.priority is not None else None
        grouped, finished, no_id, first = self.mapping.grouped, self.finished, self.no_id, self._first
        ready = self.skip_unknown or not stats.unknown  # else only read on, to count them all
        current = self.current
        start = 0
        for end in [*compress(range(1, count), map(ne, cases, islice(cases, 1, None))), count]:
            case_id = cases[start]
            if not grouped:
                current = self.held.get(case_id)
            if current is not None and current.case_id == case_id:
                current.lines = [*current.lines, *lines[start:end]]
                current.stamps += stamps[start:end]
                current.activities += activities[start:end]
                current.resources += resources[start:end]
                for held, values in zip(current.conditions, conditions, strict=True):
                    held.extend(values[start:end])
                if keys is not None:
                    current.keys += keys[start:end]
            else:
                if grouped and current is not None:
                    finished.add(current.case_id)
                    if ready:
                        stats.rows = base + start + 1
                        yield self._finish(current)
                if grouped and case_id in finished:
                    raise LogError(self.source, f"case {case_id!r} appears again after its rows "
                                                f"ended: the log is not grouped by case. Sort it "
                                                f"by case first, or set grouped = false (reads "
                                                f"the whole log into memory)", line=lines[start])
                current = CaseData(case_id, lines[start:end], stamps[start:end],
                                   activities[start:end], resources[start:end],
                                   [values[start:end] for values in conditions] if conditions
                                   else [], None, None, False,
                                   [] if keys is None else keys[start:end])
                if grouped:
                    self.current = current
                else:
                    self.held[case_id] = current
            if categories is not None and current.category is None:
                value = categories[start]
                current.category = value if value not in no_id else first(categories, start, end)
            if priorities is not None and current.priority is None:
                value = priorities[start]
                current.priority = value if value not in no_id else first(priorities, start, end)
            start = end
        stats.rows = base + kept.counted

    def _first(self, values: list[str | None], start: int, end: int) -> str | None:
        """The first value of ``values[start:end]`` that is one (the case's category, say)."""
        no_id = self.no_id
        return next((v for v in islice(values, start, end) if v not in no_id), None)

    def close(self) -> Iterator[CaseData]:
        """Yield the cases still held once the log has been read."""
        if self.current is not None:
            self.held[self.current.case_id] = self.current
            self.current = None
        if self.skip_unknown or not self.stats.unknown:
            for case in self.held.values():
                yield self._finish(case)
        self.held.clear()
        if self.stats.cases and self.low is not None and self.high is not None:
            self.stats.start, self.stats.end = self.low[1], self.high[1]

    def _finish(self, case: CaseData) -> CaseData:
        self.stats.cases += 1
        keys = case.keys if self.order_of is not None else list(map(_INSTANT, case.stamps))
        if any(map(gt, keys, islice(keys, 1, None))):
            # Ties keep their file order: the sort is stable.
            order = sorted(range(len(keys)), key=keys.__getitem__)
            case.lines = [case.lines[i] for i in order]
            case.stamps = [case.stamps[i] for i in order]
            case.activities = [case.activities[i] for i in order]
            case.resources = [case.resources[i] for i in order]
            case.conditions = [[column[i] for i in order] for column in case.conditions]
            keys = [keys[i] for i in order]
            case.reordered = True
            self.stats.reordered_cases += 1
        case.instants = keys if self.order_of is None else list(map(_INSTANT, case.stamps))
        case.keys = []
        return case
