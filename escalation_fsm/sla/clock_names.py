"""The SLA clocks by name (apart from the policy, so that the ladder's models can key on them)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SLAClock"]


class SLAClock(StrEnum):
    """The clocks an SLA policy runs on a ticket."""

    FIRST_RESPONSE = "first_response"
    """From opening until the ticket first leaves the stage it was opened in (the first attempt)."""
    TIER2_UPDATE = "tier2_update"
    """From an escalation until Tier 2's first update (or the resolution)."""
    CUSTOMER_UPDATE = "customer_update"
    """While escalated: from the escalation or the last customer update until the next one."""
    RESOLUTION = "resolution"
    """From opening until resolved (a reopened ticket's clock resumes where it stopped)."""
    PROMISED_RESPONSE = "promised_response"
    """From a notification with an ETA until the promised response (a Tier 2 update or resolution)."""

    @property
    def owed(self) -> str:
        """What is owed to the customer while this clock runs, for people reading a listing."""
        return _OWED[self]


_OWED = {
    SLAClock.FIRST_RESPONSE: "a first response",
    SLAClock.TIER2_UPDATE: "a Tier 2 response",
    SLAClock.CUSTOMER_UPDATE: "a customer update",
    SLAClock.RESOLUTION: "a resolution",
    SLAClock.PROMISED_RESPONSE: "the response promised with the ETA",
}
