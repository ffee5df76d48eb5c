"""The bulk read path (``store.histories`` / ``store.history_page``) on every store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from store_support import KINDS, SQL_KINDS, Backend, backend
from support import AGENT, CUSTOMER, HIGH, START, SYSTEM, TIER2, new_ticket

from escalation_fsm import EscalationMachine, InvalidArgument, ManualClock, Trigger
from escalation_fsm.review import review_store
from escalation_fsm.stores import CorruptTicket, StoreBase


def fill(store: StoreBase) -> list[str]:
    """Five tickets: escalated (priority raised by the escalation), resolved at first contact,
    created with a history (its document holds it), without history, and without an opening
    time; ids not in creation order."""
    made = []
    for number, (ticket_id, opened) in enumerate(
            [("T-3", START), ("T-1", START + timedelta(days=1)), ("T-5", START + timedelta(days=2)),
             ("T-2", START + timedelta(days=3)), ("T-4", None)]):
        fields = {"id": ticket_id, "opened_at": opened, "priority": "low"}
        if number == 2:  # created with its history: the document is as of version 2
            machine = store.machine
            ticket = machine.fire(new_ticket(**fields), Trigger.ATTEMPT, actor=AGENT)
            store.create(machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step="KB"))
        else:
            store.create(new_ticket(**fields))
        if number in (0, 1, 4):
            store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
            store.apply(ticket_id, Trigger.RECORD_INTERACTION, actor=AGENT, channel="phone",
                        direction="inbound", summary="called")
        if number == 0:
            store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step="KB")
            store.apply(ticket_id, Trigger.ESCALATE, actor=AGENT, summary="T2", assessment=HIGH)
            store.apply(ticket_id, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="soon",
                        eta=timedelta(hours=4))
            store.apply(ticket_id, Trigger.FOLLOW_UP, actor=TIER2, update="u",
                        customer_message="m")
            store.apply(ticket_id, Trigger.RESOLVE, actor=TIER2, solution="fixed")
        if number == 1:
            store.apply(ticket_id, Trigger.RESOLVE, actor=AGENT, solution="fixed")
            store.apply(ticket_id, Trigger.REQUEST_FEEDBACK, actor=SYSTEM)
            store.apply(ticket_id, Trigger.RECORD_FEEDBACK, actor=CUSTOMER, rating=5)
        made.append(ticket_id)
    return sorted(made)


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def machine() -> EscalationMachine:
    return EscalationMachine(clock=ManualClock(START + timedelta(hours=1),
                                               tick=timedelta(minutes=17)))


def test_histories_are_the_validated_tickets_in_id_order(db: Backend) -> None:
    """Every ticket comes once, by id, whatever the page size; its records, row fields, current
    priority and opening time are those of the validated read (``get``), and ``ticket()``
    rebuilds the ticket ``get`` returns (documents with and without history, patches)."""
    store = db.open(machine())
    ids = fill(store)
    for size in (1, 2, 1000):
        stream = store.histories(page_size=size)
        found = list(stream)
        assert [h.id for h in found] == ids and stream.skipped == [] and stream.read == 5
        for history in found:
            ticket = store.get(history.id)
            assert history.records == ticket.history
            assert (history.stage, history.version, history.category, history.tier,
                    history.priority, history.opened_at) == (
                ticket.stage, ticket.version, ticket.category, ticket.tier, ticket.priority,
                ticket.opened_at)
            assert history.ticket() == ticket
    escalated = store.histories(after="T-2").__next__()
    assert escalated.id == "T-3" and escalated.priority == "high"  # raised by the escalation
    assert escalated.records[4].payload["eta"] == "PT4H"
    with pytest.raises(TypeError, match="read-only"):
        escalated.records[1].payload["direction"] = "outbound"  # type: ignore[index]


def test_pages_follow_the_keyset(db: Backend) -> None:
    """``history_page`` gives ``size`` tickets after ``after``, its last id, and the rows read;
    a short page is the last one."""
    store = db.open(machine())
    fill(store)
    first = store.history_page(size=2)
    assert [h.id for h in first.histories] == ["T-1", "T-2"] and first.last_id == "T-2"
    second = store.history_page(after=first.last_id, size=2)
    assert [h.id for h in second.histories] == ["T-3", "T-4"] and second.rows == 2
    last = store.history_page(after="T-4", size=2)
    assert [h.id for h in last.histories] == ["T-5"] and last.rows == 1
    assert store.history_page(after="T-5", size=2).last_id is None


def test_a_window_keeps_tickets_by_when_their_case_starts(db: Backend) -> None:
    """``since``/``until`` keep the tickets opened in ``[since, until)`` (the first record's time
    for a ticket without ``opened_at``); tickets outside are read but not given; naive times
    and bad sizes are typed errors."""
    store = db.open(machine())
    fill(store)
    window = store.histories(since=START + timedelta(days=1), until=START + timedelta(days=3))
    assert [h.id for h in window] == ["T-1", "T-5"] and window.read == 5
    # T-4 has no opening time: its first record places it.
    first = store.get("T-4").history[0].at
    assert [h.id for h in store.histories(since=first)] == ["T-1", "T-2", "T-4", "T-5"]
    later = first + timedelta(microseconds=1)
    assert [h.id for h in store.histories(since=later)] == ["T-1", "T-2", "T-5"]
    with pytest.raises(InvalidArgument, match="since"):
        store.histories(since=datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="page_size"):
        store.histories(page_size=0)
    with pytest.raises(InvalidArgument, match="size"):
        store.history_page(size=-1)


def damage(db: Backend, store: StoreBase, ticket_id: str, seq: int, record: str) -> None:
    """Rewrite one stored history record behind the store's back (append-only guard dropped)."""
    if db.kind == "memory":
        row = store.tickets.rows[ticket_id]  # type: ignore[attr-defined]
        row.records[seq - 1] = row.records[seq - 1]._replace(record=record)
        return
    if db.kind == "sqlite":
        db.sql("DROP TRIGGER IF EXISTS escalation_history_no_update")
    else:
        db.sql("DROP TRIGGER IF EXISTS escalation_history_append_only ON escalation_history")
    db.sql("UPDATE escalation_history SET record = ? WHERE ticket_id = ? AND seq = ?",
           (record, ticket_id, seq))


