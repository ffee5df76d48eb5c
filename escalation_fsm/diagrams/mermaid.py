"""Mermaid ``stateDiagram-v2`` text from the graph model.

Escaping: every piece of text that reaches the Mermaid source goes through :func:`escape`, which
keeps a small set of harmless ASCII characters and writes everything else as a Mermaid entity
code (``#60;`` for ``<``). Mermaid decodes those codes only after parsing, so user text can
neither end a statement (newlines, ``;``), start a comment (``%%``), add an arrow (``-->``), close
a quoted name (``"``) nor smuggle in HTML (``<script>``). Only the ``<br/>`` that separates label
lines is written raw, by this module.

State ids are ``s_<stage>``, never the bare stage name: stage names are identifiers, but some
identifiers (``end``, ``state``, ``note``, ``class``, ``direction``) are Mermaid keywords.
"""

from __future__ import annotations

import re

from .labels import edge_lines
from .model import Direction, Graph, Node

__all__ = ["escape", "render_mermaid", "state_id"]

_SAFE = re.compile(r"[A-Za-z0-9 _.,()'/+=?!-]")
_LINE_BREAK = "<br/>"
_CLASSES = {
    # Live view: the current stage stands out, visited stages are tinted.
    "current": "fill:#fde68a,stroke:#b45309,stroke-width:3px,color:#000",
    "visited": "fill:#dbeafe,stroke:#1d4ed8,color:#000",
}


def escape(text: str) -> str:
    """``text`` as safe Mermaid label text: unsafe characters become ``#<code>;`` entities.

    >>> escape('a <b> "c"; %% d --> e')
    'a #60;b#62; #34;c#34;#59; #37;#37; d --#62; e'
    """
    text = " ".join(text.split())  # newlines and tabs would end the statement
    return "".join(ch if _SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def state_id(name: str) -> str:
    """The Mermaid id of stage ``name`` (prefixed, so keywords such as ``end`` stay states)."""
    return f"s_{name}"


def render_mermaid(graph: Graph, *, descriptions: bool = False, direction: Direction = "TB") -> str:
    """The Mermaid source of ``graph``; ``descriptions`` adds each stage's description.

    ``direction`` defaults to top-to-bottom: Mermaid scales a diagram to the page's width, and a
    left-to-right procedure of five stages ends up too small to read in a docs column.
    """
    lines = ["stateDiagram-v2", f"    direction {direction}"]
    for node in graph.nodes:
        lines.append(f'    state "{escape(node.name)}" as {state_id(node.name)}')
        if descriptions:
            lines.append(f"    {state_id(node.name)} : {escape(node.description)}")
    lines.append(f"    [*] --> {state_id(graph.initial)}")
    for edge in graph.edges:
        label = _LINE_BREAK.join(escape(line) for line in edge_lines(edge, graph))
        lines.append(f"    {state_id(edge.source)} --> {state_id(edge.target)} : {label}")
    lines += [f"    {state_id(name)} --> [*]" for name in graph.finals]
    if graph.live:
        lines += _live_classes(graph.nodes)
    return "\n".join(lines) + "\n"


def _live_classes(nodes: tuple[Node, ...]) -> list[str]:
    current = [state_id(n.name) for n in nodes if n.current]
    visited = [state_id(n.name) for n in nodes if n.visited and not n.current]
    lines = [f"    classDef {name} {style}" for name, style in _CLASSES.items()]
    lines += [f"    class {','.join(current)} current"]
    if visited:
        lines.append(f"    class {','.join(visited)} visited")
    return lines
