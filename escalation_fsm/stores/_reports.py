"""What a store says about versions: the specs it holds tickets of, and a migration's outcome."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from ..identity import SpecDescription, short
from ..migration_check import TicketPlan

__all__ = ["MigrationReport", "SpecVersion"]


@dataclass(frozen=True, slots=True)
class SpecVersion:
    """One version of the procedure a store holds tickets of (an entry of :meth:`specs`).

    ``kind`` is ``spec`` (a recorded spec: ``fingerprint``, ``name``, ``version`` and its
    ``description``, which can be shown and drawn without its code), ``unknown`` (tickets whose
    records were written before spec versions were recorded) or ``new`` (tickets without history,
    which any spec starting in their stage can take). ``tickets`` counts the tickets whose last
    record was written under it. ``problem`` says why a recorded description cannot be used.
    """

    kind: Literal["spec", "unknown", "new"]
    fingerprint: str | None
    name: str | None
    version: str | None
    tickets: int
    description: SpecDescription | None = None
    problem: str | None = None

    @property
    def label(self) -> str:
        """``name vX (1a2b3c4d5e6f)``, or what the entry stands for."""
        if self.kind == "unknown":
            return "unknown (written before spec versions were recorded)"
        if self.kind == "new":
            return "no history yet"
        if self.name is None:
            return f"unrecorded spec {short(self.fingerprint)}"
        return f"{self.name} v{self.version} ({short(self.fingerprint)})"

    def as_record(self) -> dict[str, Any]:
        """The entry as JSON-ready data (``escalation-fsm specs --format json``)."""
        return {"kind": self.kind, "fingerprint": self.fingerprint, "name": self.name,
                "version": self.version, "tickets": self.tickets, "problem": self.problem}


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :meth:`~escalation_fsm.stores.StoreBase.migrate` found, and did.

    ``plans`` holds one :class:`~escalation_fsm.TicketPlan` per ticket read, by id (the dry
    run's judgement). Applying writes one migration record per ``clean`` ticket: ``migrated``
    counts the records this call wrote, ``already`` the tickets it found moved meanwhile (a
    writer moved them on the way, or an earlier run did), and ``refused`` the plans of tickets
    that changed since the dry run and now break.
    """

    label: str
    source: str
    target: str
    dry_run: bool
    plans: tuple[TicketPlan, ...]
    migrated: int = 0
    already: int = 0
    refused: tuple[TicketPlan, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    """Plans by status (``clean``, ``breaks``, ``done``, ``skipped``, ``unreadable``)."""

    @classmethod
    def of(cls, label: str, source: str, target: str, *, dry_run: bool,
           plans: list[TicketPlan], **outcome: Any) -> MigrationReport:
        """A report with the status counts filled in."""
        counts: dict[str, int] = dict(Counter(str(plan.status) for plan in plans))
        return cls(label, source, target, dry_run, tuple(plans), counts=counts, **outcome)

    @property
    def ok(self) -> bool:
        """Whether every ticket of the source spec migrates (or was migrated) cleanly."""
        return not (self.counts.get("breaks") or self.counts.get("unreadable") or self.refused)

    def as_record(self) -> dict[str, Any]:
        """The report as JSON-ready data (``escalation-fsm migrate --format json``)."""
        return {"migration": self.label, "source": self.source, "target": self.target,
                "dry_run": self.dry_run, "counts": self.counts, "migrated": self.migrated,
                "already": self.already, "refused": [p.as_record() for p in self.refused],
                "notes": list(self.notes), "seconds": round(self.seconds, 3),
                "tickets": [plan.as_record() for plan in self.plans]}
