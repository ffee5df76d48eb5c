"""What a store call accepts, checked the same way for every store before anything is read.

A bad argument is an :class:`~escalation_fsm.errors.InvalidArgument` (also a ``ValueError``)
naming it, what was given and what is allowed: never a driver's ``OverflowError`` or
``UnicodeEncodeError``, and never a filter that means one thing in memory and another in SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import InvalidArgument
from ..models import EARLIEST, LATEST, MAX_NAME_LENGTH, Category
from ._types import TicketFilter

__all__ = ["MAX_BATCH", "MAX_LIMIT", "MAX_TIER", "checked_count", "checked_id", "checked_time",
           "checked_filters", "checked_query"]

MAX_TIER = 2**31 - 1
"""The highest tier a filter may ask for (PostgreSQL's ``integer``)."""
MAX_LIMIT = 2**63 - 1
"""The highest ``limit`` (SQL's 64-bit integers)."""
MAX_BATCH = 100_000
"""The largest ``batch_size`` of a stream."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def checked_id(value: object, name: str = "ticket_id") -> str:
    """``value`` if it can be a ticket id (or idempotency key): text, 1-200 characters, no controls."""
    if isinstance(value, str) and type(value) is not str:
        value = str(value)  # a StrEnum member: its value
    if type(value) is not str or not 0 < len(value) <= MAX_NAME_LENGTH:
        raise InvalidArgument(name=name, value=_shown(value),
                              allowed=f"a text of 1 to {MAX_NAME_LENGTH} characters")
    if not value.isprintable():  # rare: look closer only then
        for character in value:
            code = ord(character)
            if code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
                raise InvalidArgument(name=name, value=_shown(value),
                                      allowed="valid text without control characters "
                                              f"(found U+{code:04X})")
    return value


def checked_time(value: object, name: str) -> datetime:
    """``value`` if it is a timezone-aware datetime within the supported range."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument(name=name, value=_shown(value), allowed="a timezone-aware datetime")
    if not EARLIEST <= value < LATEST:
        raise InvalidArgument(name=name, value=_shown(value),
                              allowed=f"a time from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    return value


def checked_count(value: object, name: str, *, low: int, high: int) -> int:
    """``value`` if it is a whole number (not a bool) from ``low`` to ``high``."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidArgument(name=name, value=_shown(value),
                              allowed=f"a whole number from {low} to {high:,}")
    return value


def checked_filters(stage: Any, category: Any, tier: Any) -> tuple[str | None, str | None,
                                                                   int | None]:
    """The stage, category and tier filters, typed alike for every store."""
    if stage is not None:
        stage = checked_id(stage, "stage")
    if category is not None:
        try:
            category = Category(category).value
        except ValueError:
            raise InvalidArgument(name="category", value=_shown(category),
                                  allowed=f"one of {', '.join(c.value for c in Category)}") from None
    if tier is not None:
        tier = checked_count(tier, "tier", low=1, high=MAX_TIER)
    return stage, category, tier


def checked_query(stage: Any, category: Any, tier: Any, *, updated_before: Any,
                  updated_since: Any, limit: Any) -> TicketFilter:
    """The filters of ``query``, sync or async, checked alike (``limit`` is checked, not kept)."""
    stage, category, tier = checked_filters(stage, category, tier)
    where = TicketFilter(
        stage=stage, category=category, tier=tier,
        updated_before=None if updated_before is None else checked_time(updated_before,
                                                                        "updated_before"),
        updated_since=None if updated_since is None else checked_time(updated_since,
                                                                      "updated_since"))
    if limit is not None:
        checked_count(limit, "limit", low=0, high=MAX_LIMIT)
    return where
