"""The store review's fast read (digests) counts exactly what the full bulk read counts."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import START
from test_store_histories import fill, machine

from escalation_fsm import EscalationMachine, ManualClock
from escalation_fsm.replay import ReviewReport
from escalation_fsm.review import review_store
from escalation_fsm.sla import SLAPolicy
from escalation_fsm.stores import MemoryStore, SQLiteStore
from escalation_fsm.stores._digest import HistoryDigest
from escalation_fsm.testing.strategies import tickets

POLICY = SLAPolicy(pauses={"escalated": {"resolution"}, "resolved": {"first_response"}})
ASKED = ("notify_customer", "record_interaction")


def dumped(report: ReviewReport) -> dict[str, object]:
    data = report.model_dump(mode="json")
    data.pop("generated_by")
    return data


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data(), tick=st.integers(1, 900))
def test_digests_review_like_full_histories(tmp_path_factory: pytest.TempPathFactory,
                                            data: st.DataObject, tick: int) -> None:
    """Invariant: for any workload, the review of a SQLite store (read in brief: digests) is the
    review of a memory store holding the same tickets (read in full), figure for figure, and the
    SQLite read took no page through the full read."""
    clock = ManualClock(START, tick=timedelta(minutes=tick))
    built = EscalationMachine(clock=clock, sla=POLICY)
    drawn = data.draw(st.lists(tickets(built, max_steps=10), min_size=1, max_size=6))
    folder = tmp_path_factory.mktemp("digests")
    memory = MemoryStore(machine=built)
    with SQLiteStore(folder / "t.db", machine=built) as sqlite_store:
        for number, ticket in enumerate(drawn):
            opened = None if number % 3 == 2 or not ticket.history else (
                ticket.history[0].at - timedelta(minutes=number * 37))
            copy = ticket.model_copy(update={"id": f"T-{number}", "opened_at": opened})
            memory.create(copy)
            sqlite_store.create(copy)
        stream = sqlite_store.digests(asked=ASKED)
        found = list(stream)
        assert stream.full_pages == 0 and all(type(item) is HistoryDigest for item in found)
        assert len(found) == sum(1 for ticket in drawn if ticket.history)
        ours = review_store(sqlite_store, name="store")
    assert dumped(ours) == dumped(review_store(memory, name="store"))


def test_applied_histories_review_alike(tmp_path: Path) -> None:
    """Tickets written one ``apply`` at a time (patches that raise the priority, interactions,
    promises with an ETA, feedback) review alike read in brief and in full (the same store
    seen through a reader without the digest read)."""
    with SQLiteStore(tmp_path / "t.db", machine=machine()) as store:
        fill(store)
        stream = store.digests(asked=ASKED)
        assert [item.id for item in stream] == ["T-1", "T-3", "T-4", "T-5"]
        assert stream.full_pages == 0
        full = MemoryStore(machine=store.machine)
        for ticket_id in ("T-1", "T-2", "T-3", "T-4", "T-5"):
            full.create(store.get(ticket_id))
        assert dumped(review_store(store, name="s")) == dumped(review_store(full, name="s"))


@pytest.mark.parametrize(("column", "value"), [
    ("record", '{"seq": 1, "at": "2026-01-05T10:00:00Z"}'),  # fields missing
    ("record", "[1, 2]"),  # not an object
    ("record", "not JSON"),
    ("record", '{"seq": 7, "at": "2026-01-05T10:00:00Z", "actor_id": "a", "actor_role": "agent", '
               '"trigger": "attempt", "source": "identified", "dest": "attempted", "payload": {}, '
               '"spec_fingerprint": null}'),  # out of sequence
    ("record", '{"seq": 1, "at": "not a time", "actor_id": "a", "actor_role": "agent", '
               '"trigger": "attempt", "source": "identified", "dest": "attempted", "payload": {}, '
               '"spec_fingerprint": null}'),
    ("changes", '{"priority": ["+", "high"]}'),  # a change the digest cannot apply
    ("record", '{"seq": 1, "at": "2026-01-05T10:00:00Z", "actor_id": "a", "actor_role": "agent", '
               '"trigger": "attempt", "source": "identified", "payload": {}, '
               '"spec_fingerprint": null}'),  # no stage entered
    ("record", '{"seq": 1.5, "at": "2026-01-05T10:00:00Z", "actor_id": "a", '
               '"actor_role": "agent", "trigger": "attempt", "source": "identified", '
               '"dest": "attempted", "payload": {}, "spec_fingerprint": null}'),  # not a number 1..n
])
def test_a_page_the_digest_cannot_vouch_for_is_read_in_full(tmp_path: Path, column: str,
                                                            value: str) -> None:
    """A damaged record or change makes its page go through the full bulk read: the damaged
    ticket is skipped and named exactly as the full read names it, the others still count."""
    path = tmp_path / "t.db"
    with SQLiteStore(path, machine=machine()) as store:
        fill(store)
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS escalation_history_no_update")
    db.execute(f"UPDATE escalation_history SET {column} = ? WHERE ticket_id = 'T-1' AND seq = 1",  # noqa: S608
               (value,))
    db.commit()
    db.close()
    with SQLiteStore(path, readonly=True) as reader:
        stream = reader.digests(page_size=2, asked=ASKED)
        assert [item.id for item in stream] == ["T-3", "T-4", "T-5"]  # T-2 has no history
        assert stream.full_pages == 1 and [bad.ticket_id for bad in stream.skipped] == ["T-1"]
        assert stream.read == 5
        report = review_store(reader, sla=None)
    assert report.cases == 3
    assert any("1 ticket(s) could not be read" in w and "T-1" in w for w in report.warnings)


def test_a_store_without_a_digest_read_gives_full_histories() -> None:
    """A store that has no digest query (memory) gives its full histories, every page in full."""
    store = MemoryStore(machine=machine())
    fill(store)
    stream = store.digests(page_size=2)
    assert [item.id for item in stream] == ["T-1", "T-3", "T-4", "T-5"]  # T-2 has no history
    assert stream.full_pages == 3 and not any(type(i) is HistoryDigest for i in stream)
