"""Pydantic data: enums, actors, assessments and the immutable :class:`Ticket` with its history.

Every model here is frozen. A ticket is a value: the machine returns a new one for every committed
transition and never mutates the one it was given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "EARLIEST",
    "IMPORT_TRIGGER",
    "LATEST",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "Actor",
    "Assessment",
    "AuditRecord",
    "Category",
    "Escalation",
    "Feedback",
    "FrozenDict",
    "FollowUp",
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
    "trusted",
    "trusted_from",
    "validate_fields",
]

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


class FrozenDict(dict[str, Any]):
    """A read-only dict: audit payloads are history, and records are shared between tickets.

    Every committed ticket reuses the records of the ticket it came from, so a writable payload
    would let one hook rewrite the history of every ticket (and of store caches) at once.
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("audit record payloads are read-only: history is never edited")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        # copy, deepcopy and pickle rebuild through the constructor, not item by item.
        return (FrozenDict, (dict(self),))


def freeze_json(value: Any) -> Any:
    """JSON-ready data made read-only all the way down.

    Dicts become :class:`FrozenDict` and lists become tuples.
    """
    if isinstance(value, dict):
        return FrozenDict({key: freeze_json(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze_json(item) for item in value)
    return value


MAX_JSON_DEPTH = 32
"""How deeply a payload's JSON data may nest (objects and arrays within each other)."""


def nested_json(payload: BaseModel) -> Any:
    """The JSON dump of a validated payload, made read-only.

    A pydantic ``ValidationError`` if it cannot be dumped as JSON or nests deeper than
    :data:`MAX_JSON_DEPTH` (stores and reports read it back).
    """
    try:
        dumped = payload.model_dump(mode="json")
    except (RecursionError, ValueError) as exc:
        raise _payload_error(payload, "json_unserializable", "the payload cannot be written as "
                             "JSON: {reason}", {"reason": str(exc)}) from exc
    if _depth(dumped, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _payload_error(payload, "json_too_deep", "the payload nests objects and arrays more "
                             "than {limit} levels deep", {"limit": MAX_JSON_DEPTH})
    return freeze_json(dumped)


def _payload_error(payload: BaseModel, kind: str, template: str,
                   context: dict[str, Any]) -> ValidationError:
    return ValidationError.from_exception_data(type(payload).__name__, [
        {"type": PydanticCustomError(kind, template, context), "loc": (), "input": "..."}])


def _depth(value: Any, budget: int) -> int:
    """How deeply ``value`` nests (counting stops past ``budget``)."""
    if budget < 0 or not isinstance(value, (dict, list)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, budget - 1) for item in items), default=0)


def validation_reasons(exc: ValidationError) -> tuple[str, ...]:
    """One short line per error of ``exc``: where (shortened when deep) and what is wrong."""
    reasons = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        where = ".".join(loc if len(loc) <= 6 else [*loc[:3], "...", *loc[-2:]])
        reasons.append(f"{where or 'payload'}: {error['msg']}")
    return tuple(reasons)


def thaw_json(value: Any) -> Any:
    """The plain JSON data (dicts and lists) of a frozen value."""
    if isinstance(value, dict):
        return {key: thaw_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw_json(item) for item in value]
    return value


class AuditRecord(_Frozen):
    """One committed transition. ``payload`` is the validated payload as read-only JSON data."""

    seq: Annotated[int, Field(ge=1)]
    at: Instant
    actor_id: str
    actor_role: str
    trigger: str
    source: str
    dest: str
    payload: Mapping[str, JsonValue] = Field(default_factory=FrozenDict)

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
