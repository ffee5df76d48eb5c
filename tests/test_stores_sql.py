"""What only the SQL stores have: a schema, raw rows that can be damaged, database errors."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from store_support import SQL_KINDS, Backend, backend, open_and_close, processes
from support import AGENT, START

from escalation_fsm import Category, CorruptTicket, StoreError, StoreReadOnly, Ticket, Trigger
from escalation_fsm.stores import PostgresStore, SQLiteStore, StoreBase
from escalation_fsm.stores._codec import SCHEMA_VERSION


@pytest.fixture(params=SQL_KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def _stored(db: Backend, ticket_id: str = "T-1") -> StoreBase:
    store = db.open()
    store.create(Ticket(id=ticket_id, customer_id="C", category=Category.OTHER, details="d"))
    store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step="KB")
    return store


def test_schema_is_created_once_with_a_version(db: Backend) -> None:
    """Opening again keeps the data; the stored schema version is the current one (5 adds the
    specs seen, 6 the follow-up ladder's columns)."""
    _stored(db)
    again = db.open()
    assert again.get("T-1").version == 2
    assert db.schema_version() == SCHEMA_VERSION == 6


def test_a_newer_schema_version_is_refused(db: Backend) -> None:
    """A database written by a later release is not misread: opening it says what to do."""
    _stored(db)
    db.sql("UPDATE escalation_meta SET value = ? WHERE key = 'schema_version'",
           (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade"):
        db.open()


def test_a_schema_version_that_is_not_a_number_is_a_store_error(db: Backend) -> None:
    """Issue 15 (6): a foreign meta table is reported as such, never as a ValueError traceback."""
    _stored(db)
    db.sql("UPDATE escalation_meta SET value = 'three' WHERE key = 'schema_version'")
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"schema version 'three', which is not a number"):
            db.open(readonly=readonly)


def test_history_is_append_only_in_the_database(db: Backend) -> None:
    """Even raw SQL cannot rewrite or delete the audit trail, nor the documents as created."""
    _stored(db)
    for statement in ("UPDATE escalation_history SET trigger = 'x'", "DELETE FROM escalation_history"):
        with pytest.raises(Exception, match="append-only"):
            db.sql(statement)
    assert db.sql("SELECT count(*) FROM escalation_history") == [(2,)]
    for statement in ("UPDATE escalation_documents SET base_version = 1",
                      "DELETE FROM escalation_documents"):
        with pytest.raises(Exception, match="write-once"):
            db.sql(statement)
    assert db.sql("SELECT count(*) FROM escalation_documents") == [(1,)]


def _damage(db: Backend, document: str) -> None:
    db.tamper_document("T-1", document)
    db.reseal("T-1")


@pytest.mark.parametrize(("document", "reason"), [
    ('{"id": "T-1", "customer_id": "C",', "not JSON"),
    ('[1, 2, 3]', "not an object"),
    ('{"id": "T-1", "customer_id": "C", "version": 0, "colour": "red"}',
     "colour: Extra inputs are not permitted"),
    ('{"id": "T-1", "customer_id": "C", "version": 5}', "does not match"),
    ('{"id": "T-9", "customer_id": "C", "version": 0}', "history say id 'T-9'"),
    ('{"id": "T-1", "customer_id": "C", "stage": "resolved", "version": 0}',
     "history record 1 leaves stage 'identified', but the ticket was in stage 'resolved'"),
])
def test_corrupt_or_foreign_rows_raise_naming_the_ticket(db: Backend, document: str, reason: str) -> None:
    """No half-built ticket: reading it raises CorruptTicket with the id and the cause; listings
    skip it and say so.

    The document is the ticket as created (version 0 here); the two records after it carry what
    changed. The damage is resealed (its hash chain recomputed, as a writer who knows the format
    could), so that decoding, not the chain, finds it. A store that remembers the ticket notices
    the changed document on its next read; a store opened afresh refuses to apply a trigger to it.
    """
    store = _stored(db)
    if db.kind == "postgres" and reason == "not JSON":
        # PostgreSQL's json column refuses such a row on write: it can never be read back.
        with pytest.raises(Exception, match="invalid input syntax for type json"):
            _damage(db, document)
        return
    _damage(db, document)
    fresh = db.open()
    for read in (lambda: store.get("T-1"),
                 lambda: fresh.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x")):
        with pytest.raises(CorruptTicket, match=reason) as caught:
            read()
        assert caught.value.ticket_id == "T-1"
        assert "T-1" in str(caught.value)
        assert isinstance(caught.value, ValueError)
    for skipped in (store.query().skipped, fresh.due(by=START + timedelta(days=400)).skipped,
                    _streamed(store)):
        assert [(error.ticket_id, bool(re.search(reason, error.reason))) for error in skipped] == [
            ("T-1", True)]


def _streamed(store: StoreBase) -> list[CorruptTicket]:
    stream = store.stream()
    assert list(stream) == []
    return stream.skipped


def test_a_changed_document_breaks_its_hash(db: Backend) -> None:
    """Issue 15 (1): a document edited in SQL (even into a valid ticket) is caught on every read
    and by verify(), which names the ticket; nothing is read back as if it were true."""
    store = _stored(db)
    document = db.sql("SELECT CAST(document AS text) FROM escalation_documents "
                      "WHERE ticket_id = 'T-1'")[0][0]
    db.tamper_document("T-1", str(document).replace('"details":"d"', '"details":"forged"'))
    for reader in (store, db.open()):
        with pytest.raises(CorruptTicket, match="document does not match its hash") as caught:
            reader.get("T-1")
        assert caught.value.seq is None
    report = db.open().verify()
    assert report.tickets == ("T-1",)
    assert [(p.seq, p.check) for p in report.problems] == [(None, "document")]


def test_a_missing_history_row_is_detected(db: Backend) -> None:
    """A ticket row whose history rows are missing is corrupt, not silently shortened."""
    _stored(db)
    document = db.sql("SELECT CAST(document AS text) FROM escalation_documents "
                      "WHERE ticket_id = 'T-1'")[0][0]
    db.sql("INSERT INTO escalation_tickets (id, stage, category, tier, version, updated_at) "
           "SELECT 'T-2', stage, category, tier, version, updated_at FROM escalation_tickets "
           "WHERE id = 'T-1'")
    db.sql("INSERT INTO escalation_documents (ticket_id, base_version, document) VALUES ('T-2', 0, ?)",
           (str(document).replace('"T-1"', '"T-2"'),))
    with pytest.raises(CorruptTicket, match=r"T-2.*document does not match its hash"):
        db.open().get("T-2")
    db.reseal("T-2")
    with pytest.raises(CorruptTicket, match=r"T-2.*the row says .*version 2.* but its document and "
                                            r"history say .*version 0"):
        db.open().get("T-2")


def test_a_damaged_history_row_is_detected(db: Backend) -> None:
    """A history row that is not a valid audit record makes the ticket unreadable, loudly."""
    _stored(db)
    db.sql("INSERT INTO escalation_history (ticket_id, seq, at, trigger, record) "
           "VALUES ('T-1', 3, '2026-01-01T00:00:00Z', 'x', '{\"seq\": \"three\"}')")
    with pytest.raises(CorruptTicket, match=r"T-1.*history row"):
        db.open().history("T-1")


def test_a_database_error_is_a_store_error_naming_the_ticket(db: Backend) -> None:
    """Driver errors surface as StoreError (the driver's error chained), never raw."""
    store = _stored(db)
    db.sql("ALTER TABLE escalation_tickets RENAME TO gone")
    with pytest.raises(StoreError, match="ticket 'T-1'") as caught:
        store.get("T-1")
    assert caught.value.__cause__ is not None


def test_many_processes_can_create_the_schema_at_once(db: Backend) -> None:
    """Eight processes opening a brand-new database at the same moment all succeed."""
    with processes().Pool(8) as pool:
        pool.starmap(open_and_close, [(db.kind, db.target)] * 8)
    store = _stored(db)
    assert store.get("T-1").version == 2
    assert db.sql("SELECT key FROM escalation_meta ORDER BY key") == [
        ("schema_version",), ("sla_index",), ("sla_meaning_json",), ("sla_policy_json",)]


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A foreign file is reported by path, and the connection is not leaked."""
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        SQLiteStore(path)
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteStore(tmp_path / "no" / "such" / "dir.db")
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(":memory:", synchronous="OFF")  # type: ignore[arg-type]


def test_sqlite_normal_synchronous_and_memory_databases_work() -> None:
    """The faster durability setting and an in-memory database keep the same contract."""
    with SQLiteStore(":memory:", synchronous="NORMAL") as store:
        store.create(Ticket(id="T-1", customer_id="C", category=Category.OTHER, details="d"))
        assert store.apply("T-1", Trigger.ATTEMPT, actor=AGENT).version == 1


def test_postgres_connection_failures_are_store_errors() -> None:
    """An unreachable server is a StoreError naming PostgreSQL (psycopg installed here)."""
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)


def test_a_read_only_postgres_store_keeps_the_dsn_search_path(tmp_path: Path) -> None:
    """readonly=True must not replace the DSN's options: it reads the tables a writer wrote."""
    with backend("postgres", tmp_path) as db:
        store = _stored(db)
        store.close()
        reader = PostgresStore(db.target, readonly=True)
        try:
            assert reader.get("T-1").version == 2
            with pytest.raises(StoreReadOnly):
                reader.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="x")
        finally:
            reader.close()


def test_an_empty_database_read_only_says_it_has_no_tables(db: Backend, tmp_path: Path) -> None:
    """Opening a database without escalation_fsm tables read-only names the problem plainly."""
    target = db.target
    if db.kind == "sqlite":
        target = str(tmp_path / "empty.db")
        sqlite3.connect(target).close()
    with pytest.raises(StoreError, match="no escalation_fsm tables"):
        SQLiteStore(target, readonly=True) if db.kind == "sqlite" else PostgresStore(target, readonly=True)
