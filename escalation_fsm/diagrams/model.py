"""The small graph model every renderer draws: built from a spec, never from the engine.

:func:`build_graph` turns a :class:`~escalation_fsm.spec.MachineSpec` (plus, optionally, a ticket
for the live view and counts for the weighted view) into plain frozen data. Renderers only read
this model, so Mermaid and DOT always show the same thing and neither knows about ``transitions``.

Transitions that share a source and a target are drawn as **one** edge with one label line per
trigger. That is what keeps self-loops readable: ``escalated`` has four triggers that stay in the
stage (``record_step``, ``notify_customer``, ``follow_up`` and, in custom specs, more), and four
stacked loops with overlapping labels are unreadable in both Mermaid and Graphviz.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..models import Ticket
from ..spec import MachineSpec, TransitionSpec

__all__ = ["Direction", "Edge", "EdgeItem", "Graph", "Node", "build_graph"]

Direction = Literal["TB", "LR"]
"""Layout direction: top to bottom, or left to right."""


@dataclass(frozen=True, slots=True)
class Node:
    """A stage as drawn: its name, description and the live-view flags."""

    name: str
    description: str
    initial: bool = False
    final: bool = False
    current: bool = False
    """The ticket of the live view is in this stage."""
    visited: bool = False
    """The ticket of the live view has been in this stage (the current stage included)."""


@dataclass(frozen=True, slots=True)
class EdgeItem:
    """One transition drawn on an edge (one label line)."""

    trigger: str
    description: str
    guards: tuple[str, ...]
    guard_sentences: tuple[str, ...]
    roles: tuple[str, ...]
    count: int | None = None
    """How often it was taken (weighted view); ``None`` when no counts were given."""
    steps: tuple[int, ...] = ()
    """The live view's history positions (1-based ``seq``) at which the ticket took it."""
    meanings: tuple[str, ...] = ()
    """What the trigger means (its marks, in words: ``escalates one tier``)."""


@dataclass(frozen=True, slots=True)
class Edge:
    """All transitions from ``source`` to ``target``: one arrow, one label line per transition."""

    source: str
    target: str
    items: tuple[EdgeItem, ...]

    @property
    def self_loop(self) -> bool:
        """The transitions keep the ticket in its stage."""
        return self.source == self.target

    @property
    def count(self) -> int | None:
        """Total count over the items, ``None`` when the view is not weighted."""
        counts = [item.count for item in self.items if item.count is not None]
        return sum(counts) if counts else None

    @property
    def taken(self) -> bool:
        """The live view's ticket took at least one of these transitions."""
        return any(item.steps for item in self.items)


@dataclass(frozen=True, slots=True)
class Graph:
    """A whole diagram: nodes in declaration order, edges in first-declaration order."""

    name: str
    initial: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    show_guards: bool = False
    show_roles: bool = False
    show_marks: bool = False
    live: bool = False
    """Built for one ticket (current stage and path are marked)."""
    weighted: bool = False
    """Built with counts (edge labels and widths show them)."""

    @property
    def max_count(self) -> int:
        """The largest edge count (0 when unweighted), for scaling widths."""
        return max((edge.count or 0 for edge in self.edges), default=0)

    @property
    def finals(self) -> tuple[str, ...]:
        """Names of the final stages, in declaration order."""
        return tuple(node.name for node in self.nodes if node.final)


def build_graph(
    spec: MachineSpec,
    *,
    ticket: Ticket | None = None,
    counts: Mapping[tuple[str, str], int] | None = None,
    show_guards: bool = False,
    show_roles: bool = False,
    show_marks: bool = False,
) -> Graph:
    """The graph model of ``spec``.

    ``ticket`` makes it a live view: its current stage, the stages it visited and the transitions
    its history took are marked. ``counts`` maps transition keys ``(source, trigger)`` to how
    often each was taken; keys that are not transitions of ``spec``, negative counts, a ticket in
    an unknown stage or a history step that is not a transition of ``spec`` raise ``ValueError``
    (a diagram that silently dropped data would mislead the reader).
    """
    steps = _steps_by_key(spec, ticket) if ticket is not None else {}
    _check_counts(spec, counts)
    visited = {ticket.stage} | {r.source for r in ticket.history} if ticket is not None else set()
    nodes = tuple(
        Node(
            name=stage.name,
            description=stage.description,
            initial=stage.initial,
            final=stage.final,
            current=ticket is not None and ticket.stage == stage.name,
            visited=stage.name in visited,
        )
        for stage in spec.stages
    )
    grouped: dict[tuple[str, str], list[EdgeItem]] = {}
    for transition in spec.transitions:
        item = _item(spec, transition, counts, steps.get(transition.key, ()))
        grouped.setdefault((transition.source, transition.target), []).append(item)
    edges = tuple(Edge(source, target, tuple(items)) for (source, target), items in grouped.items())
    return Graph(
        name=spec.name,
        initial=spec.initial,
        nodes=nodes,
        edges=edges,
        show_guards=show_guards,
        show_roles=show_roles,
        show_marks=show_marks,
        live=ticket is not None,
        weighted=counts is not None,
    )


def _item(spec: MachineSpec, transition: TransitionSpec,
          counts: Mapping[tuple[str, str], int] | None, steps: tuple[int, ...]) -> EdgeItem:
    return EdgeItem(
        trigger=transition.trigger,
        description=spec.trigger(transition.trigger).description,
        guards=transition.guards,
        guard_sentences=tuple(spec.guard(name).requirement for name in transition.guards),
        roles=tuple(sorted(transition.roles)),
        count=None if counts is None else counts.get(transition.key, 0),
        steps=steps,
        meanings=tuple(mark.meaning for mark in sorted(spec.marks_of(transition.trigger))),
    )


def _steps_by_key(spec: MachineSpec, ticket: Ticket) -> dict[tuple[str, str], tuple[int, ...]]:
    if not spec.has_stage(ticket.stage):
        raise ValueError(
            f"ticket {ticket.id} is in stage {ticket.stage!r}, which spec {spec.name!r} does not "
            f"have; its stages: {', '.join(spec.stage_names)}"
        )
    steps: dict[tuple[str, str], list[int]] = {}
    for record in ticket.history:
        if spec.transition(record.source, record.trigger) is None:
            raise ValueError(
                f"ticket {ticket.id}: history step {record.seq} ({record.source!r} "
                f"--{record.trigger}-->) is not a transition of spec {spec.name!r}"
            )
        steps.setdefault((record.source, record.trigger), []).append(record.seq)
    return {key: tuple(seqs) for key, seqs in steps.items()}


def _check_counts(spec: MachineSpec, counts: Mapping[tuple[str, str], int] | None) -> None:
    if counts is None:
        return
    problems = [
        f"{key!r} is not a transition (source, trigger) of spec {spec.name!r}"
        for key in counts if spec.transition(*key) is None
    ]
    problems += [f"count for {key!r} is negative: {value}"
                 for key, value in counts.items() if value < 0]
    if problems:
        raise ValueError("invalid transition counts: " + "; ".join(problems))
