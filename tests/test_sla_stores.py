"""SLA deadlines with the stores: the indexed follow-up listing, migration, restart, the CLI."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_support import KINDS, Backend, back_to_schema_4, backend
from support import AGENT, TIER2

from escalation_fsm import (
    Assessment,
    Category,
    EscalationMachine,
    ManualClock,
    Role,
    StageSpec,
    Ticket,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    Urgency,
    default_spec,
)
from escalation_fsm.cli import main
from escalation_fsm.sla import BusinessCalendar, SLAClock, SLAPolicy, SLATargets, next_due
from escalation_fsm.stores import SLAPolicyMismatch, SQLiteStore, StoreBase, index_key
from escalation_fsm.stores._codec import SCHEMA_VERSION, encode_document

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
HIGH = Assessment(complexity="high", frustration="high", urgency="high")


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def desk(policy: SLAPolicy | None = None, spec=None) -> tuple[EscalationMachine, ManualClock]:
    clock = ManualClock(MONDAY)
    return EscalationMachine(spec, clock=clock, sla=policy), clock


def new(ticket_id: str, opened: datetime | None = MONDAY) -> Ticket:
    return Ticket(id=ticket_id, customer_id="C-1", category=Category.TECHNICAL, details="Sync fails",
                  opened_at=opened)


def fire(store: StoreBase, clock: ManualClock, when: datetime, ticket_id: str, trigger: str, *,
         actor=AGENT, **payload: object) -> Ticket:
    clock.set(when)
    return store.apply(ticket_id, trigger, actor=actor, **payload)


def escalate(store: StoreBase, clock: ManualClock, ticket_id: str, at: datetime) -> Ticket:
    fire(store, clock, at, ticket_id, Trigger.ATTEMPT)
    fire(store, clock, at, ticket_id, Trigger.RECORD_STEP, step="Checked the logs")
    return fire(store, clock, at, ticket_id, Trigger.ESCALATE, summary="Needs Tier 2", assessment=HIGH)


def brute_force(store: StoreBase, tickets: list[str], by: datetime) -> list[str]:
    """What the index must answer, by scanning: next due time at or before ``by``, then id."""
    found = []
    for ticket_id in tickets:
        soonest = next_due(store.get(ticket_id), store.machine.sla, store.machine.spec)
        if soonest is not None and soonest.due_at <= by:
            found.append((soonest.due_at, ticket_id))
    return [ticket_id for _, ticket_id in sorted(found)]


def test_due_lists_the_tickets_whose_next_deadline_falls_by(db: Backend) -> None:
    """Open first responses and escalations are listed when due; finished or untimed ones never."""
    machine, clock = desk()
    store = db.open(machine)
    store.create(new("T-open"))                                  # first response due 13:00
    store.create(new("T-untimed", opened=None))                  # no clock can start
    store.create(new("T-esc"))
    escalate(store, clock, "T-esc", MONDAY + H)                  # Tier 2 update due 12:00
    store.create(new("T-done"))
    escalate(store, clock, "T-done", MONDAY)
    fire(store, clock, MONDAY + H, "T-done", Trigger.NOTIFY_CUSTOMER, message="On it")
    fire(store, clock, MONDAY + H, "T-done", Trigger.RESOLVE, actor=TIER2, solution="Fixed")
    assert store.due(by=MONDAY + 2 * H) == []
    assert [t.id for t in store.due(by=MONDAY + 3 * H)] == ["T-esc"]
    assert [t.id for t in store.due(by=MONDAY + 4 * H)] == ["T-esc", "T-open"]
    assert [t.id for t in store.due(by=MONDAY + timedelta(days=30))] == ["T-esc", "T-open"]
    assert [t.id for t in store.due(by=MONDAY + 4 * H, limit=1)] == ["T-esc"]
    assert store.due(by=MONDAY + 4 * H)[0] == store.get("T-esc")   # whole tickets, history too
    with pytest.raises(ValueError, match="timezone-aware"):
        store.due(by=datetime(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="limit=-1 is not allowed"):
        store.due(by=MONDAY, limit=-1)


def test_every_save_moves_the_indexed_deadline(db: Backend) -> None:
    """A follow-up meets the Tier 2 clock: the ticket's next deadline becomes the customer update."""
    machine, clock = desk()
    store = db.open(machine)
    store.create(new("T-1"))
    escalate(store, clock, "T-1", MONDAY)                         # Tier 2 by 11:00, update by 13:00
    assert [t.id for t in store.due(by=MONDAY + 2 * H)] == ["T-1"]
    fire(store, clock, MONDAY + H, "T-1", Trigger.FOLLOW_UP, actor=TIER2, update="Found it",
         customer_message="Fix coming")                           # next update due 14:00
    assert store.due(by=MONDAY + 4 * H) == []
    assert [t.id for t in store.due(by=MONDAY + 5 * H)] == ["T-1"]


