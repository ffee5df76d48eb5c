"""Stores keep tickets that are their history, and show any change made outside the library.

Issue 15: problem 1 (create accepts tickets the history does not make; SQL edits read back
without complaint), problem 3 (one undecodable row blocks every listing), problem 5 (bytes
written per apply), problem 6 (filters typed differently per store, bad ids, read-only files).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from store_support import KINDS, SQL_KINDS, Backend, back_to_schema_4, backend
from support import AGENT, CUSTOMER, HIGH, START, SYSTEM, TIER2, new_ticket

from escalation_fsm import (
    MAX_TEXT_LENGTH,
    Actor,
    AuditRecord,
    CorruptTicket,
    EscalationMachine,
    InconsistentTicket,
    InvalidArgument,
    ManualClock,
    Role,
    Stage,
    StoreError,
    Ticket,
    Trigger,
    import_ticket,
)
from escalation_fsm.sla import ClockState
from escalation_fsm.stores import SQLiteStore, StoreBase
from escalation_fsm.stores._codec import SCHEMA_VERSION


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


@pytest.fixture(params=SQL_KINDS)
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def desk() -> EscalationMachine:
    return EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=3)))


def worked(store: StoreBase, ticket_id: str, *, key: str | None = None) -> Ticket:
    """A ticket taken through escalation, a customer update, resolution and a reopening."""
    store.create(new_ticket(id=ticket_id))
    store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step="Checked the KB",
                idempotency_key=key)
    store.apply(ticket_id, Trigger.ESCALATE, actor=AGENT, summary="Needs Tier 2", assessment=HIGH)
    store.apply(ticket_id, Trigger.NOTIFY_CUSTOMER, actor=SYSTEM, message="Prioritised")
    store.apply(ticket_id, Trigger.RESOLVE, actor=TIER2, solution="Patched")
    return store.apply(ticket_id, Trigger.REOPEN, actor=AGENT, reason="Back again")


def record(seq: int, trigger: str, source: str, dest: str, role: str = "agent") -> AuditRecord:
    return AuditRecord(seq=seq, at=START + timedelta(minutes=seq), actor_id=f"{role}-1",
                       actor_role=role, trigger=trigger, source=source, dest=dest)


# -- problem 1: create checks the ticket against its history --------------------------------------

BAD_TICKETS: list[tuple[str, Any, type[Exception]]] = [
    ("resolved without history", new_ticket(stage=Stage.RESOLVED), InconsistentTicket),
    ("a customer resolved it", new_ticket(stage=Stage.RESOLVED, version=2, history=(
        record(1, "attempt", "identified", "attempted"),
        record(2, "resolve", "attempted", "resolved", role="customer"))), InconsistentTicket),
    ("a trigger the spec lacks", new_ticket(stage=Stage.ATTEMPTED, version=1, history=(
        record(1, "teleport", "identified", "attempted"),)), InconsistentTicket),
    ("an unknown stage", new_ticket(stage="limbo"), InconsistentTicket),
    ("a copied stage", new_ticket(version=1, stage=Stage.ATTEMPTED, history=(
        record(1, "attempt", "identified", "attempted"),)).model_copy(update={"stage": "escalated"}),
     ValidationError),
    ("a tier not earned", new_ticket(tier=2), InconsistentTicket),
    ("model_construct garbage", Ticket.model_construct(id="T-1", customer_id="C", category="weird",
                                                       history=(), version=0), ValidationError),
    ("model_construct without fields", Ticket.model_construct(), ValidationError),
    ("not a ticket", {"id": "T-1"}, InvalidArgument),
]


@pytest.mark.parametrize(("ticket", "error"), [case[1:] for case in BAD_TICKETS],
                         ids=[case[0] for case in BAD_TICKETS])
def test_create_refuses_a_ticket_its_history_does_not_make(db: Backend, ticket: Any,
                                                           error: type[Exception]) -> None:
    """Every store validates the ticket again and verifies it under its spec; nothing is written."""
    store = db.open()
    with pytest.raises(error):
        store.create(ticket)
    assert list(store.stream()) == []
    assert store.verify().checked == 0


def test_everything_the_library_writes_verifies(db: Backend) -> None:
    """Walked, imported, keyed and history-carrying tickets all verify clean, from any handle."""
    machine = desk()
    store = db.open(machine)
    worked(store, "T-1", key="k-1")
    store.create(import_ticket(machine, new_ticket(id="T-2"), Stage.ATTEMPTED, actor=SYSTEM,
                               note="from the old desk"))
    store.apply("T-2", Trigger.RECORD_STEP, actor=AGENT, step="Called back")
    fired = machine.fire(new_ticket(id="T-3"), Trigger.ATTEMPT, actor=AGENT)
    store.create(machine.fire(fired, Trigger.RECORD_STEP, actor=AGENT, step="with history"))
    store.apply("T-3", Trigger.RESOLVE, actor=AGENT, solution="Done")
    for reader in (store, db.open()):
        report = reader.verify(batch_size=2)
        assert (report.ok, report.checked, report.problems) == (True, 3, ())
    assert store.reindex() == 3 and store.verify().ok


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_ticket_has_the_same_chain_in_every_store(kind: str, tmp_path: Path) -> None:
    """The hashes follow the stored texts, written alike by every store: same ticket, same chain."""
    heads = []
    for each in ("memory", kind):
        (tmp_path / each).mkdir()
        with backend(each, tmp_path / each) as found:
            store = found.open(desk())
            worked(store, "T-1", key="k-1")
            heads.append(store.head("T-1"))
            assert heads[-1] == found.open().head("T-1") and len(heads[-1]) == 64
    assert heads[0] == heads[1]


def _set(db: Backend, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run an UPDATE or DELETE behind the store's back (dropping the triggers that refuse it)."""
    if db.kind == "sqlite":
        for name in ("escalation_history_no_update", "escalation_history_no_delete",
                     "escalation_documents_no_update"):
            db.sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        db.sql("DROP TRIGGER IF EXISTS escalation_history_append_only ON escalation_history")
    db.sql(sql, params)


