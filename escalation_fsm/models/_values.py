"""The frozen values a ticket is made of: actors, assessments, steps, notifications, escalation, feedback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ..bounds import MAX_TEXT_LENGTH, Instant, Name
from ._enums import Level, Urgency

__all__ = ["Actor", "Assessment", "Escalation", "Feedback", "FollowUp", "Notification", "Step"]


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