def test_the_index_agrees_with_a_scan_of_every_ticket(db: Backend) -> None:
    """Random tickets at random stages and times: due() equals the brute-force answer."""
    rng = random.Random(7)
    machine, clock = desk()
    store = db.open(machine)
    ids = []
    for n in range(24):
        ticket_id = f"T-{n:02d}"
        opened = MONDAY + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
        store.create(new(ticket_id, opened=opened if rng.random() < 0.9 else None))
        steps = rng.randrange(0, 4)
        at = opened + timedelta(minutes=rng.randrange(0, 600))
        if steps >= 1:
            fire(store, clock, at, ticket_id, Trigger.ATTEMPT)
        if steps >= 2:
            escalate_at = at + timedelta(minutes=rng.randrange(0, 600))
            fire(store, clock, escalate_at, ticket_id, Trigger.RECORD_STEP, step="KB")
            fire(store, clock, escalate_at, ticket_id, Trigger.ESCALATE, summary="T2", assessment=HIGH)
        if steps >= 3:
            fire(store, clock, escalate_at + H, ticket_id, Trigger.NOTIFY_CUSTOMER, message="On it",
                 eta=timedelta(minutes=rng.randrange(1, 600)))
        ids.append(ticket_id)
    for days in (0, 1, 2, 4, 8, 30):
        by = MONDAY + timedelta(days=days, hours=rng.randrange(0, 24))
        assert [t.id for t in store.due(by=by)] == brute_force(store, ids, by)


def test_another_policy_is_refused_on_open_and_reindexing_is_explicit(db: Backend) -> None:
    """Due times depend on the policy: opening with another names both, and changes nothing."""
    machine, _ = desk()
    db.open(machine).create(new("T-1"))                              # normal: first response in 4h
    assert db.open(machine).due(by=MONDAY + 3 * H) == []
    quick = SLAPolicy(targets={u: SLATargets(first_response=H) for u in Urgency})
    other, _ = desk(quick)
    with pytest.raises(SLAPolicyMismatch) as refused:
        db.open(other)
    recorded = index_key(machine.sla, machine.spec)
    assert (refused.value.recorded, refused.value.current) == (recorded, index_key(quick, machine.spec))
    assert recorded in str(refused.value) and "reindex" in str(refused.value)
    plain = db.open()                                    # no machine: reads under the recorded one
    assert plain.recorded_policy() == machine.sla and plain.due(by=MONDAY + 3 * H) == []
    assert plain.reindex(other) == 1
    assert [t.id for t in db.open(other).due(by=MONDAY + 3 * H)] == ["T-1"]
    with pytest.raises(SLAPolicyMismatch):
        db.open(machine)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_version_1_database_is_migrated_on_open(kind: str, tmp_path: Path) -> None:
    """A database from before the deadline index gains the column and index, filled, on open."""
    with backend(kind, tmp_path) as db:
        machine, clock = desk()
        store = db.open(machine)
        store.create(new("T-1"))
        escalate(store, clock, "T-1", MONDAY)
        store.create(new("T-2"))
        # Back to the version 1 layout, as the release before the deadline index left it: each
        # ticket row held the whole ticket (without history) as of its version; no documents
        # table, no clocks, no patches.
        documents = {t: encode_document(store.get(t)) for t in ("T-1", "T-2")}
        store.close()
        back_to_schema_4(db)
        db.sql("ALTER TABLE escalation_tickets ADD COLUMN document TEXT NOT NULL DEFAULT '{}'")
        for ticket_id, document in documents.items():
            db.sql("UPDATE escalation_tickets SET document = ? WHERE id = ?", (document, ticket_id))
        db.sql("DROP TABLE escalation_documents")
        db.sql("DROP INDEX escalation_tickets_due")
        db.sql("DROP INDEX escalation_history_key")
        for table, column in (("escalation_tickets", "next_due_at"), ("escalation_tickets", "clocks"),
                              ("escalation_history", "changes"), ("escalation_history", "hash"),
                              ("escalation_history", "idempotency_key")):
            db.sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.sql("UPDATE escalation_meta SET value = '1' WHERE key = 'schema_version'")
        db.sql("DELETE FROM escalation_meta WHERE key <> 'schema_version'")
        migrated = db.open(desk()[0])
        assert db.schema_version() == SCHEMA_VERSION == 6
        assert migrated.get("T-1").escalation is not None and migrated.get("T-1").version == 3
        assert migrated.verify().ok
        assert [t.id for t in migrated.due(by=MONDAY + 4 * H)] == ["T-1", "T-2"]
        assert len(db.sql("SELECT next_due_at FROM escalation_tickets WHERE next_due_at IS NOT NULL")) == 2


