"""Follow-up on every store: claim due ladder steps under a lease, act on each once, record it.

Each store (memory, SQLite, PostgreSQL) must give the same answers: claims are exclusive until
their lease ends, every action goes through the machine (guards and roles apply, actor
``system``), each step is recorded once as one ``@follow-up`` audit record, and a ticket that
changed since it was claimed gets no action.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from ladder_support import ESCALATE_PAYLOAD, LATER, MONDAY, ladder_desk, ladder_spec, new, noop
from store_support import KINDS, SQL_KINDS, Backend, back_to_schema_5, backend
from support import AGENT
from version_support import with_tier3_and_closed

from escalation_fsm import (
    FOLLOW_UP_TRIGGER,
    MIGRATE_TRIGGER,
    Actor,
    EscalationMachine,
    InvalidArgument,
    Migration,
    Role,
    StoreError,
    StoreReadOnly,
    Ticket,
    Trigger,
    Urgency,
)
from escalation_fsm.sla import DueStep
from escalation_fsm.stores import FollowUpSetupError, FollowUpWorker, MemoryStore, StoreBase

H = timedelta(hours=1)


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found
    _MEMORY.pop(id(found), None)  # ids are reused once a backend is gone


_MEMORY: dict[int, MemoryStore] = {}


def _store(db: Backend) -> StoreBase:
    """A handle on ``db`` with the ladder's machine (memory stores share one set of tickets)."""
    machine, _clock = ladder_desk()
    if db.kind != "memory":
        return db.open(machine)
    first = _MEMORY.get(id(db))
    store = MemoryStore(machine=machine, shared_with=first)
    _MEMORY.setdefault(id(db), store)
    return store


def _follow_ups(ticket: Ticket) -> list[dict[str, object]]:
    return [dict(r.payload) for r in ticket.history if r.trigger == FOLLOW_UP_TRIGGER]


def test_steps_come_due_at_fractions_and_offsets_of_the_business_target(db: Backend) -> None:
    """Resolution at normal urgency is 40 business hours (09-17, Mon-Fri): 50% is Wednesday 13:00,
    75% Thursday 15:00, the breach Friday 17:00, and one business hour after it Monday 10:00."""
    store = _store(db)
    store.create(new("T-1"))
    steps = store.steps("T-1")
    assert [(s.name, s.due_at.isoformat()) for s in steps] == [
        ("half", "2026-01-07T13:00:00+00:00"), ("three-quarters", "2026-01-08T15:00:00+00:00"),
        ("breach", "2026-01-09T17:00:00+00:00"), ("late", "2026-01-12T10:00:00+00:00")]
    assert {s.deadline_at for s in steps} == {steps[2].due_at}


def test_a_claim_is_exclusive_until_acted_on_and_recorded_once(db: Backend) -> None:
    """Worker A's claim hides the ticket from worker B; acting writes one @follow-up record by
    system, in place, naming the step; the step is then never due again, and verify() passes."""
    store = _store(db)
    other = _store(db)
    store.create(new("T-1"))
    claims = store.claim_due("A", by=MONDAY + 60 * H)
    assert [c.step.name for c in claims] == ["half"]
    assert other.claim_due("B", by=LATER) == []
    notified: list[tuple[str, str]] = []
    outcome = store.act_on(claims[0], perform=lambda t, s: notified.append((t.id, s.key)))
    assert outcome.outcome == "done" and outcome.recorded
    assert notified == [("T-1", claims[0].step.key)]
    ticket = store.get("T-1")
    assert ticket.version == 1 and ticket.stage == "identified"
    record = ticket.history[-1]
    assert (record.trigger, record.actor_role, record.source, record.dest) == (
        FOLLOW_UP_TRIGGER, Role.SYSTEM, "identified", "identified")
    assert record.payload["step"] == "half" and record.payload["role"] == "supervisor"
    assert record.payload["outcome"] == "done" and record.payload["worker"] == "A"
    assert [s.name for s in store.steps("T-1")] == ["three-quarters", "breach", "late"]
    assert store.claim_due("A", by=MONDAY + 60 * H) == []
    assert store.verify().ok


def test_acting_twice_on_one_claim_records_once(db: Backend) -> None:
    """The second act_on of the same claim finds the ticket changed: stale, nothing written."""
    store = _store(db)
    store.create(new("T-1"))
    claim = store.claim_due("A", by=LATER)[0]
    assert store.act_on(claim, perform=noop).outcome == "done"
    again = store.act_on(claim, perform=noop)
    assert again.outcome == "stale" and not again.recorded
    assert len(_follow_ups(store.get("T-1"))) == 1


