"""Which ladder steps were acted on, as part of the clock fold (one record at a time).

A follow-up record (trigger :data:`~escalation_fsm.models.FOLLOW_UP_TRIGGER`) names the clock,
the run (its start, ISO 8601) and the step it acted on. The fold keeps those keys while their run
is open or is its clock's latest met run (a reopening resumes that run, whose steps were acted
on), and forgets them when a new run replaces it, so the set stays as small as the ladder and a
step already recorded is never due again (:mod:`escalation_fsm.sla.steps`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .clock_names import SLAClock

if TYPE_CHECKING:
    from ..models import AuditRecord
    from .fold import ClockRun

__all__ = ["Acted", "acted_after", "acted_key", "acted_of", "acted_text", "still_open"]

Acted = frozenset[tuple[SLAClock, datetime, str]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def acted_key(payload: Any) -> tuple[SLAClock, datetime, str] | None:
    """The (clock, run start, step) a follow-up record's payload names (``None``: it names none).

    :func:`escalation_fsm.integrity.verify_ticket` reports a follow-up record that names none.
    """
    try:
        clock = SLAClock(payload["clock"])
        run = datetime.fromisoformat(payload["run"])
        step = payload["step"]
    except (KeyError, TypeError, ValueError):
        return None
    if run.tzinfo is None or not isinstance(step, str):
        return None
    return clock, run.astimezone(UTC), step


def acted_after(acted: Acted, record: AuditRecord, runs: Iterable[ClockRun]) -> Acted:
    """``acted`` with the step ``record`` names, if its run is open."""
    key = acted_key(record.payload)
    if key is None or not any((run.clock, run.started_at) == key[:2] for run in runs):
        return acted
    return acted | {key}


def still_open(acted: Acted, runs: Iterable[ClockRun]) -> Acted:
    """The keys of ``acted`` whose run is among ``runs`` (the open ones and the latest met)."""
    if not acted:
        return acted
    open_runs = {(run.clock, run.started_at) for run in runs}
    kept = frozenset(key for key in acted if key[:2] in open_runs)
    return acted if len(kept) == len(acted) else kept


def acted_text(acted: Acted) -> str:
    """The ``"acted"`` member of the clock state's JSON (empty when none: older states match)."""
    if not acted:
        return ""
    items = sorted([clock.value, (start - _EPOCH) // _MICRO, step] for clock, start, step in acted)
    return ',"acted":' + json.dumps(items, separators=(",", ":"))


def acted_of(items: Iterable[Any]) -> Acted:
    """The set :func:`acted_text` wrote."""
    return frozenset((SLAClock(clock), _EPOCH + timedelta(microseconds=int(start)), str(step))
                     for clock, start, step in items)