def test_sqlite_answers_from_the_index(tmp_path: Path) -> None:
    """The statement due() runs is planned as a search of escalation_tickets_due, not a scan."""
    store = SQLiteStore(tmp_path / "t.db", machine=desk()[0])
    store.create(new("T-1"))
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    store.due(by=MONDAY + 5 * H)
    store._db.set_trace_callback(None)  # type: ignore[attr-defined]
    [query] = [s for s in statements if "next_due_at <=" in s]
    raw = sqlite3.connect(tmp_path / "t.db")
    plan = " ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + query))
    raw.close()
    store.close()
    assert "USING INDEX escalation_tickets_due" in plan or "USING COVERING INDEX escalation_tickets_due" in plan
    assert "SCAN escalation_tickets " not in plan + " "


def test_postgres_can_answer_from_the_index(tmp_path: Path) -> None:
    """With sequential scans ruled out (a tiny table would use one), the due query uses the index."""
    with backend("postgres", tmp_path) as db:
        db.open(desk()[0]).create(new("T-1"))
        import psycopg

        with psycopg.connect(db.target, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.execute(
                "EXPLAIN SELECT id FROM escalation_tickets t WHERE t.next_due_at IS NOT NULL "
                "AND t.next_due_at <= %s ORDER BY t.next_due_at, t.id", (MONDAY,)))
        assert "escalation_tickets_due" in plan


# -- restart: deadlines are the same in a new process ---------------------------------------------

WAIT_SPEC = default_spec().extend(
    stages=[StageSpec(name="waiting_on_customer", description="Waiting for the customer.")],
    triggers=[TriggerSpec(name="wait_on_customer", description="Ask and wait."),
              TriggerSpec(name="customer_replied", description="The customer answered.")],
    transitions=[
        TransitionSpec(trigger="wait_on_customer", source="escalated", dest="waiting_on_customer",
                       roles={Role.AGENT}),
        TransitionSpec(trigger="customer_replied", source="waiting_on_customer", dest="escalated",
                       roles={Role.CUSTOMER}),
    ],
)
RESTART_CHILD = """
import sys
from datetime import datetime
from escalation_fsm import EscalationMachine
from escalation_fsm.sla import SLAPolicy
from escalation_fsm.stores import SQLiteStore
from test_sla_stores import WAIT_SPEC

path, policy_file, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
policy = SLAPolicy.model_validate_json(open(policy_file, encoding="utf-8").read())
with SQLiteStore(path, machine=EscalationMachine(WAIT_SPEC, sla=policy)) as store:
    for ticket_id in ("T-1", "T-2", "T-3"):
        print(repr(store.machine.deadlines(store.get(ticket_id), now=now)))
    print(repr([t.id for t in store.due(by=now)]))
"""


