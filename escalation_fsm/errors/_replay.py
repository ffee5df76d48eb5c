"""Errors of replaying an event log: a bad mapping file, a log that cannot be replayed as mapped."""

from __future__ import annotations

from ._base import EscalationError, _bullets

__all__ = ["LogError", "MappingError", "ReplayError"]


class ReplayError(EscalationError, ValueError):
    """Base of the replay errors; the message says what is wrong and where."""


class MappingError(ReplayError):
    """The mapping file is invalid. ``problems`` lists each one with its line and key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(problems)
        lines = _bullets(self.problems)
        super().__init__(f"invalid mapping {source} ({len(self.problems)} problem(s)):\n{lines}")


class LogError(ReplayError):
    """The log cannot be replayed as mapped: missing columns, bad rows, unknown activities.

    ``line`` is the 1-based line (CSV: of the file, header = 1; JSON Lines: of the file) when the
    problem is tied to one row.
    """

    def __init__(self, source: str, message: str, *, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")
