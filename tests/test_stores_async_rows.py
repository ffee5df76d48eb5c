"""The async stores write the sync stores' rows: same schema, same values, readable by either.

The same calls (create, apply, a follow-up step acted on, a resolve that meets the resolution
clock, a reopen that resumes it) go through an async store and, on a twin database, through its
sync store. After each, the two ticket rows must be equal column by column (the schema-6
ladder column ``next_step_at`` included) and that column must hold the ticket's next pending
ladder step; then a sync store opened on the async store's database reads what it wrote.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ladder_support import MONDAY, ladder_desk, new, noop
from store_support import ASYNC_KINDS, Backend, backend
from support import AGENT

from escalation_fsm import Actor, ManualClock, Role, Trigger
from escalation_fsm.stores import StoreBase

H = timedelta(hours=1)

_ROW = ("SELECT id, stage, category, tier, version, updated_at, CAST(clocks AS text), "
        "next_due_at, next_step_at, spec, lease_owner FROM escalation_tickets WHERE id = 'T-1'")
_STEP = 8
"""next_step_at's place in a row of ``_ROW``."""
_HISTORY = ("SELECT seq, trigger, CAST(record AS text), CAST(changes AS text), idempotency_key, "
            "hash FROM escalation_history WHERE ticket_id = 'T-1' ORDER BY seq")


def _same_calls(store: StoreBase, db: Backend, clock: ManualClock) -> list[list[object]]:
    """Run the calls on ``store``; after each, the ticket's row, with its next_step_at checked
    against the ticket's next pending ladder step (``None`` once none is pending)."""
    rows: list[list[object]] = []

    def note(label: str) -> None:
        pending = store.steps("T-1")
        [row] = db.sql(_ROW)
        assert (label, _instant(row[_STEP])) == (label, pending[0].due_at if pending else None)
        rows.append([label, *row])

    store.create(new("T-1"))
    note("created")
    clock.advance(H)
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    note("attempted")
    claim = store.claim_due("A", by=MONDAY + 60 * H)[0]
    assert store.act_on(claim, perform=noop).outcome == "done"
    note("followed up")
    clock.advance(H)
    store.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="Reset the sync token")
    note("resolved")
    clock.advance(H)
    store.apply("T-1", Trigger.REOPEN, actor=Actor(id="c", role=Role.CUSTOMER), reason="Again")
    note("reopened")
    rows.append(db.sql(_HISTORY))
    return rows


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_async_and_sync_stores_write_the_same_rows_ladder_column_included(
        kind: str, tmp_path: Path) -> None:
    """Row for row the async store writes what the sync store writes, next_step_at included,
    and that column is always the next pending ladder step (none while the clock is met)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "s").mkdir()
    with backend(kind, tmp_path / "a") as async_db, \
            backend(kind.removeprefix("async_"), tmp_path / "s") as sync_db:
        written = {}
        for name, db in (("async", async_db), ("sync", sync_db)):
            machine, clock = ladder_desk()
            written[name] = _same_calls(db.open(machine), db, clock)
        assert written["async"] == written["sync"]
        by_label = {row[0]: row for row in written["async"][:-1]}
        assert by_label["resolved"][1 + _STEP] is None
        assert by_label["reopened"][1 + _STEP] is not None
        assert by_label["reopened"][-1] is None  # no lease left behind


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_a_sync_store_reads_and_follows_up_what_an_async_store_wrote(
        kind: str, tmp_path: Path) -> None:
    """A sync store on the async store's database: the same ticket, chain and steps, its
    next_step_at claimed by a sync worker, and verify() passes."""
    with backend(kind, tmp_path) as db:
        writer = db.open(ladder_desk()[0])
        writer.create(new("T-1"))
        writer.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
        written = writer.get("T-1")
        [row] = db.sql(_ROW)
        assert _instant(row[_STEP]) == writer.steps("T-1")[0].due_at
        reader = Backend(db.database, db.target).open(ladder_desk()[0])
        try:
            assert reader.get("T-1") == written
            assert reader.head("T-1") == writer.head("T-1")
            assert reader.steps("T-1") == writer.steps("T-1")
            claims = reader.claim_due("sync-worker", by=MONDAY + 60 * H)
            assert [(c.ticket_id, c.step.name) for c in claims] == [("T-1", "half")]
            assert reader.verify().ok
        finally:
            reader.close()


def _instant(value: object) -> object:
    """A stored instant as a datetime (SQLite keeps UTC text, PostgreSQL a timestamptz)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
