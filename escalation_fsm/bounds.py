"""The bounds every ticket, audit record and payload stays within, and the reserved triggers.

Texts are at most :data:`MAX_TEXT_LENGTH` characters (``ESCALATION_FSM_MAX_TEXT`` at import),
ids at most :data:`MAX_NAME_LENGTH` and without control characters, times between
:data:`EARLIEST` and :data:`LATEST`, payload JSON at most :data:`MAX_JSON_DEPTH` levels deep.
Beyond them, pydantic's ``ValidationError`` names the field and the bound: nothing reaches a
store or a report that cannot be written, read back and shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StringConstraints

__all__ = ["EARLIEST", "FOLLOW_UP_TRIGGER", "IMPORT_TRIGGER", "LATEST", "MAX_JSON_DEPTH",
           "MAX_NAME_LENGTH", "MAX_TEXT_LENGTH", "MIGRATE_TRIGGER", "Instant", "Name",
           "text_limit_problems"]


def _text_limit() -> int:
    raw = os.environ.get("ESCALATION_FSM_MAX_TEXT", "100000")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f"ESCALATION_FSM_MAX_TEXT must be a positive whole number of characters, "
                         f"got {raw!r}")
    return limit


MAX_TEXT_LENGTH = _text_limit()
"""The longest text (in characters) any ticket, audit record or payload may hold: 100,000 unless
the environment variable ``ESCALATION_FSM_MAX_TEXT`` says otherwise when the package is imported.
Every process sharing a store should use the same limit (a longer text does not validate)."""

MAX_NAME_LENGTH = 200
"""The longest ticket, customer or actor id, and role name (in characters)."""

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest time a ticket may hold (opened, stamped in its history)."""
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""The first time past the supported range: SLA deadlines are computed years beyond a ticket's
times, and Python's datetimes end with the year 9999."""

IMPORT_TRIGGER = "@import"
"""The trigger of the audit record that brings a ticket into the procedure mid-way
(:func:`~escalation_fsm.integrity.import_ticket`). No spec
can define it: spec names are lower-case identifiers."""

FOLLOW_UP_TRIGGER = "@follow-up"
"""The trigger of the audit record a follow-up worker writes when it acts on a step of the SLA
escalation ladder (``docs/following-up.md``): which clock run and step, the action and its
outcome. It leaves the stage as it is. Reserved like :data:`IMPORT_TRIGGER`: no spec can define
it."""

MIGRATE_TRIGGER = "migrate"
"""The trigger of the audit record that moves a ticket onto another version of its procedure
(:class:`~escalation_fsm.migration.Migration`). Reserved: no spec may define a trigger of that
name."""

def _no_control_characters(value: str) -> str:
    for character in value:
        if character < " " or character == "\x7f":
            raise ValueError(f"an id may not contain control characters (found U+{ord(character):04X})")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                        max_length=MAX_NAME_LENGTH),
                 AfterValidator(_no_control_characters)]
"""A non-empty identifier-like string (ticket ids, actor ids): valid text of at most
:data:`MAX_NAME_LENGTH` characters, without control characters."""

Instant = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
"""A timezone-aware time within the supported range (:data:`EARLIEST` to :data:`LATEST`)."""


MAX_JSON_DEPTH = 32
"""How deeply a payload's JSON data may nest (objects and arrays within each other)."""


def text_limit_problems(payloads: Mapping[str, type[BaseModel]]) -> list[str]:
    """One problem per trigger whose payload model would take texts tickets cannot hold.

    A payload may lower the text limit for its fields, never lift it: a longer text would be
    recorded, then refused when the record is read back.
    """
    return [f"trigger {name!r}: its payload {model.__name__} allows texts of "
            f"{model.model_config.get('str_max_length')} characters, more than tickets hold "
            f"({MAX_TEXT_LENGTH}, see ESCALATION_FSM_MAX_TEXT)"
            for name, model in payloads.items()
            if not 0 < (model.model_config.get("str_max_length") or 0) <= MAX_TEXT_LENGTH]