def test_deadlines_are_identical_after_a_restart(tmp_path: Path) -> None:
    """Compute deadlines, keep the tickets in SQLite, read them back in a NEW process: the same."""
    policy = SLAPolicy(
        calendar=BusinessCalendar(timezone="Europe/Berlin", holidays={MONDAY.date() + timedelta(days=1)}),
        pauses={"waiting_on_customer": frozenset({SLAClock.RESOLUTION, SLAClock.CUSTOMER_UPDATE})},
    )
    machine, clock = desk(policy, WAIT_SPEC)
    path = tmp_path / "tickets.db"
    with SQLiteStore(path, machine=machine) as store:
        for ticket_id in ("T-1", "T-2", "T-3"):
            store.create(new(ticket_id))
        escalate(store, clock, "T-2", MONDAY + H)
        fire(store, clock, MONDAY + 2 * H, "T-2", Trigger.NOTIFY_CUSTOMER, message="On it",
             eta=timedelta(hours=3))
        escalate(store, clock, "T-3", MONDAY + H)
        fire(store, clock, MONDAY + 2 * H, "T-3", "wait_on_customer")
        now = MONDAY + timedelta(days=2, hours=3)
        expected = [repr(machine.deadlines(store.get(t), now=now)) for t in ("T-1", "T-2", "T-3")]
        expected.append(repr([t.id for t in store.due(by=now)]))
    assert "paused=True" in expected[2] and "PROMISED_RESPONSE" in expected[1]
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(policy.model_dump_json(), encoding="utf-8")
    tests = str(Path(__file__).resolve().parent)
    child = subprocess.run(
        [sys.executable, "-c", RESTART_CHILD, str(path), str(policy_file), now.isoformat()],
        check=True, capture_output=True, text=True, cwd=tests,
        env={"PYTHONPATH": tests, "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "12345"})
    assert child.stdout.splitlines() == expected


# -- the follow-up command -------------------------------------------------------------------------

def demo_db(tmp_path: Path) -> Path:
    """A database with an open escalation, an unanswered ticket and a resolved one."""
    path = tmp_path / "desk.db"
    machine, clock = desk()
    with SQLiteStore(path, machine=machine) as store:
        store.create(new("T-new"))
        store.create(new("T-esc"))
        escalate(store, clock, "T-esc", MONDAY + H)
        fire(store, clock, MONDAY + 2 * H, "T-esc", Trigger.NOTIFY_CUSTOMER, message="On it",
             eta=timedelta(hours=2))
        store.create(new("T-done"))
        escalate(store, clock, "T-done", MONDAY)
        fire(store, clock, MONDAY, "T-done", Trigger.NOTIFY_CUSTOMER, message="On it")
        fire(store, clock, MONDAY + H, "T-done", Trigger.RESOLVE, actor=TIER2, solution="Fixed")
    return path


def test_follow_up_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every due clock with what is owed; breached ones marked; soonest first."""
    path = demo_db(tmp_path)
    assert main(["follow-up", "--db", str(path), "--now", "2026-01-05T16:00:00+00:00"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ticket", "stage", "priority", "owed", "due", "(UTC)", "left", "status"]
    body = lines[1:-1]
    expected = [("T-esc", "a Tier 2 response"), ("T-esc", "the response promised with the ETA"),
                ("T-new", "a first response"), ("T-esc", "a customer update")]
    assert len(body) == len(expected)
    for line, (ticket_id, owed) in zip(body, expected, strict=True):
        assert line.startswith(ticket_id) and owed in line and line.endswith("BREACHED")
    assert "2026-01-05 12:00" in body[0] and "-4h00m" in body[0]   # Tier 2 due 12:00, 4h over
    assert lines[-1] == "4 due at 2026-01-05 16:00 UTC, 4 breached"


def test_follow_up_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON for machines; a missing database, a bad policy or a naive time are errors."""
    path = demo_db(tmp_path)
    assert main(["follow-up", "--db", str(path), "--now", "2026-01-05T12:30Z", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["now"] == "2026-01-05T12:30:00+00:00"
    assert [(d["ticket_id"], d["clock"], d["breached"]) for d in document["due"]] == [
        ("T-esc", "tier2_update", True)]
    assert document["due"][0]["remaining_seconds"] == -1800.0
    assert main(["follow-up", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no database" in capsys.readouterr().err
    bad = tmp_path / "policy.json"
    bad.write_text('{"targets": {}}', encoding="utf-8")
    assert main(["follow-up", "--db", str(path), "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "targets: Value error, targets are missing" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["follow-up", "--db", str(path), "--now", "2026-01-05T12:30"])
    assert exit_info.value.code == 2 and "give a time zone" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["follow-up", "--db", str(path), "--now", "yesterday"])
    assert "not an ISO 8601 time" in capsys.readouterr().err


def test_follow_up_with_a_policy_file_and_the_wall_clock(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A listing never re-indexes: another ``--policy`` is refused until ``reindex`` moves to it."""
    path = demo_db(tmp_path)
    before = path.read_bytes()
    policy = tmp_path / "policy.json"
    policy.write_text(SLAPolicy(calendar=BusinessCalendar.always()).model_dump_json(), encoding="utf-8")
    assert main(["follow-up", "--db", str(path), "--policy", str(policy), "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert "indexed under policy" in err and "escalation-fsm reindex" in err and err.count("\n") == 1
    assert path.read_bytes() == before                               # the listing wrote nothing
    assert main(["reindex", "--db", str(path), "--policy", str(policy)]) == 0
    assert capsys.readouterr().out.startswith("re-indexed 3 ticket(s) under SLA policy ")
    assert main(["follow-up", "--db", str(path), "--policy", str(policy), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ticket") and "T-esc" in out and "T-new" not in out
    assert main(["follow-up", "--db", str(path), "--limit", "1"]) == 0   # the recorded policy now
    assert capsys.readouterr().out == out
    with SQLiteStore(path) as store:                                 # back to the default policy
        store.reindex(EscalationMachine())
        assert [t.id for t in store.due(by=MONDAY + 4 * H)] == ["T-esc", "T-new"]


def test_follow_up_on_a_database_with_nothing_due(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo database: every sample ticket ends resolved, so nothing is owed."""
    path = tmp_path / "demo.db"
    assert main(["demo", "--db", str(path)]) == 0
    capsys.readouterr()
    assert main(["follow-up", "--db", str(path), "--now", "2026-01-06T09:00Z"]) == 0
    assert capsys.readouterr().out == "nothing due at 2026-01-06 09:00 UTC\n"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_reindexing_skips_a_corrupt_row(kind: str, tmp_path: Path) -> None:
    """A row that does not decode is left out of the index (get() reports it), the rest indexed."""
    with backend(kind, tmp_path) as db:
        store = db.open(desk()[0])
        store.create(new("T-1"))
        store.create(new("T-2"))
        db.tamper_document("T-2", '{"id": 5}')
        quick = SLAPolicy(targets={u: SLATargets(first_response=H) for u in Urgency})
        assert db.open().reindex(desk(quick)[0]) == 2
        reopened = db.open(desk(quick)[0])
        assert db.sql("SELECT id FROM escalation_tickets WHERE next_due_at IS NOT NULL") == [("T-1",)]
        assert [t.id for t in reopened.due(by=MONDAY + 2 * H)] == ["T-1"]


def test_follow_up_on_a_file_that_is_not_a_database(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The store's error is reported on stderr with status 2, not as a traceback."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just text\n" * 100, encoding="utf-8")
    assert main(["follow-up", "--db", str(path)]) == 2
    assert "escalation-fsm follow-up:" in capsys.readouterr().err


def test_a_store_opened_without_a_machine_refuses_to_fold_with_another_meaning(tmp_path: Path) -> None:
    """Reading needs no machine; writing through the default procedure into an index built for a
    spec whose triggers mean something else raises, instead of folding clocks wrongly."""
    from renamed_procedure import renamed_spec

    path = tmp_path / "renamed.db"
    with SQLiteStore(path, machine=EscalationMachine(renamed_spec(), clock=ManualClock(MONDAY))) as store:
        store.create(new("T-1").model_copy(update={"stage": "logged"}))
    with SQLiteStore(path) as plain:
        assert plain.get("T-1").stage == "logged"                    # reading: fine
        with pytest.raises(SLAPolicyMismatch, match="opened without a machine"):
            plain.apply("T-1", "pick_up", actor=AGENT)
        assert plain.get("T-1").version == 0                         # nothing written