TAMPERING = [
    ("a history record", "UPDATE escalation_history SET record = CAST(REPLACE(CAST(record AS "
                         "text), 'Checked the KB', 'Did nothing') AS {json}) WHERE ticket_id = 'T-1' AND seq = 2",
     (2, "hash"), "history row 2 does not match its hash"),
    ("a patch", "UPDATE escalation_history SET changes = CAST(REPLACE(CAST(changes AS text), "
                "'Patched', 'Nothing') AS {json}) WHERE ticket_id = 'T-1' AND seq = 5",
     (5, "hash"), "history row 5 does not match its hash"),
    ("an idempotency key", "UPDATE escalation_history SET idempotency_key = 'k-forged' "
                           "WHERE ticket_id = 'T-1' AND seq = 2",
     (2, "hash"), "history row 2 does not match its hash"),
    ("a removed row", "DELETE FROM escalation_history WHERE ticket_id = 'T-1' AND seq = 3",
     (3, "sequence"), "history row 4 does not match its hash"),
    ("the row's tier", "UPDATE escalation_tickets SET tier = 3 WHERE id = 'T-1'",
     (None, "decode"), "the row says .* tier 3 .* tier 1"),
    ("the row's stage", "UPDATE escalation_tickets SET stage = 'feedback' WHERE id = 'T-1'",
     (None, "decode"), "the row says .* stage 'feedback'"),
]


@pytest.mark.parametrize(("sql_text", "found", "reason"), [case[1:] for case in TAMPERING],
                         ids=[case[0] for case in TAMPERING])
def test_a_change_outside_the_library_is_found(sql: Backend, sql_text: str,
                                               found: tuple[int | None, str], reason: str) -> None:
    """Issue 15 (1): a read refuses the changed ticket, naming the first row that does not match;
    verify() reports it and nothing else; listings skip it and say so. (A store that read the
    ticket before keeps serving the version it checked then; it reads only newer rows.)"""
    store = sql.open(desk())
    worked(store, "T-1", key="k-1")
    worked(store, "T-2")
    _set(sql, sql_text.format(json="text" if sql.kind == "sqlite" else "json"))
    reader = sql.open()
    with pytest.raises(CorruptTicket, match=reason):
        reader.get("T-1")
    assert reader.get("T-2").version == 6
    report = sql.open().verify()
    assert report.tickets == ("T-1",)
    assert [(p.seq, p.check) for p in report.problems] == [found]
    listed = store.query()
    assert [t.id for t in listed] == ["T-2"] and [e.ticket_id for e in listed.skipped] == ["T-1"]


