"""Errors of the procedure's definition and versions.

A malformed spec or migration, a ticket written under another version of the procedure.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._base import EscalationError, _bullets

__all__ = ["MigrationError", "SpecError", "SpecMismatch"]


class SpecError(EscalationError, ValueError):
    """A machine spec is malformed; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        lines = _bullets(self.problems)
        super().__init__(f"invalid machine spec ({len(self.problems)} problem(s)):\n{lines}")


class SpecMismatch(EscalationError, ValueError):
    """A ticket was written under another version of the procedure than the machine's; unchanged.

    ``found`` and ``expected`` are the fingerprints (``found`` is ``None`` for records written
    before spec versions were recorded), ``found_label`` and ``expected_label`` name the versions;
    ``reasons`` says why the ticket cannot go on (what the newer spec changed, or where its
    history breaks under it). Register a :class:`~escalation_fsm.migration.Migration`, or declare
    the spec ``compatible_with`` the old one (see ``docs/versions.md``).
    """

    def __init__(self, *, ticket_id: str, found: str | None, expected: str, found_label: str,
                 expected_label: str, reasons: Sequence[str] = ()) -> None:
        self.ticket_id = ticket_id
        self.found = found
        self.expected = expected
        self.found_label = found_label
        self.expected_label = expected_label
        self.reasons: tuple[str, ...] = tuple(reasons)
        because = "".join(f"\n  - {reason}" for reason in self.reasons)
        hint = ("adopt the tickets under the spec that wrote them (store.adopt(spec), or "
                "escalation-fsm migrate --from REF --to REF)" if found is None else
                "register a Migration to this spec (or run escalation-fsm migrate), or declare "
                "the spec compatible_with the old one")
        super().__init__(f"ticket {ticket_id} was written under {found_label}, but the machine "
                         f"runs {expected_label}: {hint}{because}")


class MigrationError(EscalationError, ValueError):
    """A :class:`~escalation_fsm.migration.Migration` is malformed; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        lines = _bullets(self.problems)
        super().__init__(f"invalid migration ({len(self.problems)} problem(s)):\n{lines}")
