"""Data notes: every value a replay could not read, counted per column and rule, with examples.

A replay never guesses quietly (DESIGN rule 18). Whatever the reader or a mapping rule could not
read (a non-number where a rank is needed, a label the mapping does not list, a time that does
not parse, an empty cell a rule needed) is counted here, keyed by ``(column, rule, problem)``,
with a few examples naming the line; the report lists them under "Data notes", and
``escalation-fsm replay --strict`` turns any *unreadable* value into exit status 2.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["EXAMPLES", "NoteKey", "Problem", "ReadNotes", "STRICT_PROBLEMS"]

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