def test_the_row_s_clocks_and_times_are_checked(sql: Backend) -> None:
    """A clock state, indexed deadline or last-update time edited in SQL is reported by verify()
    (reads trust them: they are derived, and re-indexing rebuilds them)."""
    store = sql.open(desk())
    worked(store, "T-1")
    worked(store, "T-2")
    worked(store, "T-3")
    fresh = ClockState.start("identified", None, store.machine.sla).to_json()
    _set(sql, "UPDATE escalation_tickets SET clocks = ? WHERE id = 'T-1'", (fresh,))
    _set(sql, "UPDATE escalation_tickets SET next_due_at = NULL WHERE id = 'T-2'")
    _set(sql, "UPDATE escalation_tickets SET updated_at = ? WHERE id = 'T-3'",
         ("2020-01-01T00:00:00.000000Z" if sql.kind == "sqlite"
          else datetime(2020, 1, 1, tzinfo=UTC),))
    report = sql.open().verify()
    assert [(p.ticket_id, p.check) for p in report.problems] == [
        ("T-1", "clocks"), ("T-2", "clocks"), ("T-3", "row")]


def test_a_ticket_replaced_in_memory_is_found(tmp_path: Path) -> None:
    """The memory store's objects are checked against the texts it keeps, as a row would be."""
    with backend("memory", tmp_path) as found:
        store = found.open(desk())
        worked(store, "T-1")
        row = store.tickets.rows["T-1"]  # type: ignore[attr-defined]
        row.known = type(row.known)(row.known.ticket.model_copy(update={"details": "forged"}),
                                    row.known.clocks, row.known.document, row.known.due,
                                    row.known.head)
        assert [(p.ticket_id, p.check) for p in store.verify().problems] == [("T-1", "row")]


# -- problem 3: one bad row never blocks a listing --------------------------------------------------


def test_listings_skip_a_row_that_does_not_decode_and_report_it(sql: Backend) -> None:
    """Issue 15 (3): query, stream and due list every other ticket; the bad row is reported with
    its id and reason (TicketList.skipped, TicketStream.skipped, stats.skipped)."""
    store = sql.open(desk())
    for ticket_id in ("T-1", "T-2", "T-3"):
        store.create(new_ticket(id=ticket_id))
        store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    sql.tamper_document("T-2", '{"id": "T-2"}')  # a foreign write
    fresh = sql.open()
    listed = fresh.query()
    assert [t.id for t in listed] == ["T-1", "T-3"]
    [bad] = listed.skipped
    assert (bad.ticket_id, bad.seq) == ("T-2", None)
    assert "document does not match its hash" in bad.reason
    stream = fresh.stream(batch_size=1)
    assert [t.id for t in stream] == ["T-1", "T-3"]
    assert [e.ticket_id for e in stream.skipped] == ["T-2"]
    due = fresh.due(by=START + timedelta(days=365))
    assert [t.id for t in due] == ["T-1", "T-3"] and [e.ticket_id for e in due.skipped] == ["T-2"]
    assert fresh.stats.skipped == 3
    assert [t.id for t in fresh.query(limit=2)] == ["T-1"]  # the limit counts rows looked at


# -- problem 6: arguments typed the same everywhere ------------------------------------------------

BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("query", {"tier": "1"}, "tier"),
    ("query", {"tier": True}, "tier"),
    ("query", {"tier": 2**70}, "tier"),
    ("query", {"tier": 0}, "tier"),
    ("query", {"limit": 2**70}, "limit"),
    ("query", {"limit": -1}, "limit"),
    ("query", {"limit": 1.5}, "limit"),
    ("query", {"stage": 5}, "stage"),
    ("query", {"stage": "x\ud800"}, "stage"),
    ("query", {"category": 7}, "category"),
    ("query", {"updated_before": datetime(2026, 1, 1)}, "updated_before"),
    ("query", {"updated_since": datetime(9999, 1, 1, tzinfo=UTC)}, "updated_since"),
    ("query", {"updated_since": "2026-01-01"}, "updated_since"),
    ("due", {"by": datetime(1, 1, 1, tzinfo=UTC)}, "by"),
    ("due", {"by": START, "limit": 2**64}, "limit"),
    ("stream", {"batch_size": 0}, "batch_size"),
    ("get", {"ticket_id": "T\ud800"}, "ticket_id"),
    ("get", {"ticket_id": ""}, "ticket_id"),
    ("get", {"ticket_id": 5}, "ticket_id"),
    ("get", {"ticket_id": "T" * 201}, "ticket_id"),
    ("history", {"ticket_id": "T\x00"}, "ticket_id"),
    ("head", {"ticket_id": None}, "ticket_id"),
    ("verify", {"batch_size": -1}, "batch_size"),
]


