"""Data notes: every value a replay could not read, counted per column and rule, with examples.

A replay never guesses quietly (DESIGN rule 18). Whatever the reader or a mapping rule could not
read (a non-number where a rank is needed, a label the mapping does not list, a time that does
not parse, an empty cell a rule needed) is counted here, keyed by ``(column, rule, problem)``,
with a few examples naming the line; the report lists them under "Data notes", and
``escalation-fsm replay --strict`` turns any *unreadable* value into exit status 2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .schema import DataNote

__all__ = ["EXAMPLES", "NoteKey", "Problem", "ReadNotes", "STRICT_PROBLEMS", "data_notes"]

Problem = Literal["not_a_number", "unmapped_label", "unparseable_time", "empty", "never_fired",
                  "unknown_urgency"]
"""What was wrong with the values counted under one note."""

STRICT_PROBLEMS: frozenset[str] = frozenset({"not_a_number", "unmapped_label", "unparseable_time",
                                             "never_fired", "unknown_urgency"})
"""Problems that ``--strict`` turns into exit status 2 (an empty cell is information only)."""

EXAMPLES = 3
"""Examples kept per note."""

NoteKey = tuple[str, str, str]
"""``(column, rule, problem)``."""


@dataclass(slots=True)
class ReadNotes:
    """Counts and a few examples of the values that could not be read, per (column, rule, problem)."""

    counts: Counter[NoteKey] = field(default_factory=Counter)
    examples: dict[NoteKey, list[str]] = field(default_factory=dict)

    def add(self, column: str, rule: str, problem: Problem, example: str) -> None:
        """Count one value (``example`` says which, e.g. ``line 12: 'L4'``)."""
        key = (column, rule, problem)
        self.counts[key] += 1
        kept = self.examples.setdefault(key, [])
        if len(kept) < EXAMPLES:
            kept.append(example)

    def merge(self, other: ReadNotes) -> ReadNotes:
        """Both sets of notes in one (a new object; neither is changed)."""
        merged = ReadNotes(Counter(self.counts), {k: list(v) for k, v in self.examples.items()})
        for key, count in other.counts.items():
            merged.counts[key] += count
            kept = merged.examples.setdefault(key, [])
            kept.extend(other.examples.get(key, [])[:EXAMPLES - len(kept)])
        return merged

    def __bool__(self) -> bool:
        return bool(self.counts)


_EFFECTS = {
    "not_a_number": "not compared (the rule needs a number)",
    "unmapped_label": "not compared (the label is not in the column's value map)",
    "unparseable_time": "row skipped (it cannot be placed in time)",
    "unknown_urgency": "counted as normal urgency for the SLA targets",
    "empty": "not compared; the previous value stays the reference",
    "never_fired": "the rule changed nothing in this log: is its column or value right?",
}


def data_notes(notes: ReadNotes, never_fired: Iterable[str]) -> list[DataNote]:
    """The report's data notes: what could not be read (most frequent first), then idle rules."""
    found = [
        DataNote(column=column, rule=rule, problem=problem, count=count,
                 examples=notes.examples.get((column, rule, problem), []),
                 effect=_EFFECTS[problem], strict=problem in STRICT_PROBLEMS)
        for (column, rule, problem), count in sorted(notes.counts.items(),
                                                     key=lambda item: (-item[1], item[0]))
    ]
    found += [DataNote(column="", rule=rule, problem="never_fired", count=0, examples=[],
                       effect=_EFFECTS["never_fired"], strict=True) for rule in never_fired]
    return found
