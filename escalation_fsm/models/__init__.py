"""Pydantic data: enums, actors, assessments and the immutable :class:`Ticket` with its history.

Every model here is frozen. A ticket is a value: the machine returns a new one for every committed
transition and never mutates the one it was given.

Defined in one private module per concern (the enumerations, the values a ticket is made of, the
ticket and its history, fast building and per-field validation) and imported from here.
"""

from __future__ import annotations

from ..bounds import (
    EARLIEST,
    FOLLOW_UP_TRIGGER,
    IMPORT_TRIGGER,
    LATEST,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
)
from ..bounds import Instant as Instant  # importable from here before the split (not in __all__)
from ..bounds import Name as Name
from ..jsondata import FrozenDict, freeze_json, nested_json, thaw_json, validation_reasons
from ._building import evolve, field_adapter, trusted, trusted_from, validate_fields
from ._enums import Category, Channel, InteractionDirection, Level, Role, Stage, Trigger, Urgency
from ._ticket import AuditRecord, Ticket, check_history
from ._values import Actor, Assessment, Escalation, Feedback, FollowUp, Notification, Step

__all__ = [
    "EARLIEST",
    "FOLLOW_UP_TRIGGER",
    "IMPORT_TRIGGER",
    "LATEST",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "Actor",
    "Assessment",
    "AuditRecord",
    "Category",
    "Channel",
    "Escalation",
    "Feedback",
    "FollowUp",
    "FrozenDict",
    "InteractionDirection",
    "Level",
    "Notification",
    "Role",
    "Stage",
    "Step",
    "Ticket",
    "Trigger",
    "Urgency",
    "check_history",
    "evolve",
    "field_adapter",
    "freeze_json",
    "nested_json",
    "thaw_json",
    "trusted",
    "trusted_from",
    "validate_fields",
    "validation_reasons",
]
# Re-exported: the bounds and the JSON helpers live in modules of their own (.bounds, .jsondata).

