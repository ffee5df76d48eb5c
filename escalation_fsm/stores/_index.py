"""The machine a store fires through, and the SLA deadline index it keeps for it.

The index belongs to one SLA policy and to what the spec's triggers mean to the clocks, both
recorded in the store. Opening it with another policy raises
:class:`~escalation_fsm.errors.SLAPolicyMismatch`; a spec that only *adds* triggers (and keeps what
the recorded ones mean, as a new version with a Tier 3 does) uses the index as it is, since no
folded record reads differently. :meth:`SLAIndex.reindex` is the explicit way to rebuild it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from datetime import datetime
from typing import NoReturn

from ..clock import Clock
from ..errors import SLAPolicyMismatch, StoreReadOnly
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState, SLAPolicy, clock_state
from ._codec import INDEX_KEY, MEANING_KEY, POLICY_KEY
from ._types import Known, index_key, index_meaning, meaning_extends

__all__ = ["SLAIndex"]


class SLAIndex(ABC):
    """The machine half of :class:`~escalation_fsm.stores.StoreBase` (see its docstring)."""

    readonly: bool
    _machine: EscalationMachine | None
    _clock: Clock | None
    _known: OrderedDict[str, Known]
    _known_lock: threading.Lock

    _recorded_index: str | None = None

    @property
    def machine(self) -> EscalationMachine:
        """The machine triggers are fired through (built on first use when none was given)."""
        if self._machine is None:
            machine = EscalationMachine(sla=self.recorded_policy())
            # The recorded policy, but the default procedure's marks: if the index was built for
            # a spec whose triggers mean something else, folding with these would be wrong.
            self._index_fits(machine, f"{self._where()} (opened without a machine, so with the "
                                      f"default procedure)")
            self._machine = machine
        return self._machine

    @property
    def clock(self) -> Clock:
        """What stamps tickets created without history (default: the machine's clock)."""
        return self.machine.clock if self._clock is None else self._clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self._clock = value

    def recorded_policy(self) -> SLAPolicy | None:
        """The SLA policy the store's deadline index was built with (``None``: not recorded)."""
        text = self._meta_value(POLICY_KEY)
        return None if text is None else SLAPolicy.model_validate_json(text)

    def _check_index(self, recorded: str | None, where: str) -> bool:
        """Whether the index must be written for a new store; raise if it belongs to another policy.

        Called by subclasses when opening. A store opened without a machine adopts the recorded
        policy; one opened with a machine must match it (or only add triggers to its spec).
        """
        self._recorded_index = recorded
        if recorded is None:
            return True
        if self._machine is not None:
            self._index_fits(self._machine, where)
        return False

    def _index_fits(self, machine: EscalationMachine, where: str) -> None:
        recorded = self._recorded_index
        current = index_key(machine.sla, machine.spec)
        if recorded is None or current == recorded:
            return
        same_policy = recorded.rsplit("-", 1)[0] == machine.sla.fingerprint
        if not (same_policy and meaning_extends(self._meta_value(MEANING_KEY), machine.spec)):
            raise SLAPolicyMismatch(where=where, recorded=recorded, current=current)

    def _index_meta(self) -> tuple[tuple[str, str], ...]:
        """The meta keys and values to record with an index built for the store's machine."""
        machine = self.machine
        return ((INDEX_KEY, index_key(machine.sla, machine.spec)),
                (POLICY_KEY, machine.sla.model_dump_json()),
                (MEANING_KEY, index_meaning(machine.spec)))

    def reindex(self, machine: EscalationMachine | None = None) -> int:
        """Rebuild every ticket's clock state and indexed deadline under ``machine``'s policy.

        The explicit way to move a store to another SLA policy (or trigger meaning): open the
        store without a machine, then ``store.reindex(EscalationMachine(sla=new_policy))``. It
        folds every history again, records the new policy, makes ``machine`` the store's machine
        (default: keep the current one) and returns how many tickets were re-indexed. Unreadable
        rows are left out of the index (``get`` reports them).
        """
        if self.readonly:
            self._refuse("re-index the SLA deadlines")
        if machine is not None:
            self._machine = machine
        with self._known_lock:
            self._known.clear()
        return self._reindex()

    def _fold(self, ticket: Ticket) -> tuple[ClockState, datetime | None]:
        """A ticket's clock state from its whole history, and its next deadline (re-indexing)."""
        machine = self.machine
        clocks = clock_state(ticket, machine.sla, machine.spec)
        return clocks, self._due_of(ticket, clocks)

    def _due_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None:
        """The value indexed for ``ticket``: it depends on its history and the policy only."""
        return clocks.next_due_at(self.machine.sla, ticket.priority)

    def _refuse(self, what: str) -> NoReturn:
        raise StoreReadOnly(what, self._where())

    def _where(self) -> str:
        return type(self).__name__

    @abstractmethod
    def _meta_value(self, key: str) -> str | None:
        """A value of the store's meta table (``None``: not recorded)."""

    @abstractmethod
    def _reindex(self) -> int:
        """Fold every ticket's clocks again, index them, and record the machine's policy."""
