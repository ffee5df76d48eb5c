"""Deviations in plain words, for a support manager: read from the spec's marks, never its names.

``resolve from identified: not allowed`` becomes "resolved before anyone worked on it": what the
trigger means (its marks) and how the ticket got to the stage it was in (the marks of the
triggers entering that stage). A trigger with no mark is quoted by its name.
"""

from __future__ import annotations

from ..marks import Mark
from ..spec import MachineSpec

__all__ = ["describe_deviation", "duration_words"]

_DONE = {
    Mark.ATTEMPT: "worked on", Mark.RESOLVE: "resolved", Mark.ESCALATE: "escalated",
    Mark.DE_ESCALATE: "de-escalated", Mark.REOPEN: "reopened", Mark.STEP: "a step recorded",
    Mark.TIER_UPDATE: "a Tier 2 update recorded", Mark.CUSTOMER_UPDATE: "the customer updated",
    Mark.PROMISE: "a response time promised", Mark.REQUEST_FEEDBACK: "feedback requested",
    Mark.RECORD_FEEDBACK: "feedback recorded",
}
_PRIORITY = (Mark.RESOLVE, Mark.ESCALATE, Mark.DE_ESCALATE, Mark.REOPEN, Mark.ATTEMPT,
             Mark.TIER_UPDATE, Mark.CUSTOMER_UPDATE, Mark.PROMISE, Mark.STEP,
             Mark.REQUEST_FEEDBACK, Mark.RECORD_FEEDBACK)


def _done(spec: MachineSpec, trigger: str) -> str:
    marks = spec.marks_of(trigger) if spec.has_trigger(trigger) else frozenset()
    return next((_DONE[m] for m in _PRIORITY if m in marks), f"'{trigger}'")


def _entered_by(spec: MachineSpec, stage: str) -> set[str]:
    return {t.trigger for t in spec.transitions if t.target == stage and t.source != stage}


def _where(spec: MachineSpec, stage: str) -> str:
    if stage == spec.initial:
        return ("before anyone worked on it" if spec.marked(Mark.ATTEMPT)
                else "before work on it started")
    if stage in spec.finals:
        return f"after it was finished ({stage})"
    marks: set[Mark] = set()
    for trigger in _entered_by(spec, stage):
        marks |= spec.marks_of(trigger)
    if Mark.RESOLVE in marks:
        return "after it was resolved"
    if Mark.ESCALATE in marks:
        return "while it was escalated"
    if marks & {Mark.ATTEMPT, Mark.REOPEN}:
        return "while it was being worked on"
    return f"while it was {stage.replace('_', ' ')}"


def describe_deviation(spec: MachineSpec, kind: str, stage: str, trigger: str,
                       reason: str, *, rule: str = "") -> str:
    """One deviation kind in words, e.g. "resolved before anyone worked on it".

    >>> from escalation_fsm.procedure import logged_procedure_spec
    >>> spec = logged_procedure_spec()
    >>> describe_deviation(spec, "not_allowed", spec.initial, "resolve", "")
    'resolved before anyone worked on it'
    """
    done = _done(spec, trigger)
    if kind == "not_allowed":
        if trigger in _entered_by(spec, stage) and stage not in spec.finals:
            return f"{done} twice in a row"
        return f"{done} {_where(spec, stage)}"
    if kind == "refused":
        guards = [g.strip() for g in rule.partition(" by ")[2].split(",") if g.strip()]
        known = [spec.guard(g).requirement for g in guards if g in {x.name for x in spec.guards}]
        return f"{done} without the rule being met: {'; '.join(known) or reason}"
    if kind == "role":
        return f"{done} by someone whose role may not do it: {reason}"
    return f"{done} with data the procedure does not accept: {reason}"


def duration_words(hours: float | None) -> str:
    """A duration people read at a glance: minutes, hours up to two days, then days.

    >>> duration_words(0.25), duration_words(5), duration_words(50), duration_words(None)
    ('15 min', '5.0 hours', '2.1 days', '-')
    """
    if hours is None:
        return "-"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"
