"""Durable tickets behind one :class:`TicketStore` protocol.

* :class:`MemoryStore`: in-process, for tests and prototypes;
* :class:`SQLiteStore`: the embedded default, one file (standard library ``sqlite3``);
* :class:`PostgresStore`: many app servers sharing one PostgreSQL database (the ``postgres``
  extra: ``pip install 'escalation-fsm[postgres]'``; psycopg is imported only when it is used).

Every store applies triggers with optimistic concurrency (compare-and-swap on ``version``, bounded
retries on a fresh read), writes per transition only the new record and what it changed, keeps
each ticket's folded SLA clocks beside it, and chains every stored row to the one before with a
hash; it keeps the specs it has seen and moves tickets between versions of the procedure
(:meth:`StoreBase.migrate`). See :mod:`escalation_fsm.stores.base`, ``docs/stores.md``,
``docs/integrity.md`` and ``docs/versions.md``. Follow-up workers claim due SLA ladder steps
under leases and act on each once (:class:`FollowUpWorker`, ``docs/following-up.md``).
"""

from ..errors import (
    CommitOutcomeUnknown,
    ConcurrentUpdate,
    CorruptTicket,
    FollowUpSetupError,
    IdempotencyConflict,
    InconsistentTicket,
    InvalidArgument,
    LockTimeout,
    PostgresUnavailable,
    SLAPolicyMismatch,
    SpecMismatch,
    StaleTicket,
    StoreError,
    StoreReadOnly,
    TicketExists,
    TicketNotFound,
)
from ..typing import TicketStore
from ._follow_up import SYSTEM_ACTOR, Claim, StepOutcome
from ._histories import HistoryPage, HistoryStream
from ._history import TicketHistory
from ._reports import MigrationReport, SpecVersion
from ._types import StoreVerification, TicketList, TicketStream
from ._worker import FollowUpWorker, WorkerPass, WorkerTotals
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase, StoreStats, TicketFilter, index_key
from .memory import MemoryStore, MemoryTickets
from .postgres import PostgresStore
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "SYSTEM_ACTOR",
    "Claim",
    "CommitOutcomeUnknown",
    "ConcurrentUpdate",
    "CorruptTicket",
    "FollowUpSetupError",
    "FollowUpWorker",
    "HistoryPage",
    "HistoryStream",
    "IdempotencyConflict",
    "InconsistentTicket",
    "InvalidArgument",
    "LockTimeout",
    "MemoryStore",
    "MemoryTickets",
    "MigrationReport",
    "PostgresStore",
    "PostgresUnavailable",
    "SLAPolicyMismatch",
    "SQLiteStore",
    "SpecMismatch",
    "SpecVersion",
    "StaleTicket",
    "StepOutcome",
    "StoreBase",
    "StoreError",
    "StoreReadOnly",
    "StoreStats",
    "StoreVerification",
    "TicketExists",
    "TicketFilter",
    "TicketHistory",
    "TicketList",
    "TicketNotFound",
    "TicketStore",
    "TicketStream",
    "WorkerPass",
    "WorkerTotals",
    "index_key",
]
