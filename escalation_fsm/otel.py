"""OpenTelemetry spans and metrics for fires and store applies (the ``otel`` extra).

``machine.observe(Telemetry())`` makes every ``fire`` of the machine, and every ``apply`` of a
store (sync or async) firing through it, one span, and records four metrics. Only
``opentelemetry-api`` is needed (``pip install 'escalation-fsm[otel]'``); the host configures the
SDK and its exporters. It is imported when a :class:`Telemetry` is made, never by
``import escalation_fsm``. ``docs/otel.md`` lists every name and attribute.

Without providers given, the global ones are used: while the host has configured neither a
tracer provider nor a meter provider, calls are not observed at all. The providers are looked
for at the first call and then, while none is found, every 256th (the machine asks an observer
that is not watching only that often: :meth:`EscalationMachine.watched
<escalation_fsm.EscalationMachine.watched>`); in between, a fire pays one counter step. Set them
before the first fire, as OpenTelemetry's setup does anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from . import __version__
from .machine import EscalationMachine
from .models import Ticket
from .observe import ObservedCall

__all__ = ["Telemetry", "instrument"]

SCOPE = "escalation_fsm"
"""The instrumentation scope name of every span and metric."""

def _otel() -> tuple[Any, Any]:
    try:
        from opentelemetry import metrics, trace  # noqa: PLC0415 (optional extra, imported on use)
    except ImportError as exc:
        raise ImportError("escalation_fsm.otel needs opentelemetry-api, an optional extra: "
                          "pip install 'escalation-fsm[otel]'") from exc
    return trace, metrics


class Telemetry:
    """An observer (:mod:`escalation_fsm.observe`) that reports to OpenTelemetry.

    ``tracer_provider`` and ``meter_provider`` default to the global ones. Register it with
    ``machine.observe(Telemetry())`` (or :func:`instrument`).
    """

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        trace, metrics = _otel()
        self._trace = trace
        self._metrics = metrics
        self._explicit = tracer_provider is not None or meter_provider is not None
        self._on = self._explicit
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.transitions = meter.create_counter(
            "escalation.transitions", unit="{transition}",
            description="Fires and store applies, by trigger, operation and outcome")
        self.stage_duration = meter.create_histogram(
            "escalation.stage.duration", unit="s",
            description="Time a ticket spent in a stage, from its audit records, when it leaves it")
        self.breached = meter.create_counter(
            "escalation.sla.breached", unit="{deadline}",
            description="SLA deadlines found breached by a committed transition, by clock")
        self.lost_races = meter.create_counter(
            "escalation.store.lost_races", unit="{race}",
            description="Transitions a store computed and threw away because another writer won")

    @property
    def watching(self) -> bool:
        """Whether anything listens (once true, for good: OpenTelemetry sets providers once).

        Until then, each ask looks for the global providers; a machine asks only every 256th
        call while nothing watches.
        """
        if not self._on:
            self._on = self._configured()
        return self._on

    def _configured(self) -> bool:
        """Whether anything listens: providers given, or the host set a global one."""
        if self._explicit:
            return True
        tracing = self._trace.get_tracer_provider()
        meters = self._metrics.get_meter_provider()
        # The API's defaults until the host sets one: a proxy tracer provider, and a proxy meter
        # provider (a private class, so known by name).
        return not (isinstance(tracing, self._trace.ProxyTracerProvider)
                    and type(meters).__name__ == "_ProxyMeterProvider")

    @contextmanager
    def observe(self, call: ObservedCall) -> Iterator[None]:
        """One span around the call; its attributes and the metrics when it ends."""
        with self._tracer.start_as_current_span(
                f"escalation.{call.operation}", record_exception=False,
                set_status_on_exception=False) as span:
            try:
                yield
            finally:
                self._finish(span, call)

    def _finish(self, span: Any, call: ObservedCall) -> None:
        attributes: dict[str, Any] = {
            "escalation.ticket_id": call.ticket_id, "escalation.trigger": call.trigger,
            "escalation.outcome": call.outcome,
            "escalation.actor.role": str(getattr(call.actor, "role", "")),
        }
        if call.source is not None:
            attributes["escalation.source"] = call.source
        if call.destination is not None:
            attributes["escalation.destination"] = call.destination
        if call.failed_guards:
            attributes["escalation.failed_guards"] = list(call.failed_guards)
        if call.operation == "apply":
            attributes["escalation.store"] = call.store or ""
            attributes["escalation.retries"] = call.retries
        span.set_attributes(attributes)
        if call.outcome == "error" and call.error is not None:
            span.record_exception(call.error)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                               f"{type(call.error).__name__}: {call.error}"))
        self.transitions.add(1, {"escalation.trigger": call.trigger,
                                 "escalation.operation": call.operation,
                                 "escalation.outcome": call.outcome})
        if call.lost_races:
            self.lost_races.add(call.lost_races, {"escalation.trigger": call.trigger,
                                                  "escalation.store": call.store or ""})
        if call.result is not None:
            self._committed(call)

    def _committed(self, call: ObservedCall) -> None:
        result = call.result
        assert result is not None  # noqa: S101 (checked by the caller)
        record, before = result.record, result.before
        if record.source != record.dest:
            entered = _entered(before)
            if entered is not None:
                self.stage_duration.record((record.at - entered).total_seconds(),
                                           {"escalation.stage": record.source})
        for clock in _new_breaches(call.machine, before, result.ticket, record.at):
            self.breached.add(1, {"escalation.clock": clock})


def _entered(ticket: Ticket) -> datetime | None:
    """When ``ticket`` entered its stage: the last record into it from another, or its opening."""
    for record in reversed(ticket.history):
        if record.source != record.dest:
            return record.at
    return ticket.opened_at


def _new_breaches(machine: EscalationMachine, before: Ticket, after: Ticket,
                  now: datetime) -> list[str]:
    """The SLA clocks breached as of this transition that were not breached as of the last one."""
    known = set()
    if before.history:
        known = {(d.clock, d.started_at)
                 for d in machine.deadlines(before, now=before.history[-1].at) if d.breached}
    return [str(d.clock) for d in machine.deadlines(after, now=now)
            if d.breached and (d.clock, d.started_at) not in known]


def instrument(machine: EscalationMachine, **providers: Any) -> Telemetry:
    """``machine.observe(Telemetry(**providers))``: the machine's fires and stores' applies."""
    telemetry = Telemetry(**providers)
    machine.observe(telemetry)
    return telemetry
