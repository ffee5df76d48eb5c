"""How fast the testing toolkit catches issue 17's seeded host bugs, and how short the runs are.

Usage::

    python benchmarks/bench_testing.py [--seeds 5] [--hypothesis-shrink]

The host and its bugs are ``tests/toolkit_host.py`` (the default procedure plus Tier 3 and
``closed``, a pager hook, a caching wrapper around ``SQLiteStore``); the stateful tests are the
classes of ``tests/test_testing_seeded.py``, run with hypothesis's default search (100 runs of up
to 50 steps) under ``--seeds`` different seeds. For each bug the table gives, as medians over the
seeds (and the range):

* ``caught``: in how many seeds the run failed with the expected check;
* ``find s``: from the start of the run to the first failure (generation);
* ``shrink s``: hypothesis's shrinking (0 unless ``--hypothesis-shrink``) plus the final pass
  (replaying the recorded steps, removing those not needed);
* ``steps``/``triggers``: the length of the minimal run printed as a regression test.

The snapshot checks of bugs a, d and e (``check_snapshot``) are timed on their own (ms, median of
20), and so is the clean host's full run (100 runs, no failure).

``--hypothesis-shrink`` also runs bug b with hypothesis's own shrinker before the final pass,
interleaved with the default runs (the reference: what the toolkit did before; one run takes
minutes, it gives up after 5).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as with_seed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import test_testing_seeded as seeded
import toolkit_host as host

from escalation_fsm.testing import EscalationStateMachine, Fire, RunFailed, check_snapshot
from escalation_fsm.testing.snapshot import SnapshotMismatch

BUGS: list[tuple[str, type[EscalationStateMachine], str]] = [
    ("a  Tier 3 lost its summary guard (vs snapshot)", seeded.LostSummaryGuard, "table"),
    ("b  pager raises on the 3rd escalation", seeded.PagerFailsOnThird, "hook Pager.page"),
    ("c  cache drops every 5th record", seeded.CacheDropsRecords, "store-matches"),
    ("d  Tier 3 lost its escalate mark (vs snapshot)", seeded.Tier3NotEscalating, "tier-follows-marks"),
    ("d' Tier 3 effect loses the review tag", seeded.EffectDropsTags, "review-tags-kept"),
    ("e  customers may resolve (vs snapshot)", seeded.CustomersResolve, "table"),
]


def search(hypothesis_shrink: bool = False) -> settings:
    phases = [Phase.generate, *([Phase.shrink] if hypothesis_shrink else [])]
    return settings(max_examples=100, stateful_step_count=50, database=None, deadline=None,
                    derandomize=False, phases=phases, suppress_health_check=list(HealthCheck))


def one(machine_class: type[EscalationStateMachine], seed: int, *, hypothesis_shrink: bool = False
        ) -> tuple[bool, RunFailed | None, float]:
    """Run once under ``seed``: (failed, the failure, total seconds)."""
    seeded_class = type(machine_class.__name__, (machine_class,), {
        "__module__": machine_class.__module__, "shrink_with_hypothesis": hypothesis_shrink})
    with_seed(seed)(seeded_class)
    began = time.perf_counter()
    try:
        seeded_class.run(search(hypothesis_shrink))
    except RunFailed as failure:
        return True, failure, time.perf_counter() - began
    return False, None, time.perf_counter() - began


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def bugs(seeds: int, hypothesis_shrink: bool) -> None:
    print(f"{'seeded bug':50} {'caught':>7} {'find s (range)':>20} {'shrink s (range)':>20} "
          f"{'steps':>6} {'triggers':>8}")
    rows = list(BUGS)
    if hypothesis_shrink:
        rows.insert(2, ("b  ... with hypothesis's shrinker first", seeded.PagerFailsOnThird,
                        "hook Pager.page"))
    results: dict[str, list[tuple[bool, RunFailed | None]]] = {name: [] for name, _, _ in rows}
    for s in range(seeds):                      # interleaved: every bug once per seed
        for name, machine_class, check in rows:
            failed, failure, _ = one(machine_class, 1000 + s,
                                     hypothesis_shrink="hypothesis's" in name)
            results[name].append((failed and failure is not None and failure.check == check, failure))
    for name, _, _ in rows:
        found = [f for ok, f in results[name] if ok and f is not None]
        find = [f.stats["found_s"] for f in found]
        shrink = [f.stats["shrink_s"] + f.stats["final_pass_s"] for f in found]
        steps = [len(f.steps) for f in found]
        fires = [sum(isinstance(s, Fire) for s in f.steps) for f in found]
        print(f"{name:50} {len(found):>3}/{seeds:<3} {spread(find):>20} {spread(shrink):>20} "
              f"{statistics.median(steps) if steps else '-':>6} "
              f"{statistics.median(fires) if fires else '-':>8}")


def snapshots() -> None:
    print("\ncheck_snapshot (ms, median of 20): the test the docs tell every host to write")
    for name, spec in (("a", host.SPEC_WITHOUT_TIER3_SUMMARY), ("d", host.SPEC_TIER3_NOT_ESCALATING),
                       ("e", host.SPEC_WHERE_CUSTOMERS_RESOLVE), ("clean", host.SPEC)):
        times, caught = [], False
        for _ in range(20):
            began = time.perf_counter()
            try:
                check_snapshot(spec, host.SNAPSHOT)
            except SnapshotMismatch:
                caught = True
            times.append((time.perf_counter() - began) * 1000)
        print(f"  {name:6} {'caught' if caught else 'passes':7} {statistics.median(times):6.2f} ms")


def clean(seeds: int) -> None:
    times = []
    for s in range(seeds):
        failed, _, took = one(seeded.Host, 2000 + s)
        assert not failed, "the clean host must pass"
        times.append(took)
    print(f"\nclean host, 100 runs with the snapshot, temporal rules, hook and cached store: "
          f"{spread(times)} s, no failure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hypothesis-shrink", action="store_true")
    args = parser.parse_args()
    bugs(args.seeds, args.hypothesis_shrink)
    snapshots()
    clean(args.seeds)


if __name__ == "__main__":
    main()