@pytest.mark.parametrize(("method", "kwargs", "name"), BAD_CALLS,
                         ids=[f"{m}-{next(iter(k))}-{i}" for i, (m, k, _) in enumerate(BAD_CALLS)])
def test_bad_arguments_are_the_same_error_in_every_store(db: Backend, method: str,
                                                         kwargs: dict[str, Any], name: str) -> None:
    """Issue 15 (6): an InvalidArgument (a ValueError) naming the argument, in every store; never
    an OverflowError or UnicodeEncodeError from a driver, never a filter that silently matches."""
    store = db.open()
    store.create(new_ticket())
    kwargs = dict(kwargs)
    ticket_id = kwargs.pop("ticket_id", "nothing")
    call = getattr(store, method)
    args = () if ticket_id == "nothing" else (ticket_id,)
    with pytest.raises(InvalidArgument) as info:
        call(*args, **kwargs)  # checked at once, a lazy stream too
    assert info.value.name == name and isinstance(info.value, ValueError)


def test_apply_checks_its_id_key_and_version_before_anything(db: Backend) -> None:
    """apply refuses a bad id, idempotency key or expected version with nothing written."""
    store = db.open()
    store.create(new_ticket())
    for kwargs, name in (({"ticket_id": "T\ud800"}, "ticket_id"),
                         ({"idempotency_key": "k\x00"}, "idempotency_key"),
                         ({"idempotency_key": ""}, "idempotency_key"),
                         ({"expected_version": -1}, "expected_version"),
                         ({"expected_version": "0"}, "expected_version")):
        with pytest.raises(InvalidArgument) as info:
            store.apply(**{"ticket_id": "T-1", "trigger": Trigger.ATTEMPT, "actor": AGENT,
                           **kwargs})
        assert info.value.name == name
    assert store.get("T-1").version == 0


def test_filters_mean_the_same_in_every_store(db: Backend) -> None:
    """The same filters give the same tickets everywhere (a Stage member, a Category's value)."""
    store = db.open(desk())
    worked(store, "T-1")
    store.create(new_ticket(id="T-2"))
    assert [t.id for t in store.query(tier=1, stage=Stage.ATTEMPTED)] == ["T-1"]
    assert [t.id for t in store.query(category="technical")] == ["T-1", "T-2"]
    assert store.query(tier=2) == []


def test_a_clock_outside_the_supported_times_is_refused_by_apply(db: Backend) -> None:
    """A host clock in year 9500 would write a record no store can read back: refused first."""
    store = db.open(EscalationMachine(clock=ManualClock(datetime(9500, 1, 1, tzinfo=UTC))))
    store.create(new_ticket())
    with pytest.raises(ValueError, match="outside the times a ticket may hold"):
        store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    assert store.get("T-1").version == 0


CHATTR = shutil.which("chattr") or ""
"""Root may write anything chmod forbids; an immutable attribute stops it too."""


def _read_only(folder: Path) -> bool:
    """Make ``folder`` and its files unwritable, for root too (chattr +i) when needed."""
    for path in (*folder.iterdir(), folder):
        path.chmod(0o555)
        if CHATTR:
            subprocess.run([CHATTR, "+i", str(path)], capture_output=True, check=False)
    try:
        (folder / "probe").touch()
    except OSError:
        return True
    (folder / "probe").unlink()
    return False


def _writable(folder: Path) -> None:
    for path in (folder, *folder.iterdir()):
        if CHATTR:
            subprocess.run([CHATTR, "-i", str(path)], capture_output=True, check=False)
        path.chmod(0o755)


