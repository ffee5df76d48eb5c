"""The chunked log reader reads exactly what a plain row-by-row reading with ``csv`` gives.

The reader splits blocks of CSV text itself until a quote, a carriage return or a NUL shows up,
then hands the rest to ``csv``; it checks and groups rows a chunk at a time, and goes row by row
through a chunk with anything unusual in it. Both are compared here, on random text and random
logs cut into random block sizes, with a straightforward reader written for the test: every row
on the same line, every case with the same events, attributes and order, the same counts, notes
and errors.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from escalation_fsm.replay import LogError, LogStats, parse_mapping, read_cases
from escalation_fsm.replay import source as source_module
from escalation_fsm.replay.source import csv_chunks
from escalation_fsm.replay.times import Timestamps, micros

# -- CSV text -------------------------------------------------------------------------------------

cells = st.text(alphabet='ab ,;"\r\né', max_size=5)
rows = st.lists(st.lists(cells, min_size=1, max_size=4), max_size=12)


def csv_text(header: list[str], body: list[list[str]], *, quoted: bool, terminator: str,
             last_newline: bool) -> str:
    """Rows written by csv.writer (``quoted``) or joined as they are (possibly malformed)."""
    if quoted:
        out = io.StringIO()
        csv.writer(out, lineterminator=terminator).writerows([header, *body])
        text = out.getvalue()
    else:
        text = "".join(",".join(row) + terminator for row in [header, *body])
    return text if last_newline else text.removesuffix(terminator)


def with_csv(text: str) -> tuple[list[tuple[int, list[str]]], int | None]:
    """Rows (with the line each ends on) and the line of an error, read by csv alone."""
    reader = csv.reader(io.StringIO(text, newline=""))
    found: list[tuple[int, list[str]]] = []
    try:
        next(reader, None)
        for row in reader:
            if row:
                found.append((reader.line_num, row))
    except csv.Error:
        return found, reader.line_num + 1
    return found, None


def with_chunks(text: str) -> tuple[list[tuple[int, list[str]]], int | None]:
    found: list[tuple[int, list[str]]] = []
    try:
        _, chunks = csv_chunks(io.StringIO(text, newline=""), ",", "log.csv")
        for chunk in chunks:
            found += [(line, row) for line, row in zip(chunk.lines, chunk.rows, strict=True)
                      if row]  # type: ignore[misc]
    except LogError as exc:
        return found, exc.line
    return found, None


@settings(max_examples=300)
@given(st.lists(cells, min_size=1, max_size=4), rows, st.booleans(),
       st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(), st.integers(1, 40))
def test_blocks_read_like_the_csv_module(  # noqa: PLR0917 (one argument per draw)
        header: list[str], body: list[list[str]], quoted: bool, terminator: str,
        last_newline: bool, block: int) -> None:
    """Any text, cut into blocks of any size: the same rows on the same lines, the same errors."""
    text = csv_text(header, body, quoted=quoted, terminator=terminator, last_newline=last_newline)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source_module, "_BLOCK", block)
        assert with_chunks(text) == with_csv(text)


def test_plain_blocks_are_split_without_csv() -> None:
    """Text without quotes or carriage returns is split by the reader itself (what makes it
    fast): the chunks are ranges of consecutive lines, empty lines included as empty rows."""
    text = "a,b\n1,2\n\n3,4\n"
    _, chunks = csv_chunks(io.StringIO(text, newline=""), ",", "log.csv")
    [chunk] = list(chunks)
    assert chunk.lines == range(2, 5)
    assert chunk.rows == [["1", "2"], [], ["3", "4"]]


def test_windows_line_ends_are_split_without_csv() -> None:
    """Text whose only carriage returns end lines (``\\r\\n``, as Windows exports write) and that
    has no quote is split by the reader itself too (the chunks are ranges of lines, the fast
    path), into the rows csv reads; a lone carriage return still goes to csv."""
    text = "a,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n"
    _, chunks = csv_chunks(io.StringIO(text, newline=""), ",", "log.csv", names=["a", "c"])
    [chunk] = list(chunks)
    assert chunk.lines == range(2, 5)
    assert chunk.rows == [["1", "2", "3"], [], ["4", "5", "6"]]
    assert with_chunks(text) == with_csv(text)
    lone = "a,b\r\n1,2\r3,4\r\n"
    _, chunks = csv_chunks(io.StringIO(lone, newline=""), ",", "log.csv")
    assert [chunk.rows for chunk in chunks] == [[["1", "2"], ["3", "4"]]]


@settings(max_examples=300)
@given(st.integers(1, 5), st.lists(st.lists(st.text(alphabet="ab ,", max_size=3), min_size=1,
                                            max_size=6), max_size=12), st.integers(1, 40),
       st.integers(0, 5))
def test_columns_are_the_cells_of_the_rows(width: int, body: list[list[str]], block: int,
                                           last_read: int) -> None:
    """Split only as far as the last column read, or whole: a chunk's rows are the rows csv
    reads, it is uniform exactly when every row has the header's number of cells, and then its
    columns are its rows' cells."""
    header = ["h" * (k + 1) for k in range(width)]
    text = ",".join(header) + "\n" + "".join(",".join(row) + "\n" for row in body)
    expected, _ = with_csv(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source_module, "_BLOCK", block)
        _, chunks = csv_chunks(io.StringIO(text, newline=""), ",", "log.csv",
                               names=header[:last_read])
        found: list[tuple[int, list[str | None]]] = []
        for chunk in chunks:
            uniform = chunk.uniform(width)
            columns = [chunk.column(k) for k in range(width)] if uniform else None
            rows = chunk.rows
            assert uniform == (bool(rows) and all(len(r) == width for r in rows))
            if columns is not None:
                assert columns == [[row[k] for row in rows] for k in range(width)]
            found += [(line, row) for line, row in zip(chunk.lines, rows, strict=True) if row]
    assert found == expected


