"""Migrating stored tickets: the specs a store has seen, dry runs, applying beside live writers,
a crash mid-way, on SQLite and PostgreSQL (and the in-memory store where it applies)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from store_support import SQL_KINDS, Backend, backend, open_store, processes
from support import AGENT, VALID, new_ticket
from version_support import tickets_in_every_stage, with_tier3_and_closed, without_stage

from escalation_fsm import (
    MIGRATE_TRIGGER,
    ConcurrentUpdate,
    EscalationMachine,
    InvalidTransition,
    Migration,
    SLAPolicyMismatch,
    SpecMismatch,
    default_spec,
    spec_fingerprint,
)

V1 = default_spec()
V2 = with_tier3_and_closed(V1, compatible=False)  # moved by migration, not continued as it is
V3 = without_stage(V1, rename_step=False)
TICKETS = 400


def _filled(db: Backend, count: int = TICKETS) -> list[str]:
    store = db.open(EscalationMachine(V1))
    ids = []
    for ticket in tickets_in_every_stage(EscalationMachine(V1), count):
        store.create(ticket)
        ids.append(ticket.id)
    store.close()
    return ids


def _migrate_records(db: Backend) -> dict[str, int]:
    rows = db.sql("SELECT ticket_id, count(*) FROM escalation_history WHERE trigger = ? "
                  "GROUP BY ticket_id", (MIGRATE_TRIGGER,))
    return {str(ticket_id): int(count) for ticket_id, count in rows}


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_the_store_lists_the_specs_it_has_seen_with_ticket_counts(kind: str, tmp_path: Path) -> None:
    """specs() names each recorded version with its tickets and its description, which can be
    diffed without the code; tickets without history are counted apart."""
    with backend(kind, tmp_path) as db:
        ids = _filled(db, 60)
        store = db.open(EscalationMachine(V1))
        found = {entry.kind: entry for entry in store.specs()}
        with_history = sum(1 for i in ids if store.get(i).version)
        assert found["spec"].fingerprint == spec_fingerprint(V1)
        assert found["spec"].tickets == with_history and found["new"].tickets == 60 - with_history
        assert found["spec"].label.startswith("customer-service-escalation v1 (")
        assert found["spec"].description is not None
        assert found["spec"].description.fingerprint == spec_fingerprint(V1)


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_apply_on_an_old_ticket_raises_spec_mismatch_and_changes_nothing(
        kind: str, tmp_path: Path) -> None:
    """A v2 store without a migration refuses a v1 ticket, naming both versions (it learnt v1
    from the table of specs); the ticket is untouched."""
    with backend(kind, tmp_path) as db:
        old = db.open(EscalationMachine(V1))
        old.create(new_ticket())
        old.apply("T-1", "attempt", actor=AGENT)
        store = db.open(EscalationMachine(V2))
        with pytest.raises(SpecMismatch, match=r"customer-service-escalation v1 .*v2"):
            store.apply("T-1", "record_step", actor=AGENT, **VALID["record_step"])
        assert db.open(EscalationMachine(V1)).get("T-1").version == 1


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_registered_migration_moves_a_ticket_on_the_way(kind: str, tmp_path: Path) -> None:
    """apply on a v1 ticket through a machine with the migration writes the migration record and
    the transition, and the chain still verifies."""
    with backend(kind, tmp_path) as db:
        old = db.open(EscalationMachine(V1))
        old.create(new_ticket())
        old.apply("T-1", "attempt", actor=AGENT)
        store = db.open(EscalationMachine(V2, migrations=[Migration(V1, V2)]))
        moved = store.apply("T-1", "record_step", actor=AGENT, **VALID["record_step"])
        assert [r.trigger for r in moved.history] == ["attempt", MIGRATE_TRIGGER, "record_step"]
        assert db.open(EscalationMachine(V2)).verify().ok


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_the_dry_run_counts_every_ticket_and_changes_nothing(kind: str, tmp_path: Path) -> None:
    """To v3 (no reopen from feedback): the plans split into clean, breaks and done, agree with
    a full replay, name the breaking record; the database is the same afterwards."""
    with backend(kind, tmp_path) as db:
        ids = _filled(db)
        migration = Migration(V1, V3)
        store = db.open(EscalationMachine(V3))
        before = db.sql("SELECT count(*) FROM escalation_history")
        report = store.migrate(migration, dry_run=True)
        assert len(report.plans) == len(ids) and sum(report.counts.values()) == len(ids)
        assert set(report.counts) == {"clean", "breaks", "done"}
        assert report.plans == store.migrate(migration, dry_run=True, cache=False).plans
        broken = [p for p in report.plans if p.status == "breaks"]
        assert {p.trigger for p in broken} == {"reopen"} and not report.ok
        assert all(p.seq is not None and p.lands is not None for p in broken)
        v1 = db.open(EscalationMachine(V1))
        for plan in broken[:20]:
            history = v1.get(plan.ticket_id).history
            assert (history[plan.seq - 1].source, history[plan.seq - 1].trigger) == ("feedback", "reopen")
        assert db.sql("SELECT count(*) FROM escalation_history") == before
        assert report.migrated == 0


@pytest.mark.parametrize("kind", ["memory", *SQL_KINDS])
def test_applying_moves_each_clean_ticket_once_and_twice_is_a_no_op(kind: str, tmp_path: Path) -> None:
    """Apply to v2: one migration record per ticket with history, stage kept, verify passes; the
    second run migrates nothing and reports them done."""
    with backend(kind, tmp_path) as db:
        ids = _filled(db, 120)
        store = db.open(EscalationMachine(V2))
        report = store.migrate(Migration(V1, V2))
        assert report.ok and report.migrated == report.counts["clean"]
        moved = [store.get(i) for i in ids]
        assert Counter(t.history[-1].trigger for t in moved if t.version)[MIGRATE_TRIGGER] \
            == report.migrated == sum(1 for t in moved if t.version)
        again = store.migrate(Migration(V1, V2))
        assert again.migrated == 0 and again.counts.get("clean", 0) == 0
        assert store.verify().ok
        assert {e.kind for e in store.specs()} >= {"spec"}
        assert [e.tickets for e in store.specs() if e.fingerprint == spec_fingerprint(V1)] in ([], [0])


def _writer(kind: str, target: str, worker: int, ids: list[str], seconds: float) -> dict[str, Any]:
    """A live writer on v2 (with the migration registered): record steps with unique tokens."""
    import random

    rng = random.Random(worker)
    store = open_store(kind, target, EscalationMachine(V2, migrations=[Migration(V1, V2)]))
    done: list[tuple[str, str]] = []
    end = time.monotonic() + seconds
    n = 0
    try:
        while time.monotonic() < end:
            ticket_id = rng.choice(ids)
            token = f"w{worker}-{n}"
            n += 1
            try:
                store.apply(ticket_id, "record_step", actor=AGENT, step=token)
            except (ConcurrentUpdate, InvalidTransition):
                continue
            done.append((ticket_id, token))
    finally:
        store.close()
    return {"done": done}


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_applying_beside_four_live_writers_loses_nothing_and_migrates_each_once(
        kind: str, tmp_path: Path) -> None:
    """Four writer processes record steps while the migration runs: every committed step is in
    its ticket's history, no ticket has two migration records, every ticket with history is on
    v2 afterwards, and the store verifies."""
    with backend(kind, tmp_path) as db:
        ids = _filled(db)
        store = db.open(EscalationMachine(V1))
        busy = [i for i in ids if store.get(i).stage in ("attempted", "escalated")]
        store.close()
        pool = processes().Pool(4)
        try:
            running = [pool.apply_async(_writer, (kind, db.target, w, busy, 4.0)) for w in range(4)]
            time.sleep(0.3)
            report = db.open(EscalationMachine(V2)).migrate(Migration(V1, V2))
            logs = [r.get(timeout=120) for r in running]
        finally:
            pool.close()
            pool.join()
        assert report.ok, report.refused
        reader = db.open(EscalationMachine(V2))
        committed = [entry for log in logs for entry in log["done"]]
        assert committed, "the writers committed nothing"
        steps = {(i, r.payload.get("step")) for i in busy for r in reader.get(i).history}
        assert all(entry in steps for entry in committed)
        assert max(_migrate_records(db).values()) == 1
        assert all(reader.get(i).spec_fingerprint == reader.machine.fingerprint
                   for i in ids if reader.get(i).version)
        assert reader.verify().ok


def _migrate_and_die(kind: str, target: str, after: int) -> None:
    store = open_store(kind, target, EscalationMachine(V2))
    swap = store._swap
    calls = [0]

    def dying(*args: Any) -> bool:
        calls[0] += 1
        if calls[0] > after:
            os.kill(os.getpid(), signal.SIGKILL)
        return swap(*args)

    store._swap = dying  # type: ignore[method-assign]
    store.migrate(Migration(V1, V2))


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_sigkill_during_the_apply_then_a_rerun_migrates_each_ticket_once(
        kind: str, tmp_path: Path) -> None:
    """Killed after 50 tickets: those are migrated, the rest not; the rerun moves only the rest
    (and counts nothing twice); every ticket with history ends with exactly one migration record."""
    with backend(kind, tmp_path) as db:
        ids = _filled(db, 200)
        child = processes().Process(target=_migrate_and_die, args=(kind, db.target, 50))
        child.start()
        child.join(120)
        assert child.exitcode == -signal.SIGKILL
        assert len(_migrate_records(db)) == 50
        report = db.open(EscalationMachine(V2)).migrate(Migration(V1, V2))
        records = _migrate_records(db)
        assert report.migrated == len(records) - 50 and set(records.values()) == {1}
        store = db.open(EscalationMachine(V2))
        assert {i for i in ids if store.get(i).version} == set(records)
        assert store.verify().ok


def _renamed(spec: Any, old: str, new: str) -> Any:
    """``spec`` (version 5) with trigger ``old`` called ``new``, everything else as it was."""
    from escalation_fsm import MachineSpec

    return MachineSpec(
        name=spec.name, version="5", description=spec.description, stages=spec.stages,
        guards=spec.guards,
        triggers=tuple(t.model_copy(update={"name": new}) if t.name == old else t
                       for t in spec.triggers),
        transitions=tuple(t.model_copy(update={"trigger": new}) if t.trigger == old else t
                          for t in spec.transitions))


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_store_opens_with_a_spec_that_renames_a_trigger_the_clocks_ignore(
        kind: str, tmp_path: Path) -> None:
    """v3 renames the step trigger (no meaning to the SLA clocks): a v1 store opens with it, the
    migration (with the rename) moves every ticket, the chain and the clocks verify, and the new
    name fires. Renaming resolve (which stops a clock) is still refused on opening, unchanged."""
    with backend(kind, tmp_path) as db:
        ids = _filled(db, 40)
        renamed = without_stage(V1)
        store = db.open(EscalationMachine(renamed))
        report = store.migrate(Migration(V1, renamed, triggers={"record_step": "log_step"}))
        assert report.migrated == report.counts["clean"] > 0
        assert store.verify().ok
        busy = next(i for i in ids if store.get(i).stage == "attempted")
        assert store.apply(busy, "log_step", actor=AGENT, step="After the move").history[-1].trigger \
            == "log_step"
        with pytest.raises(SLAPolicyMismatch):
            db.open(EscalationMachine(_renamed(V1, "resolve", "settle")))
        assert db.open(EscalationMachine(renamed)).verify().ok


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_renaming_a_trigger_the_clocks_read_migrates_then_reindexes(kind: str, tmp_path: Path) -> None:
    """The documented way for a rename the clocks read (resolve -> settle): migrate through the
    old machine, re-index under the new spec, then the store opens with it, verifies, and the
    new name fires; before the re-index it is refused."""
    with backend(kind, tmp_path) as db:
        _filled(db, 40)
        settle = _renamed(V1, "resolve", "settle")
        old = db.open(EscalationMachine(V1))
        report = old.migrate(Migration(V1, settle, triggers={"resolve": "settle"}))
        assert report.ok and report.migrated > 0
        with pytest.raises(SLAPolicyMismatch):
            db.open(EscalationMachine(settle))
        assert db.open().reindex(EscalationMachine(settle)) == 40
        store = db.open(EscalationMachine(settle))
        assert store.verify().ok
        busy = next(t.id for t in store.stream() if t.stage == "attempted")
        assert store.apply(busy, "settle", actor=AGENT, **VALID["resolve"]).stage == "resolved"