@pytest.mark.parametrize("record", [
    '{"seq": 1, "at": "2026-01-05T10:00:00Z"}',  # fields missing
    '[1, 2]',  # not an object
    '{"seq": 7, "at": "2026-01-05T10:00:00Z", "actor_id": "a", "actor_role": "agent", '
    '"trigger": "attempt", "source": "identified", "dest": "attempted", "payload": {}, '
    '"spec_fingerprint": null}',  # out of sequence
    '{"seq": 1, "at": "not a time", "actor_id": "a", "actor_role": "agent", '
    '"trigger": "attempt", "source": "identified", "dest": "attempted", "payload": {}, '
    '"spec_fingerprint": null, "extra": 1}',
])
def test_an_unreadable_ticket_is_skipped_and_counted(db: Backend, record: str) -> None:
    """A ticket whose stored record cannot be read is left out, never raised: the others come
    through, the stream's ``skipped`` names it, the store's stats count it, and a review says
    so in its warnings."""
    store = db.open(machine())
    ids = fill(store)
    damage(db, store, "T-1", 1, record)
    reader = db.open() if db.kind != "memory" else store
    stream = reader.histories(page_size=2)
    assert [h.id for h in stream] == [i for i in ids if i != "T-1"]
    assert [bad.ticket_id for bad in stream.skipped] == ["T-1"]
    assert isinstance(stream.skipped[0], CorruptTicket) and stream.read == 5
    assert reader.stats.skipped >= 1
    report = review_store(reader, sla=None)
    assert report.cases == 3  # T-2 has no history: not a case
    assert any("1 ticket(s) could not be read" in w and "T-1" in w for w in report.warnings)


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_ticket_without_its_document_is_skipped(kind: str, tmp_path: Path) -> None:
    """A ticket row whose document is missing is reported, not dropped and not raised."""
    with backend(kind, tmp_path) as db:
        store = db.open(machine())
        fill(store)
        if kind == "sqlite":
            db.sql("DROP TRIGGER IF EXISTS escalation_documents_no_delete")
            db.sql("PRAGMA foreign_keys = OFF")
        else:
            db.sql("DROP TRIGGER IF EXISTS escalation_documents_write_once ON escalation_documents")
        db.sql("DELETE FROM escalation_documents WHERE ticket_id = 'T-2'")
        stream = db.open().histories()
        assert [h.id for h in stream] == ["T-1", "T-3", "T-4", "T-5"]
        assert [(bad.ticket_id, "document is missing" in bad.reason) for bad in stream.skipped] == [
            ("T-2", True)]
