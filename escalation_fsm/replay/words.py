"""Deviations in plain words, for a support manager: read from the spec's marks, never its names.

``resolve from identified: not allowed`` becomes "resolved before anyone worked on it": what the
trigger means (its marks) and how the ticket got to the stage it was in (the marks of the
triggers entering that stage). A trigger with no mark is quoted by its name.
"""

from __future__ import annotations

from datetime import timedelta

from ..marks import Mark
from ..sla import LadderStep, SLAClock, StepAction
from ..spec import MachineSpec

__all__ = ["LADDER_NOTE", "describe_deviation", "describe_step", "duration_words"]

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


LADDER_NOTE = ("Counted on each ticket's real history: a step counts when its instant (computed as the "
        "live ladder computes it) came before its clock stopped or before the ticket's last "
        "event. Steps that act (escalate, raise the urgency) are counted as would have fired, "
        "but what they would have changed is not re-simulated: the steps after them are counted "
        "on the history as it really went.")
_CLOCK_WORDS = {SLAClock.FIRST_RESPONSE: "first response", SLAClock.TIER2_UPDATE: "Tier 2 response",
                SLAClock.CUSTOMER_UPDATE: "customer update", SLAClock.RESOLUTION: "resolution",
                SLAClock.PROMISED_RESPONSE: "promised response"}
def describe_step(clock: SLAClock, step: LadderStep) -> str:
    """A step in words: ``notify team lead at 75% of the Tier 2 response target``."""
    does = {StepAction.NOTIFY: f"notify {step.role}", StepAction.ESCALATE: "escalate",
            StepAction.RAISE_URGENCY: "raise the urgency",
            StepAction.CALLBACK: f"call {step.callback}"}[step.action]
    what = _CLOCK_WORDS[clock]
    if step.at is not None:
        when = (f"at the {what} target (the breach)" if step.at == 1.0
                else f"at {step.at:.0%} of the {what} target")
    else:
        assert step.offset is not None  # noqa: S101 (one of the two, validated)
        hours = abs(step.offset) / timedelta(hours=1)
        side = "before" if step.offset < timedelta(0) else "after"
        when = f"{duration_words(hours)} (business time) {side} the {what} deadline"
    return f"{does} {when}"
