"""Cost of firing, cold starts and memory per live ticket, next to bare `transitions` in the same run.

Run on demand (not in CI):
    python benchmarks/bench_fire.py [--tickets 100000]      # wall-clock figures and memory
    python benchmarks/bench_fire.py --otel [--rounds 200]   # what OpenTelemetry costs a fire
    python benchmarks/bench_fire.py --instructions          # CPU instructions per trigger (valgrind)

Time figures are medians of several repeats of timeit loops; ratios compare escalation_fsm with
the bare engine measured moments before on the same machine. On a loaded machine wall-clock
ratios drift; ``--instructions`` counts instructions with callgrind (same count whatever else the
machine does) by running each loop with 0 and N iterations and dividing the difference by N.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from transitions import Machine

from escalation_fsm import (
    Actor,
    Category,
    EscalationMachine,
    ManualClock,
    Role,
    Stage,
    Ticket,
    Trigger,
)
from escalation_fsm import machine as machine_module

AGENT = Actor(id="a-1", role=Role.AGENT)
STATES = [str(s) for s in Stage]


class BareModel:
    """What a bare transitions user would attach: a plain object."""

    def __init__(self, stage: str = "identified") -> None:
        self.state = stage


def bare_machine(model: object | None, *, callbacks: bool, initial: str = "identified") -> Machine:
    extra: dict[str, Any] = {}
    if callbacks:
        extra = {"conditions": [lambda event: True], "before": [lambda event: None],
                 "after": [lambda event: None]}
    return Machine(model=model, states=STATES, initial=initial, auto_transitions=False,
                   send_event=True,
                   transitions=[{"trigger": "attempt", "source": "identified", "dest": "attempted", **extra},
                                {"trigger": "record_step", "source": "attempted", "dest": None, **extra}])


def per_call_us(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def trigger_costs(number: int) -> dict[str, float]:
    model = BareModel()
    bare_machine(model, callbacks=False, initial="attempted")
    model_cb = BareModel()
    bare_machine(model_cb, callbacks=True, initial="attempted")
    machine = EscalationMachine(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC), tick=timedelta(0)))
    fresh = Ticket(id="T-1", customer_id="C-1", category=Category.TECHNICAL, details="d")
    ticket = machine.fire(fresh, Trigger.ATTEMPT, actor=AGENT)
    return {
        "bare trigger (self-loop, no callbacks)": per_call_us(model.record_step, number),  # type: ignore[attr-defined]
        "bare trigger (self-loop, condition+before+after)": per_call_us(model_cb.record_step, number),  # type: ignore[attr-defined]
        "fire record_step (guard, role, payload, history, new ticket)": per_call_us(
            lambda: machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="Checked KB-1"), number),
        "fire attempt (2 guards, stage change)": per_call_us(
            lambda: machine.fire(fresh, Trigger.ATTEMPT, actor=AGENT), number),
    }


def cold_costs(number: int) -> dict[str, float]:
    shared = bare_machine(None, callbacks=False)

    def bare_add_model_and_trigger() -> None:
        m = BareModel()
        shared.add_model(m)
        m.attempt()  # type: ignore[attr-defined]
        shared.remove_model(m)  # otherwise the machine keeps every model alive and add_model slows

    def bare_machine_per_ticket() -> None:
        m = BareModel()
        bare_machine(m, callbacks=False)
        m.attempt()  # type: ignore[attr-defined]

    machine = EscalationMachine(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))

    def ours() -> None:
        t = Ticket(id="T-1", customer_id="C-1", category=Category.TECHNICAL, details="d")
        machine.fire(t, Trigger.ATTEMPT, actor=AGENT)

    return {
        "bare: add_model + trigger + remove_model": per_call_us(bare_add_model_and_trigger, number // 4),
        "bare: Machine per ticket + trigger": per_call_us(bare_machine_per_ticket, number // 20),
        "escalation_fsm: new Ticket + fire (no engine objects)": per_call_us(ours, number // 4),
    }


def memory_per_ticket(count: int) -> dict[str, float]:
    results: dict[str, float] = {}
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    shared = bare_machine(None, callbacks=False)
    models = [BareModel() for _ in range(count)]
    shared.add_model(models)
    results["bare: plain model attached with add_model"] = (tracemalloc.get_traced_memory()[0] - base) / count
    del models, shared
    gc.collect()
    tracemalloc.stop()

    machine = EscalationMachine(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
    template = Ticket(id="T-0", customer_id="C-1", category=Category.TECHNICAL, details="d")
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tickets = [machine.fire(template.model_copy(update={"id": f"T-{i}"}), Trigger.ATTEMPT, actor=AGENT)
               for i in range(count)]
    results["escalation_fsm: Ticket after one fire (incl. its audit record)"] = (
        tracemalloc.get_traced_memory()[0] - base) / count
    assert machine_module._engine(machine.spec).models == []  # no per-ticket engine objects
    del tickets
    tracemalloc.stop()
    return results


LOOPS: dict[str, str] = {
    "bare transitions trigger (self-loop, no callbacks)": "bare",
    "bare transitions trigger (self-loop, condition+before callbacks)": "bare_cb",
    "bare transitions trigger (stage change, no callbacks)": "bare_change",
    "fire record_step (guard, role, payload, history, new ticket)": "fire_step",
    "fire attempt (2 guards, stage change)": "fire_attempt",
}


def run_loop(kind: str, count: int) -> None:
    """The body measured by --instructions (run in a child process under callgrind)."""
    bare = BareModel()
    bare_machine(bare, callbacks=False, initial="attempted")
    bare_cb = BareModel()
    bare_machine(bare_cb, callbacks=True, initial="attempted")
    bare_change = BareModel()
    bare_machine(bare_change, callbacks=False)

    def change_stage() -> None:
        bare_change.state = "identified"  # back, without a trigger, to change stage again
        bare_change.attempt()  # type: ignore[attr-defined]

    machine = EscalationMachine(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
    fresh = Ticket(id="T-1", customer_id="C-1", category=Category.TECHNICAL, details="d")
    ticket = machine.fire(fresh, Trigger.ATTEMPT, actor=AGENT)
    calls: dict[str, Callable[[], object]] = {
        "bare": bare.record_step,  # type: ignore[attr-defined]
        "bare_cb": bare_cb.record_step,  # type: ignore[attr-defined]
        "bare_change": change_stage,
        "fire_step": lambda: machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="Checked KB-1"),
        "fire_attempt": lambda: machine.fire(fresh, Trigger.ATTEMPT, actor=AGENT),
    }
    call = calls[kind]
    call()  # warm caches so both runs pay the same one-off costs
    for _ in range(count):
        call()


def instructions(kind: str, count: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--loop", kind, str(count)], capture_output=True, text=True, check=True).stderr
    match = re.search(r"Collected : (\d+)", out)
    assert match, out
    return int(match.group(1))


def instruction_figures(count: int) -> dict[str, float]:
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian package: valgrind)")
    return {name: (instructions(kind, count) - instructions(kind, 0)) / count
            for name, kind in LOOPS.items()}


def otel_costs(number: int, rounds: int) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """fire with no observer, with Telemetry but no provider configured, and a second machine
    with no observer (the A/A control: what two identical machines differ by, i.e. the noise).

    Each round times ``number`` fires of each machine in a shuffled order, CPU time
    (``process_time``) and wall time, with the garbage collector run before each block and paused
    inside it (all three allocate alike; a collection landing in one block would be noise). The
    figures are medians over the rounds; the overheads are medians of the per-round ratios (each
    ratio pairs blocks measured moments apart). Then, apart (its garbage would slow whatever runs
    next), fire with the SDK recording into in-memory exporters."""
    import random

    from escalation_fsm.otel import instrument

    def fresh_machine() -> EscalationMachine:
        return EscalationMachine(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC), tick=timedelta(0)))

    plain, control, unconfigured = fresh_machine(), fresh_machine(), fresh_machine()
    instrument(unconfigured)  # the global providers are left unset: nothing listens
    fresh = Ticket(id="T-1", customer_id="C-1", category=Category.TECHNICAL, details="d")
    ticket = plain.fire(fresh, Trigger.ATTEMPT, actor=AGENT)

    def block(machine: EscalationMachine) -> tuple[float, float]:
        gc.collect()
        gc.disable()
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(number):
                machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="KB-1")
            return ((time.process_time() - cpu) / number * 1e6,
                    (time.perf_counter() - wall) / number * 1e6)
        finally:
            gc.enable()

    pair = {"fire, no observer": plain, "fire, no observer (A/A control)": control,
            "fire, Telemetry, no provider configured": unconfigured}
    cpu: dict[str, list[float]] = {name: [] for name in pair}
    wall: dict[str, list[float]] = {name: [] for name in pair}
    shuffle = random.Random(12).shuffle
    for machine in pair.values():
        block(machine)  # warm-up
    for _ in range(rounds):
        order = list(pair)
        shuffle(order)
        for name in order:
            c, w = block(pair[name])
            cpu[name].append(c)
            wall[name].append(w)
    figures = {name: statistics.median(values) for name, values in cpu.items()}
    reference = "fire, no observer"

    def paired(samples: dict[str, list[float]], name: str) -> float:
        return statistics.median(x / r - 1 for x, r in zip(samples[name], samples[reference], strict=True))

    overheads = {name: (paired(cpu, name), paired(wall, name)) for name in pair if name != reference}
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        return figures, overheads
    tracing = TracerProvider()
    exporter = InMemorySpanExporter()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    recording = fresh_machine()
    instrument(recording, tracer_provider=tracing,
               meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
    recorded = []
    for _ in range(max(3, rounds // 10)):
        recorded.append(block(recording)[0])
        exporter.clear()
    figures["fire, Telemetry, SDK recording (in-memory exporter)"] = statistics.median(recorded)
    return figures, overheads


def show(title: str, figures: dict[str, float], unit: str, reference: str) -> None:
    print(f"\n{title}")
    ref = figures[reference]
    for name, value in figures.items():
        print(f"  {value:10.2f} {unit}  {value / ref:5.2f}x  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000, help="live tickets for the memory figure")
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing loop")
    parser.add_argument("--instructions", action="store_true",
                        help="count CPU instructions per trigger with valgrind instead of timing")
    parser.add_argument("--loop", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--otel", action="store_true",
                        help="only the cost of OpenTelemetry on fire (needs the otel extra)")
    parser.add_argument("--rounds", type=int, default=200, help="shuffled rounds for --otel")
    args = parser.parse_args()
    if args.otel:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        figures, overheads = otel_costs(args.number // 40, args.rounds)
        show(f"fire record_step with OpenTelemetry (CPU time, medians of {args.rounds} shuffled "
             f"rounds of {args.number // 40} fires each)", figures, "us", "fire, no observer")
        print("\n  against 'fire, no observer', medians of the per-round ratios (CPU / wall):")
        for name, (cpu, wall) in overheads.items():
            print(f"    {cpu * 100:+5.1f}% / {wall * 100:+5.1f}%  {name}")
        print("  goal: Telemetry with no provider at most +3%; the A/A control shows the noise")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    if args.loop:
        run_loop(args.loop[0], int(args.loop[1]))
        return
    if args.instructions:
        figures = instruction_figures(2000)
        show("CPU instructions per trigger (callgrind, 2,000 calls)", figures, "instr",
             "bare transitions trigger (self-loop, no callbacks)")
        change = figures["bare transitions trigger (stage change, no callbacks)"]
        attempt = figures["fire attempt (2 guards, stage change)"]
        print(f"\n  fire attempt against a bare trigger that also changes stage: {attempt / change:.2f}x")
        return

    costs = trigger_costs(args.number)
    show("Per trigger (median of 7 repeats)", costs, "us", "bare trigger (self-loop, no callbacks)")
    logging.basicConfig(level=logging.INFO)  # a host that logs at INFO
    logging.getLogger().handlers[0].setLevel(logging.INFO)
    at_info = trigger_costs(args.number // 4)
    show("Per trigger with the root logger at INFO (engine logger left as the library set it)",
         at_info, "us", "bare trigger (self-loop, no callbacks)")
    logging.getLogger().setLevel(logging.WARNING)
    show("Cold: first fire of a new ticket", cold_costs(args.number), "us",
         "bare: add_model + trigger + remove_model")
    show(f"Memory per live ticket ({args.tickets:,} tickets, tracemalloc)", memory_per_ticket(args.tickets),
         "B ", "bare: plain model attached with add_model")


if __name__ == "__main__":
    main()
