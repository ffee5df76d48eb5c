"""Durable tickets behind one :class:`TicketStore` protocol.

* :class:`MemoryStore`: in-process, for tests and prototypes;
* :class:`SQLiteStore`: the embedded default, one file (standard library ``sqlite3``);
* :class:`PostgresStore`: many app servers sharing one PostgreSQL database (the ``postgres``
  extra: ``pip install 'escalation-fsm[postgres]'``; psycopg is imported only when it is used).

Every store applies triggers with optimistic concurrency (compare-and-swap on ``version``, bounded
retries on a fresh read); see :mod:`escalation_fsm.stores.base` and ``docs/stores.md``.
"""

from ..errors import ConcurrentUpdate, CorruptTicket, StoreError, TicketExists, TicketNotFound
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase, StoreStats, TicketFilter, TicketStore
from .memory import MemoryStore
from .postgres import PostgresStore
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ConcurrentUpdate",
    "CorruptTicket",
    "MemoryStore",
    "PostgresStore",
    "SQLiteStore",
    "StoreBase",
    "StoreError",
    "StoreStats",
    "TicketExists",
    "TicketFilter",
    "TicketNotFound",
    "TicketStore",
]
