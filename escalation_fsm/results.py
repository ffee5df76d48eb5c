"""What the machine returns besides tickets: a transition not yet committed, and a dry run.

:class:`TransitionResult` is phase one of a transition (:meth:`EscalationMachine.transition
<escalation_fsm.EscalationMachine.transition>`); :class:`Explanation` answers
:meth:`EscalationMachine.explain <escalation_fsm.EscalationMachine.explain>`. Both are re-exported
by :mod:`escalation_fsm` and :mod:`escalation_fsm.machine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .hooks import TransitionEvent
from .models import AuditRecord, Ticket

__all__ = ["Explanation", "TransitionResult"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """The outcome of a dry run: would this trigger succeed now, and every reason if not.

    ``error`` names the exception ``fire`` would raise (``None`` when ``ok``); ``failed_guards``
    names the guards that said no (for a ``TransitionRefused``).
    """

    trigger: str
    stage: str
    ok: bool
    dest: str | None
    reasons: tuple[str, ...]
    error: str | None = None
    failed_guards: tuple[str, ...] = ()


class TransitionResult(NamedTuple):
    """What :meth:`EscalationMachine.transition` computed, not yet committed anywhere.

    ``ticket`` is the new ticket, ``before`` the one it came from (unchanged), ``record`` the
    audit record appended to the history, and ``event`` the pending after/enter-hook event
    (``None`` when the machine has no hooks). Pass it to
    :meth:`EscalationMachine.run_after_hooks` once the new ticket is durable.
    """

    ticket: Ticket
    before: Ticket
    record: AuditRecord
    event: TransitionEvent | None
