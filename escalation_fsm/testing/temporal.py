"""Temporal properties of one ticket's history, as small declarative rules.

Invariants look at one ticket at a time; some rules of a procedure are about *order*: "after an
escalation, the customer hears from us before the ticket is resolved", "every escalated ticket
eventually gets a Tier 2 update", "nothing is resolved before work started". A rule names events
by **mark** (what a trigger means, so the rule holds for any spelling of the procedure) or by
**trigger name** (for host-specific rules), or a tuple of them (any of):

>>> from escalation_fsm import Mark, default_spec
>>> rule = after(Mark.ESCALATE).expect(Mark.CUSTOMER_UPDATE, before=Mark.RESOLVE)
>>> str(rule)
'after escalate, customer_update before resolve'
>>> check_temporal([rule], ["attempt", "record_step", "escalate", "resolve"], default_spec())
[TemporalViolation(rule='after escalate, customer_update before resolve', index=4, ...)]

The same rules run over a stored history (``store.history(ticket_id)``), a ticket, a replayed
case (:class:`~escalation_fsm.replay.CaseResult`), plain trigger names or ``(source, trigger)``
pairs, and inside the stateful base (``temporal = [...]``), where they are checked after every
commit and, for "eventually" rules, once every open ticket was driven to a final stage.

"Eventually" can only be judged on a *finished* history: one that ended in a final stage (or when
``finished=True`` is passed). On an unfinished one its pending obligations are not violations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import InvariantViolated
from ..marks import Mark
from ..models import AuditRecord, Ticket
from ..spec import MachineSpec

__all__ = [
    "Event",
    "Matcher",
    "TemporalRule",
    "TemporalViolated",
    "TemporalViolation",
    "after",
    "always",
    "assert_temporal",
    "check_temporal",
    "events_of",
    "never",
]

Matcher: TypeAlias = Mark | str | tuple[Mark | str, ...]
"""Which events a rule talks about: a mark, a trigger name, or any of several."""


@dataclass(frozen=True, slots=True)
class Event:
    """One committed transition of a history, as the rules see it (``index`` counts from 1)."""

    index: int
    trigger: str
    source: str
    dest: str
    marks: frozenset[Mark]

    def matches(self, matcher: Matcher) -> bool:
        """Whether this event is one ``matcher`` names."""
        if isinstance(matcher, tuple):
            return any(self.matches(m) for m in matcher)
        if isinstance(matcher, Mark):
            return matcher in self.marks
        return self.trigger == matcher


@dataclass(frozen=True, slots=True)
class TemporalViolation:
    """``rule`` does not hold: ``index`` is the event where it broke (1-based; 0: at the end)."""

    rule: str
    index: int
    message: str


class TemporalViolated(InvariantViolated):
    """A temporal rule failed on a history; ``violations`` lists them."""

    def __init__(self, message: str, violations: Sequence[TemporalViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__(message)


def _name(matcher: Matcher) -> str:
    if isinstance(matcher, tuple):
        return " or ".join(_name(m) for m in matcher)
    return matcher.value if isinstance(matcher, Mark) else str(matcher)


@dataclass(frozen=True)
class TemporalRule:
    """One rule; build it with :func:`after`, :func:`never` or :func:`always`, not directly."""

    kind: str
    trigger: Matcher | None
    then: Matcher
    until: Matcher | None = None

    @property
    def liveness(self) -> bool:
        """Whether the rule says something must *eventually* happen (judged on finished histories)."""
        return self.kind == "eventually"

    def __str__(self) -> str:
        start = f"after {_name(self.trigger)}, " if self.trigger is not None else ""
        if self.kind == "expect":
            return f"{start}{_name(self.then)} before {_name(self.until or ())}"
        if self.kind == "eventually":
            return f"{start}eventually {_name(self.then)}"
        if self.kind == "always":
            return f"always {_name(self.then)}"
        end = f" until {_name(self.until)}" if self.until is not None else ""
        return f"{start}never {_name(self.then)}{end}"

    def violations(self, events: Sequence[Event], *, finished: bool) -> list[TemporalViolation]:
        """Where this rule breaks on ``events`` (a finished history also settles "eventually")."""
        if self.kind == "always":
            return [TemporalViolation(str(self), e.index, f"event {e.index} ({e.trigger}) is not "
                                                          f"{_name(self.then)}")
                    for e in events if not e.matches(self.then)]
        if self.kind == "never":
            return self._never(events)
        return self._obligations(events, finished=finished)

    def _obligations(self, events: Sequence[Event], *, finished: bool) -> list[TemporalViolation]:
        """``expect`` and ``eventually``: each trigger opens an obligation that ``then`` meets."""
        assert self.trigger is not None  # noqa: S101 (both are built by after())
        found: list[TemporalViolation] = []
        pending: int | None = None  # the earliest trigger not yet followed by ``then``
        for event in events:
            if pending is None and event.matches(self.trigger):
                pending = event.index
            if event.matches(self.then):
                pending = None  # an event that is both the trigger and ``then`` meets its own
            elif pending is not None and self.until is not None and event.matches(self.until):
                found.append(TemporalViolation(str(self), event.index, (
                    f"{event.trigger} at event {event.index} is {_name(self.until)}, with no "
                    f"{_name(self.then)} since {_at(events, pending)}")))
                pending = None
        if self.kind == "eventually" and pending is not None and finished:
            found.append(TemporalViolation(str(self), 0, (
                f"the history ended in a final stage with no {_name(self.then)} since "
                f"{_at(events, pending)}")))
        return found

    def _never(self, events: Sequence[Event]) -> list[TemporalViolation]:
        """``never``: no ``then`` while active (from the start, or strictly after each trigger)."""
        found: list[TemporalViolation] = []
        active, since = self.trigger is None, 0
        for event in events:
            if active:
                if self.until is not None and event.matches(self.until):
                    active = False
                    if self.trigger is None:
                        break  # never(..., until=U): only before the first U
                elif event.matches(self.then):
                    where = f" (after {_at(events, since)})" if since else ""
                    found.append(TemporalViolation(str(self), event.index, (
                        f"{event.trigger} at event {event.index} is {_name(self.then)}{where}")))
            elif self.trigger is not None and event.matches(self.trigger):
                active, since = True, event.index
        return found


def _at(events: Sequence[Event], index: int) -> str:
    return f"{events[index - 1].trigger} at event {index}"


class _After:
    def __init__(self, trigger: Matcher) -> None:
        self.trigger = trigger

    def expect(self, then: Matcher, *, before: Matcher) -> TemporalRule:
        """After each ``trigger``, a ``then`` comes before the next ``before`` (if one comes)."""
        return TemporalRule("expect", self.trigger, then, before)

    def eventually(self, then: Matcher) -> TemporalRule:
        """After each ``trigger``, a ``then`` comes by the end of the (finished) history."""
        return TemporalRule("eventually", self.trigger, then)

    def never(self, then: Matcher, *, until: Matcher | None = None) -> TemporalRule:
        """After ``trigger``, no ``then`` (until an ``until``, which ends the obligation)."""
        return TemporalRule("never", self.trigger, then, until)


def after(trigger: Matcher) -> _After:
    """Start a rule about what follows ``trigger``: ``.expect``, ``.eventually`` or ``.never``."""
    return _After(trigger)


def never(then: Matcher, *, until: Matcher | None = None) -> TemporalRule:
    """No ``then`` in the history (before the first ``until``, when given)."""
    return TemporalRule("never", None, then, until)


def always(then: Matcher) -> TemporalRule:
    """Every event of the history is a ``then``."""
    return TemporalRule("always", None, then)


History = Iterable[AuditRecord] | Iterable[str] | Iterable[tuple[str, str]] | Ticket | Any


def events_of(history: History, spec: MachineSpec) -> list[Event]:
    """The events of ``history``, with marks and destinations read from ``spec``.

    ``history`` is audit records, a ticket, a replayed case (``.fired``), trigger names or
    ``(source, trigger)`` pairs.
    """
    if isinstance(history, Ticket):
        history = history.history
    fired = getattr(history, "fired", None)  # a replayed CaseResult
    items = list(fired if fired is not None else history)
    events: list[Event] = []
    stage = spec.initial
    for index, item in enumerate(items, start=1):
        if isinstance(item, AuditRecord):
            source, trigger, dest = item.source, item.trigger, item.dest
        else:
            source, trigger = (stage, item) if isinstance(item, str) else item
            move = spec.transition(source, trigger)
            dest = source if move is None else move.target
        events.append(Event(index, trigger, source, dest, spec.marks_of(trigger)))
        stage = dest
    return events


def _finished(history: History, events: Sequence[Event], spec: MachineSpec) -> bool:
    final_stage = getattr(history, "final_stage", None) or getattr(history, "stage", None)
    if isinstance(final_stage, str):
        return final_stage in spec.finals
    return bool(events) and events[-1].dest in spec.finals


def check_temporal(rules: Iterable[TemporalRule], history: History, spec: MachineSpec, *,
                   finished: bool | None = None) -> list[TemporalViolation]:
    """Every violation of ``rules`` on ``history`` (see :func:`events_of`), in rule order.

    ``finished`` (default: the history ends in a final stage) settles "eventually" rules.
    """
    events = events_of(history, spec)
    done = _finished(history, events, spec) if finished is None else finished
    return [v for rule in rules for v in rule.violations(events, finished=done)]


def assert_temporal(rules: Iterable[TemporalRule], history: History, spec: MachineSpec, *,
                    finished: bool | None = None, label: str = "the history") -> None:
    """Raise :class:`TemporalViolated` naming every rule ``history`` breaks."""
    found = check_temporal(rules, history, spec, finished=finished)
    if found:
        raise TemporalViolated(f"{label} breaks {len(found)} temporal rule(s):\n" + "\n".join(
            f"  - {v.rule}: {v.message}" for v in found), found)