def test_a_dead_workers_lease_expires_and_another_takes_the_step_once(db: Backend) -> None:
    """A claim not acted on blocks others only until its lease ends; then B acts on it, and A's
    late attempt is refused (lost or stale): one record."""
    store = _store(db)
    store.create(new("T-1"))
    claim = store.claim_due("A", by=LATER, lease=timedelta(milliseconds=300))[0]
    assert store.claim_due("B", by=LATER) == []
    time.sleep(0.5)
    taken = store.claim_due("B", by=LATER)
    assert [c.step.key for c in taken] == [claim.step.key]
    assert store.act_on(claim, perform=noop).outcome in {"lost", "stale"}
    assert store.act_on(taken[0], perform=noop).outcome == "done"
    assert [p["worker"] for p in _follow_ups(store.get("T-1"))] == ["B"]


def test_a_ticket_resolved_while_its_step_is_leased_gets_no_action(db: Backend) -> None:
    """The ticket changed after the claim: no host action runs and nothing is recorded."""
    store = _store(db)
    store.create(new("T-1"))
    claim = store.claim_due("A", by=LATER)[0]
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    store.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="Reset the sync token")
    called: list[str] = []
    outcome = store.act_on(claim, perform=lambda t, s: called.append(t.id))
    assert outcome.outcome == "stale" and called == []
    assert _follow_ups(store.get("T-1")) == []
    assert store.steps("T-1") == [] and store.claim_due("B", by=LATER) == []


def test_escalate_fires_the_marked_trigger_through_the_machine_as_system(db: Backend) -> None:
    """At the breach the escalating trigger fires with its guards: refused (and recorded as
    refused, never retried) without steps taken, done once a step is recorded."""
    store = _store(db)
    for ticket_id in ("T-1", "T-2"):
        store.create(new(ticket_id))
        store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    store.apply("T-2", Trigger.RECORD_STEP, actor=AGENT, step="Checked the KB")
    worker = FollowUpWorker(store, "A", notify=noop, callbacks={"page": noop})
    totals = worker.drain(by=MONDAY + timedelta(days=4, hours=9))  # Friday 18:00
    assert totals.outcomes["done"] >= 5
    refused = _follow_ups(store.get("T-1"))[-1]
    assert (refused["step"], refused["outcome"]) == ("breach", "refused")
    assert "no resolution step is recorded" in str(refused["detail"])
    two = store.get("T-2")
    assert two.stage == "escalated" and two.priority is Urgency.HIGH
    moved = next(r for r in two.history if r.trigger == Trigger.ESCALATE)
    assert moved.actor_role == Role.SYSTEM and moved.payload["summary"] == ESCALATE_PAYLOAD["summary"]
    assert two.history[-1].trigger == FOLLOW_UP_TRIGGER and two.history[-1].seq == moved.seq + 1
    assert _follow_ups(two)[-1]["trigger"] == Trigger.ESCALATE
    assert store.verify().ok


def test_raise_urgency_moves_the_priority_up_one_level_once(db: Backend) -> None:
    """An hour past the breach the priority goes normal -> high, recorded with from and to."""
    store = _store(db)
    store.create(new("T-1"))
    FollowUpWorker(store, "A", notify=noop, callbacks={"page": noop}).drain(by=LATER)
    ticket = store.get("T-1")
    assert ticket.priority is Urgency.HIGH
    raised = [p for p in _follow_ups(ticket) if p["action"] == "raise_urgency"]
    assert [(p["from"], p["to"], p["outcome"]) for p in raised] == [("normal", "high", "done")]


def test_a_callback_by_name_and_a_failing_one_is_recorded_not_retried(db: Backend) -> None:
    """The 75% step calls the host's 'page'; when it raises, the step is recorded as failed
    with the error, and not tried again."""
    store = _store(db)
    store.create(new("T-1"))
    store.create(new("T-2"))
    paged: list[str] = []

    def page(ticket: Ticket, step: DueStep) -> None:
        if ticket.id == "T-2":
            raise OSError("pager down")
        paged.append(f"{ticket.id}/{step.name}")

    worker = FollowUpWorker(store, "A", notify=noop, callbacks={"page": page})
    worker.drain(by=MONDAY + timedelta(days=3, hours=6))  # Thursday 15:00: three-quarters
    assert paged == ["T-1/three-quarters"]
    failed = _follow_ups(store.get("T-2"))[-1]
    assert (failed["step"], failed["outcome"], failed["callback"]) == (
        "three-quarters", "failed", "page")
    assert "pager down" in str(failed["detail"])
    worker.drain(by=MONDAY + timedelta(days=3, hours=6))
    assert len(_follow_ups(store.get("T-2"))) == 2


def test_a_worker_that_could_never_act_is_refused_at_build_with_every_reason(db: Backend) -> None:
    """No notifier, a missing callback, a bad worker id and a zero lease: all named at once."""
    store = _store(db)
    with pytest.raises(FollowUpSetupError) as info:
        FollowUpWorker(store, "", callbacks={"other": noop}, lease=timedelta(0))
    text = str(info.value)
    for part in ("worker_id", "no notifier", "'page'", "lease"):
        assert part in text
    assert len(info.value.problems) == 4


