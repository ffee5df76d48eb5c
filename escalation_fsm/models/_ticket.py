"""The :class:`Ticket`, its :class:`AuditRecord` history, and the check that the history is a chain."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, JsonValue, field_serializer, field_validator, model_validator

from ..bounds import IMPORT_TRIGGER, Instant, Name
from ..jsondata import FrozenDict, freeze_json, thaw_json
from ._enums import Category, Stage, Urgency
from ._values import Escalation, Feedback, Step, _Frozen

__all__ = ["AuditRecord", "Ticket", "check_history"]


class AuditRecord(_Frozen):
    """One committed transition. ``payload`` is the validated payload as read-only JSON data.

    ``spec_fingerprint`` is the fingerprint of the spec the record was written under (``None``:
    written before spec versions were recorded, so unknown).
    """

    seq: Annotated[int, Field(ge=1)]
    at: Instant
    actor_id: str
    actor_role: str
    trigger: str
    source: str
    dest: str
    payload: Mapping[str, JsonValue] = Field(default_factory=FrozenDict)
    spec_fingerprint: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("payload", mode="after")
    @classmethod
    def _freeze_payload(cls, value: Mapping[str, JsonValue]) -> Mapping[str, JsonValue]:
        frozen: Mapping[str, JsonValue] = freeze_json(dict(value))
        return frozen

    @field_serializer("payload")
    def _plain_payload(self, value: Mapping[str, JsonValue]) -> dict[str, Any]:
        thawed: dict[str, Any] = thaw_json(value)
        return thawed


class Ticket(_Frozen):
    """A support ticket as an immutable value.

    ``stage`` is a plain string so that custom specs can add stages; the default stages are the
    :class:`Stage` members, which compare equal to their values. ``history`` holds one
    :class:`AuditRecord` per committed transition and ``version`` always equals its length; the
    stage is the last record's destination (validation checks both, and that the records chain).
    Without history a ticket is in its spec's initial stage, which the machine and the stores
    check; :func:`~escalation_fsm.integrity.import_ticket`
    brings one in mid-way.
    """

    id: Name
    customer_id: Name
    category: Category | None = None
    details: str = ""
    stage: str = Stage.IDENTIFIED.value
    tier: Annotated[int, Field(ge=1)] = 1
    priority: Urgency = Urgency.NORMAL
    opened_at: Instant | None = None
    """When the issue was identified (the ticket opened). SLA first-response and resolution clocks
    start here; without it they start at the first history record."""
    tags: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    escalation: Escalation | None = None
    solution: str | None = None
    feedback: Feedback | None = None
    history: tuple[AuditRecord, ...] = ()
    version: Annotated[int, Field(ge=0)] = 0

    @property
    def spec_fingerprint(self) -> str | None:
        """The fingerprint its last record was written under (``None``: none, or unknown)."""
        history = self.history
        return history[-1].spec_fingerprint if history else None

    @field_validator("stage", mode="before")
    @classmethod
    def _plain_stage(cls, value: object) -> object:
        # Store enum members as their plain value so JSON, repr and equality agree.
        return str(value) if isinstance(value, StrEnum) else value

    @model_validator(mode="after")
    def _history_is_consistent(self) -> Ticket:
        check_history(self)
        return self


def check_history(ticket: Ticket) -> None:
    """Raise ``ValueError`` unless the ticket's history is a chain it is the end of.

    ``version`` is the history's length, ``seq`` runs 1..n, each record leaves the stage the one
    before entered, an import record comes first if at all, and the ticket is in the stage the
    last record entered. What validating a :class:`Ticket` checks (the rest needs the spec: see
    :meth:`EscalationMachine.verify <escalation_fsm.EscalationMachine.verify>`).
    """
    history = ticket.history
    if ticket.version != len(history):
        raise ValueError(f"ticket {ticket.id}: version {ticket.version} does not match "
                         f"its history length {len(history)}")
    previous: AuditRecord | None = None
    for expected, record in enumerate(history, start=1):
        if record.seq != expected:
            raise ValueError(
                f"ticket {ticket.id}: history sequence numbers must be 1..{len(history)} "
                f"without gaps; found {record.seq} at position {expected}")
        if previous is not None and record.source != previous.dest:
            raise ValueError(
                f"ticket {ticket.id}: history record {record.seq} leaves stage {record.source!r}, "
                f"but record {previous.seq} entered {previous.dest!r}")
        if record.trigger == IMPORT_TRIGGER and expected != 1:
            raise ValueError(f"ticket {ticket.id}: history record {record.seq} is an import, "
                             f"which only a ticket's first record can be")
        previous = record
    if previous is not None and ticket.stage != previous.dest:
        raise ValueError(
            f"ticket {ticket.id}: stage {ticket.stage!r} is not the stage its last history record "
            f"({previous.seq}, {previous.trigger!r}) entered, {previous.dest!r}; the stage follows "
            f"from the history")
