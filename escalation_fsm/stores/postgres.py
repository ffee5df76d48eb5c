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
from ._codec import SCHEMA_VERSION, SLA_POLICY_KEY, decode, encode_document, encode_record
from .base import DEFAULT_MAX_ATTEMPTS, StoreBase, TicketFilter

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_LOCK_KEY = 0x65736366  # pg_advisory_xact_lock key ("escf"): one schema creator at a time

# Documents are json, not jsonb: json keeps the text as written (\u0000 escapes included, which
# jsonb refuses), so a store can compare it with the text it wrote.
# The SLA deadline index: only tickets with a running clock have an entry.
_DUE_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_due ON escalation_tickets "
              "(next_due_at, id) WHERE next_due_at IS NOT NULL;")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalation_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS escalation_tickets (
    id text COLLATE "C" PRIMARY KEY,  -- code-point order, as in SQLite and Python
    stage text NOT NULL,
    category text,
    tier integer NOT NULL,
    version integer NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL,
    document json NOT NULL,
    next_due_at timestamptz
);
CREATE TABLE IF NOT EXISTS escalation_history (
    ticket_id text COLLATE "C" NOT NULL REFERENCES escalation_tickets (id),
    seq integer NOT NULL CHECK (seq >= 1),
    at timestamptz NOT NULL,
    trigger text NOT NULL,
    record json NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);
CREATE INDEX IF NOT EXISTS escalation_tickets_stage ON escalation_tickets (stage, updated_at);
CREATE INDEX IF NOT EXISTS escalation_tickets_category ON escalation_tickets (category, updated_at);
CREATE INDEX IF NOT EXISTS escalation_tickets_updated ON escalation_tickets (updated_at);
""" + _DUE_INDEX + """
CREATE OR REPLACE FUNCTION escalation_history_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'escalation_history is append-only'; END $$;
DROP TRIGGER IF EXISTS escalation_history_append_only ON escalation_history;
CREATE TRIGGER escalation_history_append_only BEFORE UPDATE OR DELETE ON escalation_history
    FOR EACH ROW EXECUTE FUNCTION escalation_history_append_only();
"""

# Reading a ticket the store has seen: only the history rows after the ones it already has.
_SELECT_ONE = """
SELECT t.id, t.stage, t.version, t.document::text,
       (SELECT coalesce(json_agg(h.record ORDER BY h.seq), '[]')::text
          FROM escalation_history h WHERE h.ticket_id = t.id AND h.seq > %s)
  FROM escalation_tickets t WHERE t.id = %s AND t.version >= %s
"""

_SELECT = """
SELECT t.id, t.stage, t.version, t.document::text,
       (SELECT coalesce(json_agg(h.record ORDER BY h.seq), '[]')::text
          FROM escalation_history h WHERE h.ticket_id = t.id)
  FROM escalation_tickets t
