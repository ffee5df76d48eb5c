"""What changed between two versions of a spec, and whether the newer one continues the older.

:func:`spec_diff` compares the structures the fingerprints hash (:mod:`escalation_fsm.identity`):
stages, triggers (marks, payload fields), transitions (the stage entered, guards, roles) and
guards, each added, removed or changed. A newer spec is *compatible* with an older one when the
older one's stages, triggers and transitions all exist unchanged in it (a final stage may gain
ways out: ``final`` is not read when a ticket moves): every history the older spec wrote is then a
history the newer one allows, and its tickets can go on as they are. The
diff diagram (:func:`escalation_fsm.diagrams.diff_graph`) draws the same comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .identity import SpecDescription, spec_structure
from .spec import MachineSpec

__all__ = ["SpecDiff", "spec_diff"]

Change = tuple[str, tuple[str, ...]]
"""A changed item: its name (``source --trigger-->`` for a transition) and what changed."""


@dataclass(frozen=True, slots=True)
class SpecDiff:
    """The structural differences from ``old`` to ``new`` (names; sentences for changes)."""

    old: str
    new: str
    stages_added: tuple[str, ...] = ()
    stages_removed: tuple[str, ...] = ()
    stages_changed: tuple[Change, ...] = ()
    stages_opened: tuple[str, ...] = ()
    """Stages that were final and are not any more (they gained ways out): compatible."""
    triggers_added: tuple[str, ...] = ()
    triggers_removed: tuple[str, ...] = ()
    triggers_changed: tuple[Change, ...] = ()
    transitions_added: tuple[tuple[str, str], ...] = ()
    """``(source, trigger)`` keys."""
    transitions_removed: tuple[tuple[str, str], ...] = ()
    transitions_changed: tuple[tuple[tuple[str, str], tuple[str, ...]], ...] = ()
    guards_added: tuple[str, ...] = ()
    guards_removed: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        """Whether nothing structural changed (the fingerprints are equal)."""
        return not self.changes()

    @property
    def compatible(self) -> bool:
        """Whether ``new`` continues ``old``: nothing of ``old`` was removed or changed."""
        return not self.incompatibilities()

    def incompatibilities(self) -> list[str]:
        """Why ``new`` does not continue ``old``, one sentence per removed or changed item."""
        found = [f"stage {name!r} was removed" for name in self.stages_removed]
        found += [f"stage {name!r} changed: {'; '.join(what)}" for name, what in self.stages_changed]
        found += [f"trigger {name!r} was removed" for name in self.triggers_removed]
        found += [f"trigger {name!r} changed: {'; '.join(what)}"
                  for name, what in self.triggers_changed]
        found += [f"transition {_arrow(key)} was removed" for key in self.transitions_removed]
        found += [f"transition {_arrow(key)} changed: {'; '.join(what)}"
                  for key, what in self.transitions_changed]
        return found

    def changes(self) -> list[str]:
        """Every difference, one sentence each: additions, then removals and changes."""
        found = [f"stage {name!r} was added" for name in self.stages_added]
        found += [f"stage {name!r} is no longer final" for name in self.stages_opened]
        found += [f"trigger {name!r} was added" for name in self.triggers_added]
        found += [f"transition {_arrow(key)} was added" for key in self.transitions_added]
        found += [f"guard {name!r} was added" for name in self.guards_added]
        found += self.incompatibilities()
        found += [f"guard {name!r} was removed" for name in self.guards_removed]
        return found


def _arrow(key: tuple[str, str]) -> str:
    return f"{key[0]} --{key[1]}-->"


def _structure(spec: MachineSpec | SpecDescription) -> dict[str, Any]:
    return spec.structure() if isinstance(spec, SpecDescription) else spec_structure(spec)


def _label(spec: MachineSpec | SpecDescription) -> str:
    return f"{spec.name} v{spec.version}"


def _compare(old: list[dict[str, Any]], new: list[dict[str, Any]], key: Any,
             fields: tuple[str, ...]) -> tuple[list[Any], list[Any], list[tuple[Any, tuple[str, ...]]]]:
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    changed = []
    for k in before:
        if k in after:
            what = tuple(_said(name, before[k][name], after[k][name]) for name in fields
                         if before[k][name] != after[k][name])
            if what:
                changed.append((k, what))
    return added, removed, changed


def _said(name: str, old: Any, new: Any) -> str:
    if name == "payload":
        return "its payload fields changed"
    if isinstance(old, list) and isinstance(new, list) and name != "payload":
        gone, came = sorted(set(old) - set(new)), sorted(set(new) - set(old))
        parts = ([f"without {', '.join(gone)}"] if gone else []) + (
            [f"with {', '.join(came)}"] if came else [])
        return f"{name} {' and '.join(parts)}"
    return f"{name} {old!r} -> {new!r}"


def spec_diff(old: MachineSpec | SpecDescription, new: MachineSpec | SpecDescription) -> SpecDiff:
    """The structural differences from ``old`` to ``new`` (specs or stored descriptions)."""
    a, b = _structure(old), _structure(new)
    stages = _compare(a["stages"], b["stages"], lambda s: s["name"], ("initial", "final"))
    triggers = _compare(a["triggers"], b["triggers"], lambda t: t["name"], ("marks", "payload"))
    opened = tuple(name for name, what in stages[2] if what == ("final True -> False",))
    moves = _compare(a["transitions"], b["transitions"], lambda t: (t["source"], t["trigger"]),
                     ("target", "guards", "roles"))
    return SpecDiff(
        old=_label(old), new=_label(new),
        stages_added=tuple(stages[0]), stages_removed=tuple(stages[1]),
        stages_changed=tuple(item for item in stages[2] if item[0] not in opened),
        stages_opened=opened,
        triggers_added=tuple(triggers[0]), triggers_removed=tuple(triggers[1]),
        triggers_changed=tuple(triggers[2]),
        transitions_added=tuple(moves[0]), transitions_removed=tuple(moves[1]),
        transitions_changed=tuple(moves[2]),
        guards_added=tuple(g for g in b["guards"] if g not in a["guards"]),
        guards_removed=tuple(g for g in a["guards"] if g not in b["guards"]),
    )