# -- logs -----------------------------------------------------------------------------------------

MAPPING = """
name = "source-test"
on_unknown = "skip"
ignore = ["Note"]
[columns]
case = "case"
activity = "activity"
timestamp = "at"
resource = "who"
category = "category"
[activities]
"Open" = "attempt"
"Solve" = "resolve"
"Close" = "close"
[[rules]]
column = "level"
op = "changed"
trigger = "escalate"
position = "before"
"""
MISSING = {"", "?"}
PLUS_ONE = timezone(timedelta(hours=1))
KNOWN = {"Open", "Solve", "Close", "Note"}
START = datetime(2024, 5, 2, 9, tzinfo=UTC)



def _events(who: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[object, ...]]:
    return st.tuples(
        st.sampled_from(["Open", "Solve", "Close", "Note", "Ping"]),
        st.integers(-120, 600),  # minutes since the row before
        st.sampled_from([None] * 16 + ["soon", "soon", ""]),  # a time unreadable or none
        who,
        st.sampled_from(["Network", "?", ""]),
        st.sampled_from(["L1", "L2", "?"]),
        st.sampled_from([UTC, PLUS_ONE, "Z"]),  # one instant, written three ways
        st.sampled_from([None] * 60 + ["", "?"]))  # now and then, no case id


events = _events(st.sampled_from(["ann", "?", "", "bob, jr", 'say "hi"']))
plain_events = _events(st.sampled_from(["ann", "?", "", "bob"]))  # no cell to quote
logs = st.lists(st.lists(events, min_size=1, max_size=6), min_size=1, max_size=8)


def write_log(folder: Path, cases: list[list[tuple[object, ...]]], *, shuffle: bool) -> Path:
    """Cases in order (or with the rows of the first case split around the others)."""
    listed: list[tuple[str, tuple[object, ...]]] = [
        (f"C{number}", event) for number, case in enumerate(cases) for event in case]
    if shuffle and len(cases) > 1:
        first = [row for row in listed if row[0] == "C0"]
        listed = first[:1] + [row for row in listed if row[0] != "C0"] + first[1:]
    path = folder / "log.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["case", "activity", "at", "who", "category", "level"])
        at = START
        for case_id, (activity, minutes, bad, who, category, level, zone, no_id) in listed:
            at += timedelta(minutes=minutes)  # type: ignore[arg-type]
            stamp = (at.isoformat().replace("+00:00", "Z") if zone == "Z"
                     else at.astimezone(zone).isoformat())  # type: ignore[arg-type]
            if bad is not None:
                stamp = str(bad)
            writer.writerow([case_id if no_id is None else no_id, activity, stamp, who, category,
                             level])
    return path


def plain_read(path: Path) -> tuple[object, ...]:
    """The log read row by row with csv, as documented: cases, counts, notes, or the error."""
    with path.open(newline="", encoding="utf-8") as handle:
        return _plain_read(csv.reader(handle))


