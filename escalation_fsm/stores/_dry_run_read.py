"""What a migration's dry run reads: each ticket's row, its document and its history as texts.

:meth:`~escalation_fsm.stores.StoreBase.migrate` judges every stored ticket from its texts
(:meth:`~escalation_fsm.MigrationCheck.check_texts`), so the SQL stores read only what that
needs, a page of tickets at a time, in one read snapshot per page: the ticket's stage, version,
tier and spec, its document and the base version it was stored at, and its history records' JSON
in order (no changes, hashes or keys, no decoding). SQLite reads a page's history rows in one
range scan of the history table's primary key; PostgreSQL aggregates each ticket's records in the
ticket query. A ticket the check cannot judge from its texts is read again in full and decoded
(:meth:`~escalation_fsm.stores.StoreBase.migrate` does that), so nothing here vouches for the
texts: a record that does not parse is reported by the decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import sqlite3
    import threading

    from ._codec import StoredTicket

__all__ = ["HistoryTexts", "SQLHistoryTexts", "texts_of"]


class HistoryTexts(NamedTuple):
    """One stored ticket as the dry run reads it: row fields, document and record texts."""

    id: str
    stage: str
    version: int
    tier: int
    spec: str | None
    base_version: int | None
    document: str | None
    records: list[str]


def texts_of(stored: StoredTicket) -> HistoryTexts:
    """The texts of a ticket read in full (the memory store's, and the generic way)."""
    return HistoryTexts(stored.id, stored.stage, stored.version, stored.tier, stored.spec,
                        stored.base_version, stored.document, [row.record for row in stored.rows])


_COLUMNS = "t.id, t.stage, t.version, t.tier, t.spec, d.base_version, d.document"
_FROM = "escalation_tickets t LEFT JOIN escalation_documents d ON d.ticket_id = t.id"
_SQLITE_FIRST = f"SELECT {_COLUMNS} FROM {_FROM} ORDER BY t.id LIMIT ?"  # noqa: S608 (fixed names)
_SQLITE_NEXT = f"SELECT {_COLUMNS} FROM {_FROM} WHERE t.id > ? ORDER BY t.id LIMIT ?"  # noqa: S608
_SQLITE_HISTORY = ("SELECT ticket_id, record FROM escalation_history "
                   "WHERE ticket_id BETWEEN ? AND ? ORDER BY ticket_id, seq")
_PG_RECORDS = ("(SELECT coalesce(array_agg(h.record::text ORDER BY h.seq), '{}') "
               "FROM escalation_history h WHERE h.ticket_id = t.id)")
_PG_COLUMNS = "t.id, t.stage, t.version, t.tier, t.spec, d.base_version, d.document::text"
_PG_FIRST = f"SELECT {_PG_COLUMNS}, {_PG_RECORDS} FROM {_FROM} ORDER BY t.id LIMIT %s"  # noqa: S608
_PG_NEXT = (f"SELECT {_PG_COLUMNS}, {_PG_RECORDS} FROM {_FROM} "  # noqa: S608 (fixed names)
            f"WHERE t.id > %s ORDER BY t.id LIMIT %s")


def sqlite_page(db: sqlite3.Connection, after: str | None, size: int) -> list[HistoryTexts]:
    """Up to ``size`` tickets with ids greater than ``after``, by id (call in a transaction)."""
    rows = (db.execute(_SQLITE_FIRST, (size,)) if after is None
            else db.execute(_SQLITE_NEXT, (after, size))).fetchall()
    if not rows:
        return []
    texts: dict[str, list[str]] = {row[0]: [] for row in rows}
    current_id: str | None = None
    current: list[str] | None = None
    for ticket_id, record in db.execute(_SQLITE_HISTORY, (rows[0][0], rows[-1][0])):
        if ticket_id != current_id:
            current_id, current = ticket_id, texts.get(ticket_id)
        if current is not None:
            current.append(record)
    return [HistoryTexts._make((*row, texts[row[0]])) for row in rows]


def postgres_page(conn: Any, after: str | None, size: int) -> list[HistoryTexts]:
    """Up to ``size`` tickets with ids greater than ``after``, by id, in one statement."""
    rows = (conn.execute(_PG_FIRST, (size,)) if after is None
            else conn.execute(_PG_NEXT, (after, size))).fetchall()
    return [HistoryTexts._make(row) for row in rows]


class SQLHistoryTexts:
    """The dry run's read of :class:`~escalation_fsm.stores._sql.SQLStore` (both SQL stores).

    It uses what each store has: SQLite's lock, error mapping and read transaction, PostgreSQL's
    retrying read call and connection (told apart by the parameter placeholder).
    """

    _mark: str
    _lock: threading.Lock
    _conn: Any
    _transaction: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _errors: Callable[..., AbstractContextManager[None]]
    _call: Callable[..., Any]

    def _texts_page(self, after: str | None, size: int) -> list[HistoryTexts]:
        """Up to ``size`` tickets as the dry run reads them, ids greater than ``after``, by id."""
        if self._mark == "?":
            with self._lock, self._errors("read"), self._transaction() as db:
                return sqlite_page(db, after, size)
        found: list[HistoryTexts] = self._call("read", None,
                                               lambda: postgres_page(self._conn, after, size))
        return found