def test_claim_arguments_are_checked_and_a_read_only_store_cannot_claim(db: Backend) -> None:
    """A naive ``by``, a zero limit or a negative lease is a typed error; read-only refuses."""
    store = _store(db)
    store.create(new("T-1"))
    for bad in ({"by": LATER.replace(tzinfo=None)}, {"limit": 0},
                {"lease": timedelta(seconds=-1)}):
        with pytest.raises(InvalidArgument):
            store.claim_due("A", **bad)  # type: ignore[arg-type]
    if db.kind != "memory":
        machine, _clock = ladder_desk()
        with pytest.raises(StoreReadOnly):
            db.open(machine, readonly=True).claim_due("A", by=LATER)
    assert store.claim_due("A", by=LATER)  # nothing above leased it


def test_release_gives_claims_back_to_other_workers(db: Backend) -> None:
    """A worker shutting down releases its claims: another worker can take them at once."""
    store = _store(db)
    store.create(new("T-1"))
    claims = store.claim_due("A", by=LATER)
    assert store.release(claims) == 1
    assert [c.step.name for c in store.claim_due("B", by=LATER)] == ["half"]


def test_a_met_clock_has_no_steps_and_a_reopened_one_resumes_them(db: Backend) -> None:
    """Resolving meets the resolution run (no steps); reopening resumes it, with the steps
    acted on before still acted on."""
    store = _store(db)
    store.create(new("T-1"))
    store.act_on(store.claim_due("A", by=MONDAY + 60 * H)[0], perform=noop)
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    store.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="Fixed")
    assert store.steps("T-1") == []
    store.apply("T-1", Trigger.REOPEN, actor=Actor(id="c", role=Role.CUSTOMER), reason="Again")
    assert [s.name for s in store.steps("T-1")] == ["three-quarters", "breach", "late"]
    FollowUpWorker(store, "A", notify=noop, callbacks={"page": noop}).drain(by=LATER)
    acted = [p["step"] for p in _follow_ups(store.get("T-1"))]
    assert acted.count("half") == 1 and "three-quarters" in acted


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_schema_5_database_gains_the_ladder_columns_filled_when_opened_writable(
        kind: str, tmp_path: Path) -> None:
    """Schema 5 (specs seen, no ladder columns) is upgraded to 6 on a writable open: the step
    index is filled from the histories, so a worker claims the next step at once, and the spec
    column and the chain are kept. A read-only open first says to open it writable once."""
    with backend(kind, tmp_path) as db:
        store = db.open(ladder_desk()[0])
        store.create(new("T-1"))
        store.act_on(store.claim_due("A", by=MONDAY + 60 * H)[0], perform=noop)
        store.create(new("T-2"))
        head = store.head("T-1")
        store.close()
        back_to_schema_5(db)
        with pytest.raises(StoreError, match=r"schema version 5.*open it once writable"):
            db.open(readonly=True)
        migrated = db.open(ladder_desk()[0])
        assert db.schema_version() == 6
        assert migrated.head("T-1") == head and migrated.verify().ok
        ticket = migrated.get("T-1")
        assert ticket.history[-1].trigger == FOLLOW_UP_TRIGGER
        assert ticket.spec_fingerprint == migrated.machine.fingerprint
        assert db.sql("SELECT spec FROM escalation_tickets WHERE id = 'T-1'") == [
            (migrated.machine.fingerprint,)]
        claims = migrated.claim_due("B", by=MONDAY + 60 * H)
        assert [(c.ticket_id, c.step.name) for c in claims] == [("T-2", "half")]
        claims = migrated.claim_due("B", by=LATER, limit=5)
        assert sorted((c.ticket_id, c.step.name) for c in claims) == [
            ("T-1", "three-quarters")]


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_ticket_with_follow_up_records_migrates_to_a_new_spec_version(
        kind: str, tmp_path: Path) -> None:
    """The ladder's records are no transition of either spec: the migration check carries them
    (a raised urgency included) instead of refusing the ticket, which moves and verifies."""
    v1 = ladder_spec()
    v2 = with_tier3_and_closed(v1, compatible=False)
    raising = {"resolution": {"normal": [{"name": "up", "at": 0.5, "action": "raise_urgency"}]}}
    with backend(kind, tmp_path) as db:
        store = db.open(ladder_desk(ladder=raising)[0])
        store.create(new("T-1"))
        assert store.act_on(store.claim_due("A", by=LATER)[0]).outcome == "done"
        store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
        assert store.get("T-1").priority == Urgency.HIGH
        machine, _clock = ladder_desk(ladder=raising)
        moved = db.open(EscalationMachine(v2, clock=machine.clock, sla=machine.sla))
        report = moved.migrate(Migration(v1, v2))
        assert report.ok and report.migrated == 1, [p.why for p in report.plans]
        history = moved.get("T-1").history
        assert [r.trigger for r in history] == [FOLLOW_UP_TRIGGER, "attempt", MIGRATE_TRIGGER]
        assert moved.verify().ok
