"""Replay benchmark on the two full logs (needs ../shared/data next to the repository).

    python benchmarks/bench_replay.py [--repeat 3]

For each log it measures, best of ``--repeat`` runs:

* ``cli``: the whole process ``python -m escalation_fsm replay LOG --mapping NAME --format json
  -o FILE`` (interpreter start, imports, reading, replay through the machine, report, writing);
* ``in-process``: ``review()`` alone, in this process (reading + replay + report);
* ``bare transitions``: for scale, a whole process that reads the same CSV with ``csv``, maps each
  activity to its first trigger and replays case by case through one shared, bare
  ``transitions.Machine`` of the same spec (no guards, no typed errors, no report).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LOGS = (("helpdesk", DATA / "helpdesk.csv"),
        ("servicenow", DATA / "servicenow_incident_event_log.csv.zip"))

BARE = r"""
import csv, io, sys, time, tomllib, zipfile
from importlib import resources
from transitions import Machine, MachineError
from escalation_fsm.replay.specs import logged_procedure_spec
name, path = sys.argv[1], sys.argv[2]
toml = tomllib.loads(resources.files("escalation_fsm.replay").joinpath(
    "mappings", name + ".toml").read_text())
cols = toml["columns"]
first = {a: c if isinstance(c, str) else c[0] for a, c in toml["activities"].items()}
spec = logged_procedure_spec()
machine = Machine(model=None, states=list(spec.stage_names), initial=spec.initial,
                  transitions=[{"trigger": t.trigger, "source": t.source, "dest": t.target}
                               for t in spec.transitions],
                  auto_transitions=False, ignore_invalid_triggers=False)
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
class Model:
    state = spec.initial
fits = 0
for events in cases.values():
    events.sort(key=lambda e: (int(e[0]) if key == cols.get("order") else e[0], e[1]))
    model = Model()
    ok = True
    for _, _, trigger in events:
        try:
            machine.events[trigger].trigger(model)
        except MachineError:
            ok = False
    fits += ok
print(f"{time.perf_counter() - started:.3f} {len(cases)} {fits}")
"""


def best(runs: int, action: object) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    if not DATA.is_dir():
        sys.exit(f"no data folder at {DATA}: the full logs live in ../shared/data")
    from escalation_fsm.replay import review

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    for name, log in LOGS:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "report.json"
            command = [sys.executable, "-m", "escalation_fsm", "replay", str(log), "--mapping",
                       name, "--format", "json", "-o", str(out), "--quiet"]
            cli, _ = best(repeat, lambda c=command: subprocess.run(c, check=True, env=env))
        inproc, report = best(repeat, lambda log=log, name=name: review(log, name))
        bare_cmd = [sys.executable, "-c", BARE, name, str(log)]
        bare, output = best(repeat, lambda c=bare_cmd: subprocess.run(
            c, check=True, env=env, capture_output=True, text=True).stdout)
        bare_replay = float(str(output).split()[0])
        k = report.overall  # type: ignore[attr-defined]
        rows = report.rows  # type: ignore[attr-defined]
        print(f"\n{name}: {rows:,} rows, {report.events:,} events, {report.cases:,} cases"  # type: ignore[attr-defined]
              f", {report.period_start:%Y-%m-%d} .. {report.period_end:%Y-%m-%d}")  # type: ignore[attr-defined]
        print(f"  cli (whole process, json report)  {cli:6.2f} s  {rows / cli:>10,.0f} events/s")
        print(f"  in-process review()               {inproc:6.2f} s  {rows / inproc:>10,.0f} events/s")
        print(f"  bare transitions, whole process   {bare:6.2f} s  (its replay loop alone "
              f"{bare_replay:.2f} s)")
        ttr = k.time_to_resolution
        print(f"  conformance {k.conformance_rate:.1%} ({k.fitting:,} fit, {k.deviating:,} deviate,"
              f" {k.open:,} open); FCR {k.first_contact_resolution_rate:.1%}; escalation "
              f"{k.escalation_rate:.1%}; reopen {k.reopen_rate:.1%}; time to resolution median "
              f"{ttr.median_hours:.1f} h, p90 {ttr.p90_hours:.1f} h")


if __name__ == "__main__":
    main()
