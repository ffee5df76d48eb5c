"""The declarative machine spec: stages, triggers, transitions, guards and the roles allowed.

A :class:`MachineSpec` is the single source of truth. The engine, the docs tables and the tests
are derived from it. It is validated as a whole when constructed and every problem is reported in
one :class:`~escalation_fsm.errors.SpecError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from .errors import SpecError
from .marks import Mark
from .payloads import NoPayload, Payload
from .policy import Decision, GuardCheck, GuardContext
from .spec_rules import spec_problems

__all__ = [
    "Effect",
    "GuardSpec",
    "GuardVerdict",
    "MachineSpec",
    "StageSpec",
    "TransitionSpec",
    "TriggerSpec",
    "evaluate_guards",
]

SpecName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""Stage, trigger, guard and role names: lower-case identifiers, safe in diagrams and code."""

VersionLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
                                                max_length=64)]
"""A spec's version label (``"2"``, ``"2024.03"``, ``"2-tier3"``): letters, digits and ``._+-``."""

Effect = Callable[[GuardContext], Mapping[str, Any]]
"""How a trigger changes the ticket: returns the field updates (stage, history and version are
handled by the machine). Receives the passing guards' decisions in ``ctx.decisions``."""


class _SpecModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageSpec(_SpecModel):
    """A stage of the procedure."""

    name: SpecName
    description: str
    initial: bool = False
    final: bool = False
    """The procedure may end here (outgoing transitions such as reopening are still allowed)."""


