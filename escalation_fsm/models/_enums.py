"""The enumerations: default stages and triggers, channels, categories, roles and ordered levels."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Category", "Channel", "InteractionDirection", "Level", "Role", "Stage", "Trigger", "Urgency"]


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
