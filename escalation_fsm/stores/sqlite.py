"""The embedded default: tickets in one SQLite file (standard library ``sqlite3``).

WAL mode lets readers work while one writer commits; every write is an explicit
``BEGIN IMMEDIATE`` transaction (take the write lock up front, so that two writers never both
start and then deadlock upgrading a read lock). A save compares the version inside the write lock
against the ticket it was computed from, which the store read before (or remembers from its own
last write): reading inside the lock would serialise the whole fire, guards included.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from ..clock import Clock
from ..errors import CorruptTicket, LockTimeout, StoreError, TicketExists
from ..identity import SpecDescription
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import ClockState
from ._codec import (
    INDEX_KEY,
    SCHEMA_VERSION,
    Sealed,
    StoredRecord,
    StoredTicket,
    changed_columns,
    decode,
    utc_text,
)
from ._digest import DigestRow
from ._history import HistoryRow
from ._history_sql import sqlite_digest_rows, sqlite_history_rows
from ._schema import SQLITE_MIGRATIONS, SQLITE_SCHEMA
from ._sql import SQLStore
from ._sqlite_follow_up import SQLiteFollowUps
from ._sqlite_schema import check_version, meta, retry_locked, schema_version
from ._types import KeyTaken, Row, Write
from .base import DEFAULT_MAX_ATTEMPTS

__all__ = ["SQLiteStore"]

_TICKET_COLUMNS = ("t.id, t.stage, t.version, t.category, t.tier, d.document, d.base_version, "
                   "d.hash, t.clocks, t.updated_at, t.next_due_at, t.spec")
# A left join: a ticket row without its document is corrupt, never silently left out.
_TICKETS = "escalation_tickets t LEFT JOIN escalation_documents d ON d.ticket_id = t.id"


class SQLiteStore(SQLiteFollowUps, SQLStore):
    """Tickets in a SQLite database file (or ``":memory:"``), safe for several processes.

    ``synchronous`` trades durability for speed: ``"FULL"`` (default) survives power loss,
    ``"NORMAL"`` survives a crashed process but may lose the last commits on power loss
    (about 3x the commit rate here). ``timeout`` is how long a writer waits for the lock.
    ``readonly`` opens the file without ever writing to it (listings, reports): no schema is
    created or migrated and every write raises :class:`~escalation_fsm.errors.StoreReadOnly`. It
    reads a file this process cannot write, in a folder it cannot write (a read-only mount, an
    archive): SQLite then reads the file as it is, since no writer can be at work on it.
    A writer that waits longer than ``timeout`` for the lock gets
    :class:`~escalation_fsm.errors.LockTimeout` (retryable; nothing was written).
    One store object may be shared by threads (its calls are serialised); each process opens its own.

    >>> from escalation_fsm import Category, Ticket
    >>> with SQLiteStore(":memory:") as store:
    ...     _ = store.create(Ticket(id="T-1", customer_id="C-1", category=Category.OTHER))
    ...     store.get("T-1").version
    0
    """

    def __init__(self, path: str | PathLike[str], *, machine: EscalationMachine | None = None,
                 clock: Clock | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL", timeout: float = 30.0,
                 readonly: bool = False) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts, readonly=readonly)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = str(path)
        self._lock = threading.Lock()
        if readonly and self.path != ":memory:" and not Path(self.path).is_file():
            raise StoreError(f"no SQLite database at {self.path!r} to open read-only")
        self._db = self._connect(timeout, "?mode=ro" if readonly else None)
        try:
            self._open(synchronous, timeout)
        except StoreError as exc:
            self._db.close()
            if not readonly and _cannot_share(exc):
                raise StoreError(f"cannot open SQLite database {self.path!r} for writing: "
                                 f"{exc.__cause__} (if the file or its folder is read-only, open "
                                 f"it with readonly=True to read it)") from exc.__cause__
            if not (readonly and _cannot_share(exc) and self._unshared()):
                raise
            # A WAL database on a medium this process cannot write (a read-only mount or folder)
            # has no shared-memory file and cannot get one: then no writer can be at work either,
            # and SQLite may read the file as it is.
            self._db = self._connect(timeout, "?mode=ro&immutable=1")
            try:
                self._open(synchronous, timeout)
            except BaseException:
                self._db.close()
                raise
        except BaseException:
            self._db.close()
            raise

    def _connect(self, timeout: float, query: str | None) -> sqlite3.Connection:
        """A connection to the file (``query``: URI parameters), in autocommit mode."""
        try:
            # isolation_level=None: the module starts no implicit transactions; we BEGIN ourselves.
            if query is None or self.path == ":memory:":
                return sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
            return sqlite3.connect(Path(self.path).resolve().as_uri() + query, timeout=timeout,
                                   isolation_level=None, check_same_thread=False, uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc

    def _unshared(self) -> bool:
        """Whether no other connection can be using the file: no write-ahead log, no shm file."""
        wal, shm = Path(self.path + "-wal"), Path(self.path + "-shm")
        return not shm.exists() and (not wal.exists() or wal.stat().st_size == 0)

    def _where(self) -> str:
        return f"SQLite database {self.path!r}"

    def _open(self, synchronous: str, timeout: float) -> None:
        with self._errors("open"):
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if self.readonly:
                check_version(self._schema_version(), self.path, readonly=self.readonly)
                self._check_index(self._meta(INDEX_KEY), self._where())
                return
            # A database this release cannot use is refused before anything is written to it.
            found = self._schema_version()
            if found is not None and found > SCHEMA_VERSION:
                check_version(found, self.path, readonly=self.readonly)
            retry_locked(lambda: self._db.execute("PRAGMA journal_mode = WAL").fetchone(),
                         timeout)
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            self._db.execute("PRAGMA foreign_keys = ON")
            if self._schema_version() is None:
                # BEGIN IMMEDIATE serialises processes opening a new file at the same moment.
                with self._transaction("BEGIN IMMEDIATE"):
                    if self._schema_version() is None:
                        for statement in SQLITE_SCHEMA:
                            self._db.execute(statement)
                        self._db.execute("INSERT INTO escalation_meta VALUES ('schema_version', ?)",
                                         (str(SCHEMA_VERSION),))
            migrated = self._migrate()
            check_version(self._schema_version(), self.path, readonly=self.readonly)
            if self._check_index(self._meta(INDEX_KEY), self._where()) or migrated:
                self._reindex()

    def _migrate(self) -> bool:
        """Bring an older schema up to this release's, one version at a time; whether it did."""
        migrated = False
        while (found := self._schema_version()) is not None and found in SQLITE_MIGRATIONS:
            with self._transaction("BEGIN IMMEDIATE"):
                if self._schema_version() == found:  # another process may have migrated meanwhile
                    for step in SQLITE_MIGRATIONS[found]:
                        if isinstance(step, str):
                            self._db.execute(step)
                        else:
                            step(self._db)
                    self._db.execute("UPDATE escalation_meta SET value = ? WHERE key = 'schema_version'",
                                     (str(found + 1),))
                    migrated = True
        return migrated

    def _schema_version(self) -> int | None:
        return schema_version(self._db, f"SQLite database {self.path!r}")

    def _meta(self, key: str) -> str | None:
        return meta(self._db, key)

    def _meta_value(self, key: str) -> str | None:
        with self._lock, self._errors("read"):
            return self._meta(key)

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
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                raise LockTimeout(what=f"{subject}SQLite {what}", where=repr(self.path),
                                  detail=str(exc)) from exc
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

    def _time(self, when: datetime) -> str:
        return utc_text(when)

    def _insert(self, ticket: Ticket, sealed: Sealed, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        with self._lock, self._errors("create", ticket.id), self._transaction("BEGIN IMMEDIATE") as db:
            if db.execute("SELECT 1 FROM escalation_tickets WHERE id = ?", (ticket.id,)).fetchone():
                raise TicketExists(ticket.id)
            db.execute(
                "INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
                "clocks, next_due_at, next_step_at, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket.id, ticket.stage, ticket.category, ticket.tier, ticket.version,
                 utc_text(updated_at), clocks.to_json(), _due_text(due),
                 _due_text(self._step_of(ticket, clocks)), ticket.spec_fingerprint),
            )
            db.execute("INSERT INTO escalation_documents (ticket_id, base_version, document, hash) "
                       "VALUES (?, ?, ?, ?)", (ticket.id, ticket.version, sealed.document,
                                               sealed.doc_hash))
            db.executemany(
                "INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(ticket.id, r.seq, utc_text(r.at), r.trigger, text, hash_)
                 for r, text, hash_ in sealed.records])

    def _select(self, where: str, params: list[Any], order: str, *, limit: int | None = None,
                after: int = 0) -> list[StoredTicket]:
        # One read transaction: the ticket rows and their history come from the same snapshot.
        with self._lock, self._errors("read", params[0] if where == "t.id = ?" else None), \
                self._transaction() as db:
            return self._fetch(db, where, params, order, limit=limit, after=after)

    @staticmethod
    def _fetch(db: sqlite3.Connection, where: str, params: list[Any], order: str, *,
               limit: int | None = None, after: int = 0) -> list[StoredTicket]:
        sql = (f"SELECT {_TICKET_COLUMNS} FROM {_TICKETS} "  # noqa: S608 (fixed column names)
               f"WHERE {where} ORDER BY {order}")
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        rows = db.execute(sql, params).fetchall()
        histories: dict[str, list[StoredRecord]] = {row[0]: [] for row in rows}
        ids = list(histories)
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for ticket_id, *history in db.execute(
                    f"SELECT ticket_id, seq, record, changes, idempotency_key, hash "  # noqa: S608
                    f"FROM escalation_history WHERE ticket_id IN ({marks}) AND seq > ? "
                    f"ORDER BY ticket_id, seq", [*chunk, after]):
                histories[ticket_id].append(StoredRecord(*history))
        return [StoredTicket._make((*row, histories[row[0]])) for row in rows]

    def _history_rows(self, after: str | None, size: int) -> list[HistoryRow]:
        with self._lock, self._errors("read"), self._transaction() as db:  # one snapshot
            return sqlite_history_rows(db, after, size)

    def _digest_rows(self, after: str | None, size: int,
                     asked: tuple[str, ...]) -> list[DigestRow] | None:
        with self._lock, self._errors("read"), self._transaction() as db:  # one snapshot
            return sqlite_digest_rows(db, after, size, asked)

    def _find_key(self, ticket_id: str, key: str) -> int | None:
        with self._lock, self._errors("read", ticket_id):
            row = self._db.execute("SELECT seq FROM escalation_history WHERE ticket_id = ? AND "
                                   "idempotency_key = ?", (ticket_id, key)).fetchone()
        return None if row is None else int(row[0])

    def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        record = write.record
        state, at = write.clocks.to_json(), utc_text(record.at)
        columns = changed_columns(current, new)
        values = [getattr(new, name) for name in columns]
        if write.due_moved:
            columns, values = (*columns, "next_due_at"), [*values, _due_text(write.due)]
        if write.step_moved:
            columns, values = (*columns, "next_step_at"), [*values, _due_text(write.step)]
        if new.spec_fingerprint != current.spec_fingerprint:
            columns, values = (*columns, "spec"), [*values, new.spec_fingerprint]
        try:
            with self._lock, self._errors("write", new.id), \
                    self._transaction("BEGIN IMMEDIATE") as db:
                swapped = db.execute(_update_sql(columns), (new.version, at, state, *values, new.id,
                                                            current.version)).rowcount
                if swapped != 1:
                    return False  # another writer moved the version on: nothing was changed
                for row in write.rows:
                    self._append(db, new.id, row)
        except StoreError as exc:
            if _key_taken(exc.__cause__):
                raise KeyTaken from exc
            raise
        return True

    @staticmethod
    def _append(db: sqlite3.Connection, ticket_id: str, row: Row) -> None:
        """Insert one history row with its patch, key and hash (in the caller's transaction)."""
        record = row.record
        db.execute("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, changes, "
                   "idempotency_key, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (ticket_id, record.seq, utc_text(record.at), record.trigger, row.text,
                    row.changes, row.key, row.hash))

    def _record_spec(self, description: SpecDescription, at: datetime) -> None:
        with self._lock, self._errors("write"), self._transaction("BEGIN IMMEDIATE") as db:
            db.execute("INSERT OR IGNORE INTO escalation_specs (fingerprint, name, version, "
                       "description, recorded_at) VALUES (?, ?, ?, ?, ?)",
                       (description.fingerprint, description.name, description.version,
                        description.model_dump_json(), utc_text(at)))

    def _spec_rows(self) -> list[tuple[str, str, str, str]]:
        with self._lock, self._errors("read"):
            return [tuple(row) for row in self._db.execute(
                "SELECT fingerprint, name, version, description FROM escalation_specs "
                "ORDER BY recorded_at, fingerprint")]

    def _spec_counts(self) -> list[tuple[str | None, bool, int]]:
        with self._lock, self._errors("read"):
            return [(spec, bool(history), int(count)) for spec, history, count in self._db.execute(
                "SELECT spec, version > 0, count(*) FROM escalation_tickets GROUP BY 1, 2")]

    def _reindex(self) -> int:
        """Fold every ticket's clocks again in one write transaction (readers go on)."""
        meta = self._index_meta()
        with self._lock, self._errors("re-index"), self._transaction("BEGIN IMMEDIATE") as db:
            rows = self._fetch(db, "TRUE", [], "t.id")
            for stored in rows:
                try:
                    ticket = decode(stored)[0]
                    clocks, due = self._fold(ticket)
                    state: str | None = clocks.to_json()
                    step = self._step_of(ticket, clocks)
                except CorruptTicket:
                    # Unreadable anyway: get() reports it; it is never listed as due.
                    state, due, step = None, None, None
                db.execute("UPDATE escalation_tickets SET clocks = ?, next_due_at = ?, "
                           "next_step_at = ? WHERE id = ?",
                           (state, _due_text(due), _due_text(step), stored.id))
            for key, value in meta:
                db.execute("INSERT OR REPLACE INTO escalation_meta VALUES (?, ?)", (key, value))
        return len(rows)


def _cannot_share(exc: StoreError) -> bool:
    """Whether opening failed because SQLite could not create the WAL's shared-memory file."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.OperationalError) and "unable to open" in str(cause)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite gave up waiting for a lock (the busy timeout ran out)."""
    text = str(exc)
    return "locked" in text or "busy" in text


def _key_taken(exc: BaseException | None) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) and "idempotency_key" in str(exc)


def _due_text(when: datetime | None) -> str | None:
    return None if when is None else utc_text(when)


_UPDATES: dict[tuple[str, ...], str] = {}


def _update_sql(columns: tuple[str, ...]) -> str:
    """The compare-and-swap setting version, update time, clocks and ``columns`` (fixed names)."""
    sql = _UPDATES.get(columns)
    if sql is None:
        sets = "".join(f", {name} = ?" for name in columns)
        sql = _UPDATES[columns] = (f"UPDATE escalation_tickets SET version = ?, updated_at = ?, "  # noqa: S608
                                   f"clocks = ?{sets} WHERE id = ? AND version = ?")
    return sql
