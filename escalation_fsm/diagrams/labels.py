"""The words on an edge, shared by every renderer so Mermaid and DOT say the same thing.

Lines are plain, unescaped text; each renderer escapes them for its own syntax.
"""

from __future__ import annotations

from .model import Edge, EdgeItem, Graph

__all__ = ["edge_lines", "item_lines"]


def item_lines(item: EdgeItem, graph: Graph) -> list[str]:
    """The label lines of one transition: trigger (+ steps, + count), guards, roles, meaning.

    >>> from escalation_fsm.diagrams.model import EdgeItem, Graph
    >>> item = EdgeItem("record_step", "Record a step.", ("has_step_text",), ("...",),
    ...                 ("agent", "tier2"), count=12, steps=(2, 3))
    >>> item_lines(item, Graph("g", "a", (), (), show_guards=True, show_roles=True))
    ['record_step (steps 2, 3) (n=12)', 'if has_step_text', 'by agent, tier2']
    """
    head = item.trigger
    if item.steps:
        # The live view numbers the path: "step 2" is the ticket's second history record.
        word = "step" if len(item.steps) == 1 else "steps"
        head += f" ({word} " + ", ".join(map(str, item.steps)) + ")"
    if item.count is not None:
        head += f" (n={item.count})"
    lines = [head]
    if graph.show_guards and item.guards:
        lines.append("if " + ", ".join(item.guards))
    if graph.show_roles:
        lines.append("by " + ", ".join(item.roles))
    if graph.show_marks and item.meanings:
        lines.append("means " + ", ".join(item.meanings))
    return lines


def edge_lines(edge: Edge, graph: Graph) -> list[str]:
    """The label lines of an edge: its transitions' lines, one block after another."""
    return [line for item in edge.items for line in item_lines(item, graph)]