class GuardSpec(_SpecModel):
    """A named guard: ``requirement`` is the sentence for docs; ``check`` returns the decision.

    ``uses_payload`` marks guards that look at the trigger's payload: ``allowed()`` skips them,
    since it answers "could this trigger succeed now, given a valid payload?". ``reads`` names the
    payload fields the guard reads (it implies ``uses_payload``): the spec refuses a transition
    whose trigger's payload lacks one, instead of failing with ``AttributeError`` when fired.

    ``ticket_fields`` names the ticket fields the guard reads (``None``: not declared). It says
    whether an event log can show the guard's fact: a replay can check a guard that reads no
    payload and only ticket fields the log provides (a category column, the stage, the tier the
    marks derive, the history); every other guard is reported as not observable, with
    ``log_note`` as the reason when given.
    """

    name: SpecName
    requirement: str
    check: GuardCheck
    uses_payload: bool = False
    reads: frozenset[str] = frozenset()
    ticket_fields: frozenset[str] | None = None
    log_note: str = ""

    def observable_with(self, fields: frozenset[str]) -> bool:
        """Whether a log that provides the ticket ``fields`` can show this guard's fact."""
        return (not self.uses_payload and self.ticket_fields is not None
                and self.ticket_fields <= fields)

    @model_validator(mode="before")
    @classmethod
    def _reading_uses_payload(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("reads") and "uses_payload" not in data:
            return {**data, "uses_payload": True}
        return data


class TriggerSpec(_SpecModel):
    """A trigger, its payload model, its effect on the ticket, and what it means.

    ``marks`` say what the trigger means to the procedure (see :class:`~escalation_fsm.Mark`):
    SLA clocks, replay figures, diagrams and the testing toolkit read them, never the name.
    """

    name: SpecName
    description: str
    payload: type[Payload] = NoPayload
    effect: Effect | None = None
    marks: frozenset[Mark] = frozenset()


class TransitionSpec(_SpecModel):
    """One move of the procedure.

    ``trigger`` moves a ticket from ``source`` to ``dest`` (``None``: it stays in ``source``) when
    every guard passes and the actor has one of ``roles``.
    """

    trigger: SpecName
    source: SpecName
    dest: SpecName | None = None
    guards: tuple[SpecName, ...] = ()
    roles: frozenset[SpecName] = Field(min_length=1)

    @field_validator("roles", mode="before")
    @classmethod
    def _plain_roles(cls, value: Any) -> Any:
        # Role members are StrEnums; keep plain strings so specs compare and dump cleanly.
        if isinstance(value, (set, frozenset, list, tuple)):
            return frozenset(str(role) for role in value)
        return value

    @property
    def target(self) -> str:
        """The stage the ticket is in afterwards."""
        return self.source if self.dest is None else self.dest

    @property
    def key(self) -> tuple[str, str]:
        """``(source, trigger)``: at most one transition per key."""
        return (self.source, self.trigger)


class MachineSpec(_SpecModel):
    """The whole procedure, validated as a whole.

    Constructing one raises :class:`SpecError` listing every problem: the initial and final
    stages, unknown names, duplicates, unreachable stages, trap stages, undocumented triggers and
    guards.
    """

    name: str
    version: VersionLabel = "1"
    """A label for people (``"2"``, ``"2024-03"``); the fingerprint, not the label, identifies
    the structure (see :mod:`escalation_fsm.identity`)."""
    description: str = ""
    stages: tuple[StageSpec, ...]
    triggers: tuple[TriggerSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    guards: tuple[GuardSpec, ...] = ()
    compatible_with: tuple[VersionLabel, ...] = ()
    """Version labels (of specs with the same name) or fingerprints of older specs whose tickets
    this spec continues as they are. The library checks the claim when it meets such a ticket
    (the old spec's stages, triggers and transitions must all exist unchanged here) and refuses
    with :class:`~escalation_fsm.errors.SpecMismatch` if it does not hold."""

    _stages: dict[str, StageSpec] = PrivateAttr()
    _triggers: dict[str, TriggerSpec] = PrivateAttr()
    _guards: dict[str, GuardSpec] = PrivateAttr()
    _by_key: dict[tuple[str, str], TransitionSpec] = PrivateAttr()
    _from: dict[str, tuple[TransitionSpec, ...]] = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        # Validation happens here rather than in a pydantic validator: pydantic would wrap our
        # SpecError (a ValueError) into a ValidationError and lose the problem list.
        super().__init__(**data)
        problems = spec_problems(self)
        if problems:
            raise SpecError(problems)
        self._stages = {stage.name: stage for stage in self.stages}
        self._triggers = {trigger.name: trigger for trigger in self.triggers}
        self._guards = {guard.name: guard for guard in self.guards}
        self._by_key = {transition.key: transition for transition in self.transitions}
        self._from = {
            stage.name: tuple(t for t in self.transitions if t.source == stage.name)
            for stage in self.stages
        }

    @property
    def initial(self) -> str:
        """The name of the initial stage."""
        return next(stage.name for stage in self.stages if stage.initial)

    @property
    def finals(self) -> frozenset[str]:
        """The names of the final stages."""
        return frozenset(stage.name for stage in self.stages if stage.final)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in declaration order."""
        return tuple(self._stages)

    @property
    def trigger_names(self) -> tuple[str, ...]:
        """Trigger names in declaration order."""
        return tuple(self._triggers)

    def stage(self, name: str) -> StageSpec:
        """The stage called ``name`` (``KeyError`` if there is none)."""
        return self._stages[name]

    def trigger(self, name: str) -> TriggerSpec:
        """The trigger called ``name`` (``KeyError`` if there is none)."""
        return self._triggers[name]

    def guard(self, name: str) -> GuardSpec:
        """The guard called ``name`` (``KeyError`` if there is none)."""
        return self._guards[name]

    def has_stage(self, name: str) -> bool:
        """Whether ``name`` is a stage of this spec."""
        return name in self._stages

    def has_trigger(self, name: str) -> bool:
        """Whether ``name`` is a trigger of this spec."""
        return name in self._triggers

    def marks_of(self, trigger: str) -> frozenset[Mark]:
        """The marks of ``trigger`` (empty for a trigger the spec does not have)."""
        found = self._triggers.get(trigger)
        return frozenset() if found is None else found.marks

    def marked(self, mark: Mark) -> tuple[str, ...]:
        """The names of the triggers carrying ``mark``, in declaration order."""
        return tuple(t.name for t in self.triggers if mark in t.marks)

    def transition(self, source: str, trigger: str) -> TransitionSpec | None:
        """The transition fired by ``trigger`` from ``source``, if any."""
        return self._by_key.get((source, trigger))

    def transitions_from(self, stage: str) -> tuple[TransitionSpec, ...]:
        """The transitions leaving (or staying in) ``stage``, in declaration order."""
        return self._from.get(stage, ())

    def extend(
        self,
        *,
        name: str | None = None,
        version: str | None = None,
        description: str | None = None,
        compatible_with: Iterable[str] | None = None,
        stages: Iterable[StageSpec] = (),
        triggers: Iterable[TriggerSpec] = (),
        transitions: Iterable[TransitionSpec] = (),
        guards: Iterable[GuardSpec] = (),
        remove_transitions: Iterable[tuple[str, str]] = (),
    ) -> MachineSpec:
        """A new, validated spec with items added or replaced.

        ``name``, ``version``, ``description`` and ``compatible_with`` replace the spec's own
        when given. Stages, triggers and guards replace existing ones of the same name; transitions replace
        the existing one with the same ``(source, trigger)``. ``remove_transitions`` drops the
        transitions with those ``(source, trigger)`` keys.
        """
        removed = set(remove_transitions)
        unknown = removed - set(self._by_key)
        if unknown:
            raise SpecError([f"cannot remove unknown transition (source, trigger) {key!r}"
                             for key in sorted(unknown)])
        kept = [t for t in self.transitions if t.key not in removed]
        return MachineSpec(
            name=self.name if name is None else name,
            version=self.version if version is None else version,
            description=self.description if description is None else description,
            compatible_with=(self.compatible_with if compatible_with is None
                             else tuple(compatible_with)),
            stages=_merge(self.stages, stages, lambda s: s.name),
            triggers=_merge(self.triggers, triggers, lambda t: t.name),
            transitions=_merge(kept, transitions, lambda t: t.key),
            guards=_merge(self.guards, guards, lambda g: g.name),
        )


class GuardVerdict:
    """What the guards of one transition said: every decision, and which guards refused.

    ``decisions`` maps each evaluated guard's name to its :class:`~escalation_fsm.Decision`, in
    the transition's order; ``failed`` names the guards that said no and ``reasons`` gives their
    sentences (a guard's ``requirement`` when it gave none).
    """

    __slots__ = ("decisions", "failed", "reasons")

    def __init__(self, decisions: dict[str, Decision], failed: tuple[str, ...],
                 reasons: tuple[str, ...]) -> None:
        self.decisions = decisions
        self.failed = failed
        self.reasons = reasons

    @property
    def ok(self) -> bool:
        """Whether every evaluated guard passed."""
        return not self.failed

    def __repr__(self) -> str:
        return f"GuardVerdict(failed={self.failed!r}, reasons={self.reasons!r})"


def evaluate_guards(guards: Iterable[GuardSpec], ctx: GuardContext, *,
                    include_payload: bool = True) -> GuardVerdict:
    """Ask every guard (not just up to the first failure) and collect their decisions.

    The one guard evaluator: the machine fires, explains and lists allowed triggers with it, and
    replay and the testing toolkit read the verdicts it produced. ``include_payload=False`` skips
    the guards that look at the payload (what :meth:`EscalationMachine.allowed` asks). A guard
    that raises propagates: guards say no by returning a decision.
    """
    decisions: dict[str, Decision] = {}
    failed: list[str] = []
    reasons: list[str] = []
    for guard in guards:
        if not include_payload and guard.uses_payload:
            continue
        decision = guard.check(ctx)
        decisions[guard.name] = decision
        if not decision.ok:
            failed.append(guard.name)
            reasons.extend(decision.reasons or (f"requirement not met: {guard.requirement}",))
    if not failed:  # the common case, on every fire: no tuples to build
        return GuardVerdict(decisions, (), ())
    return GuardVerdict(decisions, tuple(failed), tuple(reasons))


_T = TypeVar("_T")
_K = TypeVar("_K")


def _merge(old: Iterable[_T], new: Iterable[_T], key: Callable[[_T], _K]) -> tuple[_T, ...]:
    merged: dict[_K, _T] = {key(item): item for item in old}
    for item in new:
        merged[key(item)] = item
    return tuple(merged.values())
