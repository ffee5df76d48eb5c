"""The difference between two versions of a spec, drawn: added, removed and changed transitions.

Either side may be a :class:`~escalation_fsm.spec.MachineSpec` or a stored
:class:`~escalation_fsm.identity.SpecDescription` (an old version can be drawn without its code).
Every stage and transition of either version is drawn once, styled by what happened to it:

* added (only in the new version): green, bold, label prefixed ``+``;
* removed (only in the old version): red, dashed, label prefixed ``-``;
* changed (same source and trigger, another target, guards or roles): orange, label prefixed
  ``~`` with what changed;
* unchanged: grey.

:func:`diff_to_dot` writes Graphviz DOT (:func:`~escalation_fsm.diagrams.render.dot_to_image`
makes SVG or PNG of it); :func:`diff_to_mermaid` writes a Mermaid ``flowchart`` (state diagrams
cannot style single transitions; flowcharts can, with ``linkStyle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..identity import SpecDescription
from ..spec import MachineSpec
from ..spec_diff import spec_diff
from .dot import quote
from .mermaid import escape, state_id
from .model import Direction

__all__ = ["DiffEdge", "DiffStage", "diff_edges", "diff_to_dot", "diff_to_mermaid"]

Status = Literal["added", "removed", "changed", "same"]

_COLOURS: dict[Status, str] = {"added": "#15803d", "removed": "#b91c1c", "changed": "#c2410c",
                               "same": "#6b7280"}
_SIGNS: dict[Status, str] = {"added": "+ ", "removed": "- ", "changed": "~ ", "same": ""}


@dataclass(frozen=True, slots=True)
class DiffStage:
    """A stage of either version and what happened to it."""

    name: str
    status: Status


@dataclass(frozen=True, slots=True)
class DiffEdge:
    """A transition of either version: ``(source, trigger)``, where it goes, what changed."""

    source: str
    trigger: str
    target: str
    status: Status
    changes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The trigger, prefixed by the status sign, with what changed."""
        extra = f" ({'; '.join(self.changes)})" if self.changes else ""
        return f"{_SIGNS[self.status]}{self.trigger}{extra}"


def diff_edges(old: MachineSpec | SpecDescription, new: MachineSpec | SpecDescription,
               ) -> tuple[tuple[DiffStage, ...], tuple[DiffEdge, ...]]:
    """The stages and transitions of both versions, each with its status (see the module)."""
    diff = spec_diff(old, new)
    old_moves = {(t.source, t.trigger): t.dest or t.source for t in old.transitions}
    new_moves = {(t.source, t.trigger): t.dest or t.source for t in new.transitions}
    changed = dict(diff.transitions_changed)
    edges = [DiffEdge(key[0], key[1], target,
                      "added" if key not in old_moves else "changed" if key in changed else "same",
                      changed.get(key, ())) for key, target in new_moves.items()]
    edges += [DiffEdge(key[0], key[1], target, "removed")
              for key, target in old_moves.items() if key not in new_moves]
    stages = [DiffStage(name, "added" if name in diff.stages_added else
                        "changed" if name in dict(diff.stages_changed) or name in diff.stages_opened
                        else "same") for name in new.stage_names]
    stages += [DiffStage(name, "removed") for name in old.stage_names if name not in new.stage_names]
    return tuple(stages), tuple(edges)


def diff_to_dot(old: MachineSpec | SpecDescription, new: MachineSpec | SpecDescription, *,
                direction: Direction = "TB") -> str:
    """Graphviz DOT of the difference from ``old`` to ``new``."""
    stages, edges = diff_edges(old, new)
    title = f"{old.name} v{old.version} -> {new.name} v{new.version}"
    lines = [f"digraph {quote('diff')} {{", f"  rankdir={direction};",
             f"  label={quote(title)}; labelloc=t;",
             '  node [shape=box, style="rounded", fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];',
             f"  __start [shape=point, label=\"\"]; __start -> {quote(new.initial)};"]
    for stage in stages:
        style = {"added": ', style="rounded,bold"', "removed": ', style="rounded,dashed"',
                 "changed": ', style="rounded,bold"', "same": ""}[stage.status]
        lines.append(f"  {quote(stage.name)} [color={quote(_COLOURS[stage.status])}, "
                     f"label={quote(_SIGNS[stage.status] + stage.name)}{style}];")
    for edge in edges:
        style = {"added": "bold", "removed": "dashed", "changed": "bold", "same": "solid"}[edge.status]
        lines.append(f"  {quote(edge.source)} -> {quote(edge.target)} [label={quote(edge.label)}, "
                     f"color={quote(_COLOURS[edge.status])}, "
                     f"fontcolor={quote(_COLOURS[edge.status])}, style={style}];")
    return "\n".join([*lines, "}"]) + "\n"


def diff_to_mermaid(old: MachineSpec | SpecDescription, new: MachineSpec | SpecDescription, *,
                    direction: Direction = "TB") -> str:
    """A Mermaid ``flowchart`` of the difference from ``old`` to ``new``."""
    stages, edges = diff_edges(old, new)
    lines = [f"flowchart {direction}"]
    for stage in stages:
        lines.append(f'    {state_id(stage.name)}("{escape(_SIGNS[stage.status] + stage.name)}")')
    styles = []
    for index, edge in enumerate(edges):
        arrow = {"removed": "-.->", "added": "==>", "changed": "==>"}.get(edge.status, "-->")
        lines.append(f'    {state_id(edge.source)} {arrow}|"{escape(edge.label)}"| '
                     f"{state_id(edge.target)}")
        dash = ",stroke-dasharray:5 5" if edge.status == "removed" else ""
        styles.append(f"    linkStyle {index} stroke:{_COLOURS[edge.status]},"
                      f"color:{_COLOURS[edge.status]}{dash}")
    classes = [f"    classDef {status} stroke:{colour},color:{colour}"
               for status, colour in _COLOURS.items()]
    members = [f"    class {state_id(s.name)} {s.status}" for s in stages]
    return "\n".join([*lines, *styles, *classes, *members]) + "\n"
