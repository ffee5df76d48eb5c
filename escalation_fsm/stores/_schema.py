"""The SQL stores' tables, and the steps that bring an older database up to this release's.

Three tables hold a ticket: a small row that every save rewrites (the columns queries filter on,
the version, the folded SLA clocks), its document as created (written once, never changed), and
one history row per transition with the patch it made. The document is apart from the row
because SQLite rewrites a whole row on every ``UPDATE``: a document kept in it would make a save
cost more as the ticket grows.

Migrations are keyed by the version they start from; a store applies them in order when it opens
a database writable (never when read-only), each in its own transaction with the version bump.
The migration to version 4 computes every ticket's hash chain from its rows as they are then, so
it vouches for the data from that moment on (``escalation-fsm verify`` checks it). Version 5 adds
the table of specs seen and each ticket's spec fingerprint; rows written before it are of an
unknown spec until a migration or an adoption says which (``docs/versions.md``). Version 6 adds
each ticket's next ladder step and its lease (``_schema_follow_up``, ``docs/following-up.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import StoreError
from ._chain import genesis, link
from ._schema_follow_up import (
    POSTGRES_FOLLOW_UP,
    POSTGRES_FOLLOW_UP_MIGRATION,
    SQLITE_FOLLOW_UP,
    SQLITE_FOLLOW_UP_MIGRATION,
)

__all__ = ["POSTGRES_MIGRATIONS", "POSTGRES_SCHEMA", "SQLITE_MIGRATIONS", "SQLITE_SCHEMA",
           "schema_version_of"]

# The SLA deadline index: only tickets with a running clock have an entry.
_SQLITE_DUE_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_due ON escalation_tickets "
                     "(next_due_at, id) WHERE next_due_at IS NOT NULL")

# An idempotency key names one call per ticket.
_SQLITE_KEY_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS escalation_history_key ON escalation_history "
                     "(ticket_id, idempotency_key) WHERE idempotency_key IS NOT NULL")

_SQLITE_HISTORY_GUARDS = (
    """CREATE TRIGGER IF NOT EXISTS escalation_history_no_update BEFORE UPDATE ON escalation_history
       BEGIN SELECT RAISE(ABORT, 'escalation_history is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS escalation_history_no_delete BEFORE DELETE ON escalation_history
       BEGIN SELECT RAISE(ABORT, 'escalation_history is append-only'); END""",
)

_SQLITE_DOCUMENT_GUARDS = (
    # Documents, like the history, are written once: the database refuses to rewrite them.
    """CREATE TRIGGER IF NOT EXISTS escalation_documents_no_update
       BEFORE UPDATE ON escalation_documents
       BEGIN SELECT RAISE(ABORT, 'escalation_documents is write-once'); END""",
    """CREATE TRIGGER IF NOT EXISTS escalation_documents_no_delete
       BEFORE DELETE ON escalation_documents
       BEGIN SELECT RAISE(ABORT, 'escalation_documents is write-once'); END""",
)

_SQLITE_DOCUMENTS_TABLE = """CREATE TABLE IF NOT EXISTS escalation_documents (
        ticket_id TEXT PRIMARY KEY REFERENCES escalation_tickets (id),
        base_version INTEGER NOT NULL CHECK (base_version >= 0),
        document TEXT NOT NULL{hash}
    )"""

_SQLITE_DOCUMENTS = (_SQLITE_DOCUMENTS_TABLE.format(hash=",\n        hash TEXT"),
                     *_SQLITE_DOCUMENT_GUARDS)
# Version 3's table, which the migration from version 2 creates (version 4 adds the hash).
_SQLITE_DOCUMENTS_V3 = (_SQLITE_DOCUMENTS_TABLE.format(hash=""), *_SQLITE_DOCUMENT_GUARDS)

# The specs a database has seen (schema 5): written once each, never changed.
_SQLITE_SPECS = (
    """CREATE TABLE IF NOT EXISTS escalation_specs (
        fingerprint TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        description TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (fingerprint, name, version)
    )""",
    """CREATE TRIGGER IF NOT EXISTS escalation_specs_no_update BEFORE UPDATE ON escalation_specs
       BEGIN SELECT RAISE(ABORT, 'escalation_specs is write-once'); END""",
    """CREATE TRIGGER IF NOT EXISTS escalation_specs_no_delete BEFORE DELETE ON escalation_specs
       BEGIN SELECT RAISE(ABORT, 'escalation_specs is write-once'); END""",
)
_SQLITE_SPEC_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_spec ON escalation_tickets "
                      "(spec)")

SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS escalation_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS escalation_tickets (
        id TEXT PRIMARY KEY,
        stage TEXT NOT NULL,
        category TEXT,
        tier INTEGER NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 0),
        updated_at TEXT NOT NULL,
        next_due_at TEXT,
        clocks TEXT,
        spec TEXT
    )""",
    *_SQLITE_DOCUMENTS,
    *_SQLITE_SPECS,
    """CREATE TABLE IF NOT EXISTS escalation_history (
        ticket_id TEXT NOT NULL REFERENCES escalation_tickets (id),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        at TEXT NOT NULL,
        trigger TEXT NOT NULL,
        record TEXT NOT NULL,
        changes TEXT,
        idempotency_key TEXT,
        hash TEXT,
        PRIMARY KEY (ticket_id, seq)
    ) WITHOUT ROWID""",
    _SQLITE_KEY_INDEX,
    # Stage and category alone: an index on (stage, updated_at) would be rewritten by every save.
    "CREATE INDEX IF NOT EXISTS escalation_tickets_stage ON escalation_tickets (stage)",
    "CREATE INDEX IF NOT EXISTS escalation_tickets_category ON escalation_tickets (category)",
    "CREATE INDEX IF NOT EXISTS escalation_tickets_updated ON escalation_tickets (updated_at)",
    _SQLITE_DUE_INDEX,
    _SQLITE_SPEC_INDEX,
    # The history is append-only: the database itself refuses to rewrite the audit trail.
    *_SQLITE_HISTORY_GUARDS,
    *SQLITE_FOLLOW_UP,  # the ladder's next step and leases (_schema_follow_up)
)

