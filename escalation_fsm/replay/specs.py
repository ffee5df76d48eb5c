"""Specs for replaying logs: the procedure as helpdesks log it, and its observable projection.

Two steps keep replay honest:

1. :func:`logged_procedure_spec` is the default procedure *extended* (never loosened) with what
   real helpdesks record: a ``classify`` step while the issue is identified, ``waiting`` stages,
   taking a ticket over, and a final ``closed`` stage. It is a normal spec: it can be fired live.
2. :func:`observable_projection` derives the spec a replay actually runs: the same stages and
   transitions, but only the guards a log can show; every other rule is listed as
   :class:`NotObservable` with the reason, so the report can say "not observable" instead of
   counting a violation for data the log never recorded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from ..errors import SpecError
from ..models import Role, Stage, Trigger
from ..payloads import NoPayload
from ..policy import GuardContext
from ..procedure import default_spec
from ..spec import MachineSpec, StageSpec, TransitionSpec, TriggerSpec

__all__ = [
    "GUARD_OBSERVABILITY",
    "NotObservable",
    "logged_procedure_spec",
    "observable_projection",
    "resolve_spec",
]

_ANY_STAFF = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR, Role.SYSTEM})


@dataclass(frozen=True, slots=True)
class NotObservable:
    """A rule of the spec that a log cannot show, and why; it is never counted as a violation."""

    rule: str
    reason: str


GUARD_OBSERVABILITY: dict[str, str] = {
    "has_category": "needs a category column: declare `columns.category` in the mapping",
    "has_details": "logs do not record what the customer reported",
    "has_steps": "logs do not record which knowledge-base articles or troubleshooting steps "
                 "were tried before escalating",
    "has_summary": "logs do not record the Tier 2 hand-over summary",
    "escalation_warranted": "logs do not record the complexity, frustration and urgency "
                            "assessment behind an escalation",
    "customer_notified": "logs do not record customer notifications",
    "has_solution": "logs do not record the text of the solution",
    "has_step_text": "logs do not record what a step consisted of",
    "has_message": "logs do not record what the customer was told",
    "has_update": "logs do not record the content of Tier 2 updates",
    "has_customer_message": "logs do not record what was communicated to the customer",
    "has_reopen_reason": "logs do not record why a ticket was reopened",
}
"""Why each default guard is (usually) invisible in an event log; shown in the report."""


def _t(trigger: str, source: str, dest: str | None, *guards: str,
       roles: frozenset[str] = _ANY_STAFF) -> TransitionSpec:
    return TransitionSpec(trigger=trigger, source=source, dest=dest, guards=guards, roles=roles)


@cache
def logged_procedure_spec() -> MachineSpec:
    """The default procedure plus the stages and moves real helpdesk logs record.

    Added: ``classify`` (record seriousness or priority while identified), ``waiting`` and
    ``waiting_tier2`` (on hold for the customer or a third party, during first-contact work or
    after escalation; waiting again while on hold is allowed, e.g. on another party), taking a
    ticket over (``attempt`` again), re-escalation to a further group (``escalate`` while
    escalated or on hold), resolving after a wait, and ``close`` to a final ``closed`` stage.
    Every default transition and guard is kept.
    """
    base = default_spec()
    attempt = base.trigger(Trigger.ATTEMPT)
    stages = [
        StageSpec(name="waiting", description="On hold during first-contact work, waiting for "
                                              "the customer or a third party."),
        StageSpec(name="waiting_tier2", description="On hold after escalation, waiting for the "
                                                    "customer, a vendor or a problem fix."),
        StageSpec(name="closed", final=True, description="Closed: nothing left to do."),
    ]
    triggers = [
        attempt.model_copy(update={
            "description": "Start, resume or take over work on the ticket "
                           "(first contact, or after a wait)."}),
        TriggerSpec(name="classify", description="Record the issue's seriousness, category or "
                                                 "priority while it is being identified."),
        TriggerSpec(name="wait", description="Put the ticket on hold for the customer or a "
                                             "third party."),
        TriggerSpec(name="close", description="Close the resolved ticket."),
    ]
    transitions = [
        _t("classify", Stage.IDENTIFIED, None),
        _t(Trigger.ATTEMPT, Stage.ATTEMPTED, None),          # another agent takes it over
        _t(Trigger.ATTEMPT, Stage.ESCALATED, None, roles=frozenset({Role.TIER2, Role.SUPERVISOR,
                                                                     Role.SYSTEM})),
        _t("wait", Stage.ATTEMPTED, "waiting"),
        _t("wait", Stage.ESCALATED, "waiting_tier2"),
        _t("wait", "waiting", None),                         # still waiting, maybe on another party
        _t("wait", "waiting_tier2", None),
        _t(Trigger.ATTEMPT, "waiting", Stage.ATTEMPTED),
        _t(Trigger.ATTEMPT, "waiting_tier2", Stage.ESCALATED),
        _t(Trigger.RESOLVE, "waiting", Stage.RESOLVED, "has_solution"),
        _t(Trigger.RESOLVE, "waiting_tier2", Stage.RESOLVED, "has_solution", "customer_notified"),
        _t(Trigger.ESCALATE, Stage.ESCALATED, None, "has_summary", "escalation_warranted"),
        _t(Trigger.ESCALATE, "waiting", "waiting_tier2", "has_steps", "has_summary",
           "escalation_warranted"),
        _t(Trigger.ESCALATE, "waiting_tier2", None, "has_summary", "escalation_warranted"),
        _t("close", Stage.RESOLVED, "closed"),
        _t("close", Stage.FEEDBACK, "closed"),
    ]
    return base.extend(
        name="escalation-procedure-as-logged",
        description="The escalation procedure with the waiting, take-over and closing steps "
                    "that helpdesk logs record.",
        stages=stages, triggers=triggers, transitions=transitions,
    )


def observable_projection(
    spec: MachineSpec, observable_guards: Iterable[str], *, roles_observable: bool = False,
) -> tuple[MachineSpec, tuple[NotObservable, ...]]:
    """The spec a replay runs, and the rules it cannot check.

    Same stages, triggers and transitions as ``spec``; each transition keeps only the guards in
    ``observable_guards``; triggers take no payload and have no effect (logs record none), except
    that escalating still raises the tier so the replayed ticket shows it. Roles are kept as they
    are; when ``roles_observable`` is false the replayer acts with a role each transition allows,
    and the role rules are listed as not observable.
    """
    keep = frozenset(observable_guards)
    unknown = sorted(keep - {g.name for g in spec.guards})
    if unknown:
        raise SpecError([f"observable guard {name!r} is not a guard of spec {spec.name!r}"
                         for name in unknown])
    dropped: dict[str, None] = {}
    for transition in spec.transitions:
        for guard in transition.guards:
            if guard not in keep:
                dropped.setdefault(guard, None)
    hidden = [
        NotObservable(
            rule=f"guard {name}: {spec.guard(name).requirement}",
            reason=GUARD_OBSERVABILITY.get(name, "the mapping does not declare it observable"),
        )
        for name in dropped
    ]
    hidden.append(NotObservable(
        rule="payloads: summaries, solutions, messages, ratings",
        reason="logs record that something happened, not what was written"))
    if not roles_observable:
        hidden.append(NotObservable(
            rule="roles: who may fire each trigger",
            reason="the log's resources carry no role: map resources to roles in the mapping's "
                   "[roles] table to check them"))
    projected = MachineSpec(
        name=f"{spec.name} (observable)",
        description=spec.description,
        stages=spec.stages,
        triggers=tuple(
            TriggerSpec(name=t.name, description=t.description, payload=NoPayload,
                        effect=_raise_tier if t.name == Trigger.ESCALATE else None)
            for t in spec.triggers
        ),
        transitions=tuple(
            t.model_copy(update={"guards": tuple(g for g in t.guards if g in keep)})
            for t in spec.transitions
        ),
        guards=tuple(g for g in spec.guards if g.name in keep),
    )
    return projected, tuple(hidden)


def _raise_tier(ctx: GuardContext) -> dict[str, object]:
    return {"tier": ctx.ticket.tier + 1}


_BUILTIN: dict[str, Callable[[], MachineSpec]] = {
    "default": default_spec,
    "logged": logged_procedure_spec,
}


def resolve_spec(name: str) -> MachineSpec:
    """The spec called ``name``: ``default``, ``logged`` or ``package.module:function``.

    A ``module:function`` reference is imported and called without arguments; it must return a
    :class:`MachineSpec`.
    """
    if name in _BUILTIN:
        return _BUILTIN[name]()
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise SpecError([f"unknown spec {name!r}: use one of {sorted(_BUILTIN)} or "
                         f"'package.module:function'"])
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SpecError([f"cannot load spec {name!r}: {exc}"]) from exc
    spec = factory()
    if not isinstance(spec, MachineSpec):
        raise SpecError([f"spec factory {name!r} returned {type(spec).__name__}, "
                         f"not a MachineSpec"])
    return spec
