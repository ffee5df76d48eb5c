"""How often a machine asks its observers whether they watch, and what an idle one costs a call.

While an observer watches, every call asks; while none does, the next ``QUIET_CALLS`` calls are
not observed without asking (the cost of an idle :class:`~escalation_fsm.otel.Telemetry` on a fire
is that counter step). These pin the cadence exactly, and that a call inside no observed call
records nothing on any observer.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from support import AGENT, START, new_ticket

from escalation_fsm import EscalationMachine, ManualClock, Trigger
from escalation_fsm.machine import QUIET_CALLS
from escalation_fsm.observe import ObservedCall
from escalation_fsm.stores import MemoryStore


class Switch:
    """An observer whose ``watching`` the test sets; it counts the asks and the calls it saw."""

    def __init__(self, *, on: bool) -> None:
        self.on = on
        self.asked = 0
        self.calls: list[ObservedCall] = []

    @property
    def watching(self) -> bool:
        self.asked += 1
        return self.on

    @contextmanager
    def observe(self, call: ObservedCall) -> Iterator[None]:
        yield
        self.calls.append(call)


def _machine() -> EscalationMachine:
    return EscalationMachine(clock=ManualClock(START, tick=timedelta(seconds=1)))


def _registered(machine: EscalationMachine, *, on: bool) -> Switch:
    """A Switch observing ``machine``, its count of asks zero (registering looks at it once)."""
    switch = Switch(on=on)
    machine.observe(switch)
    switch.asked = 0
    return switch


def test_an_idle_observer_is_asked_once_per_quiet_stretch() -> None:
    """Not watching: asked at the first fire, then again only after QUIET_CALLS more fires (255:
    every 256th call, as docs/otel.md says)."""
    assert QUIET_CALLS == 255
    machine = _machine()
    idle = _registered(machine, on=False)
    ticket = machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    assert idle.asked == 1
    for n in range(QUIET_CALLS):
        ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step=f"s{n}")
    assert idle.asked == 1
    machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="one more")
    assert (idle.asked, idle.calls) == (2, [])


def test_an_observer_that_starts_watching_is_seen_within_the_quiet_stretch() -> None:
    """Switched on after the first fire: the calls after the quiet stretch are observed, and
    every one from then on (a watching observer is asked at every call)."""
    machine = _machine()
    switch = _registered(machine, on=False)
    ticket = machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    switch.on = True
    for n in range(QUIET_CALLS + 5):
        ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step=f"s{n}")
    assert len(switch.calls) == 5
    assert [call.outcome for call in switch.calls] == ["committed"] * 5
    assert switch.asked == 1 + 5


def test_registering_an_observer_asks_at_the_next_call() -> None:
    """observe() ends a quiet stretch: an observer registered mid-stretch sees the next fire."""
    machine = _machine()
    machine.observe(Switch(on=False))
    ticket = machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    late = _registered(machine, on=True)
    machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="seen")
    assert [(c.operation, c.source, c.destination) for c in late.calls] == [
        ("fire", "attempted", "attempted")]


def test_store_applies_share_the_machines_quiet_stretch() -> None:
    """A store's apply asks through the same counter as fire: one ask for QUIET_CALLS + 1 calls."""
    machine = _machine()
    idle = _registered(machine, on=False)
    store = MemoryStore(machine=machine)
    store.create(new_ticket())
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    for n in range(QUIET_CALLS):
        store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step=f"s{n}")
    assert idle.asked == 1


def test_an_unobserved_call_records_nothing_on_a_call_around_it() -> None:
    """A fire of a machine with an idle observer, made inside another machine's observed call
    (an after-hook), leaves that call's attempts and result to the outer fire alone."""
    outer, inner = _machine(), _machine()
    watcher = _registered(outer, on=True)
    inner.observe(Switch(on=False))
    inner.after()(lambda event: None)  # so that the inner fire runs its after-hook phase

    @outer.after()
    def fire_elsewhere(event: object) -> None:
        inner.fire(new_ticket(id="T-2"), Trigger.ATTEMPT, actor=AGENT)

    outer.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    [call] = watcher.calls
    assert (call.attempts, call.computed, call.result is not None) == (1, 1, True)
    assert call.result is not None and call.result.ticket.id == "T-1"


def test_telemetry_sees_providers_set_after_its_first_call() -> None:
    """The global providers set after the first fire (a process of its own: they are set once):
    the fires after the quiet stretch are spans, exactly QUIET_CALLS fewer than were made."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})
        from datetime import timedelta
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from support import AGENT, START, new_ticket
        from escalation_fsm import EscalationMachine, ManualClock, Trigger
        from escalation_fsm.otel import instrument

        machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(seconds=1)))
        telemetry = instrument(machine)
        ticket = machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
        assert telemetry.watching is False
        spans = InMemorySpanExporter()
        tracing = TracerProvider()
        tracing.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(tracing)
        metrics.set_meter_provider(MeterProvider())
        for n in range({QUIET_CALLS} + 7):
            ticket = machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step=f"s{{n}}")
        print(len(spans.get_finished_spans()))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "7"
