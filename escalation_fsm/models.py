"""Pydantic data: enums, actors, assessments and the immutable :class:`Ticket` with its history.

Every model here is frozen. A ticket is a value: the machine returns a new one for every committed
transition and never mutates the one it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from .bounds import (
    EARLIEST,
    FOLLOW_UP_TRIGGER,
    IMPORT_TRIGGER,
    LATEST,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    Instant,
    Name,
)
from .jsondata import FrozenDict, freeze_json, nested_json, thaw_json, validation_reasons

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


class Stage(StrEnum):
    """The stages of the default procedure. Custom specs may add more; compare with ``==``."""

    IDENTIFIED = "identified"
    ATTEMPTED = "attempted"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    FEEDBACK = "feedback"


class Trigger(StrEnum):
    """The triggers of the default procedure. Custom specs may add more."""

    ATTEMPT = "attempt"
    RECORD_STEP = "record_step"
    ESCALATE = "escalate"
    NOTIFY_CUSTOMER = "notify_customer"
    FOLLOW_UP = "follow_up"
    RESOLVE = "resolve"
    REQUEST_FEEDBACK = "request_feedback"
    RECORD_FEEDBACK = "record_feedback"
    REOPEN = "reopen"
    RECORD_INTERACTION = "record_interaction"


class Channel(StrEnum):
    """How a customer interaction happened."""

    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    PORTAL = "portal"
    IN_PERSON = "in_person"
    OTHER = "other"


class InteractionDirection(StrEnum):
    """Who started an interaction: the customer (``inbound``) or the helpdesk (``outbound``)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Category(StrEnum):
    """The nature of the customer's issue (procedure step 1)."""

    BILLING = "billing"
    TECHNICAL = "technical"
    ACCOUNT_ACCESS = "account_access"
    OTHER = "other"


class Role(StrEnum):
    """Who acts on a ticket. Custom specs may use other role names (for example ``"tier3"``)."""

    AGENT = "agent"
    TIER2 = "tier2"
    SUPERVISOR = "supervisor"
    CUSTOMER = "customer"
    SYSTEM = "system"


class Level(StrEnum):
    """Complexity and customer frustration, ordered low < medium < high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Position in the order, for threshold comparisons."""
        return _LEVEL_RANK[self]


class Urgency(StrEnum):
    """How urgent the issue is, ordered low < normal < high < critical."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the order, for threshold comparisons."""
        return _URGENCY_RANK[self]


_LEVEL_RANK = {level: rank for rank, level in enumerate(Level)}
_URGENCY_RANK = {level: rank for rank, level in enumerate(Urgency)}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=MAX_TEXT_LENGTH)


class Actor(_Frozen):
    """Someone (or something) firing triggers. ``role`` is a :class:`Role` or a custom role name."""

    id: Name
    role: Name


class Assessment(_Frozen):
    """Procedure step 3: how complex, frustrating and urgent the issue is."""

    complexity: Level
    frustration: Level
    urgency: Urgency


class Step(_Frozen):
    """A resolution step taken or a knowledge-base resource used."""

    text: str
    at: Instant
    by: str


class Notification(_Frozen):
    """What the customer was told about the escalation, with the estimated response time if known."""

    message: str
    at: Instant
    by: str
    eta: timedelta | None = None

    @property
    def respond_by(self) -> datetime | None:
        """When the promised response is due, if an estimate was given."""
        return None if self.eta is None else self.at + self.eta


class FollowUp(_Frozen):
    """A Tier 2 update and what was communicated to the customer about it."""

    update: str
    customer_message: str
    at: Instant
    by: str


class Escalation(_Frozen):
    """The Tier 2 hand-over: summary, the steps already taken, and why escalation was decided."""

    summary: str
    assessment: Assessment
    reasons: tuple[str, ...]
    steps_taken: tuple[Step, ...]
    at: Instant
    by: str
    notifications: tuple[Notification, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()


class Feedback(_Frozen):
    """The customer's rating (1-5) and comment on the resolution process."""

    rating: Annotated[int, Field(ge=1, le=5)]
    comment: str | None = None
    at: Instant


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


_M = TypeVar("_M", bound=BaseModel)


_set = object.__setattr__
_new = object.__new__


def evolve(model: _M, updates: dict[str, Any]) -> _M:
    """A copy of frozen ``model`` with ``updates`` applied, without re-validation.

    The same contract as ``model.model_copy(update=...)`` (the caller passes valid values), at
    about half its cost on the firing hot path.
    """
    fields_set = model.__pydantic_fields_set__
    if not fields_set.issuperset(updates):
        fields_set = fields_set | updates.keys()
    # Sharing the set is safe: frozen models never change theirs, and pydantic's copies
    # (model_copy, copy, pickle) take their own.
    new = _new(type(model))  # what model_construct does, minus its per-field loop (see trusted_from)
    _set(new, "__dict__", {**model.__dict__, **updates})
    _set(new, "__pydantic_fields_set__", fields_set)
    _set(new, "__pydantic_extra__", None)
    _set(new, "__pydantic_private__", None)
    return new


_EVERY_FIELD: dict[type[BaseModel], set[str]] = {}


def trusted(cls: type[_M], **values: Any) -> _M:
    """A ``cls`` instance from values already validated elsewhere, every field given.

    The machine builds audit records and effect data from validated payloads, the clock's checked
    time and spec names; validating them again cost more than the rest of a ``fire``.
    """
    return trusted_from(cls, values)


def trusted_from(cls: type[_M], values: dict[str, Any]) -> _M:
    """:func:`trusted` with the values as a dict, which it keeps as the instance's ``__dict__``."""
    fields_set = _EVERY_FIELD.get(cls)
    if fields_set is None or len(values) != len(fields_set):
        fields_set = _EVERY_FIELD.setdefault(cls, set(cls.model_fields))
        if values.keys() != fields_set:
            fields_set = set(values)
    # What pydantic's model_construct does, minus its per-field Python loop (defaults, aliases):
    # callers pass every field already valid. Tests pin equality with validated construction.
    # Inlined rather than shared with evolve(): a call less on fire's hot path.
    new = _new(cls)
    _set(new, "__dict__", values)
    _set(new, "__pydantic_fields_set__", fields_set)
    _set(new, "__pydantic_extra__", None)
    _set(new, "__pydantic_private__", None)
    return new


@cache
def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A validator for one field of ``model`` (its annotation and constraints), built once."""
    field = model.model_fields[name]
    annotation: Any = field.annotation
    return TypeAdapter(Annotated[annotation, *field.metadata] if field.metadata else annotation)


def validate_fields(model: type[BaseModel],
                    values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``values`` validated field by field as ``model`` would, and one problem per bad field.

    Used for the updates a host's effect returns, which skip the model's own validation.
    """
    valid: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        try:
            valid[name] = field_adapter(model, name).validate_python(value)
        except ValidationError as exc:
            problems += [f"{name}: {error['msg']} (got {value!r})" for error in exc.errors()]
    return valid, problems
