"""An approval snapshot of a procedure table: the independent reference a host commits.

A property test that compares each commit with the spec under test cannot see a mistake *in* that
spec: a Tier 3 escalation that lost its summary guard, or a role table that lets customers
resolve, is simply what the spec says. The snapshot is the reference that does not move with the
code: the spec's stages, triggers (with their marks, payload model and effect), guards and
transitions (with their guards and roles), written once to a JSON file that the host reviews and
commits. :func:`check_snapshot` fails with a readable list of differences as soon as the spec
drifts from it; updating the file is a reviewed change like any other. The stateful base can also
check every commit against the snapshot (``reference_snapshot``) instead of the spec under test.

The file has one item per line, so a ``git diff`` of an approved change reads like the change.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvariantViolated
from ..marks import Mark
from ..spec import MachineSpec

__all__ = [
    "UPDATE_ENV",
    "ApprovedTransition",
    "SnapshotMismatch",
    "SpecSnapshot",
    "check_snapshot",
]

FORMAT = "escalation-fsm-snapshot/1"
UPDATE_ENV = "ESCALATION_FSM_UPDATE_SNAPSHOTS"
"""Set to ``1`` to (re)write approved snapshots instead of failing (then review the diff)."""


class SnapshotMismatch(InvariantViolated):
    """The spec differs from its approved snapshot (or there is none); ``differences`` says how."""

    def __init__(self, message: str, differences: Iterable[str] = ()) -> None:
        self.differences = tuple(differences)
        super().__init__(message)


def _qualname(function: Callable[..., Any] | None) -> str | None:
    if function is None:
        return None
    module = getattr(function, "__module__", None) or "?"
    return f"{module}.{getattr(function, '__qualname__', type(function).__name__)}"


@dataclass(frozen=True, slots=True)
class ApprovedTransition:
    """One approved transition: the same attribute names as :class:`~escalation_fsm.TransitionSpec`."""

    source: str
    trigger: str
    target: str
    guards: tuple[str, ...]
    roles: frozenset[str]

    @property
    def key(self) -> tuple[str, str]:
        """``(source, trigger)``."""
        return (self.source, self.trigger)

    @property
    def goal(self) -> str:
        """``source --trigger--> target``."""
        return f"{self.source} --{self.trigger}--> {self.target}"


class SpecSnapshot:
    """The procedure table of a spec as JSON-ready data, compared item by item.

    Build one with :meth:`from_spec`, read a committed one with :meth:`load`. It answers what the
    stateful base asks a reference: :meth:`transition`, :meth:`marks_of` and :attr:`name`.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ValueError(f"not an escalation_fsm snapshot (format {data.get('format')!r}, "
                             f"expected {FORMAT!r})")
        self.data: dict[str, Any] = dict(data)
        self.name: str = str(data["spec"])
        self._transitions = {
            (t["source"], t["trigger"]): ApprovedTransition(
                t["source"], t["trigger"], t["target"], tuple(t["guards"]), frozenset(t["roles"]))
            for t in data["transitions"]}
        self._marks = {t["name"]: frozenset(Mark(m) for m in t["marks"]) for t in data["triggers"]}

    @classmethod
    def from_spec(cls, spec: MachineSpec) -> SpecSnapshot:
        """The snapshot of ``spec`` as it is now."""
        return cls({
            "format": FORMAT,
            "spec": spec.name,
            "stages": [{"name": s.name, "initial": s.initial, "final": s.final} for s in spec.stages],
            "triggers": [{"name": t.name, "marks": sorted(m.value for m in t.marks),
                          "payload": t.payload.__name__, "fields": sorted(t.payload.model_fields),
                          "effect": _qualname(t.effect)} for t in spec.triggers],
            "guards": [{"name": g.name, "requirement": g.requirement, "check": _qualname(g.check),
                        "uses_payload": g.uses_payload, "reads": sorted(g.reads)}
                       for g in spec.guards],
            "transitions": [{"source": t.source, "trigger": t.trigger, "target": t.target,
                             "guards": list(t.guards), "roles": sorted(str(r) for r in t.roles)}
                            for t in spec.transitions],
        })

    @classmethod
    def parse(cls, text: str) -> SpecSnapshot:
        """A snapshot from its JSON text."""
        return cls(json.loads(text))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SpecSnapshot:
        """The snapshot committed at ``path``."""
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    def text(self) -> str:
        """The JSON text, one stage, trigger, guard or transition per line."""
        lines = ["{", f' "format": {json.dumps(FORMAT)},', f' "spec": {json.dumps(self.name)},']
        sections = ("stages", "triggers", "guards", "transitions")
        for number, section in enumerate(sections):
            items = [json.dumps(item, ensure_ascii=False) for item in self.data[section]]
            body = ",\n".join(f"  {item}" for item in items)
            end = "," if number < len(sections) - 1 else ""
            lines.append(f' "{section}": [\n{body}\n ]{end}' if items else f' "{section}": []{end}')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def transition(self, source: str, trigger: str) -> ApprovedTransition | None:
        """The approved transition fired by ``trigger`` from ``source``, if any."""
        return self._transitions.get((source, trigger))

    @property
    def transitions(self) -> tuple[ApprovedTransition, ...]:
        """Every approved transition, in declaration order."""
        return tuple(self._transitions.values())

    def marks_of(self, trigger: str) -> frozenset[Mark]:
        """The approved marks of ``trigger`` (empty for an unknown trigger)."""
        return self._marks.get(trigger, frozenset())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpecSnapshot) and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def differences(self, current: SpecSnapshot) -> list[str]:
        """What ``current`` changed compared with this (approved) snapshot, one sentence each."""
        found: list[str] = []
        if self.name != current.name:
            found.append(f"spec renamed: {self.name!r} -> {current.name!r}")
        for section, key, what in (("stages", _name_key, "stage"), ("triggers", _name_key, "trigger"),
                                   ("guards", _name_key, "guard"),
                                   ("transitions", _transition_key, "transition")):
            found += _section_differences(self.data[section], current.data[section], key, what)
        return found


