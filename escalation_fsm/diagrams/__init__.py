"""State diagrams of any :class:`~escalation_fsm.spec.MachineSpec`: Mermaid, DOT, SVG and PNG.

The pipeline is spec -> :class:`Graph` (a small frozen model, see :func:`build_graph`) ->
renderer. Renderers read only the model, never the ``transitions`` engine, so a diagram shows the
spec exactly as declared.

* :func:`to_mermaid` and :func:`to_dot` return text and need nothing beyond the core install.
* :func:`diff_to_mermaid` and :func:`diff_to_dot` draw the difference between two versions of a
  spec (added, removed and changed transitions in distinct styles; :mod:`.diff`).
* :func:`render` also makes SVG and PNG through Graphviz: install the ``svg`` extra
  (``pip install 'escalation-fsm[svg]'``) and Graphviz's ``dot`` program. Without them it raises
  :class:`GraphvizUnavailable` naming what to install.

Options shared by all three:

``ticket``
    Live view: the ticket's current stage is highlighted, the stages it went through are tinted
    and each transition it took is labelled with its history positions (``attempt (step 1)``).
``counts``
    Weighted view: ``{(source, trigger): n}``; labels show ``(n=3)`` and, in DOT, edge widths
    scale with ``n`` (never-taken transitions are dashed).
``show_guards`` / ``show_roles`` / ``show_marks``
    Add ``if <guard names>``, ``by <roles>`` and ``means <what the trigger means>`` (its marks,
    :class:`~escalation_fsm.Mark`) lines to each transition's label.
``direction``
    ``"TB"`` (top to bottom, the default: a five-stage procedure drawn left to right is scaled
    down to illegibility in a page column) or ``"LR"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, overload

from ..errors import RenderFailed
from ..models import Ticket
from ..spec import MachineSpec
from .diff import DiffEdge, DiffStage, diff_edges, diff_to_dot, diff_to_mermaid
from .dot import render_dot
from .mermaid import render_mermaid
from .model import Direction, Edge, EdgeItem, Graph, Node, build_graph
from .render import GraphvizUnavailable, dot_to_image

__all__ = [
    "DiffEdge",
    "DiffStage",
    "Direction",
    "Edge",
    "EdgeItem",
    "FORMATS",
    "Format",
    "Graph",
    "GraphvizUnavailable",
    "Node",
    "RenderFailed",
    "build_graph",
    "diff_edges",
    "diff_to_dot",
    "diff_to_mermaid",
    "render",
    "to_dot",
    "to_mermaid",
]

Format = Literal["mermaid", "dot", "svg", "png"]
"""What :func:`render` can produce."""

FORMATS: tuple[Format, ...] = ("mermaid", "dot", "svg", "png")


def to_mermaid(
    spec: MachineSpec,
    *,
    ticket: Ticket | None = None,
    counts: Mapping[tuple[str, str], int] | None = None,
    show_guards: bool = False,
    show_roles: bool = False,
    show_marks: bool = False,
    descriptions: bool = False,
    direction: Direction = "TB",
) -> str:
    """Mermaid ``stateDiagram-v2`` source for ``spec``.

    ``descriptions`` writes each stage's description under its name; ``direction`` is ``"TB"``
    (top to bottom, the default: it stays legible in a page column) or ``"LR"``. See the module
    docstring for the other options; invalid ``ticket`` or ``counts`` raise ``ValueError``.
    """
    graph = build_graph(spec, ticket=ticket, counts=counts, show_guards=show_guards,
                        show_roles=show_roles, show_marks=show_marks)
    return render_mermaid(graph, descriptions=descriptions, direction=direction)


def to_dot(
    spec: MachineSpec,
    *,
    ticket: Ticket | None = None,
    counts: Mapping[tuple[str, str], int] | None = None,
    show_guards: bool = False,
    show_roles: bool = False,
    show_marks: bool = False,
    direction: Direction = "TB",
) -> str:
    """Graphviz DOT source for ``spec`` (descriptions and guard sentences are tooltips).

    ``direction`` is ``"TB"`` (top to bottom, the default) or ``"LR"`` (left to right).
    """
    graph = build_graph(spec, ticket=ticket, counts=counts, show_guards=show_guards,
                        show_roles=show_roles, show_marks=show_marks)
    return render_dot(graph, direction=direction)


@overload
def render(spec: MachineSpec, format: Literal["mermaid", "dot", "svg"], *,
           ticket: Ticket | None = None, counts: Mapping[tuple[str, str], int] | None = None,
           show_guards: bool = False, show_roles: bool = False, show_marks: bool = False,
           direction: Direction = "TB") -> str: ...
@overload
def render(spec: MachineSpec, format: Literal["png"], *,
           ticket: Ticket | None = None, counts: Mapping[tuple[str, str], int] | None = None,
           show_guards: bool = False, show_roles: bool = False, show_marks: bool = False,
           direction: Direction = "TB") -> bytes: ...
@overload
def render(spec: MachineSpec, format: Format, *,
           ticket: Ticket | None = None, counts: Mapping[tuple[str, str], int] | None = None,
           show_guards: bool = False, show_roles: bool = False, show_marks: bool = False,
           direction: Direction = "TB") -> str | bytes: ...
def render(
    spec: MachineSpec,
    format: Format,  # noqa: A002 (the public contract names it like the CLI's --format)
    *,
    ticket: Ticket | None = None,
    counts: Mapping[tuple[str, str], int] | None = None,
    show_guards: bool = False,
    show_roles: bool = False,
    show_marks: bool = False,
    direction: Direction = "TB",
) -> str | bytes:
    """``spec`` as ``format``: Mermaid, DOT or SVG text (``str``), or PNG bytes.

    SVG and PNG go through Graphviz and raise :class:`GraphvizUnavailable` when it is missing;
    an unknown ``format`` raises ``ValueError``.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown diagram format {format!r}; choose one of {', '.join(FORMATS)}")
    graph = build_graph(spec, ticket=ticket, counts=counts, show_guards=show_guards,
                        show_roles=show_roles, show_marks=show_marks)
    if format == "mermaid":
        return render_mermaid(graph, direction=direction)
    dot = render_dot(graph, direction=direction)
    if format == "dot":
        return dot
    image = dot_to_image(dot, format)
    return image.decode("utf-8") if format == "svg" else image