def _plain_read(reader: Any) -> tuple[object, ...]:
    header = next(reader)
    col = {name: n for n, name in enumerate(header)}
    cases: dict[str, list[tuple[object, ...]]] = {}
    attributes: dict[str, str | None] = {}
    unknown: Counter[str] = Counter()
    unknown_first: dict[str, int] = {}
    notes: list[str] = []
    rows = ignored = 0
    finished: set[str] = set()
    current = None
    for row in reader:
        line = reader.line_num
        if len(row) != len(header):
            if not row:
                continue
            return ("error", line)
        rows += 1
        case_id, activity, raw = row[col["case"]], row[col["activity"]], row[col["at"]]
        if case_id in MISSING:
            return ("error", line)
        if activity not in KNOWN:
            unknown[activity] += 1
            unknown_first.setdefault(activity, line)
            continue
        ignored += activity == "Note"
        if raw in MISSING:
            return ("error", line)
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            notes.append(f"line {line}")
            continue
        if case_id != current:
            if current is not None:
                finished.add(current)
            if case_id in finished:
                return ("error", line)
            current = case_id
        who, level = row[col["who"]], row[col["level"]]
        cases.setdefault(case_id, []).append(
            (at, line, activity, None if who in MISSING else who,
             (None if level in MISSING else level,)))
        if attributes.get(case_id) is None:
            category = row[col["category"]]
            attributes[case_id] = None if category in MISSING else category
    result = []
    for case_id, found in cases.items():
        ordered = sorted(found, key=lambda event: (event[0], event[1]))
        result.append((case_id, [(e[1], e[0].isoformat(), e[2], e[3], e[4]) for e in ordered],
                       attributes[case_id], ordered != found))
    times = [e[0] for found in cases.values() for e in found]
    return ("ok", result, rows, dict(unknown), unknown_first, ignored, sum(r[3] for r in result),
            _iso(min(times, default=None)), _iso(max(times, default=None)), len(notes),
            notes[:3])


def _iso(at: datetime | None) -> str | None:
    """Written out: one instant in two offsets is two different values here."""
    return None if at is None else at.isoformat()


def chunked_read(path: Path) -> tuple[object, ...]:
    stats = LogStats(source=str(path))
    try:
        found = [(case.case_id, [(line, at.isoformat(), *rest) for line, at, *rest in case.events],
                  case.category, case.reordered)
                 for case in read_cases(path, parse_mapping(MAPPING), stats)]
    except LogError as exc:
        if exc.line is None:  # an error about the whole log (no row could be read)
            return ("log error",)
        return ("error", exc.line)
    key = ("at", "timestamp", "unparseable_time")
    examples = [example.split(":")[0] for example in stats.notes.examples.get(key, [])]
    return ("ok", found, stats.rows, dict(stats.unknown), stats.unknown_first_line, stats.ignored,
            stats.reordered_cases,
            _iso(stats.start), _iso(stats.end), stats.notes.counts[key], examples)


@settings(max_examples=200)
@given(logs, st.booleans(), st.integers(8, 200))
def test_logs_read_like_a_plain_reader(tmp_path_factory: pytest.TempPathFactory,
                                       cases: list[list[tuple[object, ...]]], shuffle: bool,
                                       block: int) -> None:
    """Random logs (unknown and ignored activities, times that do not parse or are missing,
    empty and quoted cells, a case whose rows are split), cut into random blocks: the reader
    gives the cases, counts, notes and errors a plain row-by-row reading gives."""
    path = write_log(tmp_path_factory.mktemp("log"), cases, shuffle=shuffle)
    expected = plain_read(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source_module, "_BLOCK", block)
        found = chunked_read(path)
    if found == ("log error",):  # every time unreadable, or no known activity: nothing to compare
        assert expected[0] == "error" or not expected[1]
        return
    assert found == expected
    event("read" if found[0] == "ok" else "refused")


@settings(max_examples=200)
@given(st.lists(st.lists(plain_events, min_size=1, max_size=6), min_size=2, max_size=12),
       st.booleans(), st.integers(8, 200))
def test_unquoted_logs_read_like_a_plain_reader(tmp_path_factory: pytest.TempPathFactory,
                                                cases: list[list[tuple[object, ...]]],
                                                shuffle: bool, block: int) -> None:
    """The same with no cell that needs quoting, so that every block is split by the reader
    itself (a quote sends the rest of the file to csv, in chunks of 1,024 rows): cases go on
    from one small block to the next, and are grouped across them as a plain reading does."""
    path = write_log(tmp_path_factory.mktemp("log"), cases, shuffle=shuffle)
    assert '"' not in path.read_text(encoding="utf-8")
    expected = plain_read(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source_module, "_BLOCK", block)
        found = chunked_read(path)
    if found == ("log error",):
        assert expected[0] == "error" or not expected[1]
        return
    assert found == expected


def as_json_lines(path: Path) -> Path:
    """The CSV log as JSON Lines, its "?" cells as nulls (another way of saying "no value")."""
    target = path.with_suffix(".jsonl")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    target.write_text("".join(json.dumps({k: None if v == "?" else v for k, v in row.items()}) + "\n"
                              for row in rows), encoding="utf-8")
    return target


