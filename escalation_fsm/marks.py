"""What a trigger *means* to the procedure: a small, closed vocabulary of marks.

A spec names its triggers however the helpdesk likes (``escalate``, ``to_tier2``,
``hand_to_engineering``); what the library does with them is read from their marks, never from
their names. SLA clocks, replay figures, the observable projection of a log, diagrams and the
testing toolkit all ask "which triggers escalate?" rather than "is this trigger called escalate?",
so a renamed or extended procedure behaves exactly like the default one.

A trigger may carry several marks (a follow-up is both a Tier 2 update and a customer update) or
none (``classify``, ``wait``: the library gives them no special meaning). The marks the machine
itself acts on are :attr:`Mark.ESCALATE`, :attr:`Mark.DE_ESCALATE` and :attr:`Mark.REOPEN`: they
change the ticket's ``tier`` (and tags), so no effect can forget to.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Mark", "review_tag"]


class Mark(StrEnum):
    """The meanings a trigger can carry. See each member for what the library does with it."""

    ATTEMPT = "attempt"
    """Starts first-contact work on an identified issue. At most one trigger of a spec has it."""
    STEP = "step"
    """Records a resolution step taken or a knowledge-base resource used."""
    ESCALATE = "escalate"
    """Hands the ticket one tier up. The machine raises ``tier`` by one and tags the ticket
    ``tier<N>-review``; SLA: starts the Tier 2 update clock and the customer-update cadence."""
    DE_ESCALATE = "de_escalate"
    """Hands the ticket one tier down: the machine lowers ``tier`` by one (never below 1)."""
    PROMISE = "promise"
    """Tells the customer when to expect a response: the payload's ``eta`` (a duration, when
    given) starts the promised-response clock. The payload model must have an ``eta`` field."""
    CUSTOMER_UPDATE = "customer_update"
    """Communicates with the customer about the escalation: meets the customer-update cadence
    and starts its next period."""
    TIER_UPDATE = "tier_update"
    """Records news from the tier handling the escalation: meets the Tier 2 update clock and any
    promised response."""
    RESOLVE = "resolve"
    """Documents the solution: meets the resolution clock and ends every escalation clock."""
    REQUEST_FEEDBACK = "request_feedback"
    """Asks the customer to rate the resolution."""
    RECORD_FEEDBACK = "record_feedback"
    """Records the customer's rating and comment."""
    REOPEN = "reopen"
    """The problem is back: the ticket returns to first-contact work, so the machine sets
    ``tier`` back to 1; SLA: the resolution clock resumes where it stopped."""
    INTERACTION = "interaction"
    """Documents a contact with the customer (a call, an email, a chat): its payload has a
    ``direction`` (``inbound`` or ``outbound``) and it never changes the stage. SLA, as the
    policy's ``interactions`` rules say: an outbound one can count as a customer update, an
    inbound one can restart the update cadence."""

    @property
    def meaning(self) -> str:
        """One sentence for people: what the mark says about a trigger (docs, diagrams)."""
        return _MEANINGS[self]


_MEANINGS = {
    Mark.ATTEMPT: "starts first-contact work",
    Mark.STEP: "records a resolution step",
    Mark.ESCALATE: "escalates one tier",
    Mark.DE_ESCALATE: "de-escalates one tier",
    Mark.PROMISE: "promises the customer a response time",
    Mark.CUSTOMER_UPDATE: "updates the customer",
    Mark.TIER_UPDATE: "records a Tier 2 update",
    Mark.RESOLVE: "resolves",
    Mark.REQUEST_FEEDBACK: "requests feedback",
    Mark.RECORD_FEEDBACK: "records feedback",
    Mark.REOPEN: "reopens",
    Mark.INTERACTION: "records a customer interaction",
}


def review_tag(tier: int) -> str:
    """The tag an escalation to ``tier`` puts on a ticket: ``tier2-review`` for Tier 2."""
    return f"tier{tier}-review"
