"""Reading event logs: CSV (plain or inside a ``.zip``) and JSON Lines, streamed case by case.

Only the columns the mapping names are kept. With ``grouped = true`` (the default) the rows of a
case must be contiguous and only one case's events are held in memory at a time (plus the ids of
the cases already read, to detect a case that reappears later: an error that says how to fix it),
so memory grows with the number of cases, never with the number of events.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import LogError
from .mapping import LogMapping
from .notes import ReadNotes

__all__ = ["LogStats", "RawCase", "RawEvent", "read_cases"]

Progress = Callable[[int, int], None]
"""Called now and then with (bytes read, total bytes) while a log is read."""

_PROGRESS_EVERY = 4096
_MEMO = 100_000


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


def read_cases(path: str | Path, mapping: LogMapping, stats: LogStats | None = None, *,
               progress: Progress | None = None) -> Iterator[RawCase]:
    """Yield the cases of the log at ``path`` (``.csv``, ``.zip``, ``.jsonl``/``.ndjson``).

    Raises :class:`LogError` for a missing file, an empty log, missing columns, a bad row, an
    unknown activity when ``on_unknown = "error"`` (after reading the whole log, with counts), or
    a case whose rows are not contiguous in a ``grouped`` log.
    """
    path = Path(path)
    stats = stats if stats is not None else LogStats(source=str(path))
    with ExitStack() as stack:
        header, rows, size, position = _open_rows(path, mapping, stack)
        _check_columns(header, mapping, str(path))
        yield from _cases(header, rows, mapping, stats, str(path),
                          tick=(lambda: progress(position(), size)) if progress else None)
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


Rows = Iterator[tuple[int, list[str | None]]]
"""(line, cells) in the order of the header."""


def _open_rows(path: Path, mapping: LogMapping,
               stack: ExitStack) -> tuple[list[str], Rows, int, Callable[[], int]]:
    try:
        if path.suffix == ".zip":
            archive = stack.enter_context(zipfile.ZipFile(path))
            member = mapping.member or _only_csv(archive, path)
            info = archive.getinfo(member)
            binary: IO[bytes] = stack.enter_context(archive.open(info))
            size = info.file_size
        else:
            binary = stack.enter_context(path.open("rb"))
            size = path.stat().st_size
    except FileNotFoundError as exc:
        raise LogError(str(path), "no such file") from exc
    except KeyError as exc:
        raise LogError(str(path), f"the archive has no member {mapping.member!r}") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise LogError(str(path), f"cannot open it: {exc}") from exc
    text = stack.enter_context(io.TextIOWrapper(binary, encoding=mapping.encoding, newline=""))
    if path.suffix in {".jsonl", ".ndjson"}:
        header, rows = _json_rows(text, str(path), mapping)
    else:
        header, rows = _csv_rows(text, mapping, str(path))
    return header, rows, size, binary.tell


def _only_csv(archive: zipfile.ZipFile, path: Path) -> str:
    names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
    if len(names) != 1:
        raise LogError(str(path), f"expected exactly one .csv in the archive, found {names}: "
                                  f"set `member` in the mapping")
    return names[0]


def _csv_rows(text: IO[str], mapping: LogMapping, source: str) -> tuple[list[str], Rows]:
    reader = csv.reader(text, delimiter=mapping.delimiter)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LogError(source, f"unreadable CSV header ({exc}); check `delimiter` and "
                               f"`encoding`", line=1) from exc
    if header is None:
        raise LogError(source, "the log is empty (no header row)")
    if header and header[0].startswith("\ufeff"):  # a byte-order mark, as spreadsheets write
        header[0] = header[0][1:]

    def rows() -> Rows:
        width = len(header)
        try:
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    raise LogError(source, f"{len(row)} fields where the header has {width}",
                                   line=reader.line_num)
                yield reader.line_num, row  # type: ignore[misc]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise LogError(source, f"unreadable CSV ({exc}); check `delimiter` and `encoding`",
                           line=reader.line_num + 1) from exc

    return header, rows()


def _json_rows(text: IO[str], source: str, mapping: LogMapping) -> tuple[list[str], Rows]:
    # JSON objects are projected onto the columns the mapping names: they are the "header".
    header = [c for c in _named_columns(mapping).values() if c is not None]

    def rows() -> Rows:
        line = 0
        try:
            for line, raw in enumerate(text, start=1):
                if not raw.strip():
                    continue
                data: Any = json.loads(raw)
                if not isinstance(data, dict):
                    raise LogError(source, "a JSON Lines row must be an object", line=line)
                if line == 1 or not any(key in data for key in header):
                    _check_columns(list(data), mapping, source)
                yield line, [None if (v := data.get(k)) is None else str(v) for k in header]
        except json.JSONDecodeError as exc:
            raise LogError(source, f"not valid JSON: {exc.msg}", line=line) from exc
        except UnicodeDecodeError as exc:
            raise LogError(source, f"cannot decode the file: {exc}; check `encoding`",
                           line=line) from exc
        if line == 0:
            raise LogError(source, "the log is empty")

    return header, rows()


def _timezone(name: str, source: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LogError(source, f"unknown timezone {name!r} in columns.timezone") from exc


_NUMERIC = {"%d": "day", "%m": "month", "%Y": "year", "%H": "hour", "%M": "minute",
            "%S": "second"}


class _Timestamps:
    """Parses one column's timestamps; memoised, since logs repeat the same values a lot.

    Purely numeric ``strptime`` formats (``%d/%m/%Y %H:%M`` and the like) use a compiled regular
    expression: ``strptime`` costs ~40 us a call, which dominated reading a large log.
    """

    def __init__(self, fmt: str, zone: tzinfo) -> None:
        self.fmt = fmt
        self.zone = zone
        self.seen: dict[str, datetime] = {}
        self.fast: re.Pattern[str] | None = None
        parts = re.split(r"(%.)", fmt)
        if fmt != "iso" and all(p in _NUMERIC or "%" not in p for p in parts):
            pattern = "".join(
                f"(?P<{_NUMERIC[p]}>\\d{{{4 if p == '%Y' else '1,2'}}})" if p in _NUMERIC
                else re.escape(p) for p in parts)
            if len({p for p in parts if p in _NUMERIC}) == sum(p in _NUMERIC for p in parts):
                self.fast = re.compile(pattern + r"\Z")

    def __call__(self, value: str) -> datetime:
        parsed = self.seen.get(value)
        if parsed is None:
            parsed = self._parse(value)
            if len(self.seen) >= _MEMO:  # bounded memory on huge logs of unique timestamps
                self.seen.clear()
            self.seen[value] = parsed
        return parsed

    def _parse(self, value: str) -> datetime:
        if self.fmt == "iso":
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self.zone)
        if self.fast is not None:
            match = self.fast.match(value)
            if match is None:
                raise ValueError(f"does not match {self.fmt!r}")
            get = match.groupdict()
            return datetime(int(get.get("year", 1900)), int(get.get("month", 1)),
                            int(get.get("day", 1)), int(get.get("hour", 0)),
                            int(get.get("minute", 0)), int(get.get("second", 0)),
                            tzinfo=self.zone)
        parsed = datetime.strptime(value, self.fmt)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self.zone)


def _cases(  # noqa: PLR0912, PLR0915 (the per-row loop stays in one function: speed)
    header: list[str], rows: Rows, mapping: LogMapping, stats: LogStats, source: str, *,
    tick: Callable[[], None] | None,
) -> Iterator[RawCase]:
    cols = mapping.columns
    index = {name: i for i, name in enumerate(header)}
    i_case, i_activity, i_ts = index[cols.case], index[cols.activity], index[cols.timestamp]
    i_order = index[cols.order] if cols.order else None
    i_resource = index[cols.resource] if cols.resource else None
    i_category = index[cols.category] if cols.category else None
    i_priority = index[cols.priority] if cols.priority else None
    i_conditions = tuple(index[c.column] for c in mapping.all_rules)
    missing = frozenset(mapping.missing)
    ignored = frozenset(mapping.ignore)
    known = set(mapping.activities) | ignored
    skip_unknown = mapping.on_unknown == "skip"
    parse = _Timestamps(cols.timestamp_format, _timezone(cols.timezone, source))
    seen = parse.seen
    start, end = datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)
    single = len(i_conditions) == 1
    finished: set[str] = set()
    held: dict[str, tuple[RawCase, list[tuple[Any, int]]]] = {}
    current: RawCase | None = None
    keys: list[tuple[Any, int]] = []
    for line, row in rows:
        stats.rows += 1
        if tick is not None and stats.rows % _PROGRESS_EVERY == 0:
            tick()
        case_id = row[i_case]
        if case_id is None or case_id in missing:
            raise LogError(source, f"empty case id in column {cols.case!r}", line=line)
        activity = row[i_activity] or ""
        if activity not in known:
            # Skipped either way; with on_unknown = "error" reading goes on (no more cases are
            # yielded) so that the error can list every unknown activity with its count.
            stats.unknown[activity] += 1
            stats.unknown_first_line.setdefault(activity, line)
            continue
        if activity in ignored:
            stats.ignored += 1
        raw_ts = row[i_ts]
        if raw_ts is None or raw_ts in missing:
            raise LogError(source, f"no timestamp in column {cols.timestamp!r}", line=line)
        at = seen.get(raw_ts)
        if at is None:
            try:
                at = parse(raw_ts)  # memoises it
            except ValueError as exc:
                # Counted and shown in the report's data notes; the row cannot be placed in time.
                stats.notes.add(cols.timestamp, "timestamp", "unparseable_time",
                                f"line {line}: {raw_ts!r} ({exc})")
                continue
        # Comparisons, not min()/max(): a builtin call per row costs more on big logs.
        if at < start:  # noqa: PLR1730
            start = at
        if at > end:  # noqa: PLR1730
            end = at
        if current is None or case_id != current.case_id:
            if not mapping.grouped:  # every case stays in memory until the end of the log
                current, keys = held.setdefault(case_id, (RawCase(case_id, [], None, None, False),
                                                          []))
            else:
                if current is not None:
                    finished.add(current.case_id)
                    if skip_unknown or not stats.unknown:
                        yield _finish(current, keys, stats)
                if case_id in finished:
                    raise LogError(source, f"case {case_id!r} appears again after its rows "
                                           f"ended: the log is not grouped by case. Sort it by "
                                           f"case first, or set grouped = false (reads the whole "
                                           f"log into memory)", line=line)
                current, keys = RawCase(case_id, [], None, None, False), []
        resource = row[i_resource] if i_resource is not None else None
        if not i_conditions:
            conditions: tuple[str | None, ...] = ()
        elif single:
            conditions = (None if (v := row[i_conditions[0]]) in missing else v,)
        else:
            conditions = tuple(None if (v := row[i]) in missing else v for i in i_conditions)
        current.events.append(RawEvent(line, at, activity,
                                       None if resource in missing else resource, conditions))
        if i_order is None:
            keys.append((at, line))
        else:
            try:
                keys.append((int(row[i_order] or ""), line))
            except ValueError as exc:
                raise LogError(source, f"order column {cols.order!r} holds {row[i_order]!r}, "
                                       f"not an integer", line=line) from exc
        if current.category is None and i_category is not None:
            value = row[i_category]
            current.category = None if value in missing else value
        if current.priority is None and i_priority is not None:
            value = row[i_priority]
            current.priority = None if value in missing else value
    if current is not None and mapping.grouped:
        held[current.case_id] = (current, keys)
    if skip_unknown or not stats.unknown:
        for case, case_keys in held.values():
            yield _finish(case, case_keys, stats)
    if stats.cases:
        stats.start, stats.end = start, end


def _finish(case: RawCase, keys: list[tuple[Any, int]], stats: LogStats) -> RawCase:
    stats.cases += 1
    if any(a > b for a, b in zip(keys, keys[1:], strict=False)):  # noqa: RUF007 (fastest here)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        # Ties keep their file order: the key ends with the line number.
        case.events = [case.events[i] for i in order]
        case.reordered = True
        stats.reordered_cases += 1
    return case


def _named_columns(mapping: LogMapping) -> dict[str, str | None]:
    cols = mapping.columns
    named: dict[str, str | None] = {
        "columns.case": cols.case, "columns.activity": cols.activity,
        "columns.timestamp": cols.timestamp, "columns.order": cols.order,
        "columns.resource": cols.resource, "columns.category": cols.category,
        "columns.priority": cols.priority}
    named |= {f"conditions[{i}].column": c.column for i, c in enumerate(mapping.all_rules)}
    return named


def _check_columns(header: list[str], mapping: LogMapping, source: str) -> None:
    present = set(header)
    absent = [f"{column!r} ({key})" for key, column in _named_columns(mapping).items()
              if column is not None and column not in present]
    if absent:
        hint = " (a single column: is `delimiter` right?)" if len(header) == 1 else ""
        raise LogError(source, f"missing column(s) {', '.join(absent)}; the log has: "
                               f"{', '.join(map(repr, header))}{hint}")