def outcome(path: Path, shift: int) -> tuple[object, ...]:
    found = chunked_read(path)
    if found[0] == "error":
        return ("error", found[1] - shift)  # type: ignore[operator]
    if found[0] == "ok":
        cases = [(case_id, [(line - shift, *rest) for line, *rest in events], *more)
                 for case_id, events, *more in found[1]]  # type: ignore[attr-defined]
        first_lines = {name: line - shift
                       for name, line in found[4].items()}  # type: ignore[attr-defined]
        return ("ok", cases, *found[2:4], first_lines, *found[5:10])
    return found


@settings(max_examples=100)
@given(logs)
def test_json_lines_read_like_csv(tmp_path_factory: pytest.TempPathFactory,
                                  cases: list[list[tuple[object, ...]]]) -> None:
    """The same rows as JSON Lines (nulls for missing cells) give the same cases, counts and
    errors as CSV, a line earlier (JSON Lines have no header)."""
    path = write_log(tmp_path_factory.mktemp("log"), cases, shuffle=False)
    assert outcome(as_json_lines(path), 0) == outcome(path, 1)


# -- timestamps -----------------------------------------------------------------------------------

FORMATS = ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%H:%M %d.%m.%Y"]


@settings(max_examples=300)
@given(st.sampled_from(FORMATS), st.integers(1900, 2100), st.integers(1, 13), st.integers(1, 32),
       st.integers(0, 24), st.integers(0, 60), st.integers(0, 60), st.booleans(),
       st.sampled_from(["UTC", "Europe/Rome"]))
def test_numeric_timestamps_parse_like_strptime(  # noqa: PLR0917 (one argument per draw)
        fmt: str, year: int, month: int, day: int, hour: int, minute: int, second: int,
        padded: bool, zone: str) -> None:
    """A numeric format's fast parser gives what ``strptime`` gives (in the mapping's zone), and
    refuses what it refuses (a day, month or hour out of range); so does the memoised parser the
    reader uses (from the day's midnight), to the microsecond and the offset shown."""
    number = "{:02d}" if padded else "{}"
    fields = {"%Y": f"{year:04d}", "%m": number.format(month), "%d": number.format(day),
              "%H": number.format(hour), "%M": number.format(minute), "%S": number.format(second)}
    value = fmt
    for code, text in fields.items():
        value = value.replace(code, text)
    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    try:
        expected: object = datetime.strptime(value, fmt).replace(tzinfo=tz)
    except ValueError:
        expected = ValueError
    try:
        found: object = Timestamps(fmt, tz).parse(value)
    except ValueError:
        found = ValueError
    assert found == expected
    if found is not ValueError:
        assert found.tzinfo is tz  # type: ignore[attr-defined]
    # The memoised path (a day's midnight worked out once) gives the stamp parse() makes.
    parser = Timestamps(fmt, tz)
    stamps: list[object] = []
    for _ in range(2):  # the second time from the day remembered
        parser.seen.clear()
        try:
            stamps.append(parser.new(value))
        except ValueError:
            stamps.append(ValueError)
    stamp = stamps[1]
    assert stamps[0] == stamp
    if expected is ValueError:
        assert stamp is ValueError
    else:
        assert isinstance(stamp, tuple) and isinstance(found, datetime)
        assert stamp == (micros(found), found, f"{found.year:04d}-{found.month:02d}")
        assert (stamp[1].isoformat(), stamp[1].tzinfo, stamp[1].fold) == (
            found.isoformat(), found.tzinfo, found.fold)


@settings(max_examples=150)
@given(st.sampled_from(FORMATS), st.sampled_from(["UTC", "Europe/Rome"]),
       st.lists(st.tuples(st.dates(date(1990, 1, 1), date(2030, 12, 31)),
                          st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
                min_size=1, max_size=30))
def test_one_parser_gives_each_text_the_stamp_parsing_it_alone_gives(
        fmt: str, zone: str, moments: list[tuple[date, int, int, int]]) -> None:
    """Invariant: a parser that has remembered other texts (the same day at other times, the same
    time on other days, across daylight-saving changes) gives each text the stamp a fresh parse
    of that text alone gives: its days and times of day are remembered apart, never mixed up."""
    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    shared = Timestamps(fmt, tz)
    for day, hour, minute, second in moments * 2:  # the second round from what is remembered
        value = datetime(day.year, day.month, day.day, hour, minute, second).strftime(fmt)
        alone = Timestamps(fmt, tz).parse(value)
        assert shared(value) == (micros(alone), alone, f"{alone.year:04d}-{alone.month:02d}")
        assert shared(value)[1].isoformat() == alone.isoformat()
