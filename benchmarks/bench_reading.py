"""Where reading a large log's time goes, and what a columnar CSV reader could save.

    python benchmarks/bench_reading.py [--scale 10] [--repeat 5]

Issue 11 allows an optional columnar CSV reader if it is what reaches the 2-million-event goal.
This measures, on the helpdesk log repeated ``--scale`` times with fresh case ids (as
``bench_replay.py --scale`` writes it), interleaved and in one process each round (medians of
``--repeat`` rounds, CPU seconds of the process):

* ``split``: the plain reader's chunks (:mod:`escalation_fsm.replay.source`), with the columns
  the helpdesk mapping reads taken out as lists: the work a columnar reader would replace;
* ``pyarrow``: ``pyarrow.csv`` reading the same columns as text and turning them into lists
  (``to_pylist``), which is what the rest of the reader needs (only when pyarrow is installed;
  it is not a dependency of the package);
* ``read``: the whole reader (:func:`~escalation_fsm.replay.reader.read_case_data`): splitting,
  timestamps, the checks, grouping rows into cases;
* ``replay``: the whole ``review`` with the SLA figures, for scale.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from escalation_fsm.replay import review
from escalation_fsm.replay.reader import read_case_data
from escalation_fsm.replay.review import resolve_mapping
from escalation_fsm.replay.source import open_log
from escalation_fsm.sla import default_sla_policy

sys.path.insert(0, str(Path(__file__).parent))
from bench_replay import scaled_log  # the benchmarks folder is not a package

MAPPING = resolve_mapping("helpdesk")
COLUMNS = (MAPPING.columns.case, MAPPING.columns.activity, MAPPING.columns.timestamp,
           MAPPING.columns.resource)


def split(log: Path) -> int:
    with ExitStack() as stack:
        header, chunks, _, _ = open_log(log, MAPPING, stack)
        wanted = [header.index(name) for name in COLUMNS if name]
        rows = 0
        for chunk in chunks:
            columns = [chunk.column(index) for index in wanted]
            rows += len(columns[0])
    return rows


def arrow(log: Path) -> int:
    import pyarrow as pa  # optional: measured only when installed
    import pyarrow.csv as pacsv

    names = [name for name in COLUMNS if name]
    reader = pacsv.open_csv(log, parse_options=pacsv.ParseOptions(newlines_in_values=False),
                            convert_options=pacsv.ConvertOptions(
                                column_types=dict.fromkeys(names, pa.string()),
                                include_columns=names, strings_can_be_null=False))
    rows = 0
    for batch in reader:
        columns = [batch.column(n).to_pylist() for n in range(batch.num_columns)]
        rows += len(columns[0])
    return rows


def read(log: Path) -> int:
    return sum(1 for _ in read_case_data(log, MAPPING))


def replay(log: Path) -> int:
    return review(log, MAPPING, sla=default_sla_policy()).cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    variants: dict[str, Callable[[Path], int]] = {"split": split, "read": read, "replay": replay}
    if importlib.util.find_spec("pyarrow") is not None:
        variants["pyarrow"] = arrow
        importlib.import_module("pyarrow.csv")  # imported outside the measurements
    with tempfile.TemporaryDirectory() as folder:
        log, rows = scaled_log(Path(folder), args.scale)
        took: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.repeat):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in order:
                started = time.process_time()
                variants[name](log)
                took[name].append(time.process_time() - started)
    print(f"helpdesk log x{args.scale}: {rows:,} rows (CPU seconds, medians of {args.repeat})")
    whole = statistics.median(took["replay"])
    for name, times in took.items():
        seconds = statistics.median(times)
        print(f"  {name:8} {seconds:6.3f} s   {rows / seconds:>12,.0f} rows/s   "
              f"{seconds / whole:6.1%} of the replay")
    if "pyarrow" not in took:
        print("  (pyarrow is not installed: `pip install pyarrow` to compare a columnar reader)")


if __name__ == "__main__":
    main()
