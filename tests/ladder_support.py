"""A helpdesk with an escalation ladder, shared by the follow-up tests and their worker processes.

The default procedure lets no ``system`` actor escalate, so :func:`ladder_spec` allows it (a
helpdesk that wants ladder escalations says so in its spec); :func:`ladder_policy` puts on the
resolution clock at normal urgency a notify step at 50%, a callback at 75%, an escalation at
the breach and an urgency raise an hour after it. Any spec works: :func:`ladder_spec` takes the
one to extend and finds the escalating transitions by their mark.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from store_support import open_store as opened

from escalation_fsm import (
    Category,
    EscalationMachine,
    MachineSpec,
    ManualClock,
    Mark,
    Role,
    Ticket,
    default_spec,
)
from escalation_fsm.sla import SLAPolicy
from escalation_fsm.stores import FollowUpWorker, StoreBase

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""Well past every step of a ticket opened on MONDAY (the manual clock's 'now' for workers)."""

ESCALATE_PAYLOAD = {"summary": "Resolution target breached: needs Tier 2",
                    "assessment": {"complexity": "high", "frustration": "high", "urgency": "high"}}

LADDER: dict[str, Any] = {"resolution": {"normal": [
    {"name": "half", "at": 0.5, "action": "notify", "role": "supervisor"},
    {"name": "three-quarters", "at": 0.75, "action": "callback", "callback": "page"},
    {"name": "breach", "at": 1.0, "action": "escalate", "payload": ESCALATE_PAYLOAD},
    {"name": "late", "offset": "PT1H", "action": "raise_urgency"},
]}}

FOLLOW_UP_STEPS = ("half", "three-quarters", "breach", "late")
"""Every step of LADDER: a ticket left alone records each once (the breach's escalation is
skipped from the stage a ticket is opened in, which has no escalating trigger)."""


def ladder_spec(spec: MachineSpec | None = None) -> MachineSpec:
    """``spec`` (default: the default procedure) with ``system`` allowed to escalate."""
    base = default_spec() if spec is None else spec
    return base.extend(transitions=[
        t.model_copy(update={"roles": t.roles | {Role.SYSTEM}}) for t in base.transitions
        if Mark.ESCALATE in base.marks_of(t.trigger)])


def ladder_policy(ladder: dict[str, Any] | None = None) -> SLAPolicy:
    """The default targets with ``ladder`` (default: :data:`LADDER`)."""
    return SLAPolicy.model_validate({"ladder": LADDER if ladder is None else ladder})


def ladder_desk(spec: MachineSpec | None = None, ladder: dict[str, Any] | None = None,
                ) -> tuple[EscalationMachine, ManualClock]:
    clock = ManualClock(MONDAY)
    return EscalationMachine(ladder_spec(spec), clock=clock, sla=ladder_policy(ladder)), clock


def new(ticket_id: str, opened: datetime = MONDAY, stage: str | None = None) -> Ticket:
    """A new ticket opened at ``opened``, in ``stage`` (default: the default procedure's first)."""
    extra = {} if stage is None else {"stage": stage}
    return Ticket(id=ticket_id, customer_id="C-1", category=Category.TECHNICAL,
                  details="Sync fails", opened_at=opened, **extra)


def noop(_ticket: Ticket, _step: object) -> None:
    """A notifier or callback that does nothing (the audit record is the proof)."""


def open_store(kind: str, target: str, machine: EscalationMachine) -> StoreBase:
    return opened(kind, target, machine)


def work(kind: str, target: str, worker_id: str, lease_seconds: float,
         by: datetime = LATER) -> dict[str, Any]:
    """A worker process: drain every step due by ``by``; what it saw recorded, by step key."""
    machine, _clock = ladder_desk()
    store = open_store(kind, target, machine)
    worker = FollowUpWorker(store, worker_id, notify=noop, callbacks={"page": noop},
                            lease=timedelta(seconds=lease_seconds), batch=20)
    recorded: list[tuple[str, str]] = []
    outcomes: dict[str, int] = {}
    while True:
        done = worker.run_once(by=by)
        if not done.claims:
            break
        for outcome in done.outcomes:
            outcomes[outcome.outcome] = outcomes.get(outcome.outcome, 0) + 1
            if outcome.recorded:
                recorded.append((outcome.claim.ticket_id, outcome.claim.step.key))
    store.close()
    return {"worker": worker_id, "recorded": recorded, "outcomes": outcomes}


def claim_and_die(kind: str, target: str, worker_id: str, lease_seconds: float,
                  ready_path: str) -> None:
    """A worker process that claims steps, says how many, and is SIGKILLed holding them."""
    machine, _clock = ladder_desk()
    store = open_store(kind, target, machine)
    claims = store.claim_due(worker_id, by=LATER, limit=50,
                             lease=timedelta(seconds=lease_seconds))
    Path(ready_path).write_text("\n".join(f"{c.ticket_id} {c.step.key}" for c in claims),
                                encoding="utf-8")
    time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
