r"""The rows of a log file, a chunk at a time: CSV (plain or inside a ``.zip``) and JSON Lines.

A chunk is a list of rows (each a list of cells in the order of the header) with their lines in
the file, so that the reader works on many rows per Python call. CSV is read in blocks of text:
a block without a quote, a carriage return (other than in a ``\r\n`` line end) or a NUL
character is split on newlines and on the delimiter, which is exactly what :mod:`csv` would
make of it, at a fraction of the cost (a block's rows read nearly whole are split at once, into
one flat list whose every ``width``-th cell is a column's; otherwise only as far as the last
column the mapping reads: see :class:`Chunk`). From the first block that
has one of those characters on, the rest of the file goes through :mod:`csv` itself, so quoting,
embedded newlines and ``\r\n`` line ends are read as they always were.
``tests/test_replay_source.py`` checks both against :mod:`csv` on random text.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from .errors import LogError
from .mapping import LogMapping

__all__ = ["Chunk", "csv_chunks", "named_columns", "open_log"]

_BLOCK = 1 << 16
"""Characters of CSV text split at a time: large enough to amortise the calls, small enough to
keep the memory of a streamed log flat."""
_JSON_ROWS = 512
_CSV_ROWS = 1024


class Chunk:
    """Consecutive rows of the file and the line each ends on (the header is line 1).

    A block of plain CSV whose callers read only the first ``cut`` cells of each row is split
    that far (:func:`csv_chunks` with ``cells``): each row is then its first ``cut`` cells and the
    rest of its line, unsplit, so that no string is made for a cell nobody reads. Such a chunk is
    made only when every row has ``width`` cells; :attr:`rows` still gives them all. A block
    whose rows are read nearly whole is split at once instead (:meth:`flat`): all its cells in
    one list, a column every ``width``-th of them, made only when every line has ``width`` cells.
    """

    __slots__ = ("_cells", "_rows", "cut", "delimiter", "lines", "width")

    def __init__(self, lines: Sequence[int], rows: list[list[str | None]], *, cut: int = 0,
                 width: int = 0, delimiter: str = ",",
                 cells: list[str | None] | None = None) -> None:
        self.lines = lines
        self._rows = rows
        self._cells = cells
        self.cut, self.width, self.delimiter = cut, width, delimiter

    @classmethod
    def flat(cls, lines: Sequence[int], cells: list[str | None], width: int) -> Chunk:
        """Rows of ``width`` cells each, given as all their cells one after the other."""
        return cls(lines, [], width=width, cells=cells)

    @property
    def rows(self) -> list[list[str | None]]:
        """Each row as a list of all its cells."""
        if self._cells is not None:
            cells, width = self._cells, self.width
            self._rows = [cells[start:start + width] for start in range(0, len(cells), width)]
            self._cells = None
        elif self.cut:
            cut, delimiter = self.cut, self.delimiter
            self._rows = [[*row[:cut], *(row[cut] or "").split(delimiter)]
                          for row in self._rows]
            self.cut = 0
        return self._rows

    def column(self, index: int) -> list[str | None]:
        """The cells of column ``index``, one per row (every row must have that many cells)."""
        if self._cells is not None:
            return self._cells[index::self.width]
        rows = self._rows if index < self.cut else self.rows
        return list(map(itemgetter(index), rows))

    def uniform(self, width: int) -> bool:
        """Whether there is a row and every row has ``width`` cells."""
        if self._cells is not None or self.cut:
            return width == self.width
        rows = self._rows
        return bool(rows) and len(rows[0]) == width and len(set(map(len, rows))) == 1


def open_log(path: Path, mapping: LogMapping,
             stack: ExitStack) -> tuple[list[str], Iterator[Chunk], int, Callable[[], int]]:
    """(header, chunks, size in bytes, bytes read so far) of the log at ``path``."""
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
        header = [c for c in named_columns(mapping).values() if c is not None]
        return header, _json_chunks(text, str(path), mapping, header), size, binary.tell
    header, chunks = csv_chunks(text, mapping.delimiter, str(path),
                                names=[c for c in named_columns(mapping).values() if c])
    return header, chunks, size, binary.tell


def _only_csv(archive: zipfile.ZipFile, path: Path) -> str:
    names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
    if len(names) != 1:
        raise LogError(str(path), f"expected exactly one .csv in the archive, found {names}: "
                                  f"set `member` in the mapping")
    return names[0]


def csv_chunks(text: IO[str], delimiter: str, source: str, *,
               names: Collection[str] = ()) -> tuple[list[str], Iterator[Chunk]]:
    """The header and the chunks of rows of CSV ``text`` (opened with ``newline=""``).

    ``names``: the columns the caller reads; plain blocks are split only as far as the last of
    them (see :class:`Chunk`).
    """
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LogError(source, f"unreadable CSV header ({exc}); check `delimiter` and "
                               f"`encoding`", line=1) from exc
    if header is None:
        raise LogError(source, "the log is empty (no header row)")
    if header and header[0].startswith("\ufeff"):  # a byte-order mark, as spreadsheets write
        header[0] = header[0][1:]
    read = [header.index(name) for name in names if name in header]
    cut, width = max(read) + 1 if read else 0, len(header)
    if width > 1 and 3 * cut >= 2 * width:
        split_to: tuple[int, int] | None = (0, width)  # whole rows: one split of each block
    else:
        split_to = (cut, width) if 0 < cut < width else None
    return header, _blocks(text, reader.line_num, delimiter, source, split_to)


def _blocks(text: IO[str], line: int, delimiter: str, source: str,
            split_to: tuple[int, int] | None) -> Iterator[Chunk]:
    rest = ""
    while True:
        try:
            block = text.read(_BLOCK)
        except UnicodeDecodeError as exc:
            raise _unreadable(exc, source, line) from exc
        if not block:
            break
        block = rest + block if rest else block
        cut = block.rfind("\n") + 1
        rest, block = block[cut:], block[:cut]
        if ("\r" in block and '"' not in block and "\x00" not in block
                and block.count("\r") == block.count("\r\n")):
            # Windows line ends, no other carriage return, no quote: plain lines, as csv reads.
            block = block.replace("\r\n", "\n")
        if '"' in block or "\r" in block or "\x00" in block:
            # Quoting or other line ends from here on: the csv module reads the rest.
            try:
                rest += text.readline()  # complete the line the block stopped in
            except UnicodeDecodeError as exc:
                raise _unreadable(exc, source, line) from exc
            lines = io.StringIO(block + rest, newline="")
            yield from _csv_module(_chain(lines, text), line, delimiter, source)
            return
        if not block:
            continue  # one line longer than a block: read on
        cells = block.split("\n")
        cells.pop()  # the empty string after the last newline
        yield _chunk(block, cells, range(line + 1, line + len(cells) + 1), delimiter, split_to)
        line += len(cells)
    if rest:  # a last line without a newline (or lines ending in carriage returns)
        yield from _csv_module(io.StringIO(rest, newline=""), line, delimiter, source)


def _chunk(block: str, cells: list[str], lines: range, delimiter: str,
           split_to: tuple[int, int] | None) -> Chunk:
    """The rows of ``block`` (whole lines of plain CSV, ``cells`` its lines), on ``lines``."""
    rows: list[list[str | None]]
    if split_to is not None and "" not in cells:
        cells_read, width = split_to
        if cells_read == 0:
            # Every row is read (nearly) whole: the block is split at once, a row is `width`
            # cells in a row and a column a slice of them; only if every line has the header's
            # number of cells (otherwise the rows, as csv reads them, below).
            if set(map(str.count, cells, repeat(delimiter))) == {width - 1}:
                flat: list[str | None] = block[:-1].replace("\n", delimiter).split(delimiter)  # type: ignore[assignment]
                return Chunk.flat(lines, flat, width)
        else:
            rows = [c.split(delimiter, cells_read) for c in cells]  # type: ignore[misc]
            if set(map(len, rows)) == {cells_read + 1} and set(map(
                    str.count, map(itemgetter(cells_read), rows), repeat(delimiter))) == {
                    width - cells_read - 1}:
                return Chunk(lines, rows, cut=cells_read, width=width, delimiter=delimiter)
    if "" in cells:  # an empty line is no row, as csv reads it
        rows = [c.split(delimiter) if c else [] for c in cells]  # type: ignore[misc]
    else:
        rows = [c.split(delimiter) for c in cells]  # type: ignore[misc]
    return Chunk(lines, rows)


def _chain(first: IO[str], then: IO[str]) -> Iterator[str]:
    yield from first
    yield from then


def _csv_module(lines: Iterable[str], line: int, delimiter: str, source: str) -> Iterator[Chunk]:
    reader = csv.reader(lines, delimiter=delimiter)
    numbers: list[int] = []
    rows: list[list[str | None]] = []
    try:
        for row in reader:
            numbers.append(line + reader.line_num)
            rows.append(row)  # type: ignore[arg-type]
            if len(rows) >= _CSV_ROWS:
                yield Chunk(numbers, rows)
                numbers, rows = [], []
    except (csv.Error, UnicodeDecodeError) as exc:
        if rows:
            yield Chunk(numbers, rows)  # the rows before the bad one are read first
        raise LogError(source, f"unreadable CSV ({exc}); check `delimiter` and `encoding`",
                       line=line + reader.line_num + 1) from exc
    if rows:
        yield Chunk(numbers, rows)


def _unreadable(exc: UnicodeDecodeError, source: str, line: int) -> LogError:
    return LogError(source, f"unreadable CSV ({exc}); check `delimiter` and `encoding`",
                    line=line + 1)


def _json_chunks(text: IO[str], source: str, mapping: LogMapping,
                 header: list[str]) -> Iterator[Chunk]:
    # JSON objects are projected onto the columns the mapping names: they are the "header".
    line = 0
    numbers: list[int] = []
    rows: list[list[str | None]] = []
    try:
        for line, raw in enumerate(text, start=1):
            if not raw.strip():
                continue
            data: Any = json.loads(raw)
            if not isinstance(data, dict):
                raise LogError(source, "a JSON Lines row must be an object", line=line)
            if line == 1 or not any(key in data for key in header):
                check_columns(list(data), mapping, source)
            numbers.append(line)
            rows.append([None if (v := data.get(k)) is None else str(v) for k in header])
            if len(rows) >= _JSON_ROWS:
                yield Chunk(numbers, rows)
                numbers, rows = [], []
    except json.JSONDecodeError as exc:
        yield from _pending(numbers, rows)
        raise LogError(source, f"not valid JSON: {exc.msg}", line=line) from exc
    except UnicodeDecodeError as exc:
        yield from _pending(numbers, rows)
        raise LogError(source, f"cannot decode the file: {exc}; check `encoding`",
                       line=line) from exc
    except LogError:
        yield from _pending(numbers, rows)
        raise
    yield from _pending(numbers, rows)
    if line == 0:
        raise LogError(source, "the log is empty")


def _pending(numbers: list[int], rows: list[list[str | None]]) -> Iterator[Chunk]:
    if rows:
        yield Chunk(numbers, rows)


def named_columns(mapping: LogMapping) -> dict[str, str | None]:
    """Every column the mapping names, by its key in the mapping (``columns.case``, ...)."""
    cols = mapping.columns
    named: dict[str, str | None] = {
        "columns.case": cols.case, "columns.activity": cols.activity,
        "columns.timestamp": cols.timestamp, "columns.order": cols.order,
        "columns.resource": cols.resource, "columns.category": cols.category,
        "columns.priority": cols.priority}
    named |= {f"conditions[{i}].column": c.column for i, c in enumerate(mapping.all_rules)}
    return named


def check_columns(header: list[str], mapping: LogMapping, source: str) -> None:
    """Raise :class:`LogError` naming every column the mapping needs and ``header`` lacks."""
    present = set(header)
    absent = [f"{column!r} ({key})" for key, column in named_columns(mapping).items()
              if column is not None and column not in present]
    if absent:
        hint = " (a single column: is `delimiter` right?)" if len(header) == 1 else ""
        raise LogError(source, f"missing column(s) {', '.join(absent)}; the log has: "
                               f"{', '.join(map(repr, header))}{hint}")
