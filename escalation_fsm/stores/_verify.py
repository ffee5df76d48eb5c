"""What ``store.verify()`` checks of one stored ticket: chain, row, document, history, spec.

Each check reports an :class:`~escalation_fsm.integrity.IntegrityProblem` instead of raising, so
that one report lists every ticket changed outside the library, each with the first history row
that does not match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CorruptTicket
from ..identity import short
from ..integrity import IntegrityProblem, verify_ticket
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState, clock_state
from ._chain import genesis, link
from ._codec import StoredTicket, decode, utc_text

if TYPE_CHECKING:
    from ..typing import SpecShape

__all__ = ["check_stored"]


def check_stored(stored: StoredTicket, machine: EscalationMachine,
                 live: Ticket | None = None) -> list[IntegrityProblem]:
    """Every problem of one stored ticket (``live``: the object a memory store serves for it).

    Its history is checked against the spec that wrote it (as the store recorded it; the
    machine's for records of unknown spec).
    """
    problems = _chain_problems(stored)
    try:
        ticket = decode(stored)[0]
    except CorruptTicket as exc:
        if not problems:  # a broken chain already says why the rest does not decode
            problems.append(IntegrityProblem(stored.id, exc.seq, "decode", exc.reason))
        return problems
    found = ticket.spec_fingerprint
    shape: SpecShape = machine.spec
    if found is not None and found != machine.fingerprint:
        known = machine.versions.known.get(found)
        if known is None:
            problems.append(IntegrityProblem(stored.id, ticket.version, "spec", (
                f"its last record was written under spec {short(found)}, which the store did not "
                f"record")))
        else:
            shape = known
    problems.extend(verify_ticket(ticket, shape))
    problems.extend(_row_problems(stored, ticket, machine))
    if live is not None and live != ticket:
        problems.append(IntegrityProblem(stored.id, None, "row", "the ticket the store serves "
                                         "differs from the one its stored history makes"))
    return problems


def _chain_problems(stored: StoredTicket) -> list[IntegrityProblem]:
    """The document's hash and the first history row whose hash does not follow (if any)."""
    problems = []
    if stored.document is None or stored.base_version is None:
        return [IntegrityProblem(stored.id, None, "document", "its document is missing")]
    if genesis(stored.id, stored.base_version, stored.document) != stored.doc_hash:
        problems.append(IntegrityProblem(stored.id, None, "document", "its document does not match "
                                         "its hash: it was changed outside the library"))
    # Each row against the stored hash before it: a changed row is found where it is, not at
    # the document (whose hash every later one depends on).
    previous = stored.doc_hash or ""
    for position, row in enumerate(stored.rows, start=1):
        if row.seq != position:
            problems.append(IntegrityProblem(stored.id, position, "sequence", (
                f"history row {position} is missing (the next stored row is {row.seq}): rows were "
                f"removed outside the library")))
            break
        if link(previous, row.record, row.changes, row.key) != row.hash:
            problems.append(IntegrityProblem(stored.id, row.seq, "hash", (
                f"history row {row.seq} does not match its hash: it was changed (or inserted) "
                f"outside the library")))
            break
        previous = row.hash or ""
    if stored.version != len(stored.rows) and not problems:
        problems.append(IntegrityProblem(stored.id, None, "row", (
            f"the row says version {stored.version}, but {len(stored.rows)} history rows are "
            f"stored")))
    return problems


def _row_problems(stored: StoredTicket, ticket: Ticket,
                  machine: EscalationMachine) -> list[IntegrityProblem]:
    """The row's last update, clock state and indexed deadline against what the history says."""
    problems = []
    if ticket.history and stored.updated_at != utc_text(ticket.history[-1].at):
        problems.append(IntegrityProblem(stored.id, None, "row", (
            f"the row's last update {stored.updated_at} is not the time of its last history record "
            f"({utc_text(ticket.history[-1].at)})")))
    clocks = clock_state(ticket, machine.sla, machine.spec)
    if stored.clocks is not None and ClockState.from_json(stored.clocks) != clocks:
        problems.append(IntegrityProblem(stored.id, None, "clocks", (
            "the row's SLA clock state is not the one its history folds to (re-index to rebuild "
            "it, if the policy changed)")))
    due = clocks.next_due_at(machine.sla, ticket.priority)
    if stored.next_due_at != (None if due is None else utc_text(due)):
        problems.append(IntegrityProblem(stored.id, None, "clocks", (
            f"the row's indexed next deadline {stored.next_due_at} is not the one its history "
            f"gives ({None if due is None else utc_text(due)})")))
    return problems
