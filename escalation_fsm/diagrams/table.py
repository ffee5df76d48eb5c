"""The generated tables of the docs: stages, triggers and transitions as MyST Markdown.

Free text (descriptions, guard sentences) goes through :func:`markdown_text`, so a description
containing ``|``, ``*``, backquotes, ``<html>``, a link or a MyST role can only ever show as
the characters it contains.
"""

from __future__ import annotations

import re

from ..spec import MachineSpec, TransitionSpec

__all__ = ["markdown_text", "stages_table", "transitions_table", "triggers_table"]

# ASCII punctuation that never starts markup inside a table cell; everything else is escaped.
_PLAIN = set(" .,;:'\"/?=-%()")
_ASCII_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def markdown_text(text: str) -> str:
    r"""``text`` as inert Markdown on one line (CommonMark backslash-escapes any punctuation).

    >>> markdown_text("a *b* [c](d) <e> | `f`")
    'a \\*b\\* \\[c\\](d) \\<e\\> \\| \\`f\\`'
    >>> markdown_text("- not a list")
    '\\- not a list'
    """
    text = " ".join(text.split())
    out = "".join(f"\\{ch}" if ch in _ASCII_PUNCT and ch not in _PLAIN else ch for ch in text)
    # At the start of a cell some "plain" characters still open a block (a list, a MyST comment
    # "%", a target "(name)="), and "1." starts an ordered list.
    if out[:1] in _ASCII_PUNCT:
        out = "\\" + out
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", out)


def _code(name: str) -> str:
    # Spec names are validated identifiers ([a-z][a-z0-9_]*): safe inside backquotes.
    return f"`{name}`"


def _list_table(title: str, header: list[str], rows: list[list[list[str]]], widths: str) -> str:
    """A MyST ``list-table``; each cell is a list of lines (more than one: a bullet list)."""
    lines = [f"```{{list-table}} {title}", ":header-rows: 1", f":widths: {widths}", ""]
    for row in [[[name] for name in header], *rows]:
        for number, cell in enumerate(row):
            lead = "* - " if number == 0 else "  - "
            if len(cell) <= 1:
                lines.append(lead + (cell[0] if cell else ""))
            else:
                lines.append(lead + "- " + cell[0])
                lines += ["    - " + entry for entry in cell[1:]]
    lines.append("```")
    return "\n".join(lines) + "\n"


def _destination(transition: TransitionSpec) -> str:
    if transition.dest is None:
        return f"{_code(transition.source)} (stays)"
    return _code(transition.dest)


def transitions_table(spec: MachineSpec) -> str:
    """Every transition: source, trigger, destination, guards with their sentences, roles."""
    rows = [
        [
            [_code(t.source)],
            [_code(t.trigger)],
            [_destination(t)],
            [f"{_code(g)}: {markdown_text(spec.guard(g).requirement)}" for g in t.guards] or ["none"],
            [", ".join(_code(role) for role in sorted(t.roles))],
        ]
        for t in spec.transitions
    ]
    return _list_table("Transitions", ["source", "trigger", "destination", "guards", "roles"],
                       rows, "12 14 14 45 15")


def stages_table(spec: MachineSpec) -> str:
    """Every stage with its description and whether it is initial or final."""
    rows = []
    for stage in spec.stages:
        marks = [word for word, flag in (("initial", stage.initial), ("final", stage.final)) if flag]
        rows.append([[_code(stage.name)], [", ".join(marks)], [markdown_text(stage.description)]])
    return _list_table("Stages", ["stage", "kind", "description"], rows, "15 10 75")


def triggers_table(spec: MachineSpec) -> str:
    """Every trigger with its marks (what it means), its payload model's fields and description."""
    rows = []
    for trigger in spec.triggers:
        fields = ", ".join(_code(name) for name in trigger.payload.model_fields) or "none"
        marks = [f"{_code(mark.value)}: {mark.meaning}" for mark in sorted(trigger.marks)] or ["none"]
        rows.append([[_code(trigger.name)], marks, [fields], [markdown_text(trigger.description)]])
    return _list_table("Triggers", ["trigger", "marks", "payload fields", "description"], rows,
                       "16 24 20 40")
