"""OpenTelemetry: the exact spans and metric points of fires and applies (SDK in-memory exporters)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError
from support import AGENT, CUSTOMER, HIGH, START, new_ticket

from escalation_fsm import (
    ConcurrentUpdate,
    EscalationMachine,
    InvalidTransition,
    ManualClock,
    PermissionDenied,
    TransitionEvent,
    TransitionRefused,
    Trigger,
)
from escalation_fsm.otel import Telemetry, instrument
from escalation_fsm.stores import AsyncSQLiteStore, MemoryStore


@dataclass
class Exported:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def span_attributes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(span.name, dict(span.attributes or {})) for span in self.spans.get_finished_spans()]

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name -> [(attributes, value or (count, sum))], sorted by attributes."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = (point.count, point.sum) if hasattr(point, "count") else point.value
                        found.setdefault(metric.name, []).append((dict(point.attributes), value))
        return {name: sorted(points, key=lambda p: sorted(p[0].items())) for name, points in found.items()}


@pytest.fixture
def exported() -> Exported:
    spans = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return _with_providers(spans, tracing, reader)


_PROVIDERS: dict[int, tuple[TracerProvider, MeterProvider]] = {}


def _with_providers(spans: InMemorySpanExporter, tracing: TracerProvider,
                    reader: InMemoryMetricReader) -> Exported:
    found = Exported(spans, reader)
    _PROVIDERS[id(found)] = (tracing, MeterProvider(metric_readers=[reader]))
    return found


def providers(found: Exported) -> dict[str, Any]:
    tracing, meters = _PROVIDERS[id(found)]
    return {"tracer_provider": tracing, "meter_provider": meters}


@pytest.fixture
def machine(exported: Exported) -> EscalationMachine:
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=1)))
    instrument(machine, **providers(exported))
    return machine


def test_a_committed_fire_is_one_span_and_one_point_per_metric(machine: EscalationMachine,
                                                              exported: Exported) -> None:
    """fire: span escalation.fire with ticket, trigger, source, destination, outcome, role; the
    transitions counter and the stage histogram (opened 30 min before the attempt)."""
    ticket = new_ticket(opened_at=START - timedelta(minutes=30))
    fired = machine.fire(ticket, Trigger.ATTEMPT, actor=AGENT)
    assert exported.span_attributes() == [("escalation.fire", {
        "escalation.ticket_id": "T-1", "escalation.trigger": "attempt",
        "escalation.outcome": "committed", "escalation.actor.role": "agent",
        "escalation.source": "identified", "escalation.destination": "attempted"})]
    waited = (fired.history[-1].at - ticket.opened_at).total_seconds()  # type: ignore[operator]
    assert waited == 30 * 60
    assert exported.points() == {
        "escalation.transitions": [({"escalation.trigger": "attempt", "escalation.operation": "fire",
                                     "escalation.outcome": "committed"}, 1)],
        "escalation.stage.duration": [({"escalation.stage": "identified"}, (1, waited))],
    }


def test_refusals_denials_and_invalid_triggers_are_outcomes(machine: EscalationMachine,
                                                           exported: Exported) -> None:
    """Each failure is its outcome on the span and the counter; a refusal names its guards; no
    stage time is recorded for what was not committed."""
    attempted = machine.fire(new_ticket(opened_at=START), Trigger.ATTEMPT, actor=AGENT)
    exported.spans.clear()
    with pytest.raises(TransitionRefused):
        machine.fire(attempted, Trigger.ESCALATE, actor=AGENT, summary="s", assessment=HIGH)
    with pytest.raises(PermissionDenied):
        machine.fire(attempted, Trigger.RESOLVE, actor=CUSTOMER, solution="x")
    with pytest.raises(InvalidTransition):
        machine.fire(attempted, Trigger.RECORD_FEEDBACK, actor=AGENT, rating=3)
    with pytest.raises(ValidationError):
        machine.fire(attempted, Trigger.RECORD_STEP, actor=AGENT, step=["not", "text"])
    outcomes = [(attrs["escalation.outcome"], attrs.get("escalation.failed_guards"),
                 attrs.get("escalation.destination")) for _, attrs in exported.span_attributes()]
    assert outcomes == [("refused", ("has_steps",), None), ("denied", None, None),
                        ("invalid", None, None), ("invalid_payload", None, None)]
    counted = {p[0]["escalation.outcome"]: p[1] for p in exported.points()["escalation.transitions"]}
    assert counted == {"committed": 1, "refused": 1, "denied": 1, "invalid": 1, "invalid_payload": 1}
    assert [p[1][0] for p in exported.points()["escalation.stage.duration"]] == [1]


def test_an_apply_is_one_span_with_its_retries_and_lost_races(machine: EscalationMachine,
                                                              exported: Exported) -> None:
    """A store apply that lost one race: one escalation.apply span (retries 1, committed), one
    lost race counted; a self-loop (record_step) records no stage time."""
    setup = MemoryStore(machine=EscalationMachine(clock=ManualClock(START)))
    setup.create(new_ticket())
    setup.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    store = MemoryStore(machine=machine, shared_with=setup)
    raced: list[int] = []

    @machine.before(Trigger.RECORD_STEP)
    def race(event: TransitionEvent) -> None:
        if not raced:
            raced.append(1)
            setup.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="other writer")

    store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="mine")
    assert exported.span_attributes() == [("escalation.apply", {
        "escalation.ticket_id": "T-1", "escalation.trigger": "record_step",
        "escalation.outcome": "committed", "escalation.actor.role": "agent",
        "escalation.source": "attempted", "escalation.destination": "attempted",
        "escalation.store": "MemoryStore", "escalation.retries": 1})]
    points = exported.points()
    assert points["escalation.store.lost_races"] == [
        ({"escalation.trigger": "record_step", "escalation.store": "MemoryStore"}, 1)]
    assert "escalation.stage.duration" not in points


def test_a_race_lost_on_every_attempt_is_the_lost_race_outcome(machine: EscalationMachine,
                                                               exported: Exported) -> None:
    """max_attempts=1 and another writer in between: outcome lost_race, nothing committed."""
    setup = MemoryStore(machine=EscalationMachine(clock=ManualClock(START)))
    setup.create(new_ticket())
    setup.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    store = MemoryStore(machine=machine, shared_with=setup, max_attempts=1)

    @machine.before(Trigger.RECORD_STEP)
    def race(event: TransitionEvent) -> None:
        setup.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="other writer")

    with pytest.raises(ConcurrentUpdate):
        store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="mine")
    [(name, attrs)] = exported.span_attributes()
    assert (name, attrs["escalation.outcome"], attrs["escalation.retries"]) == (
        "escalation.apply", "lost_race", 0)
    assert exported.points()["escalation.store.lost_races"][0][1] == 1


def test_a_late_first_response_counts_each_breached_deadline_once(machine: EscalationMachine,
                                                                  exported: Exported) -> None:
    """Opened ten days before the attempt: the first response is met late and the resolution
    clock is past its target; each counts once, and not again at the next transition."""
    ticket = machine.fire(new_ticket(opened_at=START - timedelta(days=10)), Trigger.ATTEMPT,
                          actor=AGENT)
    machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="again")
    assert exported.points()["escalation.sla.breached"] == [
        ({"escalation.clock": "first_response"}, 1), ({"escalation.clock": "resolution"}, 1)]


def test_an_async_store_apply_is_observed_too(machine: EscalationMachine, exported: Exported,
                                              tmp_path: Path) -> None:
    """AsyncSQLiteStore: one escalation.apply span per apply, with its store's name."""
    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "t.db", machine=machine) as store:
            await store.create(new_ticket())
            await store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)

    asyncio.run(main())
    [(name, attrs)] = exported.span_attributes()
    assert (name, attrs["escalation.store"], attrs["escalation.outcome"],
            attrs["escalation.destination"]) == (
        "escalation.apply", "AsyncSQLiteStore", "committed", "attempted")


def test_no_provider_configured_records_nothing() -> None:
    """With the global providers left unset, a call records nothing (and the fire works)."""
    machine = EscalationMachine(clock=ManualClock(START))
    telemetry = instrument(machine)
    assert telemetry.watching is False and telemetry._configured() is False
    assert machine.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT).version == 1


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """No opentelemetry-api: making a Telemetry says which extra to install."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"escalation-fsm\[otel\]"):
        Telemetry()


def test_the_package_does_not_import_opentelemetry() -> None:
    """import escalation_fsm (and its stores) pulls in no OpenTelemetry module."""
    code = ("import sys, escalation_fsm, escalation_fsm.stores; "
            "assert not [m for m in sys.modules if m.startswith('opentelemetry')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_observer_needs_an_observe_method() -> None:
    """machine.observe refuses what could never observe (instead of failing on the next fire)."""
    with pytest.raises(TypeError, match="observe"):
        EscalationMachine().observe(object())  # type: ignore[arg-type]