Step = str | Callable[[Any], None]
"""One migration step: a statement, or a function given the connection (inside the migration's
transaction)."""


def _chain_existing(documents: str, history: str, set_document: str, set_row: str) -> Step:
    """A step that computes the hash chain of every stored ticket from the texts as they are."""
    def run(db: Any) -> None:
        for ticket_id, base_version, document in list(db.execute(documents)):
            head = genesis(ticket_id, base_version, document)
            db.execute(set_document, (head, ticket_id))
            for seq, record, changes in list(db.execute(history, (ticket_id,))):
                head = link(head, record, changes, None)
                db.execute(set_row, (head, ticket_id, seq))
    return run


SQLITE_MIGRATIONS: dict[int, tuple[Step, ...]] = {
    # 1 -> 2: the SLA deadline index (filled by the re-index that follows a migration).
    1: ("ALTER TABLE escalation_tickets ADD COLUMN next_due_at TEXT", _SQLITE_DUE_INDEX),
    # 2 -> 3: each row's document (the whole ticket as of its version) becomes the document as
    # created at that version, in its own table; later records carry patches; the folded SLA
    # clocks live in the row (computed by the re-index that follows). DROP COLUMN needs
    # SQLite 3.35 (2021) or newer.
    2: (*_SQLITE_DOCUMENTS_V3,
        "INSERT INTO escalation_documents (ticket_id, base_version, document) "
        "SELECT id, version, document FROM escalation_tickets",
        "ALTER TABLE escalation_tickets DROP COLUMN document",
        "ALTER TABLE escalation_tickets ADD COLUMN clocks TEXT",
        "ALTER TABLE escalation_history ADD COLUMN changes TEXT",
        "DELETE FROM escalation_meta WHERE key = 'sla_policy'",  # the fingerprint of version 2
        "DROP INDEX IF EXISTS escalation_tickets_stage",
        "DROP INDEX IF EXISTS escalation_tickets_category",
        "CREATE INDEX escalation_tickets_stage ON escalation_tickets (stage)",
        "CREATE INDEX escalation_tickets_category ON escalation_tickets (category)"),
    # 3 -> 4: the hash chain over each ticket's document and history rows as they are stored
    # now (the append-only and write-once triggers step aside for the one update), and a unique
    # idempotency key per history row.
    3: ("ALTER TABLE escalation_documents ADD COLUMN hash TEXT",
        "ALTER TABLE escalation_history ADD COLUMN idempotency_key TEXT",
        "ALTER TABLE escalation_history ADD COLUMN hash TEXT",
        _SQLITE_KEY_INDEX,
        "DROP TRIGGER escalation_history_no_update",
        "DROP TRIGGER escalation_documents_no_update",
        _chain_existing(
            "SELECT ticket_id, base_version, document FROM escalation_documents ORDER BY ticket_id",
            "SELECT seq, record, changes FROM escalation_history WHERE ticket_id = ? ORDER BY seq",
            "UPDATE escalation_documents SET hash = ? WHERE ticket_id = ?",
            "UPDATE escalation_history SET hash = ? WHERE ticket_id = ? AND seq = ?"),
        *_SQLITE_HISTORY_GUARDS, *_SQLITE_DOCUMENT_GUARDS),
    # 4 -> 5: the specs seen, and each ticket's: its last record's fingerprint, which records
    # written before do not have (NULL: unknown until a migration or an adoption says).
    4: (*_SQLITE_SPECS, "ALTER TABLE escalation_tickets ADD COLUMN spec TEXT",
        "UPDATE escalation_tickets SET spec = (SELECT json_extract(h.record, '$.spec_fingerprint') "
        "FROM escalation_history h WHERE h.ticket_id = escalation_tickets.id "
        "AND h.seq = escalation_tickets.version)",
        _SQLITE_SPEC_INDEX),
    # 5 -> 6: each ticket's next ladder step, indexed, and its lease (_schema_follow_up).
    5: SQLITE_FOLLOW_UP_MIGRATION,
}

