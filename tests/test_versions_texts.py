"""The dry run judged from stored texts: one history string per ticket, edge keys found in it.

The dry run reads each ticket's records as one string (joined by newlines, checked against their
sequence numbers) and follows the cached replay by each record's text after ``"actor_role":``
(escalation_fsm/migration_check.py, escalation_fsm/stores/_dry_run_read.py). These tests pin
that texts which are not one line per record are never judged from their texts, that payloads
holding the very strings the reading looks for change nothing, and that the read of the next
page beside the decoding of a damaged one loses nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import SQL_KINDS, backend
from support import VALID, new_ticket
from version_support import dry_run_targets

from escalation_fsm import (
    Actor,
    EscalationError,
    EscalationMachine,
    ManualClock,
    Migration,
    MigrationCheck,
    default_spec,
)
from escalation_fsm.stores import MemoryStore
from escalation_fsm.stores._dry_run_read import _in_order

V1 = default_spec()
TARGETS = dry_run_targets()
V2, V3, V4 = TARGETS["v2"], TARGETS["v3"], TARGETS["v4"]
# Step texts that hold what the reading looks for: the role's key, a restart trigger, a newline,
# quotes and backslashes (all escaped inside JSON strings, so none may be mistaken for them).
TRICKY = ('"actor_role":"supervisor"', ',"trigger":"import",', "line one\nline two",
          'say \\"hi\\"', "ünïcödé", "Checked the knowledge base")


def _clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC), tick=timedelta(seconds=30))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 20), target=st.sampled_from(sorted(TARGETS)))
def test_payloads_holding_the_searched_strings_plan_as_the_full_replay(
        seed: int, count: int, target: str) -> None:
    """Invariant: with step texts that contain ``"actor_role":``, a restart trigger's marker,
    newlines, quotes and backslashes, the dry run from texts (edge keys found in the joined
    history) plans every ticket exactly as the full replay of the decoded records does."""
    rng = random.Random(seed)
    store = MemoryStore(machine=EscalationMachine(V1, clock=_clock()))
    spec = store.machine.spec
    for n in range(count):
        ticket = store.create(new_ticket(id=f"T-{n:03d}"))
        for _ in range(rng.randrange(12)):
            moves = list(spec.transitions_from(ticket.stage))
            rng.shuffle(moves)
            for move in moves:
                role = rng.choice(sorted(move.roles))
                payload = dict(VALID.get(move.trigger, {}))
                if "step" in payload:
                    payload["step"] = rng.choice(TRICKY)
                try:
                    ticket = store.apply(ticket.id, move.trigger,
                                         actor=Actor(id=f"{role}-{rng.randrange(2)}", role=role),
                                         **payload)
                except EscalationError:
                    continue
                break
    moved = MemoryStore(machine=EscalationMachine(TARGETS[target], clock=_clock()),
                        shared_with=store)
    cached = moved.migrate(Migration(V1, TARGETS[target]), dry_run=True)
    full = moved.migrate(Migration(V1, TARGETS[target]), dry_run=True, cache=False)
    assert cached.plans == full.plans
    assert len(cached.plans) == count


def _three_records() -> tuple[MigrationCheck, dict[str, object], list[str]]:
    machine = EscalationMachine(V1, clock=_clock())
    actor = Actor(id="a-1", role="agent")
    created = ticket = machine.new_ticket(**new_ticket(id="T-1").model_dump(exclude={"stage"}))
    for trigger in ("attempt", "record_step", "resolve"):
        ticket = machine.fire(ticket, trigger, actor=actor, **VALID[trigger])
    row = {"stage": ticket.stage, "version": 3, "tier": 1, "fingerprint": ticket.spec_fingerprint,
           "base_version": 0, "document": created.model_dump_json(exclude={"history"})}
    return MigrationCheck(Migration(V1, V2)), row, [r.model_dump_json() for r in ticket.history]


def test_texts_as_a_list_or_joined_give_the_same_plan() -> None:
    """``check_texts`` takes the records as a list or as one string joined by newlines: the
    same clean plan either way (the store's read gives the string)."""
    check, row, records = _three_records()
    joined = check.check_texts("T-1", records="\n".join(records), **row)  # type: ignore[arg-type]
    listed = check.check_texts("T-1", records=records, **row)  # type: ignore[arg-type]
    assert joined == listed
    assert joined is not None and (joined.status, joined.lands) == ("clean", "resolved")


@pytest.mark.parametrize("where", ['"actor_id"', "}"])
def test_a_record_text_spread_over_two_lines_is_left_to_decoding(where: str) -> None:
    """A stored record with a newline in it (valid JSON whitespace, but not how records are
    written) makes the joined history more lines than records: the texts are not judged (None:
    the store decodes the ticket), even when every line but one holds an edge key."""
    check, row, records = _three_records()
    cut = records[1].index(where)
    records[1] = records[1][:cut] + "\n" + records[1][cut:]
    assert check.check_texts("T-1", records="\n".join(records), **row) is None  # type: ignore[arg-type]
    assert check.check_texts("T-1", records=records, **row) is None  # type: ignore[arg-type]


def test_history_texts_are_used_only_when_their_numbers_are_one_to_the_version() -> None:
    """The SQL read aggregates each ticket's rows with their sequence numbers: the joined texts
    are used only when the numbers read are exactly 1 to the ticket's version, in order."""
    assert _in_order(3, "1,2,3", "a\nb\nc") == "a\nb\nc"
    assert _in_order(3, "1,3,2", "a\nc\nb") is None
    assert _in_order(3, "1,2", "a\nb") is None
    assert _in_order(2, "1,2,3", "a\nb\nc") is None
    assert _in_order(0, None, None) == ""
    assert _in_order(0, "1", "a") is None
    assert _in_order(1, None, None) is None


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_damaged_tickets_on_several_pages_are_decoded_beside_the_next_pages_read(
        kind: str, tmp_path: Path) -> None:
    """History rows deleted from three tickets over two pages of four (two on the first page: it
    is read again in full while the next page is being read; one on the second: read alone):
    those three are reported unreadable, the nine others clean, in id order."""
    with backend(kind, tmp_path) as db:
        store = db.open(EscalationMachine(V1, clock=_clock()))
        actor = Actor(id="a-1", role="agent")
        ids = [f"T-{n:02d}" for n in range(12)]
        for ticket_id in ids:
            store.create(new_ticket(id=ticket_id))
            for trigger in ("attempt", "record_step", "resolve"):
                store.apply(ticket_id, trigger, actor=actor, **VALID[trigger])
        trigger_name = ("escalation_history_no_delete" if kind == "sqlite"
                        else "escalation_history_append_only ON escalation_history")
        db.sql(f"DROP TRIGGER IF EXISTS {trigger_name}")
        damaged = {"T-00", "T-02", "T-05"}
        for ticket_id in sorted(damaged):
            db.sql("DELETE FROM escalation_history WHERE ticket_id = ? AND seq = 2", (ticket_id,))
        report = db.open(EscalationMachine(V2)).migrate(Migration(V1, V2), dry_run=True,
                                                       batch_size=4)
        assert [(p.ticket_id, p.status) for p in report.plans] == [
            (i, "unreadable" if i in damaged else "clean") for i in ids]