"""


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
    ``options=-csearch_path=...`` keeps them in a schema of your choice).
    """

    def __init__(self, dsn: str, *, machine: EscalationMachine | None = None, clock: Clock | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, connect_timeout: int = 10) -> None:
        super().__init__(machine=machine, clock=clock, max_attempts=max_attempts)
        self._pg = _psycopg()
        try:
            # autocommit: every transaction below is an explicit `with conn.transaction()`.
            self._conn: psycopg.Connection[tuple[Any, ...]] = self._pg.connect(
                dsn, autocommit=True, connect_timeout=connect_timeout)
        except self._pg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        with self._errors("open"):
            found = self._schema_version()
            if found is None:
                with self._conn.transaction():
                    # Serialise concurrent first opens: CREATE ... IF NOT EXISTS alone is not safe
                    # against another process creating the same table at the same moment. The
                    # DDL is idempotent and runs even if the other process just finished it: a
                    # re-check here can miss its tables (stale catalog snapshot, seen in tests).
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    self._conn.execute(_SCHEMA)
                    self._conn.execute(
                        "INSERT INTO escalation_meta VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
                    self._conn.execute(  # a new database's empty index fits this policy
                        "INSERT INTO escalation_meta VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                        (SLA_POLICY_KEY, self.machine.sla.fingerprint))
                    found = self._schema_version()
            if found == 1:
                found = self._migrate_from_1()
        if found != SCHEMA_VERSION:
            raise StoreError(f"PostgreSQL database has schema version {found}; this release reads "
                             f"version {SCHEMA_VERSION} (upgrade escalation-fsm to open it)")
        with self._errors("open"):
            indexed = self._conn.execute("SELECT value FROM escalation_meta WHERE key = %s",
                                         (SLA_POLICY_KEY,)).fetchone()
        if indexed is None or indexed[0] != self.machine.sla.fingerprint:
            self._reindex()

    def _migrate_from_1(self) -> int | None:
        """Version 1 -> 2: add the deadline column and index (filled by the re-index after)."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if self._schema_version() == 1:  # another process may have migrated meanwhile
                self._conn.execute("ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS "
                                   "next_due_at timestamptz")
                self._conn.execute(_DUE_INDEX)
                self._conn.execute("UPDATE escalation_meta SET value = '2' "
                                   "WHERE key = 'schema_version'")
            return self._schema_version()

    def _schema_version(self) -> int | None:
        exists = self._conn.execute("SELECT to_regclass('escalation_meta')").fetchone()
        if exists is None or exists[0] is None:
            return None
        row = self._conn.execute(
            "SELECT value FROM escalation_meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else int(row[0])

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

    def _insert(self, ticket: Ticket, updated_at: datetime) -> None:
        due = self._next_due_at(ticket)
        with self._errors("create", ticket.id), self._conn.transaction():
            inserted = self._conn.execute(
                "INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at, "
                "document, next_due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (ticket.id, ticket.stage, ticket.category, ticket.tier, ticket.version, updated_at,
                 encode_document(ticket), due),
            ).rowcount
            if inserted != 1:
                raise TicketExists(ticket.id)
            with self._conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO escalation_history (ticket_id, seq, at, trigger, record) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(ticket.id, r.seq, r.at, r.trigger, encode_record(r)) for r in ticket.history],
                )

    def _load(self, ticket_id: str) -> Ticket:
        seen = self._seen(ticket_id)
        known = None if seen is None else seen[0]
        with self._errors("read", ticket_id):
            row = None
            if known is not None:
                row = self._conn.execute(_SELECT_ONE, (known.version, ticket_id, known.version)).fetchone()
                if seen is not None and row is not None and (row[2], row[3]) == (known.version, seen[1]):
                    return known  # unchanged since this store last read or wrote it
            if row is None:  # not remembered, or the stored version is older: read it all
                known = None
                row = self._conn.execute(_SELECT + " WHERE t.id = %s", (ticket_id,)).fetchone()
        if row is None:
            raise TicketNotFound(ticket_id)
        return self._remember(self._decode(row, () if known is None else known.history), row[3])

    @staticmethod
    def _decode(row: Sequence[Any], known: tuple[AuditRecord, ...] = ()) -> Ticket:
        ticket_id, stage, version, document, records = row
        return decode(ticket_id, (stage, version, document), _records(ticket_id, records), known)

    def _swap(self, expected_version: int, new: Ticket, updated_at: datetime) -> bool:
        record = new.history[-1]
        document = encode_document(new)
        due = self._next_due_at(new)
        with self._errors("write", new.id), self._conn.transaction():
            swapped = self._conn.execute(
                "UPDATE escalation_tickets SET stage = %s, category = %s, tier = %s, version = %s, "
                "updated_at = %s, document = %s, next_due_at = %s WHERE id = %s AND version = %s",
                (new.stage, new.category, new.tier, new.version, updated_at, document, due,
                 new.id, expected_version),
            ).rowcount
            if swapped != 1:
                return False  # another writer moved the version on: nothing was changed
            self._append(new.id, record)
        self._remember(new, document)
        return True

    def _append(self, ticket_id: str, record: AuditRecord) -> None:
        """Insert one history row (inside the caller's transaction)."""
        self._conn.execute("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record) "
                           "VALUES (%s, %s, %s, %s, %s)",
                           (ticket_id, record.seq, record.at, record.trigger, encode_record(record)))

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
        with self._errors("read"):
            if after is None:
                rows = self._conn.execute(_SELECT + " ORDER BY t.id LIMIT %s", (size,)).fetchall()
            else:
                rows = self._conn.execute(_SELECT + " WHERE t.id > %s ORDER BY t.id LIMIT %s",
                                          (after, size)).fetchall()
        return [self._decode(row) for row in rows]

    def _select(self, sql: str, params: list[Any], limit: int | None) -> list[Ticket]:
        """Run a ticket query, at most ``limit`` rows, and decode the rows."""
        if limit is not None:
            sql += " LIMIT %s"
            params = [*params, limit]
        with self._errors("query"):
            rows = self._conn.execute(sql, params).fetchall()
        return [self._decode(row) for row in rows]

    def _due(self, by: datetime, limit: int | None) -> list[Ticket]:
        # Served by the partial index escalation_tickets_due (tests check the query plan).
        sql = _SELECT + (" WHERE t.next_due_at IS NOT NULL AND t.next_due_at <= %s "
                         "ORDER BY t.next_due_at, t.id")
        params: list[Any] = [by]
        return self._select(sql, params, limit)

    def _reindex(self) -> int:
        """Recompute every ticket's next deadline; a writer's newer value is never overwritten."""
        with self._errors("re-index"), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            rows = self._conn.execute(_SELECT).fetchall()
            with self._conn.cursor() as cur:
                updates = []
                for row in rows:
                    try:
                        due = self._next_due_at(self._decode(row))
                    except CorruptTicket:
                        due = None  # unreadable anyway: get() reports it; never listed as due
                    updates.append((due, row[0], row[2]))
                # The version guard: a ticket saved since the read keeps the value its writer set.
                cur.executemany("UPDATE escalation_tickets SET next_due_at = %s "
                                "WHERE id = %s AND version = %s", updates)
            self._conn.execute("INSERT INTO escalation_meta VALUES (%s, %s) ON CONFLICT (key) "
                               "DO UPDATE SET value = excluded.value",
                               (SLA_POLICY_KEY, self.machine.sla.fingerprint))
        return len(rows)


def _records(ticket_id: str, aggregated: Any) -> list[Any]:
    """The history rows of one ticket from the sub-select's JSON array text."""
    try:
        records = json.loads(aggregated)
    except (TypeError, ValueError) as exc:
        raise CorruptTicket(ticket_id=ticket_id, reason=f"history is not JSON: {exc}") from exc
    if not isinstance(records, list):  # pragma: no cover (json_agg always yields an array)
        raise CorruptTicket(ticket_id=ticket_id, reason="history is not a JSON array")
    return records