# Documents are json, not jsonb: json keeps the text as written (\u0000 escapes included, which
# jsonb refuses), so a store can compare it with the text it wrote.
_POSTGRES_DUE_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_due ON escalation_tickets "
                       "(next_due_at, id) WHERE next_due_at IS NOT NULL;")

_POSTGRES_KEY_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS escalation_history_key ON "
                       "escalation_history (ticket_id, idempotency_key) "
                       "WHERE idempotency_key IS NOT NULL;")

_POSTGRES_HISTORY_GUARD = """
CREATE OR REPLACE FUNCTION escalation_history_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'escalation_history is append-only'; END $$;
DROP TRIGGER IF EXISTS escalation_history_append_only ON escalation_history;
CREATE TRIGGER escalation_history_append_only BEFORE UPDATE OR DELETE ON escalation_history
    FOR EACH ROW EXECUTE FUNCTION escalation_history_append_only();
"""

_POSTGRES_DOCUMENT_GUARD = """
CREATE OR REPLACE FUNCTION escalation_documents_write_once() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'escalation_documents is write-once'; END $$;
DROP TRIGGER IF EXISTS escalation_documents_write_once ON escalation_documents;
CREATE TRIGGER escalation_documents_write_once BEFORE UPDATE OR DELETE ON escalation_documents
    FOR EACH ROW EXECUTE FUNCTION escalation_documents_write_once();
"""

_POSTGRES_DOCUMENTS = """
CREATE TABLE IF NOT EXISTS escalation_documents (
    ticket_id text COLLATE "C" PRIMARY KEY REFERENCES escalation_tickets (id),
    base_version integer NOT NULL CHECK (base_version >= 0),
    document json NOT NULL,
    hash text
);
""" + _POSTGRES_DOCUMENT_GUARD

_POSTGRES_SPECS = """
CREATE TABLE IF NOT EXISTS escalation_specs (
    fingerprint text COLLATE "C" NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    description json NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (fingerprint, name, version)
);
CREATE OR REPLACE FUNCTION escalation_specs_write_once() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'escalation_specs is write-once'; END $$;
DROP TRIGGER IF EXISTS escalation_specs_write_once ON escalation_specs;
CREATE TRIGGER escalation_specs_write_once BEFORE UPDATE OR DELETE ON escalation_specs
    FOR EACH ROW EXECUTE FUNCTION escalation_specs_write_once();
"""

_POSTGRES_SPEC_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_spec ON escalation_tickets "
                        "(spec);")

POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS escalation_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS escalation_tickets (
    id text COLLATE "C" PRIMARY KEY,  -- code-point order, as in SQLite and Python
    stage text NOT NULL,
    category text,
    tier integer NOT NULL,
    version integer NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL,
    next_due_at timestamptz,
    clocks json,
    spec text COLLATE "C"
);
""" + _POSTGRES_DOCUMENTS + _POSTGRES_SPECS + """
CREATE TABLE IF NOT EXISTS escalation_history (
    ticket_id text COLLATE "C" NOT NULL REFERENCES escalation_tickets (id),
    seq integer NOT NULL CHECK (seq >= 1),
    at timestamptz NOT NULL,
    trigger text NOT NULL,
    record json NOT NULL,
    changes json,
    idempotency_key text,
    hash text,
    PRIMARY KEY (ticket_id, seq)
);
""" + _POSTGRES_KEY_INDEX + """
CREATE INDEX IF NOT EXISTS escalation_tickets_stage ON escalation_tickets (stage);
CREATE INDEX IF NOT EXISTS escalation_tickets_category ON escalation_tickets (category);
CREATE INDEX IF NOT EXISTS escalation_tickets_updated ON escalation_tickets (updated_at);
""" + _POSTGRES_DUE_INDEX + _POSTGRES_SPEC_INDEX + _POSTGRES_HISTORY_GUARD + POSTGRES_FOLLOW_UP

POSTGRES_MIGRATIONS: dict[int, tuple[Step, ...]] = {
    1: ("ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS next_due_at timestamptz",
        _POSTGRES_DUE_INDEX),
    2: (_POSTGRES_DOCUMENTS,
        "INSERT INTO escalation_documents (ticket_id, base_version, document) "
        "SELECT id, version, document::json FROM escalation_tickets ON CONFLICT DO NOTHING",
        "ALTER TABLE escalation_tickets DROP COLUMN IF EXISTS document",
        "ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS clocks json",
        "ALTER TABLE escalation_history ADD COLUMN IF NOT EXISTS changes json",
        "DELETE FROM escalation_meta WHERE key = 'sla_policy'",
        "DROP INDEX IF EXISTS escalation_tickets_stage",
        "DROP INDEX IF EXISTS escalation_tickets_category",
        "CREATE INDEX escalation_tickets_stage ON escalation_tickets (stage)",
        "CREATE INDEX escalation_tickets_category ON escalation_tickets (category)"),
    3: ("ALTER TABLE escalation_documents ADD COLUMN IF NOT EXISTS hash text",
        "ALTER TABLE escalation_history ADD COLUMN IF NOT EXISTS idempotency_key text",
        "ALTER TABLE escalation_history ADD COLUMN IF NOT EXISTS hash text",
        _POSTGRES_KEY_INDEX,
        "DROP TRIGGER IF EXISTS escalation_history_append_only ON escalation_history",
        "DROP TRIGGER IF EXISTS escalation_documents_write_once ON escalation_documents",
        _chain_existing(
            "SELECT ticket_id, base_version, document::text FROM escalation_documents "
            "ORDER BY ticket_id",
            "SELECT seq, record::text, changes::text FROM escalation_history WHERE ticket_id = %s "
            "ORDER BY seq",
            "UPDATE escalation_documents SET hash = %s WHERE ticket_id = %s",
            "UPDATE escalation_history SET hash = %s WHERE ticket_id = %s AND seq = %s"),
        _POSTGRES_HISTORY_GUARD, _POSTGRES_DOCUMENT_GUARD),
    4: (_POSTGRES_SPECS,
        'ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS spec text COLLATE "C"',
        "UPDATE escalation_tickets t SET spec = (SELECT h.record->>'spec_fingerprint' "
        "FROM escalation_history h WHERE h.ticket_id = t.id AND h.seq = t.version)",
        _POSTGRES_SPEC_INDEX),
    5: POSTGRES_FOLLOW_UP_MIGRATION,
}


def schema_version_of(value: str | None, where: str) -> int | None:
    """The schema version recorded as ``value`` (None: none recorded); a non-number is refused."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise StoreError(f"{where} has schema version {value!r}, which is not a number: it was "
                         f"not written by escalation-fsm") from None
