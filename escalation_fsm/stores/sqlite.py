"""The embedded default: tickets in one SQLite file (standard library ``sqlite3``).

WAL mode lets readers work while one writer commits; every write is an explicit
``BEGIN IMMEDIATE`` transaction (take the write lock up front, so that two writers never both
start and then deadlock upgrading a read lock). The ticket is read *before* the write lock is
taken and the version is compared inside it: reading inside the lock would serialise the whole
fire and the comparison could never fail, but the guards would run while other writers wait.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from os import PathLike
from typing import Any, Literal

from ..clock import Clock
from ..errors import CorruptTicket, StoreError, TicketExists, TicketNotFound
from ..machine import EscalationMachine
from ..models import AuditRecord, Ticket
from ._codec import SCHEMA_VERSION, SLA_POLICY_KEY, decode, encode_document, encode_record, utc_text
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase, TicketFilter

__all__ = ["SQLiteStore"]

# The SLA deadline index: only tickets with a running clock have an entry.
_DUE_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_due ON escalation_tickets "
              "(next_due_at, id) WHERE next_due_at IS NOT NULL")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS escalation_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS escalation_tickets (
        id TEXT PRIMARY KEY,
        stage TEXT NOT NULL,
        category TEXT,
        tier INTEGER NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 0),
        updated_at TEXT NOT NULL,
        document TEXT NOT NULL,
        next_due_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS escalation_history (
        ticket_id TEXT NOT NULL REFERENCES escalation_tickets (id),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        at TEXT NOT NULL,
        trigger TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (ticket_id, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS escalation_tickets_stage ON escalation_tickets (stage, updated_at)",
    "CREATE INDEX IF NOT EXISTS escalation_tickets_category ON escalation_tickets (category, updated_at)",
    "CREATE INDEX IF NOT EXISTS escalation_tickets_updated ON escalation_tickets (updated_at)",
    _DUE_INDEX,
    # The history is append-only: the database itself refuses to rewrite the audit trail.
    """CREATE TRIGGER IF NOT EXISTS escalation_history_no_update BEFORE UPDATE ON escalation_history
       BEGIN SELECT RAISE(ABORT, 'escalation_history is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS escalation_history_no_delete BEFORE DELETE ON escalation_history
       BEGIN SELECT RAISE(ABORT, 'escalation_history is append-only'); END""",
)

_TICKET_COLUMNS = "id, stage, version, document"


class SQLiteStore(StoreBase):
    """Tickets in a SQLite database file (or ``":memory:"``), safe for several processes.

    ``synchronous`` trades durability for speed: ``"FULL"`` (default) survives power loss,
    ``"NORMAL"`` survives a crashed process but may lose the last commits on power loss
    (about 3x the commit rate here). ``timeout`` is how long a writer waits for the lock.
    One store object may be shared by threads (its calls are serialised); each process opens its own.

    >>> from escalation_fsm import Category, Ticket
    >>> with SQLiteStore(":memory:") as store:
    ...     _ = store.create(Ticket(id="T-1", customer_id="C-1", category=Category.OTHER))
    ...     store.get("T-1").version
    0
    """

    def __init__(self, path: str | PathLike[str], *, machine: EscalationMachine | None = None,
                 clock: Clock | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL", timeout: float = 30.0) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            # isolation_level=None: the module starts no implicit transactions; we BEGIN ourselves.
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        try:
            self._open(synchronous, timeout)
        except BaseException:
            self._db.close()
            raise

    def _open(self, synchronous: str, timeout: float) -> None:
        with self._errors("open"):
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL").fetchone()
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            self._db.execute("PRAGMA foreign_keys = ON")
            if self._schema_version() is None:
                # BEGIN IMMEDIATE serialises processes opening a new file at the same moment.
                with self._transaction("BEGIN IMMEDIATE"):
                    if self._schema_version() is None:
                        for statement in _SCHEMA:
                            self._db.execute(statement)
                        self._db.execute("INSERT INTO escalation_meta VALUES ('schema_version', ?)",
                                         (str(SCHEMA_VERSION),))
                        self._db.execute("INSERT INTO escalation_meta VALUES (?, ?)",
                                         (SLA_POLICY_KEY, self.machine.sla.fingerprint))
            if self._schema_version() == 1:
                self._migrate_from_1()
            found = self._schema_version()
        if found != SCHEMA_VERSION:
            raise StoreError(f"SQLite database {self.path!r} has schema version {found}; this release "
                             f"reads version {SCHEMA_VERSION} (upgrade escalation-fsm to open it)")
        with self._errors("open"):
            indexed = self._db.execute("SELECT value FROM escalation_meta WHERE key = ?",
                                       (SLA_POLICY_KEY,)).fetchone()
        if indexed is None or indexed[0] != self.machine.sla.fingerprint:
            self._reindex()

    def _migrate_from_1(self) -> None:
        """Version 1 -> 2: add the deadline column and index (filled by the re-index after)."""
        with self._transaction("BEGIN IMMEDIATE"):
            if self._schema_version() == 1:  # another process may have migrated meanwhile
                self._db.execute("ALTER TABLE escalation_tickets ADD COLUMN next_due_at TEXT")
                self._db.execute(_DUE_INDEX)
                self._db.execute("UPDATE escalation_meta SET value = '2' WHERE key = 'schema_version'")

    def _schema_version(self) -> int | None:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'escalation_meta'").fetchone()
        if exists is None:
            return None
        row = self._db.execute(
            "SELECT value FROM escalation_meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()

    # -- transactions and errors ----------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str, ticket_id: str | None = None) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            subject = f"ticket {ticket_id!r}: " if ticket_id is not None else ""
            raise StoreError(f"{subject}SQLite {what} failed on {self.path!r}: "
                             f"{type(exc).__name__}: {exc}") from exc

    @contextmanager
    def _transaction(self, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
        self._db.execute(begin)
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may already have rolled back (disk full, ...)
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- primitives -------------------------------------------------------------------------------

    def _insert(self, ticket: Ticket, updated_at: datetime) -> None:
        due = _due_text(self._next_due_at(ticket))
        with self._lock, self._errors("create", ticket.id), self._transaction("BEGIN IMMEDIATE") as db:
            if db.execute("SELECT 1 FROM escalation_tickets WHERE id = ?", (ticket.id,)).fetchone():
                raise TicketExists(ticket.id)
            db.execute(
                "INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
                "document, next_due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket.id, ticket.stage, ticket.category, ticket.tier, ticket.version,
                 utc_text(updated_at), encode_document(ticket), due),
            )
            db.executemany(
                "INSERT INTO escalation_history (ticket_id, seq, at, trigger, record) VALUES (?, ?, ?, ?, ?)",
                [(ticket.id, r.seq, utc_text(r.at), r.trigger, encode_record(r)) for r in ticket.history],
            )

    def _load(self, ticket_id: str) -> Ticket:
        seen = self._seen(ticket_id)
        # One read transaction: the ticket row and its history come from the same snapshot.
        with self._lock, self._errors("read", ticket_id), self._transaction() as db:
            row = db.execute("SELECT id, stage, version, document FROM escalation_tickets WHERE id = ?",
                             (ticket_id,)).fetchone()
            if row is None:
                raise TicketNotFound(ticket_id)
            known = None if seen is None or seen[0].version > row[2] else seen[0]
            if seen is not None and (seen[0].version, seen[1]) == (row[2], row[3]):
                return seen[0]  # unchanged since this store last read or wrote it
            records = [r for (r,) in db.execute(
                "SELECT record FROM escalation_history WHERE ticket_id = ? AND seq > ? ORDER BY seq",
                (ticket_id, 0 if known is None else known.version))]
        ticket = decode(ticket_id, row[1:], records, () if known is None else known.history)
        return self._remember(ticket, row[3])

    def _swap(self, expected_version: int, new: Ticket, updated_at: datetime) -> bool:
        record = new.history[-1]
        document = encode_document(new)
        due = _due_text(self._next_due_at(new))  # computed before the write lock is taken
        with self._lock, self._errors("write", new.id), self._transaction("BEGIN IMMEDIATE") as db:
            swapped = db.execute(
                "UPDATE escalation_tickets SET stage = ?, category = ?, tier = ?, version = ?, "
                "updated_at = ?, document = ?, next_due_at = ? WHERE id = ? AND version = ?",
                (new.stage, new.category, new.tier, new.version, utc_text(updated_at), document,
                 due, new.id, expected_version),
            ).rowcount
            if swapped != 1:
                return False  # another writer moved the version on: nothing was changed
            self._append(db, new.id, record)
        self._remember(new, document)
        return True

    def _append(self, db: sqlite3.Connection, ticket_id: str, record: AuditRecord) -> None:
        """Insert one history row (inside the caller's transaction)."""
        db.execute("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (ticket_id, record.seq, utc_text(record.at), record.trigger, encode_record(record)))

    def _many(self, sql: str, params: Sequence[Any]) -> list[Ticket]:
        """Tickets selected by ``sql`` (columns as ``_TICKET_COLUMNS``) with their histories."""
        with self._lock, self._errors("read"), self._transaction() as db:
            rows = db.execute(sql, params).fetchall()
            histories: dict[str, list[str]] = {row[0]: [] for row in rows}
            ids = list(histories)
            for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                for ticket_id, record in db.execute(
                        f"SELECT ticket_id, record FROM escalation_history "  # noqa: S608 (only '?' marks)
                        f"WHERE ticket_id IN ({marks}) ORDER BY ticket_id, seq", chunk):
                    histories[ticket_id].append(record)
        return [decode(row[0], row[1:], histories[row[0]]) for row in rows]

    def _query(self, where: TicketFilter, limit: int | None) -> list[Ticket]:
        clauses, params = ["1 = 1"], []
        for column, op, value in (("stage", "=", where.stage), ("category", "=", where.category),
                                  ("tier", "=", where.tier),
                                  ("updated_at", "<", where.updated_before),
                                  ("updated_at", ">=", where.updated_since)):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(utc_text(value) if isinstance(value, datetime) else value)
        sql = (f"SELECT {_TICKET_COLUMNS} FROM escalation_tickets "  # noqa: S608 (fixed column names)
               f"WHERE {' AND '.join(clauses)} ORDER BY updated_at, id")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._many(sql, params)

    def _page(self, after: str | None, size: int) -> list[Ticket]:
        return self._many(f"SELECT {_TICKET_COLUMNS} FROM escalation_tickets "  # noqa: S608
                          "WHERE id > ? ORDER BY id LIMIT ?", ("" if after is None else after, size))

    def _due(self, by: datetime, limit: int | None) -> list[Ticket]:
        # Served by the partial index escalation_tickets_due (tests check the query plan).
        sql = (f"SELECT {_TICKET_COLUMNS} FROM escalation_tickets "  # noqa: S608 (fixed column names)
               "WHERE next_due_at IS NOT NULL AND next_due_at <= ? ORDER BY next_due_at, id")
        params: list[Any] = [utc_text(by)]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._many(sql, params)

    def _reindex(self) -> int:
        """Recompute every ticket's next deadline in one write transaction (readers go on)."""
        with self._lock, self._errors("re-index"), self._transaction("BEGIN IMMEDIATE") as db:
            rows = db.execute("SELECT id, stage, version, document FROM escalation_tickets").fetchall()
            histories: dict[str, list[str]] = {row[0]: [] for row in rows}
            for ticket_id, record in db.execute(
                    "SELECT ticket_id, record FROM escalation_history ORDER BY ticket_id, seq"):
                histories[ticket_id].append(record)
            for row in rows:
                try:
                    due = _due_text(self._next_due_at(decode(row[0], row[1:], histories[row[0]])))
                except CorruptTicket:
                    due = None  # unreadable anyway: get() reports it; it is never listed as due
                db.execute("UPDATE escalation_tickets SET next_due_at = ? WHERE id = ?", (due, row[0]))
            db.execute("INSERT OR REPLACE INTO escalation_meta VALUES (?, ?)",
                       (SLA_POLICY_KEY, self.machine.sla.fingerprint))
        return len(rows)


def _due_text(when: datetime | None) -> str | None:
    return None if when is None else utc_text(when)
