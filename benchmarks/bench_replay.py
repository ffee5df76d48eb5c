"""Replay benchmark on the two full logs (needs ../shared/data next to the repository).

    python benchmarks/bench_replay.py [--repeat 5] [--scale 95] [--no-bytecode]

For each log it measures, interleaved (one run of each per round; the machine's speed drifts),
medians (and minimums) of ``--repeat`` rounds of whole processes, from interpreter start to the
report written:

* ``cli, SLA``: ``python -m escalation_fsm replay LOG --mapping NAME --format json -o FILE
  --sla default`` (imports, reading, replay through the machine, SLA clocks, report, writing);
* ``cli, SLA + ladder what-if``: the same with ``--sla ladder.toml``, the default targets with an
  escalation ladder on four clocks at every urgency (:data:`LADDER`, 7 steps per urgency), so the
  report also counts how many tickets would have reached each step; printed next to ``cli, SLA``
  (same targets, no ladder) as the what-if's cost;
* ``cli, no SLA``: the same with ``--sla none``;
* ``bare dict replay``: for scale, a process that reads the same CSV with ``csv.DictReader``,
  maps each activity to its first trigger and replays case by case with a plain dict of
  ``(stage, trigger) -> stage`` (no guards, no typed errors, no report). It imports the package
  too (for the spec), so both pay the same interpreter and import costs.

Each figure is also given in CPU time (user + system of the process, median): on a machine that
other jobs share, wall times swing by tens of percent and CPU time is the steadier figure.

The processes keep compiled bytecode (in a temporary ``PYTHONPYCACHEPREFIX``, warmed up by one
unmeasured run), as an installed package does; ``--no-bytecode`` measures with
``PYTHONDONTWRITEBYTECODE=1`` instead, where every start compiles the package's modules again
(about 0.1 s more on this machine).

``--scale N`` (default 95; 0 skips it) then writes the helpdesk log N times with fresh case ids
(95 x 21,348 = 2.03 million events) and replays it with the SLA figures, interleaved with the
bare dict replay of the same file (medians of ``--scale-repeat`` rounds, default 1), printing
the throughput and the peak resident memory of each. The copies share the original's traces, so
this measures the per-event and per-case work (reading, times, SLA clocks, report) at scale; the
distinct traces fired through the machine are those of the helpdesk log.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LOGS = (("helpdesk", DATA / "helpdesk.csv"),
        ("servicenow", DATA / "servicenow_incident_event_log.csv.zip"))

_STEPS = (("first_response", "breach", 'at = 1.0\naction = "notify"\nrole = "the team lead"'),
          ("resolution", "half", 'at = 0.5\naction = "notify"\nrole = "the assignee"'),
          ("resolution", "most", 'at = 0.75\naction = "notify"\nrole = "the team lead"'),
          ("resolution", "breach", 'at = 1.0\naction = "escalate"'),
          ("tier2_update", "lead", 'at = 0.75\naction = "notify"\nrole = "the Tier 2 lead"'),
          ("tier2_update", "late", 'offset = "PT1H"\naction = "raise_urgency"'),
          ("customer_update", "soon", 'offset = "-PT30M"\naction = "notify"\nrole = "the owner"'))
LADDER = "".join(f'[[ladder.{clock}.{urgency}]]\nname = "{name}"\n{body}\n\n'
                 for urgency in ("low", "normal", "high", "critical")
                 for clock, name, body in _STEPS)
"""An SLA policy file: the default targets and a ladder of 7 steps at every urgency."""

BARE = r"""
import csv, io, resource, sys, time, tomllib, zipfile
from importlib import resources
from escalation_fsm.replay.specs import logged_procedure_spec
name, path = sys.argv[1], sys.argv[2]
toml = tomllib.loads(resources.files("escalation_fsm.replay").joinpath(
    "mappings", name + ".toml").read_text())
cols = toml["columns"]
first = {a: c if isinstance(c, str) else c[0] for a, c in toml["activities"].items()}
spec = logged_procedure_spec()
moves = {(t.source, t.trigger): t.target for t in spec.transitions}
if path.endswith(".zip"):
    archive = zipfile.ZipFile(path)
    handle = io.TextIOWrapper(archive.open(archive.namelist()[0]), encoding="utf-8", newline="")
else:
    handle = open(path, newline="", encoding="utf-8")
cases = {}
key = cols.get("order") or cols["timestamp"]
for n, row in enumerate(csv.DictReader(handle)):
    if row[cols["activity"]] in first:
        cases.setdefault(row[cols["case"]], []).append((row[key], n, first[row[cols["activity"]]]))
