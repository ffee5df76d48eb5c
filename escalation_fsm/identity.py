"""Which procedure wrote a ticket: a spec's structural fingerprint and its stored description.

Every :class:`~escalation_fsm.spec.MachineSpec` has a ``name``, a ``version`` label and a
*fingerprint*: a SHA-256 over a canonical JSON of its structure (:func:`spec_structure`), so two
specs that accept the same histories have the same fingerprint, in every process and on every
Python version, and any change of that structure changes it. Descriptions, the name, the version
label and code (guard predicates, effects) do not enter it. ``docs/versions.md`` gives the
recipe step by step.

Each audit record carries the fingerprint it was written under, and stores keep a table of the
specs they have seen as :class:`SpecDescription` (structure plus descriptions), so an old version
can be shown, compared (:func:`~escalation_fsm.spec_diff.spec_diff`) and drawn without its code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .marks import Mark
from .payload_schema import canonical, payload_schema
from .spec import MachineSpec

__all__ = [
    "FINGERPRINT_FORMAT",
    "GuardInfo",
    "SpecDescription",
    "StageInfo",
    "TransitionInfo",
    "TriggerInfo",
    "describe",
    "payload_schema",
    "short",
    "spec_fingerprint",
    "spec_label",
    "spec_structure",
]

FINGERPRINT_FORMAT = "escalation-fsm/spec/1"
"""The name and version of the fingerprint recipe, the first member of the hashed JSON."""


def spec_structure(spec: MachineSpec) -> dict[str, Any]:
    """The structural parts of ``spec`` as canonical JSON data: what its fingerprint hashes.

    Stages (name, initial, final), triggers (name, marks, payload fields), transitions
    (trigger, source, the stage entered, guard names, roles) and guard names, each list sorted;
    no description, name or version label.
    """
    return {
        "format": FINGERPRINT_FORMAT,
        "stages": sorted(({"name": s.name, "initial": s.initial, "final": s.final}
                          for s in spec.stages), key=lambda s: s["name"]),
        "triggers": sorted(({"name": t.name, "marks": sorted(m.value for m in t.marks),
                             "payload": payload_schema(t.payload)} for t in spec.triggers),
                           key=lambda t: t["name"]),
        "transitions": sorted(({"trigger": t.trigger, "source": t.source, "target": t.target,
                                "guards": sorted(t.guards), "roles": sorted(t.roles)}
                               for t in spec.transitions),
                              key=lambda t: (t["source"], t["trigger"])),
        "guards": sorted(g.name for g in spec.guards),
    }


def _digest(structure: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(structure).encode("ascii")).hexdigest()


_FINGERPRINTS: dict[int, tuple[MachineSpec, str]] = {}


def spec_fingerprint(spec: MachineSpec) -> str:
    """The SHA-256 (hex) of ``spec``'s :func:`spec_structure` as canonical JSON.

    Canonical JSON: keys sorted, no whitespace (``separators=(",", ":")``), ASCII only. Computed
    once per spec object.
    """
    found = _FINGERPRINTS.get(id(spec))
    if found is None or found[0] is not spec:
        if len(_FINGERPRINTS) > 256:  # specs are few and long-lived; bound it all the same
            _FINGERPRINTS.clear()
        found = _FINGERPRINTS[id(spec)] = (spec, _digest(spec_structure(spec)))
    return found[1]


def short(fingerprint: str | None) -> str:
    """The first 12 hex digits of a fingerprint, for people (``unknown`` for ``None``)."""
    return "unknown" if fingerprint is None else fingerprint[:12]


def spec_label(name: str | None, version: str | None, fingerprint: str | None) -> str:
    """``name v<version> (fingerprint 1a2b3c4d5e6f)``, or what is known of it."""
    if fingerprint is None:
        return "an unknown spec (records written before spec versions were recorded)"
    if name is None:
        return f"an unknown spec with fingerprint {short(fingerprint)}"
    return f"{name} v{version} (fingerprint {short(fingerprint)})"


class _Info(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageInfo(_Info):
    """A stage as stored: what :class:`~escalation_fsm.spec.StageSpec` holds, as data."""

    name: str
    description: str
    initial: bool = False
    final: bool = False


class TriggerInfo(_Info):
    """A trigger as stored: name, description, marks and payload fields (no code)."""

    name: str
    description: str
    marks: tuple[str, ...] = ()
    payload: tuple[dict[str, Any], ...] = ()

    @property
    def mark_set(self) -> frozenset[Mark]:
        """The marks this release knows (a mark of a newer release is left out)."""
        return frozenset(Mark(m) for m in self.marks if m in _MARK_VALUES)


class GuardInfo(_Info):
    """A guard as stored: its name and requirement sentence (its predicate is code)."""

    name: str
    requirement: str


class TransitionInfo(_Info):
    """A transition as stored (``dest`` is the stage entered, never ``None``)."""

    trigger: str
    source: str
    dest: str
    guards: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset()

    @property
    def target(self) -> str:
        """The stage the ticket is in afterwards."""
        return self.dest

    @property
    def key(self) -> tuple[str, str]:
        """``(source, trigger)``."""
        return (self.source, self.trigger)


class SpecDescription(_Info):
    """A spec as data: its structure and descriptions, without code, as stores keep it.

    It answers the questions a spec answers about its shape (stages, transitions, marks, roles),
    so a ticket written under an old version can be verified, and the version shown and drawn,
    without the code that defined it. :meth:`from_spec` builds one; :attr:`fingerprint` is the
    spec's, and :meth:`problems` says whether the structure still hashes to it.
    """

    name: str
    version: str
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    description: str = ""
    stages: tuple[StageInfo, ...]
    triggers: tuple[TriggerInfo, ...]
    transitions: tuple[TransitionInfo, ...]
    guards: tuple[GuardInfo, ...] = ()

    @classmethod
    def from_spec(cls, spec: MachineSpec) -> SpecDescription:
        """The description of ``spec`` (its fingerprint included)."""
        return cls(
            name=spec.name, version=spec.version, fingerprint=spec_fingerprint(spec),
            description=spec.description,
            stages=tuple(StageInfo(name=s.name, description=s.description, initial=s.initial,
                                   final=s.final) for s in spec.stages),
            triggers=tuple(TriggerInfo(name=t.name, description=t.description,
                                       marks=tuple(sorted(m.value for m in t.marks)),
                                       payload=tuple(payload_schema(t.payload)))
                           for t in spec.triggers),
            transitions=tuple(TransitionInfo(trigger=t.trigger, source=t.source, dest=t.target,
                                             guards=t.guards, roles=t.roles)
                              for t in spec.transitions),
            guards=tuple(GuardInfo(name=g.name, requirement=g.requirement) for g in spec.guards),
        )

    def structure(self) -> dict[str, Any]:
        """The structure its fingerprint hashes (see :func:`spec_structure`)."""
        return {
            "format": FINGERPRINT_FORMAT,
            "stages": sorted(({"name": s.name, "initial": s.initial, "final": s.final}
                              for s in self.stages), key=lambda s: s["name"]),
            "triggers": sorted(({"name": t.name, "marks": sorted(t.marks),
                                 "payload": list(t.payload)} for t in self.triggers),
                               key=lambda t: t["name"]),
            "transitions": sorted(({"trigger": t.trigger, "source": t.source, "target": t.dest,
                                    "guards": sorted(t.guards), "roles": sorted(t.roles)}
                                   for t in self.transitions),
                                  key=lambda t: (t["source"], t["trigger"])),
            "guards": sorted(g.name for g in self.guards),
        }

    def problems(self) -> list[str]:
        """What is wrong with this description (empty: its structure hashes to its fingerprint)."""
        found = _digest(self.structure())
        if found != self.fingerprint:
            return [f"the description of {self.name} v{self.version} hashes to {short(found)}, "
                    f"not to its fingerprint {short(self.fingerprint)}: it was changed"]
        return []

    @property
    def label(self) -> str:
        """``name v<version> (fingerprint ...)``."""
        return spec_label(self.name, self.version, self.fingerprint)

    # -- the questions a spec answers about its shape -------------------------------------------

    @property
    def initial(self) -> str:
        """The name of the initial stage."""
        return next(s.name for s in self.stages if s.initial)

    @property
    def finals(self) -> frozenset[str]:
        """The names of the final stages."""
        return frozenset(s.name for s in self.stages if s.final)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in declaration order."""
        return tuple(s.name for s in self.stages)

    @property
    def trigger_names(self) -> tuple[str, ...]:
        """Trigger names in declaration order."""
        return tuple(t.name for t in self.triggers)

    def stage(self, name: str) -> StageInfo:
        """The stage called ``name`` (``KeyError`` if there is none)."""
        return _named(self.stages, name)

    def trigger(self, name: str) -> TriggerInfo:
        """The trigger called ``name`` (``KeyError`` if there is none)."""
        return _named(self.triggers, name)

    def guard(self, name: str) -> GuardInfo:
        """The guard called ``name`` (``KeyError`` if there is none)."""
        return _named(self.guards, name)

    def has_stage(self, name: str) -> bool:
        """Whether ``name`` is a stage of this spec."""
        return any(s.name == name for s in self.stages)

    def has_trigger(self, name: str) -> bool:
        """Whether ``name`` is a trigger of this spec."""
        return any(t.name == name for t in self.triggers)

    def marks_of(self, trigger: str) -> frozenset[Mark]:
        """The marks of ``trigger`` (empty for a trigger the spec does not have)."""
        found = next((t for t in self.triggers if t.name == trigger), None)
        return frozenset() if found is None else found.mark_set

    def transition(self, source: str, trigger: str) -> TransitionInfo | None:
        """The transition fired by ``trigger`` from ``source``, if any."""
        return next((t for t in self.transitions if t.key == (source, trigger)), None)

    def transitions_from(self, stage: str) -> tuple[TransitionInfo, ...]:
        """The transitions leaving (or staying in) ``stage``, in declaration order."""
        return tuple(t for t in self.transitions if t.source == stage)


_MARK_VALUES = frozenset(m.value for m in Mark)


_Item = TypeVar("_Item", StageInfo, TriggerInfo, GuardInfo)


def _named(items: tuple[_Item, ...], name: str) -> _Item:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


def describe(spec: MachineSpec | SpecDescription) -> SpecDescription:
    """``spec`` as a :class:`SpecDescription` (a description is returned as it is)."""
    return spec if isinstance(spec, SpecDescription) else SpecDescription.from_spec(spec)