def _name_key(item: Mapping[str, Any]) -> str:
    return f"{item['name']!r}"


def _transition_key(item: Mapping[str, Any]) -> str:
    return f"{item['source']} --{item['trigger']}--> {item['target']}"


def _section_differences(approved: list[dict[str, Any]], current: list[dict[str, Any]],
                         key: Callable[[Mapping[str, Any]], str], what: str) -> list[str]:
    # Transitions are matched on (source, trigger), so a changed target reads as a change.
    ident: Callable[[Mapping[str, Any]], object] = (
        (lambda item: (item["source"], item["trigger"])) if what == "transition"
        else (lambda item: item["name"]))
    old = {ident(item): item for item in approved}
    new = {ident(item): item for item in current}
    found = [f"{what} {key(item)} was removed" for i, item in old.items() if i not in new]
    found += [f"{what} {key(item)} was added: {_brief(item)}" for i, item in new.items() if i not in old]
    for i, before in old.items():
        after = new.get(i)
        if after is None or after == before:
            continue
        for field in [*before, *(k for k in after if k not in before)]:
            was, now = before.get(field), after.get(field)
            if was != now:
                found.append(f"{what} {key(before)}: {_change(field, was, now)}")
    return found


def _brief(item: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in item.items() if k not in ("name", "source", "trigger"))


def _change(field: str, was: Any, now: Any) -> str:
    if isinstance(was, list) and isinstance(now, list):
        lost = [v for v in was if v not in now]
        gained = [v for v in now if v not in was]
        parts = ([f"lost {', '.join(map(repr, lost))}"] if lost else []) + (
            [f"gained {', '.join(map(repr, gained))}"] if gained else [])
        how = " and ".join(parts) or "reordered"
        return f"{field} {how} (approved: {', '.join(map(str, was)) or 'none'}; now: " \
               f"{', '.join(map(str, now)) or 'none'})"
    return f"{field} changed from {was!r} to {now!r}"


def check_snapshot(spec: MachineSpec, path: str | os.PathLike[str], *, update: bool | None = None) -> None:
    """Fail unless ``spec`` matches the approved snapshot committed at ``path``.

    Raises :class:`SnapshotMismatch` (an ``AssertionError``) listing every difference, then the
    line diff of the file. With ``update`` (default: the environment variable ``UPDATE_ENV`` is
    ``1``) the file is written instead, for review and commit; a missing file is only ever
    written that way, never silently.
    """
    target = Path(path)
    current = SpecSnapshot.from_spec(spec)
    update = os.environ.get(UPDATE_ENV) == "1" if update is None else update
    if not target.exists():
        if update:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(current.text(), encoding="utf-8")
            return
        raise SnapshotMismatch(
            f"no approved snapshot of spec {spec.name!r} at {target}: run once with "
            f"{UPDATE_ENV}=1 (or update=True) to write it, review it, and commit it")
    approved = SpecSnapshot.load(target)
    if approved == current:
        return
    if update:
        target.write_text(current.text(), encoding="utf-8")
        return
    differences = approved.differences(current)
    diff = difflib.unified_diff(approved.text().splitlines(), current.text().splitlines(),
                                f"{target} (approved)", f"spec {spec.name!r} (now)", lineterm="", n=0)
    raise SnapshotMismatch(
        f"spec {spec.name!r} differs from its approved snapshot {target}:\n"
        + "\n".join(f"  - {line}" for line in differences)
        + "\n\nIf the change is intended, rerun with " + f"{UPDATE_ENV}=1 and commit the new file.\n"
        + "\n".join(diff), differences)
