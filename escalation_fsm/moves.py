"""The machine's transitions, pre-resolved for firing: one :class:`Move` per ``(stage, trigger)``.

What the hot path of :meth:`EscalationMachine.fire <escalation_fsm.EscalationMachine.fire>` reads
as plain attributes (roles, payload validator, guards, effect, what the marks do to the tier), and
the two rules it applies after an effect: a host effect's updates are checked, and the marks set
the tier. The engine itself stays in :mod:`escalation_fsm.engine`, the only module importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .marks import Mark, review_tag
from .models import Ticket, validate_fields
from .payloads import Payload
from .spec import Effect, GuardSpec

__all__ = ["FLAT_DUMP", "KEEP_TIER", "LOWER_TIER", "NATIVE_DUMP", "NESTED_DUMP", "RAISE_TIER",
           "RESET_TIER", "Move", "checked_updates", "tier_rule", "tier_updates"]

RESERVED = frozenset({"stage", "history", "version", "id", "tier"})
"""Ticket fields effects may not set: the machine derives them (the tier from the marks)."""
_TICKET_FIELDS = frozenset(Ticket.model_fields)

KEEP_TIER, RAISE_TIER, LOWER_TIER, RESET_TIER = 0, 1, 2, 3
NATIVE_DUMP, FLAT_DUMP, NESTED_DUMP = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Move:
    """One transition of the spec, pre-resolved for the hot path (plain attributes, no lookups)."""

    trigger: str
    source: str
    target: str
    roles: frozenset[str]
    payload: type[Payload]
    guards: tuple[GuardSpec, ...]
    effect: Effect | None
    check_effect: bool
    """Validate what the effect returns: true for host effects, false for the shipped ones."""
    tier: int
    """What the trigger's marks do to the tier: keep, raise, lower or reset it."""
    validate: Callable[[Any], Payload]
    """The payload model's validator, looked up once."""
    event: Any
    """The engine's event for the trigger (a ``transitions.Event``)."""
    dump: int
    """How the record's payload is made: attributes as they are, a flat dump, or a nested one."""


def tier_rule(marks: frozenset[Mark]) -> int:
    """What a trigger with ``marks`` does to the tier: keep, raise, lower or reset it."""
    if Mark.ESCALATE in marks:
        return RAISE_TIER
    if Mark.DE_ESCALATE in marks:
        return LOWER_TIER
    return RESET_TIER if Mark.REOPEN in marks else KEEP_TIER


def checked_updates(move: Move, updates: dict[str, Any]) -> dict[str, Any]:
    """A host effect's updates, refused when they touch derived fields or are invalid."""
    if updates.keys() - _TICKET_FIELDS or updates.keys() & RESERVED:
        raise SpecError([
            f"the effect of trigger {move.trigger!r} returned fields {sorted(updates)}; allowed: "
            f"{sorted(_TICKET_FIELDS - RESERVED)} (the tier follows the trigger's marks)"
        ])
    valid, problems = validate_fields(Ticket, updates)
    if problems:
        raise SpecError([f"the effect of trigger {move.trigger!r} returned an invalid {problem}"
                         for problem in problems])
    return valid


def tier_updates(rule: int, tags: tuple[str, ...], tier: int) -> dict[str, Any]:
    """What an escalate, de-escalate or reopen mark does: the tier, and the review tag."""
    if rule == RAISE_TIER:
        tag = review_tag(tier + 1)
        return {"tier": tier + 1, "tags": tags if tag in tags else (*tags, tag)}
    if rule == LOWER_TIER:
        return {"tier": max(1, tier - 1)}
    return {"tier": 1}
