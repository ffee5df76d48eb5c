r"""Graphviz DOT text from the graph model.

Escaping: every string is written as a DOT double-quoted string by :func:`quote`. Only ``"``
would end one, but Graphviz also reads backslash sequences in labels (``\N`` is the node name,
``\l`` a left-justified break) and entity references (``&lt;``) when it writes SVG.
So backslashes are doubled, quotes escaped, ``&`` written as ``&amp;``, control characters
dropped and line breaks written by this module only. User text can therefore neither close the
string and add statements nor turn into markup in the SVG.

Stage and trigger descriptions and the guards' sentences go into ``tooltip`` attributes: they
show on hover in the SVG without crowding the picture. Graphviz (2.43 at least) un-escapes
tooltips twice, so a doubled backslash there still becomes ``\N`` (the node name); tooltips
therefore show a backslash as the look-alike U+FF3C, whatever the Graphviz version.
"""

from __future__ import annotations

from .labels import edge_lines
from .model import Direction, Edge, Graph, Node

__all__ = ["quote", "render_dot"]

_START = "__start__"  # stage names start with a letter, so this id cannot collide with one
_FONT = "Helvetica"
_CURRENT = {"style": "rounded,filled,bold", "fillcolor": "#fde68a", "color": "#b45309",
            "penwidth": "3"}
_VISITED = {"style": "rounded,filled", "fillcolor": "#dbeafe", "color": "#1d4ed8"}
_TAKEN = {"color": "#b45309", "fontcolor": "#b45309", "penwidth": "2.5", "style": "bold"}
_NOT_TAKEN = {"color": "#9ca3af", "fontcolor": "#6b7280"}
_MAX_WIDTH = 6.0


def quote(text: str) -> str:
    r"""``text`` as a DOT double-quoted string whose label shows exactly ``text``.

    >>> print(quote('say "hi" \\N & go'))
    "say \"hi\" \\N &amp; go"
    """
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    return '"' + text.replace("\n", "\\n") + '"'


_BACKSLASH_LOOKALIKE = "\uff3c"


def _attrs(attrs: dict[str, str]) -> str:
    quoted = {key: quote(value.replace("\\", _BACKSLASH_LOOKALIKE) if key == "tooltip" else value)
              for key, value in attrs.items()}
    return "[" + ", ".join(f"{key}={value}" for key, value in quoted.items()) + "]"


def render_dot(graph: Graph, *, direction: Direction = "TB") -> str:
    """The DOT source of ``graph``, top to bottom unless ``direction`` is ``"LR"``."""
    lines = [
        f"digraph {quote(graph.name)} {{",
        f"    graph {_attrs({'rankdir': direction, 'fontname': _FONT, 'nodesep': '0.5'})};",
        f"    node {_attrs({'shape': 'box', 'style': 'rounded', 'fontname': _FONT})};",
        f"    edge {_attrs({'fontname': _FONT, 'fontsize': '10'})};",
        f"    {quote(_START)} {_attrs({'shape': 'point', 'width': '0.15', 'label': ''})};",
    ]
    lines += [f"    {quote(node.name)} {_attrs(_node_attrs(node))};" for node in graph.nodes]
    lines.append(f"    {quote(_START)} -> {quote(graph.initial)};")
    lines += [
        f"    {quote(edge.source)} -> {quote(edge.target)} "
        f"{_attrs(_edge_attrs(edge, graph, direction))};"
        for edge in graph.edges
    ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_attrs(node: Node) -> dict[str, str]:
    attrs = {"label": node.name, "tooltip": node.description}
    if node.final:
        attrs["peripheries"] = "2"
    if node.current:
        attrs.update(_CURRENT)
    elif node.visited:
        attrs.update(_VISITED)
    return attrs


def _edge_attrs(edge: Edge, graph: Graph, direction: Direction) -> dict[str, str]:
    attrs = {"label": "\n".join(edge_lines(edge, graph)), "tooltip": _tooltip(edge)}
    if edge.self_loop:
        # A loop on the side across the flow keeps its label clear of the stage's other arrows.
        side = "n" if direction == "LR" else "e"
        attrs.update(headport=side, tailport=side)
    count = edge.count
    if count is not None:
        if count == 0:
            attrs.update(style="dashed", color="#9ca3af")
        else:
            width = 1 + (_MAX_WIDTH - 1) * count / graph.max_count
            attrs["penwidth"] = f"{width:.2f}"
    if graph.live:
        emphasis = dict(_TAKEN if edge.taken else _NOT_TAKEN)
        if count is not None:
            emphasis.pop("penwidth", None)  # the counts already decide the width
        attrs.update(emphasis)
    return attrs


def _tooltip(edge: Edge) -> str:
    parts = []
    for item in edge.items:
        text = f"{item.trigger}: {item.description}"
        if item.guards:
            text += " Requires: " + "; ".join(
                f"{name}: {sentence}" for name, sentence in zip(item.guards, item.guard_sentences,
                                                               strict=True)) + "."
        parts.append(text + " Roles: " + ", ".join(item.roles) + ".")
    return "\n".join(parts)
