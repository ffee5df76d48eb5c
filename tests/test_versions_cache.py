"""The dry run's shared replay: plans from the cache equal full replays, ticket by ticket.

The cache fires records as one actor at one time and lets prefixes that lead to the same ticket
data share a node (escalation_fsm/migration_check.py); these tests fill stores through ``apply``
(so histories are fired, not imported) with several actors per role, varied payloads and times,
and compare the cached dry run with the full one, and with a fresh machine of the new spec.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import SQL_KINDS, backend
from support import VALID, new_ticket
from version_support import dry_run_targets

from escalation_fsm import (
    Actor,
    AuditRecord,
    EscalationError,
    EscalationMachine,
    ManualClock,
    Migration,
    MigrationCheck,
    Ticket,
    default_spec,
)
from escalation_fsm.stores import MemoryStore, StoreBase
from escalation_fsm.stores._dry_run_read import texts_of

V1 = default_spec()
TARGETS = dry_run_targets()
V2, V3, V4 = TARGETS["v2"], TARGETS["v3"], TARGETS["v4"]
STEPS = ("Checked the knowledge base", "Restarted the router")
DETAILS = ("The app crashes on start", "Cannot log in")


def _clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC), tick=timedelta(seconds=30))


def _fill(store: StoreBase, rng: random.Random, count: int) -> dict[str, Ticket]:
    """``count`` tickets walked by ``apply`` (0 to 12 moves each, random actors of the allowed
    roles, two step texts, two kinds of details); returns each ticket as created."""
    spec = store.machine.spec
    created = {}
    for n in range(count):
        ticket = store.create(new_ticket(id=f"T-{n:03d}", details=rng.choice(DETAILS)))
        created[ticket.id] = ticket
        for _ in range(rng.randrange(13)):
            moves = list(spec.transitions_from(ticket.stage))
            rng.shuffle(moves)
            for move in moves:
                role = rng.choice(sorted(move.roles))
                payload: dict[str, Any] = dict(VALID.get(move.trigger, {}))
                if "step" in payload:
                    payload["step"] = rng.choice(STEPS)
                try:
                    ticket = store.apply(ticket.id, move.trigger,
                                         actor=Actor(id=f"{role}-{rng.randrange(3)}", role=role),
                                         **payload)
                except EscalationError:
                    continue
                break
    return created


def _replays_to(migration: Migration, base: Ticket, history: tuple[AuditRecord, ...]) -> str:
    """Fire ``history`` through a fresh machine of the target spec, by its recorded actors at its
    recorded times; the stage it ends in (raises where the new spec refuses a record)."""
    clock = _clock()
    machine = EscalationMachine(migration.target, clock=clock)
    ticket = machine.new_ticket(**base.model_dump(exclude={"stage", "history", "version"}))
    for record in history:
        clock.set(record.at)
        ticket = machine.fire(ticket, migration.trigger_of(record.trigger),
                              actor=Actor(id=record.actor_id, role=record.actor_role),
                              **dict(record.payload))
        assert ticket.stage == migration.stage_of(record.dest)
    assert ticket.tier == base.tier or len(history) > 0
    return ticket.stage


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 30), target=st.sampled_from(sorted(TARGETS)))
def test_cached_and_full_dry_runs_give_the_same_report_on_random_stores(
        seed: int, count: int, target: str) -> None:
    """Invariant: on a store filled at random, the dry run with the shared cache plans every
    ticket exactly as the full replay does (status, stage, landing stage, breaking record, its
    trigger and reason, down to the actor a refusal names)."""
    store = MemoryStore(machine=EscalationMachine(V1, clock=_clock()))
    _fill(store, random.Random(seed), count)
    moved = MemoryStore(machine=EscalationMachine(TARGETS[target], clock=_clock()),
                        shared_with=store)
    cached = moved.migrate(Migration(V1, TARGETS[target]), dry_run=True)
    full = moved.migrate(Migration(V1, TARGETS[target]), dry_run=True, cache=False)
    assert cached.plans == full.plans
    assert len(cached.plans) == count


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 30), target=st.sampled_from(sorted(TARGETS)))
def test_a_store_migration_the_dry_run_accepts_replays_under_the_new_machine(
        seed: int, count: int, target: str) -> None:
    """Invariant: with one cache shared by all the store's tickets, every ticket the dry run calls
    clean replays record by record (its recorded actors, times and payloads) through a fresh
    machine of the new spec and ends where the plan says it lands; every ticket it calls broken
    is refused by that replay."""
    store = MemoryStore(machine=EscalationMachine(V1, clock=_clock()))
    created = _fill(store, random.Random(seed), count)
    migration = Migration(V1, TARGETS[target])
    report = store.migrate(migration, dry_run=True)
    for plan in report.plans:
        history = store.get(plan.ticket_id).history
        if plan.status == "clean":
            assert _replays_to(migration, created[plan.ticket_id], history) == plan.lands
        elif plan.status == "breaks":
            assert plan.seq is not None
            with pytest.raises((EscalationError, AssertionError)):
                _replays_to(migration, created[plan.ticket_id], history[:plan.seq])
            _replays_to(migration, created[plan.ticket_id], history[:plan.seq - 1])
        else:
            assert plan.status == "done" and not history


def test_a_refusal_names_each_tickets_own_actor() -> None:
    """Two tickets with the same history by different agents break at the same record under v4,
    each plan's reason naming its own agent (the cached replay fires as one fixed actor)."""
    store = MemoryStore(machine=EscalationMachine(V1, clock=_clock()))
    for ticket_id, agent in (("T-1", "agent-7"), ("T-2", "agent-9")):
        actor = Actor(id=agent, role="agent")
        store.create(new_ticket(id=ticket_id))
        for trigger in ("attempt", "record_step", "escalate", "record_step"):
            store.apply(ticket_id, trigger, actor=actor, **VALID[trigger])
    report = store.migrate(Migration(V1, V4), dry_run=True)
    first, second = report.plans
    assert (first.status, first.seq, second.status, second.seq) == ("breaks", 4, "breaks", 4)
    assert "agent-7" in (first.reason or "") and "agent-9" in (second.reason or "")
    assert report.plans == store.migrate(Migration(V1, V4), dry_run=True, cache=False).plans


