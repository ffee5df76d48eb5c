"""The commands that read a database report what the library did not write, and go on.

``escalation-fsm verify`` lists every ticket changed outside the library (issue 15, tamper
evidence); ``escalation-fsm follow-up`` lists what it can read and names the rest on standard
error with exit status 1 (issue 15, problem 3).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from store_support import SQL_KINDS, Backend, backend
from support import AGENT, HIGH, START, new_ticket

from escalation_fsm import EscalationMachine, ManualClock, Trigger
from escalation_fsm.cli import main
from escalation_fsm.stores import StoreBase


@pytest.fixture(params=SQL_KINDS)
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def where(db: Backend) -> list[str]:
    return ["--db", db.target] if db.kind == "sqlite" else ["--dsn", db.target]


def escalated(store: StoreBase, ticket_id: str) -> None:
    store.create(new_ticket(id=ticket_id))
    store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step="KB")
    store.apply(ticket_id, Trigger.ESCALATE, actor=AGENT, summary="Tier 2", assessment=HIGH)


def filled(db: Backend) -> StoreBase:
    store = db.open(EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=1))))
    for ticket_id in ("T-1", "T-2", "T-3"):
        escalated(store, ticket_id)
    return store


def test_verify_says_all_is_well_when_it_is(sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit status 0 and one summary line for a database only the library wrote."""
    filled(sql)
    assert main(["verify", *where(sql)]) == 0
    assert capsys.readouterr().out == "checked 3 ticket(s): all as the library wrote them\n"


def test_verify_names_each_changed_ticket_and_its_first_bad_row(
        sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit status 1; a line per problem naming the ticket and the first row that does not match,
    in table and JSON form."""
    filled(sql)
    sql.tamper_document("T-1", '{"id": "T-1", "customer_id": "C"}')
    if sql.kind == "sqlite":
        sql.sql("DROP TRIGGER escalation_history_no_update")
        sql.sql("UPDATE escalation_history SET record = replace(record, '\"KB\"', '\"nothing\"') "
                "WHERE ticket_id = 'T-3' AND seq = 2")
    else:
        sql.sql("DROP TRIGGER escalation_history_append_only ON escalation_history")
        sql.sql("UPDATE escalation_history SET record = CAST(replace(CAST(record AS text), "
                "'\"KB\"', '\"nothing\"') AS json) WHERE ticket_id = 'T-3' AND seq = 2")
    assert main(["verify", *where(sql)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("T-1  ticket  document: its document does not match its hash")
    assert out[1].startswith("T-3  record 2  hash: history row 2 does not match its hash")
    assert out[-1] == "checked 3 ticket(s): 2 with problems"
    assert main(["verify", *where(sql), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["checked"], report["ok"]) == (3, False)
    assert [(p["ticket_id"], p["seq"], p["check"]) for p in report["problems"]] == [
        ("T-1", None, "document"), ("T-3", 2, "hash")]


def test_follow_up_lists_what_it_can_read_and_names_the_rest(
        sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15 (3): one damaged ticket no longer fails the whole listing: the others are listed,
    the damaged one is named on standard error, and the exit status is 1."""
    filled(sql)
    sql.tamper_document("T-2", '{"id": "T-2"}')
    status = main(["follow-up", *where(sql), "--now", (START + timedelta(days=30)).isoformat()])
    out, err = capsys.readouterr()
    assert status == 1
    assert "T-1" in out and "T-3" in out and "T-2" not in out
    assert err.splitlines() == [
        "escalation-fsm follow-up: skipped ticket 'T-2', which cannot be read: its document does "
        "not match its hash: it was changed outside the library"]


def test_verify_and_follow_up_read_a_database_they_cannot_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both commands open the file read-only: they work on a copy the process may not change,
    and leave the bytes of the database as they were."""
    with backend("sqlite", tmp_path) as db:
        filled(db).close()
    before = Path(db.target).read_bytes()
    assert main(["verify", "--db", db.target]) == 0
    assert main(["follow-up", "--db", db.target, "--now", START.isoformat()]) == 0
    capsys.readouterr()
    assert Path(db.target).read_bytes() == before
    raw = sqlite3.connect(db.target)
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()
