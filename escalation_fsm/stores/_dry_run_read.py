"""What a migration's dry run reads: each ticket's row, its document and its history as texts.

:meth:`~escalation_fsm.stores.StoreBase.migrate` judges every stored ticket from its texts
(:meth:`~escalation_fsm.MigrationCheck.check_texts`), so the SQL stores read only what that
needs, a page of tickets at a time, in one read snapshot per page: the ticket's stage, version,
tier and spec, its document and the base version it was stored at, and its history records' JSON
joined by newlines in order (no changes, hashes or keys, no decoding), one string per ticket.
SQLite aggregates a page's history rows in one range scan of the history table's primary key
(and the records' sequence numbers with them: texts whose numbers are not exactly 1 to the
ticket's version, in order, are not used); PostgreSQL aggregates each ticket's records, ordered,
in the ticket query. A ticket the check cannot judge from its texts is read again in full and
decoded (:meth:`~escalation_fsm.stores.StoreBase.migrate` does that), so nothing here vouches for
the texts: a record that does not parse is reported by the decoding.
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
    records: str | None
    """The history records' texts joined by newlines, in order (``None``: the rows read are not
    the records 1 to ``version`` in order; decoding says what is wrong)."""


def texts_of(stored: StoredTicket) -> HistoryTexts:
    """The texts of a ticket read in full (the memory store's, and the generic way)."""
    seqs = ",".join(str(row.seq) for row in stored.rows)
    return HistoryTexts(stored.id, stored.stage, stored.version, stored.tier, stored.spec,
                        stored.base_version, stored.document,
                        _in_order(stored.version, seqs, "\n".join(row.record for row in stored.rows)))


_SEQS: dict[int, str] = {0: ""}


def _in_order(version: int, seqs: str | None, joined: str | None) -> str | None:
    """``joined`` if ``seqs`` (the rows' numbers, comma-separated) are 1 to ``version`` in order."""
    expected = _SEQS.get(version)
    if expected is None:
        expected = ",".join(str(seq) for seq in range(1, version + 1))
        if version <= 10_000:
            _SEQS[version] = expected
    return (joined or "") if (seqs or "") == expected else None


_COLUMNS = "t.id, t.stage, t.version, t.tier, t.spec, d.base_version, d.document"
_FROM = "escalation_tickets t LEFT JOIN escalation_documents d ON d.ticket_id = t.id"
_SQLITE_FIRST = f"SELECT {_COLUMNS} FROM {_FROM} ORDER BY t.id LIMIT ?"  # noqa: S608 (fixed names)
_SQLITE_NEXT = f"SELECT {_COLUMNS} FROM {_FROM} WHERE t.id > ? ORDER BY t.id LIMIT ?"  # noqa: S608
_SQLITE_HISTORY = ("SELECT ticket_id, group_concat(seq), group_concat(record, char(10)) "
                   "FROM escalation_history WHERE ticket_id BETWEEN ? AND ? GROUP BY ticket_id")
_PG_RECORDS = ("(SELECT string_agg(h.seq::text, ',' ORDER BY h.seq), "
               "string_agg(h.record::text, E'\\n' ORDER BY h.seq) "
               "FROM escalation_history h WHERE h.ticket_id = t.id) h (seqs, records) ON true")
_PG_COLUMNS = "t.id, t.stage, t.version, t.tier, t.spec, d.base_version, d.document::text"
_PG_FROM = f"{_FROM} LEFT JOIN LATERAL {_PG_RECORDS}"
_PG_FIRST = f"SELECT {_PG_COLUMNS}, h.seqs, h.records FROM {_PG_FROM} ORDER BY t.id LIMIT %s"  # noqa: S608
_PG_NEXT = (f"SELECT {_PG_COLUMNS}, h.seqs, h.records FROM {_PG_FROM} "  # noqa: S608 (fixed names)
            f"WHERE t.id > %s ORDER BY t.id LIMIT %s")


def sqlite_page(db: sqlite3.Connection, after: str | None, size: int) -> list[HistoryTexts]:
    """Up to ``size`` tickets with ids greater than ``after``, by id (call in a transaction)."""
    rows = (db.execute(_SQLITE_FIRST, (size,)) if after is None
            else db.execute(_SQLITE_NEXT, (after, size))).fetchall()
    if not rows:
        return []
    found = {ticket_id: (seqs, joined) for ticket_id, seqs, joined
             in db.execute(_SQLITE_HISTORY, (rows[0][0], rows[-1][0]))}
    none = (None, None)
    return [HistoryTexts._make((*row, _in_order(row[2], *found.get(row[0], none))))
            for row in rows]


def postgres_page(conn: Any, after: str | None, size: int) -> list[HistoryTexts]:
    """Up to ``size`` tickets with ids greater than ``after``, by id, in one statement."""
    rows = (conn.execute(_PG_FIRST, (size,)) if after is None
            else conn.execute(_PG_NEXT, (after, size))).fetchall()
    return [HistoryTexts._make((*row[:7], _in_order(row[2], row[7], row[8]))) for row in rows]


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
