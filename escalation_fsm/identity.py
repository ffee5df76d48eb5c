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

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from .marks import Mark
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

_SCALARS: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
    (datetime, "datetime"), (date, "date"), (time, "time"), (timedelta, "duration"),
    (Decimal, "decimal"), (bytes, "bytes"), (UUID, "uuid"),
)
"""Scalar types by name, in this order (``bool`` before ``int``, ``datetime`` before ``date``)."""


def _plain(value: Any) -> Any:
    """A constraint's or default's value as JSON data (durations in seconds, the rest as text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # the exact value, never a rounding of json's float output
    if isinstance(value, timedelta):
        return {"seconds": repr(value.total_seconds())}
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [_plain(item) for item in value]
        return items if isinstance(value, (tuple, list)) else sorted(items, key=_canonical)
    return f"<{type(value).__name__}>"


def _constraints(metadata: Iterable[Any]) -> list[Any]:
    """Field metadata as JSON data; a ``Field(...)`` inside ``Annotated`` gives its constraints."""
    found = []
    for meta in metadata:
        if isinstance(meta, FieldInfo):
            found += _constraints(meta.metadata)
        else:
            found.append(_constraint(meta))
    return found


def _constraint(meta: Any) -> Any:
    """One piece of field metadata (``annotated_types.Ge(1)``, pydantic's ``Strict()``, ...)."""
    if dataclasses.is_dataclass(meta) and not isinstance(meta, type):
        fields = {f.name: _plain(getattr(meta, f.name)) for f in dataclasses.fields(meta)}
        return {type(meta).__name__: fields}
    if hasattr(meta, "__dict__"):
        fields = {k: _plain(v) for k, v in sorted(vars(meta).items()) if not k.startswith("_")}
        return {type(meta).__name__: fields}
    return {type(meta).__name__: _plain(meta)}


def _type(annotation: Any, seen: tuple[type, ...]) -> Any:
    """A type annotation as canonical JSON data (never a ``repr``, which Python versions change)."""
    if get_origin(annotation) is not None:
        return _generic(get_origin(annotation), get_args(annotation), seen)
    if annotation is None or annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type):
        return _class(annotation, seen)
    alias = getattr(annotation, "__value__", None)  # a `type X = ...` alias (pydantic's JsonValue)
    name = getattr(annotation, "__name__", type(annotation).__name__)
    return {"alias": name} if alias is not None else {"other": name}


def _generic(origin: Any, args: tuple[Any, ...], seen: tuple[type, ...]) -> Any:
    """``X[...]``: annotated types, unions, literals, tuples, lists, sets and mappings."""
    if origin is Annotated:
        return {"type": _type(args[0], seen), "constraints": _constraints(args[1:])}
    if origin in (Union, UnionType):
        options = {_canonical(kind): kind for kind in (_type(arg, seen) for arg in args)}
        return {"anyOf": [options[key] for key in sorted(options)]}
    if origin is Literal:
        return {"const": sorted((_plain(arg) for arg in args), key=_canonical)}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"array": _type(args[0], seen)}
    if origin is tuple or len(args) != 2:
        name = "tuple" if origin is tuple else "array" if origin is list else "set"
        return {name: [_type(arg, seen) for arg in args]}
    return {"map": [_type(args[0], seen), _type(args[1], seen)]}  # dict, Mapping and the like


def _class(annotation: type, seen: tuple[type, ...]) -> Any:
    """A plain class: an enum, a nested model, a scalar, or (else) its qualified name."""
    if issubclass(annotation, Enum):
        return {"enum": sorted((_plain(m.value) for m in annotation), key=_canonical)}
    if issubclass(annotation, BaseModel):
        if annotation in seen:  # a model that contains itself
            return {"model": annotation.__name__}
        return {"object": _fields(annotation, (*seen, annotation))}
    for kind, name in _SCALARS:
        if issubclass(annotation, kind):
            return name
    return {"class": f"{annotation.__module__}.{annotation.__qualname__}"}


def _fields(model: type[BaseModel], seen: tuple[type, ...]) -> list[dict[str, Any]]:
    found = []
    for name, field in sorted(model.model_fields.items()):
        annotation = field.annotation
        kind = _type(annotation, seen)
        if field.metadata:
            kind = {"type": kind, "constraints": _constraints(field.metadata)}
        entry: dict[str, Any] = {"name": name, "type": kind, "required": field.is_required()}
        if not field.is_required():
            entry["default"] = ("<factory>" if field.default_factory is not None
                                else _plain(field.default))
        found.append(entry)
    return found


def payload_schema(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A payload model's fields as canonical JSON data: name, type, constraints, required, default.

    Built by the library rather than taken from pydantic's JSON Schema, whose layout may change
    between pydantic releases (a fingerprint must not).
    """
    return _fields(model, (model,))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


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
    return hashlib.sha256(_canonical(structure).encode("ascii")).hexdigest()


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
