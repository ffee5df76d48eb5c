"""The declarative machine spec: stages, triggers, transitions, guards and the roles allowed.

A :class:`MachineSpec` is the single source of truth. The engine, the docs tables and the tests
are derived from it. It is validated as a whole when constructed and every problem is reported in
one :class:`~escalation_fsm.errors.SpecError`.
"""

from __future__ import annotations

from collections import deque
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
from .payloads import NoPayload, Payload
from .policy import GuardCheck, GuardContext

__all__ = [
    "Effect",
    "GuardSpec",
    "MachineSpec",
    "StageSpec",
    "TransitionSpec",
    "TriggerSpec",
]

SpecName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""Stage, trigger, guard and role names: lower-case identifiers, safe in diagrams and code."""

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
    """

    name: SpecName
    requirement: str
    check: GuardCheck
    uses_payload: bool = False
    reads: frozenset[str] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _reading_uses_payload(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("reads") and "uses_payload" not in data:
            return {**data, "uses_payload": True}
        return data


class TriggerSpec(_SpecModel):
    """A trigger, its payload model and its effect on the ticket."""

    name: SpecName
    description: str
    payload: type[Payload] = NoPayload
    effect: Effect | None = None


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
    description: str = ""
    stages: tuple[StageSpec, ...]
    triggers: tuple[TriggerSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    guards: tuple[GuardSpec, ...] = ()

    _stages: dict[str, StageSpec] = PrivateAttr()
    _triggers: dict[str, TriggerSpec] = PrivateAttr()
    _guards: dict[str, GuardSpec] = PrivateAttr()
    _by_key: dict[tuple[str, str], TransitionSpec] = PrivateAttr()
    _from: dict[str, tuple[TransitionSpec, ...]] = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        # Validation happens here rather than in a pydantic validator: pydantic would wrap our
        # SpecError (a ValueError) into a ValidationError and lose the problem list.
        super().__init__(**data)
        problems = _problems(self)
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
        description: str | None = None,
        stages: Iterable[StageSpec] = (),
        triggers: Iterable[TriggerSpec] = (),
        transitions: Iterable[TransitionSpec] = (),
        guards: Iterable[GuardSpec] = (),
        remove_transitions: Iterable[tuple[str, str]] = (),
    ) -> MachineSpec:
        """A new, validated spec with items added or replaced.

        Stages, triggers and guards replace existing ones of the same name; transitions replace
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
            description=self.description if description is None else description,
            stages=_merge(self.stages, stages, lambda s: s.name),
            triggers=_merge(self.triggers, triggers, lambda t: t.name),
            transitions=_merge(kept, transitions, lambda t: t.key),
            guards=_merge(self.guards, guards, lambda g: g.name),
        )


_T = TypeVar("_T")
_K = TypeVar("_K")


def _merge(old: Iterable[_T], new: Iterable[_T], key: Callable[[_T], _K]) -> tuple[_T, ...]:
    merged: dict[_K, _T] = {key(item): item for item in old}
    for item in new:
        merged[key(item)] = item
    return tuple(merged.values())


def _duplicates(names: Iterable[object]) -> list[object]:
    seen: set[object] = set()
    repeated: list[object] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def _problems(spec: MachineSpec) -> list[str]:
    problems: list[str] = []
    stage_names = [stage.name for stage in spec.stages]
    trigger_names = [trigger.name for trigger in spec.triggers]
    guard_names = [guard.name for guard in spec.guards]
    for kind, names in (("stage", stage_names), ("trigger", trigger_names), ("guard", guard_names)):
        problems += [f"{kind} {name!r} is declared more than once" for name in _duplicates(names)]
    problems += [
        f"transition (source, trigger) {key!r} is declared more than once"
        for key in _duplicates(t.key for t in spec.transitions)
    ]
    initials = [stage.name for stage in spec.stages if stage.initial]
    if len(initials) != 1:
        problems.append(f"exactly one stage must be initial; found {len(initials)}: {initials}")
    if not any(stage.final for stage in spec.stages):
        problems.append("no stage is final: mark at least one stage final=True")
    problems += [f"stage {s.name!r} has no description" for s in spec.stages
                 if not s.description.strip()]
    problems += [f"trigger {t.name!r} has no description" for t in spec.triggers
                 if not t.description.strip()]
    problems += [f"guard {g.name!r} has no requirement sentence" for g in spec.guards
                 if not g.requirement.strip()]

    stages, triggers, guards = set(stage_names), set(trigger_names), set(guard_names)
    for t in spec.transitions:
        where = f"transition {t.source!r} --{t.trigger}-->"
        if t.source not in stages:
            problems.append(f"{where}: unknown source stage {t.source!r}")
        if t.dest is not None and t.dest not in stages:
            problems.append(f"{where}: unknown destination stage {t.dest!r}")
        if t.trigger not in triggers:
            problems.append(f"{where}: unknown trigger {t.trigger!r}")
        problems += [f"{where}: unknown guard {g!r}" for g in t.guards if g not in guards]
        problems += _payload_problems(spec, t, where)
    used = {t.trigger for t in spec.transitions}
    problems += [f"trigger {name!r} is used by no transition" for name in trigger_names
                 if name not in used]

    if len(initials) == 1:
        reachable = _closure(initials, spec, forward=True)
        problems += [f"stage {name!r} is unreachable from the initial stage {initials[0]!r}"
                     for name in stage_names if name not in reachable]
    finals = [stage.name for stage in spec.stages if stage.final]
    if finals:
        can_finish = _closure(finals, spec, forward=False)
        problems += [f"stage {name!r} is a trap: no final stage can be reached from it"
                     for name in stage_names if name not in can_finish]
    return problems


def _payload_problems(spec: MachineSpec, t: TransitionSpec, where: str) -> list[str]:
    """Guards that read payload fields the transition's trigger does not take."""
    trigger = next((tr for tr in spec.triggers if tr.name == t.trigger), None)
    if trigger is None:
        return []
    fields = set(trigger.payload.model_fields)
    problems = []
    for guard in spec.guards:
        missing = guard.reads - fields if guard.name in t.guards else set()
        if missing:
            problems.append(
                f"{where}: guard {guard.name!r} reads payload field(s) {sorted(missing)} that "
                f"trigger {t.trigger!r} ({trigger.payload.__name__}) does not take; "
                f"it takes: {sorted(fields) or 'nothing'}")
    return problems


def _closure(start: Iterable[str], spec: MachineSpec, *, forward: bool) -> set[str]:
    """Stages reachable from ``start`` (``forward``) or that can reach ``start`` (backward)."""
    edges: dict[str, set[str]] = {}
    for t in spec.transitions:
        a, b = (t.source, t.target) if forward else (t.target, t.source)
        edges.setdefault(a, set()).add(b)
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