handle.close()
started = time.perf_counter()
fits = 0
for events in cases.values():
    events.sort(key=lambda e: (int(e[0]) if key == cols.get("order") else e[0], e[1]))
    stage = spec.initial
    ok = True
    for _, _, trigger in events:
        target = moves.get((stage, trigger))
        if target is None:
            ok = False
        else:
            stage = target
    fits += ok
print(f"{time.perf_counter() - started:.3f} {len(cases)} {fits} "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""

# The peak resident memory of the process, in kB, printed to stderr last: VmHWM, since on Linux
# ru_maxrss of a child started by (v)fork and exec starts from its parent's peak.
PEAK = r"""
import resource, runpy, sys
sys.argv = ["escalation-fsm", *sys.argv[1:]]
try:
    runpy.run_module("escalation_fsm", run_name="__main__")
finally:
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"\npeak-rss-kb {peak}\n")
"""


CPU: list[float] = []
"""The CPU time (user + system) of each process :func:`timed` ran, in order."""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    """(wall seconds, stdout, stderr) of a process; its CPU seconds are appended to :data:`CPU`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return took, done.stdout, done.stderr


def scaled_log(folder: Path, times: int) -> tuple[Path, int]:
    """The helpdesk log ``times`` over, each copy with fresh case ids; (path, rows)."""
    source = (DATA / "helpdesk.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = source[0], source[1:]
    column = header.rstrip("\n").split(",").index("case:concept:name")
    target = folder / "helpdesk_x.csv"
    with target.open("w", encoding="utf-8") as out:
        out.write(header)
        for copy in range(times):
            for row in rows:
                cells = row.split(",")
                cells[column] = f"r{copy}-{cells[column]}"
                out.write(",".join(cells))
    return target, times * len(rows)


def environment(cache: Path, *, bytecode: bool) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def compare(name: str, log: Path, repeat: int, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        base = [sys.executable, "-m", "escalation_fsm", "replay", str(log), "--mapping",
                name, "--format", "json", "-o", str(out), "--quiet"]
        ladder = Path(folder) / "ladder.toml"
        ladder.write_text(LADDER, encoding="utf-8")
        commands = {"sla": [*base, "--sla", "default"], "ladder": [*base, "--sla", str(ladder)],
                    "none": [*base, "--sla", "none"],
                    "bare": [sys.executable, "-c", BARE, name, str(log)]}
        runs: dict[str, list[float]] = {key: [] for key in commands}
        cpu: dict[str, list[float]] = {key: [] for key in commands}
        bare_loop: list[float] = []
        timed(commands["sla"], env)  # warm-up: bytecode, file cache
        for round_ in range(repeat):
            # Interleaved (the machine's speed drifts), each variant first in turn: the first run
            # of a round is often slower here, whatever it runs.
            order = list(commands)[round_ % 4:] + list(commands)[:round_ % 4]
            for key in order:
                took, output, _ = timed(commands[key], env)
                runs[key].append(took)
                cpu[key].append(CPU[-1])
                if key == "bare":
                    bare_loop.append(float(output.split()[0]))
        timed(commands["ladder"], env)
        what_if = json.loads(out.read_text(encoding="utf-8"))["ladder_what_if"]
        timed([*base, "--sla", "default"], env)
        report = json.loads(out.read_text(encoding="utf-8"))
    sla, ladder_s, none, bare = (statistics.median(runs[k]) for k in ("sla", "ladder", "none",
                                                                      "bare"))
    low = {k: min(v) for k, v in runs.items()}
    busy = {k: statistics.median(v) for k, v in cpu.items()}
    rows = report["rows"]
    print(f"\n{name}: {rows:,} rows, {report['events']:,} events, {report['cases']:,} cases "
          f"(medians of {repeat}; minimum in brackets)")
    print(f"  cli, SLA figures (--sla default)   {sla:6.2f} s [{low['sla']:5.2f}]  "
          f"{rows / sla:>10,.0f} rows/s   CPU {busy['sla']:.2f} s")
    print(f"  cli, SLA + ladder what-if          {ladder_s:6.2f} s [{low['ladder']:5.2f}]  "
          f"{rows / ladder_s:>10,.0f} rows/s   what-if / SLA = {ladder_s / sla:.3f}x "
          f"(rounds: {_rounds(runs, 'ladder', 'sla', digits=3)})"
          f"   CPU {busy['ladder']:.2f} s")
    print(f"  cli, no SLA (--sla none)           {none:6.2f} s [{low['none']:5.2f}]  "
          f"{rows / none:>10,.0f} rows/s   SLA / no SLA = {sla / none:.2f}x   CPU "
          f"{busy['none']:.2f} s ({busy['sla'] / busy['none']:.2f}x)")
    # Per round too: the two runs of a round are seconds apart, so their ratio is steadier than
    # the ratio of medians when the machine's speed drifts.
    print(f"    SLA / no SLA by round: median {_round_ratio(runs, 'sla', 'none'):.2f}x "
          f"(rounds: {_rounds(runs, 'sla', 'none')})")
    print(f"  bare dict replay, whole process    {bare:6.2f} s [{low['bare']:5.2f}]  (its replay "
          f"loop alone {statistics.median(bare_loop):.2f} s)   CPU {busy['bare']:.2f} s")
    print(f"    SLA / bare dict replay by round: median {_round_ratio(runs, 'sla', 'bare'):.2f}x "
          f"(rounds: {_rounds(runs, 'sla', 'bare')})")
    reached = sorted(what_if["steps"], key=lambda step: -step["tickets"])[:2]
    print("  what-if: " + "; ".join(f"{s['tickets']:,} of {s['eligible']:,} {s['urgency']} "
                                    f"tickets would have reached '{s['description']}'"
                                    for s in reached))
    k = report["overall"]
    print(f"  conformance {k['conformance_rate']:.1%}; escalation {k['escalation_rate']:.1%}; "
          f"data notes {len(report['data_notes'])}")


def _round_ratio(runs: dict[str, list[float]], top: str, bottom: str) -> float:
    """The median over the rounds of ``top``'s time over ``bottom``'s in the same round."""
    return statistics.median(a / b for a, b in zip(runs[top], runs[bottom], strict=True))


def _rounds(runs: dict[str, list[float]], top: str, bottom: str, digits: int = 2) -> str:
    """``top``'s time over ``bottom``'s, round by round."""
    return ", ".join(f"{a / b:.{digits}f}" for a, b in zip(runs[top], runs[bottom], strict=True))


def scaled(times: int, repeat: int, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        log, rows = scaled_log(Path(folder), times)
        out = Path(folder) / "r.json"
        command = [sys.executable, "-c", PEAK, "replay", str(log), "--mapping", "helpdesk",
                   "--format", "json", "-o", str(out), "--quiet", "--sla", "default"]
        bare = [sys.executable, "-c", BARE, "helpdesk", str(log)]
        took: list[float] = []
        peaks: list[float] = []
        bare_took: list[float] = []
        bare_peaks: list[float] = []
        cpu: dict[str, list[float]] = {"cli": [], "bare": []}
        for round_ in range(repeat):
            for variant in ("cli", "bare") if round_ % 2 == 0 else ("bare", "cli"):
                if variant == "cli":
                    seconds, _, err = timed(command, env)
                    took.append(seconds)
                    cpu["cli"].append(CPU[-1])
                    peaks.append(int(err.rsplit("peak-rss-kb", 1)[1]) / 1024)
                else:
                    seconds, output, _ = timed(bare, env)
                    bare_took.append(seconds)
                    cpu["bare"].append(CPU[-1])
                    bare_peaks.append(int(output.split()[3]) / 1024)
        report = json.loads(out.read_text(encoding="utf-8"))
    seconds, reference = statistics.median(took), statistics.median(bare_took)
    print(f"\nscaled helpdesk x{times}: {rows:,} events, {report['cases']:,} cases "
          f"(medians of {repeat})")
    print(f"  cli, SLA figures (--sla default)   {seconds:6.1f} s  {rows / seconds:>10,.0f} events/s"
          f"   peak RSS {max(peaks):.0f} MB   (runs {', '.join(f'{t:.1f}' for t in took)})   "
          f"CPU {statistics.median(cpu['cli']):.1f} s, "
          f"{rows / statistics.median(cpu['cli']):,.0f} events per CPU second")
    print(f"  bare dict replay, whole process    {reference:6.1f} s  "
          f"{rows / reference:>10,.0f} events/s   peak RSS {max(bare_peaks):.0f} MB   "
          f"(runs {', '.join(f'{t:.1f}' for t in bare_took)})   "
          f"CPU {statistics.median(cpu['bare']):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=int, default=95)
    parser.add_argument("--scale-repeat", type=int, default=1)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="measure with PYTHONDONTWRITEBYTECODE=1 (every start compiles)")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no data folder at {DATA}: the full logs live in ../shared/data")
    with tempfile.TemporaryDirectory() as cache:
        env = environment(Path(cache), bytecode=not args.no_bytecode)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.2f}, bytecode {'not ' if args.no_bytecode else ''}cached")
        for name, log in LOGS:
            compare(name, log, args.repeat, env)
        if args.scale:
            scaled(args.scale, args.scale_repeat, env)
        print(f"\nload {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