def test_prefixes_that_lead_to_the_same_data_share_the_rest_of_the_replay() -> None:
    """An interaction changes no data: after 'attempt, interaction, step' and 'attempt, step,
    interaction' the ticket data are equal, so the records after them are fired once for both
    (a full replay would fire all ten)."""
    check = MigrationCheck(Migration(V1, V2))
    fired: list[str] = []
    transition = check.machine.transition

    def counted(ticket: Ticket, trigger: str, **kwargs: Any) -> Any:
        fired.append(trigger)
        return transition(ticket, trigger, **kwargs)

    check.machine.transition = counted  # type: ignore[method-assign]
    machine, actor = EscalationMachine(V1), Actor(id="a-1", role="agent")
    plans = []
    for ticket_id, middle in (("T-1", ("record_interaction", "record_step")),
                              ("T-2", ("record_step", "record_interaction"))):
        base = ticket = machine.new_ticket(**new_ticket(id=ticket_id).model_dump(exclude={"stage"}))
        for trigger in ("attempt", *middle, "resolve", "request_feedback"):
            ticket = machine.fire(ticket, trigger, actor=actor, **VALID[trigger])
        plans.append(check.check(ticket, base))
    assert [p.status for p in plans] == ["clean", "clean"]
    # The interaction leads back to the node it left (same data): T-2's step follows the edge
    # T-1's step was fired on, then only its interaction after the step is new.
    assert fired == ["attempt", "record_interaction", "record_step", "resolve", "request_feedback",
                     "record_interaction"]


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_the_dry_runs_read_gives_the_texts_a_full_read_gives(kind: str, tmp_path: Path) -> None:
    """The SQL stores' narrow read (row fields, document, record texts in order) equals what the
    full read of the same tickets holds, page by page; the dry run's plans agree with the full
    replay's."""
    with backend(kind, tmp_path) as db:
        store = db.open(EscalationMachine(V1, clock=_clock()))
        _fill(store, random.Random(5), 60)
        for after, size in ((None, 25), ("T-024", 25), ("T-049", 25), ("T-059", 25)):
            assert store._texts_page(after, size) == [texts_of(s) for s in store._stored_page(after, size)]
        moved = db.open(EscalationMachine(V3, clock=_clock()))
        report = moved.migrate(Migration(V1, V3), dry_run=True, batch_size=7)
        assert report.plans == moved.migrate(Migration(V1, V3), dry_run=True, cache=False).plans
        assert {p.status for p in report.plans} >= {"clean", "breaks"}


@pytest.mark.parametrize("damaged", [1, 2])
@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_ticket_with_a_missing_history_row_is_reported_unreadable(
        kind: str, damaged: int, tmp_path: Path) -> None:
    """History rows deleted behind the store's back (one ticket: read again alone; two: the page
    read again in full): the texts do not add up to the version, so those tickets are decoded and
    reported unreadable with why; the last one is planned as usual."""
    with backend(kind, tmp_path) as db:
        store = db.open(EscalationMachine(V1, clock=_clock()))
        actor = Actor(id="a-1", role="agent")
        ids = [f"T-{n}" for n in range(damaged + 1)]
        for ticket_id in ids:
            store.create(new_ticket(id=ticket_id))
            for trigger in ("attempt", "record_step", "resolve"):
                store.apply(ticket_id, trigger, actor=actor, **VALID[trigger])
        trigger_name = ("escalation_history_no_delete" if kind == "sqlite"
                        else "escalation_history_append_only ON escalation_history")
        db.sql(f"DROP TRIGGER IF EXISTS {trigger_name}")
        for ticket_id in ids[:damaged]:
            db.sql("DELETE FROM escalation_history WHERE ticket_id = ? AND seq = 2", (ticket_id,))
        report = db.open(EscalationMachine(V2)).migrate(Migration(V1, V2), dry_run=True)
        assert [(p.ticket_id, p.status) for p in report.plans] \
            == [(i, "unreadable") for i in ids[:damaged]] + [(ids[-1], "clean")]
        assert all(p.reason for p in report.plans[:damaged])


def test_a_full_cache_goes_on_replaying_without_keeping() -> None:
    """With room for 5 records and 5 starting points, 150 tickets (to v4, some breaking) get the
    plans of the full replay, and no more than 5 records are kept."""
    store = MemoryStore(machine=EscalationMachine(V1, clock=_clock()))
    created = _fill(store, random.Random(9), 150)
    migration = Migration(V1, V4)
    small, full = MigrationCheck(migration, max_nodes=5), MigrationCheck(migration, cache=False)
    tickets = [store.get(ticket_id) for ticket_id in created]
    plans = [small.check(t, created[t.id]) for t in tickets]
    assert plans == [full.check(t, created[t.id]) for t in tickets]
    assert {p.status for p in plans} >= {"clean", "breaks"} and small.nodes == 5
