"""What the dry run of a migration says about one ticket: a :class:`TicketPlan`.

:class:`~escalation_fsm.MigrationCheck` (:mod:`escalation_fsm.migration_check`) answers one per
ticket; stores gather them in a :class:`~escalation_fsm.stores.MigrationReport`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

__all__ = ["PlanStatus", "Subject", "TicketPlan"]

PlanStatus = Literal["clean", "breaks", "done", "skipped", "unreadable"]
"""``clean``: the ticket migrates; ``breaks``: its history breaks under the new spec; ``done``:
nothing to do (already under the target spec, or without history in a stage the new spec starts
from); ``skipped``: written under a spec this migration does not move; ``unreadable``: its stored
data does not decode (``reason`` says why)."""


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """What migrating one ticket would do.

    ``stage`` is where it is now, ``lands`` the stage the migration puts it in; for a ticket
    that ``breaks``, ``seq`` is the first history record the new spec refuses (``None``: the
    history as a whole, e.g. the tier it leads to), ``trigger`` its trigger and ``reason`` why.
    """

    ticket_id: str
    status: PlanStatus
    stage: str
    lands: str | None
    version: int
    fingerprint: str | None
    seq: int | None = None
    trigger: str | None = None
    reason: str | None = None

    @property
    def why(self) -> str:
        """The reason in a sentence, with the record it concerns."""
        where = f"record {self.seq} ({self.trigger!r}): " if self.seq is not None else ""
        return where + (self.reason or self.status)

    def as_record(self) -> dict[str, Any]:
        """The plan as JSON-ready data (one entry of ``escalation-fsm migrate --format json``)."""
        return {"ticket_id": self.ticket_id, "status": self.status, "stage": self.stage,
                "lands": self.lands, "version": self.version, "fingerprint": self.fingerprint,
                "seq": self.seq, "trigger": self.trigger, "reason": self.reason}


class Subject(NamedTuple):
    """The ticket a plan is about, as it is now (what the check reads before any replay)."""

    ticket_id: str
    stage: str
    tier: int
    version: int
    fingerprint: str | None
