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

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import SpecError
from ..loader import load_spec as resolve_spec
from ..marks import Mark
from ..payloads import NoPayload
from ..procedure import logged_procedure_spec
from ..spec import MachineSpec

__all__ = [
    "LOG_FIELDS",
    "NotObservable",
    "logged_procedure_spec",
    "observable_guards",
    "observable_projection",
    "resolve_spec",
]


@dataclass(frozen=True, slots=True)
class NotObservable:
    """A rule of the spec that a log cannot show, and why; it is never counted as a violation."""

    rule: str
    reason: str


_NEED_PAYLOAD = frozenset({Mark.PROMISE, Mark.INTERACTION})

LOG_FIELDS = frozenset({"stage", "tier", "history", "version"})
"""Ticket fields a replayed ticket always has: what its events and their marks derive."""


def observable_guards(spec: MachineSpec, *, category: bool) -> tuple[str, ...]:
    """The guards of ``spec`` a log can show, from what each guard says it reads.

    A guard is observable when it reads no payload and only ticket fields the replay has: the
    stage, the tier (from the marks), the history, and the category when the log has a category
    column (see :attr:`GuardSpec.ticket_fields <escalation_fsm.GuardSpec.ticket_fields>`).
    """
    fields = LOG_FIELDS | {"category"} if category else LOG_FIELDS
    return tuple(g.name for g in spec.guards if g.observable_with(fields))


def observable_projection(
    spec: MachineSpec, observable_guards: Iterable[str], *, roles_observable: bool = False,
) -> tuple[MachineSpec, tuple[NotObservable, ...]]:
    """The spec a replay runs, and the rules it cannot check.

    Same stages, triggers (with their marks, so escalating still raises the tier) and transitions
    as ``spec``; each transition keeps only the guards in ``observable_guards``; triggers take no
    payload and have no effect (logs record none). Roles are kept as they are; when
    ``roles_observable`` is false the replayer acts with a role each transition allows, and the
    role rules are listed as not observable.
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
            reason=spec.guard(name).log_note or "the mapping does not declare it observable",
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
            # A log records no payload, so no promised response time and no direction of an
            # interaction: those marks need a payload the projection does not have.
            t.model_copy(update={"payload": NoPayload, "effect": None,
                                 "marks": t.marks - _NEED_PAYLOAD})
            for t in spec.triggers
        ),
        transitions=tuple(
            t.model_copy(update={"guards": tuple(g for g in t.guards if g in keep)})
            for t in spec.transitions
        ),
        guards=tuple(g for g in spec.guards if g.name in keep),
    )
    return projected, tuple(hidden)
