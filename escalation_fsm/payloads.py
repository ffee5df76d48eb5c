"""The validated payload of each default trigger.

Payload models check types and shapes (pydantic ``ValidationError`` for a wrong type, an unknown
keyword or a rating of 7). Whether a text is *present* is a guard of the spec instead, so that a
refusal lists every missing piece at once as readable sentences.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import Enum
from functools import cache
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from .bounds import MAX_TEXT_LENGTH
from .models import Assessment, Channel, InteractionDirection

__all__ = [
    "EscalatePayload",
    "FeedbackPayload",
    "FollowUpPayload",
    "InteractionPayload",
    "NoPayload",
    "NotifyPayload",
    "Payload",
    "ReopenPayload",
    "ResolvePayload",
    "StepPayload",
    "flat_json",
    "native_json",
]


class Payload(BaseModel):
    """Base of every trigger payload: frozen, unknown keywords refused, text stripped.

    Every text is at most :data:`~escalation_fsm.models.MAX_TEXT_LENGTH` characters (a longer one
    is a ``ValidationError``); a subclass may lower that limit, never raise it (the machine
    refuses a spec whose payload would write texts that tickets cannot hold).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              str_max_length=MAX_TEXT_LENGTH)


class NoPayload(Payload):
    """For triggers that take no keyword arguments."""


class StepPayload(Payload):
    """``record_step``: a step taken or a knowledge-base resource used."""

    step: str = ""


class EscalatePayload(Payload):
    """``escalate``: the Tier 2 summary and the escalation assessment."""

    summary: str = ""
    assessment: Assessment | None = None


class NotifyPayload(Payload):
    """``notify_customer``: the message and, when known, the estimated response time."""

    message: str = ""
    eta: Annotated[timedelta, Field(gt=timedelta(0), le=timedelta(days=365))] | None = None
    """Estimated response time; a year at most (a longer promise is a typo, and SLA
    calendars only look that far ahead)."""


class FollowUpPayload(Payload):
    """``follow_up``: the Tier 2 update and what the customer was told."""

    update: str = ""
    customer_message: str = ""


class ResolvePayload(Payload):
    """``resolve``: the (final) solution."""

    solution: str = ""


class FeedbackPayload(Payload):
    """``record_feedback``: the customer's rating from 1 to 5 and an optional comment."""

    rating: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: str | None = None


class InteractionPayload(Payload):
    """``record_interaction``: a contact with the customer, documented (procedure best practice).

    ``contact`` is who on the customer's side, when it is not the ticket's customer.
    """

    channel: Channel
    direction: InteractionDirection
    summary: str = ""
    contact: str | None = None


class ReopenPayload(Payload):
    """``reopen``: why the resolved ticket is being reopened."""

    reason: str = ""


_SCALARS = (str, int, float, bool, type(None), Enum, date, timedelta)
"""Types whose JSON form is a scalar (``datetime`` is a ``date``; enums dump to their value)."""


@cache
def flat_json(model: type[BaseModel]) -> bool:
    """Whether every field of ``model`` dumps to a JSON scalar (no nested object or list).

    The machine freezes a flat payload's dump in one step instead of walking it.
    """
    def scalar(annotation: Any) -> bool:
        if get_origin(annotation) in (Union, UnionType):
            return all(scalar(option) for option in get_args(annotation))
        return isinstance(annotation, type) and issubclass(annotation, _SCALARS)
    return all(scalar(field.annotation) for field in model.model_fields.values())


_NATIVE = (str, int, float, bool, type(None))


@cache
def native_json(model: type[BaseModel]) -> bool:
    """Whether every field of ``model`` already holds its JSON value (text, number, bool, null).

    Then the validated model's attributes are its JSON dump, and the machine skips serialising.
    """
    def native(annotation: Any) -> bool:
        if get_origin(annotation) in (Union, UnionType):
            return all(native(option) for option in get_args(annotation))
        return annotation in _NATIVE
    return all(native(field.annotation) for field in model.model_fields.values())