def test_a_database_in_a_read_only_folder_can_be_read(tmp_path: Path) -> None:
    """Issue 15 (6): a WAL database nobody can write (read-only mount, archive) opens read-only
    and reads; opening it for writing says to open it read-only."""
    folder = tmp_path / "archive"
    folder.mkdir()
    with SQLiteStore(folder / "tickets.db", machine=desk()) as store:
        worked(store, "T-1")
    assert sorted(p.name for p in folder.iterdir()) == ["tickets.db"]
    if not _read_only(folder):
        pytest.skip("this file system lets the test write into a read-only folder")
    try:
        with SQLiteStore(folder / "tickets.db", readonly=True) as reader:
            assert reader.get("T-1").version == 6
            assert reader.verify().ok
        with pytest.raises(StoreError, match="open it with readonly=True"):
            SQLiteStore(folder / "tickets.db")
    finally:
        _writable(folder)


# -- problem 5: an apply writes what it adds, not the ticket --------------------------------------


def test_an_apply_writes_the_same_bytes_however_big_the_ticket(tmp_path: Path) -> None:
    """Issue 15 (5): after a step of MAX_TEXT_LENGTH characters, the next apply writes as many
    WAL bytes as on a fresh ticket (pages of one row and one history row), not the ticket again."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path, machine=desk())

    def written(ticket_id: str) -> int:
        raw = sqlite3.connect(path)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step="one more line")
        return (tmp_path / "t.db-wal").stat().st_size

    for ticket_id, step in (("SMALL", "short"), ("BIG", "x" * MAX_TEXT_LENGTH)):
        store.create(new_ticket(id=ticket_id, details="d" * (MAX_TEXT_LENGTH if step != "short"
                                                             else 1)))
        store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
        store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step=step)
    small, big = written("SMALL"), written("BIG")
    assert big <= small + 4096 + 24  # at most one page more (a history page split)
    assert big < MAX_TEXT_LENGTH // 4
    store.close()


def test_an_actor_with_a_role_the_spec_lacks_is_recorded_only_if_allowed(db: Backend) -> None:
    """Roles come from the spec: a record by a role no transition allows never gets stored."""
    store = db.open()
    store.create(new_ticket())
    wizard = Actor(id="w-1", role="wizard")
    with pytest.raises(PermissionError):
        store.apply("T-1", Trigger.ATTEMPT, actor=wizard)
    with pytest.raises(InconsistentTicket, match="role 'customer' may not fire 'attempt'"):
        store.create(new_ticket(id="T-2", stage=Stage.ATTEMPTED, version=1, history=(
            record(1, "attempt", "identified", "attempted", role=CUSTOMER.role),)))
    assert CUSTOMER.role == Role.CUSTOMER


# -- schema 3 -> 4 --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_version_3_database_gets_its_chain_when_opened_writable(kind: str, tmp_path: Path) -> None:
    """The migration hashes the rows as they are: the chain is exactly the one the library
    writes, verify() passes, the database still refuses UPDATE and DELETE, and writes go on. A
    read-only open first says to open it writable once."""
    with backend(kind, tmp_path) as db:
        store = db.open(desk())
        worked(store, "T-1")
        worked(store, "T-2")
        heads = {ticket_id: store.head(ticket_id) for ticket_id in ("T-1", "T-2")}
        store.close()
        back_to_schema_4(db)
        db.sql("DROP INDEX escalation_history_key")
        for table, column in (("escalation_history", "hash"),
                              ("escalation_history", "idempotency_key"),
                              ("escalation_documents", "hash")):
            db.sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.sql("UPDATE escalation_meta SET value = '3' WHERE key = 'schema_version'")
        with pytest.raises(StoreError, match=r"schema version 3.*open it once writable"):
            db.open(readonly=True)
        migrated = db.open(desk())
        assert db.schema_version() == SCHEMA_VERSION == 6
        assert {ticket_id: migrated.head(ticket_id) for ticket_id in heads} == heads
        assert migrated.verify().ok and migrated.verify().checked == 2
        with pytest.raises(Exception, match="append-only"):
            db.sql("UPDATE escalation_history SET trigger = 'x'")
        with pytest.raises(Exception, match="write-once"):
            db.sql("UPDATE escalation_documents SET base_version = 1")
        migrated.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="again", idempotency_key="m")
        assert db.open().verify().ok
