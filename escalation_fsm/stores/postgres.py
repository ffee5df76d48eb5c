"""Tickets in PostgreSQL through psycopg 3, for many app servers sharing one database.

psycopg is an optional extra (``pip install 'escalation-fsm[postgres]'``) imported only when a
:class:`PostgresStore` is opened, so ``import escalation_fsm.stores`` works without it.

The compare-and-swap is one ``UPDATE ... WHERE id = %s AND version = %s`` under READ COMMITTED:
when two writers race, PostgreSQL makes the second wait for the first to commit and then
re-checks the ``WHERE`` against the new row, so exactly one of them matches. Reads are single
statements (the history is aggregated in a sub-select), so they see one snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..errors import CorruptTicket, StoreError, TicketExists, TicketNotFound
from ..machine import EscalationMachine
from ..models import AuditRecord, Ticket
from ..sla import ClockState
from ._codec import (
    INDEX_KEY,
    POLICY_KEY,
    SCHEMA_VERSION,
    changed_columns,
    decode,
    decode_clocks,
    encode_changes,
    encode_document,
    encode_record,
)
from ._schema import POSTGRES_MIGRATIONS, POSTGRES_SCHEMA
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase, TicketFilter

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_LOCK_KEY = 0x65736366  # pg_advisory_xact_lock key ("escf"): one schema creator at a time

# Each history row comes back as a [record, changes] pair, in order, inside one JSON array.
_HISTORY = ("(SELECT coalesce(json_agg(json_build_array(h.record, h.changes) ORDER BY h.seq), "
            "'[]')::text FROM escalation_history h WHERE h.ticket_id = t.id AND h.seq > %s)")

_COLUMNS = "t.id, t.stage, t.version, d.document::text, d.base_version, t.clocks::text"
# A left join: a ticket row without its document is corrupt, never silently left out.
_TICKETS = "escalation_tickets t LEFT JOIN escalation_documents d ON d.ticket_id = t.id"

# Reading a ticket the store has seen: only the history rows after the ones it already has.
_SELECT_ONE = f"SELECT {_COLUMNS}, {_HISTORY} FROM {_TICKETS} WHERE t.id = %s"  # noqa: S608

_SELECT = f"SELECT {_COLUMNS}, {_HISTORY.replace('%s', '0')} FROM {_TICKETS}"  # noqa: S608


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 (optional dependency, imported on first use)
    except ImportError as exc:
        raise ImportError(
            "PostgresStore needs psycopg 3, which is an optional extra: "
            "pip install 'escalation-fsm[postgres]'"
        ) from exc
    return psycopg


class PostgresStore(StoreBase):
    """Tickets in a PostgreSQL database given by ``dsn`` (a libpq connection string or URL).

    Each store holds one connection; open one store per process or thread. The tables are
    created on first open (in the connection's ``search_path``, so a DSN with
    ``options=-csearch_path=...`` keeps them in a schema of your choice). ``readonly`` opens a
    read-only session that creates, migrates and writes nothing.
    """

    def __init__(self, dsn: str, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, connect_timeout: int = 10,
                 readonly: bool = False) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts, readonly=readonly)
        self._pg = _psycopg()
        try:
            # autocommit: every transaction below is an explicit `with conn.transaction()`.
            self._conn: psycopg.Connection[tuple[Any, ...]] = self._pg.connect(
                dsn, autocommit=True, connect_timeout=connect_timeout)
            if readonly:
                # A session setting, not connect(options=...): that would replace the DSN's own
                # options (a search_path, say).
                self._conn.execute("SET default_transaction_read_only = on")
        except self._pg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _where(self) -> str:
        return "the PostgreSQL database"

    def _open(self) -> None:
        with self._errors("open"):
            found = self._schema_version()
            if found is None and not self.readonly:
                with self._conn.transaction():
                    # Serialise concurrent first opens: CREATE ... IF NOT EXISTS alone is not safe
                    # against another process creating the same table at the same moment. The
                    # DDL is idempotent and runs even if the other process just finished it: a
                    # re-check here can miss its tables (stale catalog snapshot, seen in tests).
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    self._conn.execute(POSTGRES_SCHEMA)
                    self._conn.execute(
                        "INSERT INTO escalation_meta VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
                    found = self._schema_version()
            migrated = False
            while not self.readonly and found in POSTGRES_MIGRATIONS:
                found, migrated = self._migrate(found), True
            recorded = self._meta(INDEX_KEY) if found == SCHEMA_VERSION else None
        if found is None:
            raise StoreError("the PostgreSQL database has no escalation_fsm tables to read")
        if found != SCHEMA_VERSION:
            hint = (" (open it once writable to upgrade it)" if self.readonly
                    and found < SCHEMA_VERSION else " (upgrade escalation-fsm to open it)")
            raise StoreError(f"PostgreSQL database has schema version {found}; this release reads "
                             f"version {SCHEMA_VERSION}{hint}")
        if (self._check_index(recorded, self._where()) or migrated) and not self.readonly:
            self._reindex()

    def _migrate(self, found: int) -> int | None:
        """One schema version up (under the schema lock; another process may have done it)."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if self._schema_version() == found:
                for statement in POSTGRES_MIGRATIONS[found]:
                    self._conn.execute(statement)
                self._conn.execute("UPDATE escalation_meta SET value = %s WHERE key = 'schema_version'",
                                   (str(found + 1),))
            return self._schema_version()

    def _schema_version(self) -> int | None:
        exists = self._conn.execute("SELECT to_regclass('escalation_meta')").fetchone()
        if exists is None or exists[0] is None:
            return None
        value = self._meta("schema_version")
        return None if value is None else int(value)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM escalation_meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _meta_policy(self) -> str | None:
        with self._errors("read"):
            return self._meta(POLICY_KEY)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    @contextmanager
    def _errors(self, what: str, ticket_id: str | None = None) -> Iterator[None]:
        try:
            yield
        except self._pg.Error as exc:
            subject = f"ticket {ticket_id!r}: " if ticket_id is not None else ""
            raise StoreError(f"{subject}PostgreSQL {what} failed: {type(exc).__name__}: {exc}") from exc

    # -- primitives -------------------------------------------------------------------------------

    def _insert(self, ticket: Ticket, updated_at: datetime, clocks: ClockState,
                due: datetime | None) -> None:
        with self._errors("create", ticket.id), self._conn.transaction():
            inserted = self._conn.execute(
                "INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
                "clocks, next_due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (ticket.id, ticket.stage, ticket.category, ticket.tier, ticket.version, updated_at,
                 clocks.to_json(), due),
            ).rowcount
            if inserted != 1:
                raise TicketExists(ticket.id)
            self._conn.execute("INSERT INTO escalation_documents (ticket_id, base_version, document) "
                               "VALUES (%s, %s, %s)", (ticket.id, ticket.version, encode_document(ticket)))
            with self._conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO escalation_history (ticket_id, seq, at, trigger, record) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(ticket.id, r.seq, r.at, r.trigger, encode_record(r)) for r in ticket.history],
                )

    def _read(self, ticket_id: str) -> tuple[Ticket, ClockState]:
        seen = self._seen(ticket_id)
        after = 0 if seen is None else seen.ticket.version
        with self._errors("read", ticket_id):
            row = self._conn.execute(_SELECT_ONE, (after, ticket_id)).fetchone()
            if row is not None and seen is not None and (row[2] < seen.ticket.version
                                                         or row[3] != seen.document):
                # Older than what this store saw (a restored backup, say), or its document
                # changed under us: read it all again and let decoding judge.
                seen, row = None, self._conn.execute(_SELECT_ONE, (0, ticket_id)).fetchone()
        if row is None:
            raise TicketNotFound(ticket_id)
        if seen is not None and row[2] == seen.ticket.version:
            return seen.ticket, seen.clocks  # unchanged since this store last read or wrote it
        return self._decode(row, None if seen is None else seen.ticket, remember=True)

    def _decode(self, row: Sequence[Any], known: Ticket | None = None, *,
                remember: bool = False) -> tuple[Ticket, ClockState]:
        ticket_id, stage, version, document, base_version, clocks, history = row
        ticket = decode(ticket_id, (stage, version, document, base_version),
                        _history(ticket_id, history), known)
        # No clock state: written by a migration not yet re-indexed; derive it, never trust none.
        state = self._fold(ticket)[0] if clocks is None else decode_clocks(ticket_id, clocks)
        if remember:
            self._remember(ticket, state, document)
        return ticket, state

    def _swap(self, current: Ticket, new: Ticket, clocks: ClockState, due: datetime | None,
              due_moved: bool) -> bool:
        record = new.history[-1]
        encoded, state, changes = encode_record(record), clocks.to_json(), encode_changes(current, new)
        columns = changed_columns(current, new)
        values: list[Any] = [getattr(new, name) for name in columns]
        if due_moved:
            columns, values = (*columns, "next_due_at"), [*values, due]
        with self._errors("write", new.id), self._conn.transaction():
            swapped = self._conn.execute(_update_sql(columns), (
                new.version, record.at, state, *values, new.id, current.version)).rowcount
            if swapped != 1:
                return False  # another writer moved the version on: nothing was changed
            self._append(new.id, record, encoded, changes)
        return True

    def _append(self, ticket_id: str, record: AuditRecord, encoded: str, changes: str | None) -> None:
        """Insert one history row with its patch (inside the caller's transaction)."""
        self._conn.execute("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record, "
                           "changes) VALUES (%s, %s, %s, %s, %s, %s)",
                           (ticket_id, record.seq, record.at, record.trigger, encoded, changes))

    def _query(self, where: TicketFilter, limit: int | None) -> list[Ticket]:
        clauses, params = ["TRUE"], []
        for column, op, value in (("stage", "=", where.stage), ("category", "=", where.category),
                                  ("tier", "=", where.tier),
                                  ("updated_at", "<", where.updated_before),
                                  ("updated_at", ">=", where.updated_since)):
            if value is not None:
                clauses.append(f"t.{column} {op} %s")
                params.append(value)
        sql = _SELECT + f" WHERE {' AND '.join(clauses)} ORDER BY t.updated_at, t.id"
        return self._select(sql, params, limit)

    def _page(self, after: str | None, size: int) -> list[Ticket]:
        if after is None:
            return self._select(_SELECT + " ORDER BY t.id", [], size)
        return self._select(_SELECT + " WHERE t.id > %s ORDER BY t.id", [after], size)

    def _select(self, sql: str, params: list[Any], limit: int | None) -> list[Ticket]:
        """Run a ticket query, at most ``limit`` rows, and decode the rows."""
        if limit is not None:
            sql += " LIMIT %s"
            params = [*params, limit]
        with self._errors("query"):
            rows = self._conn.execute(sql, params).fetchall()
        return [self._decode(row)[0] for row in rows]

    def _due(self, by: datetime, limit: int | None) -> list[Ticket]:
        # Served by the partial index escalation_tickets_due (tests check the query plan).
        sql = _SELECT + (" WHERE t.next_due_at IS NOT NULL AND t.next_due_at <= %s "
                         "ORDER BY t.next_due_at, t.id")
        return self._select(sql, [by], limit)

    def _reindex(self) -> int:
        """Fold every ticket's clocks again; a writer's newer value is never overwritten."""
        index, policy = self._index_meta()
        with self._errors("re-index"), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            rows = self._conn.execute(_SELECT).fetchall()
            updates = []
            for row in rows:
                try:
                    clocks, due = self._fold(self._decode(row)[0])
                    state: str | None = clocks.to_json()
                except CorruptTicket:
                    state, due = None, None  # unreadable anyway: get() reports it; never listed as due
                updates.append((state, due, row[0], row[2]))
            with self._conn.cursor() as cur:
                # The version guard: a ticket saved since the read keeps the value its writer set.
                cur.executemany("UPDATE escalation_tickets SET clocks = %s, next_due_at = %s "
                                "WHERE id = %s AND version = %s", updates)
            for key, value in ((INDEX_KEY, index), (POLICY_KEY, policy)):
                self._conn.execute("INSERT INTO escalation_meta VALUES (%s, %s) ON CONFLICT (key) "
                                   "DO UPDATE SET value = excluded.value", (key, value))
        return len(rows)


_UPDATES: dict[tuple[str, ...], str] = {}


def _update_sql(columns: tuple[str, ...]) -> Any:
    """The compare-and-swap setting version, update time, clocks and ``columns`` (fixed names).

    Only what changed: an update that leaves every indexed column alone can be a HOT update.
    """
    sql = _UPDATES.get(columns)
    if sql is None:
        sets = "".join(f", {name} = %s" for name in columns)
        sql = _UPDATES[columns] = (f"UPDATE escalation_tickets SET version = %s, updated_at = %s, "  # noqa: S608
                                   f"clocks = %s{sets} WHERE id = %s AND version = %s")
    return sql


def _history(ticket_id: str, aggregated: Any) -> list[tuple[Any, Any]]:
    """The ``(record, changes)`` history rows of one ticket from the sub-select's JSON array."""
    try:
        pairs = json.loads(aggregated)
    except (TypeError, ValueError) as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"history is not JSON: {exc}") from exc
    if not isinstance(pairs, list):  # pragma: no cover (json_agg always yields an array)
        raise CorruptTicket(ticket_id=ticket_id, reason="history is not a JSON array")
    return [(record, changes) for record, changes in pairs]
