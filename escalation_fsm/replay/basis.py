"""What a review report is about besides its cases: the spec, the SLA policy, the source."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..sla import SLAPolicy
from ..spec import MachineSpec
from .engine import Replayer
from .notes import ReadNotes
from .specs import NotObservable

__all__ = ["ReportBasis", "basis_of"]


@dataclass(frozen=True, slots=True)
class ReportBasis:
    """What a report is about besides its cases: the spec, the SLA policy, the source.

    A replay reads it from its :class:`Replayer` (:func:`basis_of`); a store review builds one
    (the histories are the spec's own, so nothing is unobservable and no rule can go unread).
    ``notes`` and ``never_fired`` are read when the report is made, after every case.
    """

    spec: MachineSpec
    replay_spec: MachineSpec
    sla: SLAPolicy | None
    source: str
    not_observable: tuple[NotObservable, ...] = ()
    order_column: str = ""
    notes: Callable[[], ReadNotes] = ReadNotes
    never_fired: Callable[[], Iterable[str]] = tuple


def basis_of(replayer: Replayer) -> ReportBasis:
    """The basis of a replay's report."""
    columns = replayer.mapping.columns
    return ReportBasis(spec=replayer.spec, replay_spec=replayer.replay_spec, sla=replayer.sla,
                       source=replayer.mapping.source, not_observable=replayer.not_observable,
                       order_column=columns.order or columns.timestamp,
                       notes=lambda: replayer.plan.notes, never_fired=replayer.plan.never_fired)
