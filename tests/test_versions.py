"""Spec identity, meeting a ticket of another version, and migrations, without a store."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from renamed_procedure import renamed_spec, translate, translated_ticket
from support import AGENT, START, TIER2, VALID, new_ticket, walk
from version_support import walked, with_tier3_and_closed, without_stage

from escalation_fsm import (
    MIGRATE_TRIGGER,
    Actor,
    EscalationMachine,
    ManualClock,
    Migration,
    MigrationCheck,
    MigrationError,
    SpecMismatch,
    Trigger,
    default_spec,
    spec_diff,
    spec_fingerprint,
)
from escalation_fsm.identity import describe

V1 = default_spec()
V2 = with_tier3_and_closed(V1)
V3 = without_stage(V1)

# The default procedure's fingerprint, pinned: a change here changes every stored ticket's spec
# (update it only with a deliberate change of the procedure or of the recipe's format).
DEFAULT_FINGERPRINT = "665f6e10cbcbb8c11944d0b2235415a8080f1655da7106cc6357fb24c7a2aaf8"


def test_the_fingerprint_is_the_same_in_another_process() -> None:
    """A fresh interpreter (another hash seed) computes the same fingerprint for the same spec."""
    code = ("from escalation_fsm import default_spec, spec_fingerprint; "
            "print(spec_fingerprint(default_spec()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert out.stdout.strip() == DEFAULT_FINGERPRINT == spec_fingerprint(V1)


def test_the_fingerprint_ignores_descriptions_and_labels_but_not_structure() -> None:
    """Descriptions, the name and the version label leave it; roles, guards, marks change it."""
    assert spec_fingerprint(V1.extend(description="other words", version="9")) == DEFAULT_FINGERPRINT
    changed_role = V1.extend(transitions=[V1.transition("attempted", "resolve").model_copy(  # type: ignore[union-attr]
        update={"roles": frozenset({"agent"})})])
    changed_guard = V1.extend(transitions=[V1.transition("attempted", "resolve").model_copy(  # type: ignore[union-attr]
        update={"guards": ()})])
    assert len({DEFAULT_FINGERPRINT, spec_fingerprint(changed_role),
                spec_fingerprint(changed_guard), spec_fingerprint(V2)}) == 4


def test_every_record_carries_the_fingerprint_of_its_spec() -> None:
    """Records written by a machine carry its spec's fingerprint; so does the ticket."""
    ticket = walk(EscalationMachine(V1), new_ticket(), ("attempt", AGENT), ("record_step", AGENT))
    assert {r.spec_fingerprint for r in ticket.history} == {DEFAULT_FINGERPRINT}
    assert ticket.spec_fingerprint == DEFAULT_FINGERPRINT


def test_a_ticket_of_another_version_raises_spec_mismatch_naming_both() -> None:
    """A v2 machine that does not declare itself compatible refuses a v1 ticket, unchanged."""
    ticket = walk(EscalationMachine(V1), new_ticket(), ("attempt", AGENT))
    machine = EscalationMachine(with_tier3_and_closed(V1, compatible=False))
    machine.versions.know(V1)
    with pytest.raises(SpecMismatch) as caught:
        machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, **VALID["record_step"])
    error = caught.value
    assert error.found == DEFAULT_FINGERPRINT and error.expected == machine.fingerprint
    assert "customer-service-escalation v1" in str(error)
    assert "customer-service-escalation v2" in str(error)
    assert "does not declare itself compatible_with" in str(error)
    assert machine.allowed(ticket, AGENT) == set()


def test_a_declared_compatible_spec_goes_on_when_it_is() -> None:
    """v2 (Tier 3, closed) declares compatible_with 1 and is: v1 tickets go on under it."""
    ticket = walk(EscalationMachine(V1), new_ticket(), ("attempt", AGENT), ("record_step", AGENT),
                  ("escalate", AGENT))
    machine = EscalationMachine(V2)
    machine.versions.know(V1)
    moved = machine.fire(ticket, "escalate_tier3", actor=TIER2)
    assert moved.stage == "tier3" and moved.tier == 3
    assert moved.history[-1].spec_fingerprint == machine.fingerprint


def test_a_declared_compatibility_that_is_false_is_refused_with_the_reasons() -> None:
    """v3 claims compatible_with 1 but removed a transition and a trigger: the library says so."""
    ticket = walk(EscalationMachine(V1), new_ticket(), ("attempt", AGENT))
    liar = V3.extend(compatible_with=["1"])
    machine = EscalationMachine(liar)
    machine.versions.know(V1)
    with pytest.raises(SpecMismatch) as caught:
        machine.fire(ticket, "log_step", actor=AGENT, step="x")
    assert any("trigger 'record_step' was removed" in reason for reason in caught.value.reasons)
    assert any("transition feedback --reopen--> was removed" in r for r in caught.value.reasons)


def test_spec_diff_names_additions_removals_and_changes() -> None:
    """The diff of v1 to v3 lists what was added and removed; v1 to v2 is compatible."""
    assert spec_diff(V1, V2).compatible and not spec_diff(V1, V3).compatible
    diff = spec_diff(V1, V3)
    assert diff.triggers_added == ("log_step",) and diff.triggers_removed == ("record_step",)
    assert ("feedback", "reopen") in diff.transitions_removed
    assert spec_diff(V1, describe(V1)).same


def test_a_migration_is_validated_whole() -> None:
    """Every unmapped old name and every mapping to a missing name, in one MigrationError."""
    with pytest.raises(MigrationError) as caught:
        Migration(V1, V3, stages={"nowhere": "attempted", "feedback": "gone"})
    problems = caught.value.problems
    assert any("'nowhere' is mapped, but" in p for p in problems)
    assert any("'feedback' is mapped to 'gone'" in p for p in problems)
    assert any("trigger 'record_step' of" in p and "log_step" in p for p in problems)
    assert len(problems) == 3
    assert Migration(V1, V3, triggers={"record_step": "log_step"}).trigger_of("record_step") == "log_step"


def test_migrating_a_ticket_appends_one_system_record_naming_both_versions() -> None:
    """The migration record: trigger migrate, actor system, from v1 to v2, stage mapped."""
    machine = EscalationMachine(V2, clock=ManualClock(START + timedelta(days=1)))
    old = walk(EscalationMachine(V1), new_ticket(), ("attempt", AGENT), ("resolve", AGENT))
    migration = Migration(V1, V2)
    moved = migration.migrate(old, machine, base=new_ticket())
    record = moved.history[-1]
    assert (record.trigger, record.actor_id, str(record.actor_role)) == (MIGRATE_TRIGGER, "system", "system")
    assert record.payload["from"]["version"] == "1" and record.payload["to"]["version"] == "2"
    assert moved.version == old.version + 1 and moved.history[:-1] == old.history
    assert moved.spec_fingerprint == machine.fingerprint
    assert machine.fire(moved, "request_feedback", actor=AGENT).stage == "feedback"


def test_a_history_the_new_spec_refuses_is_not_migrated_and_the_plan_says_where() -> None:
    """A ticket reopened from feedback breaks under v3 at that record; migrate raises."""
    v1 = EscalationMachine(V1)
    ticket = walk(v1, new_ticket(), ("attempt", AGENT), ("resolve", AGENT),
                  ("request_feedback", AGENT), ("reopen", AGENT))
    migration = Migration(V1, V3, triggers={"record_step": "log_step"})
    plan = migration.plan(ticket, base=new_ticket())
    assert (plan.status, plan.seq, plan.trigger) == ("breaks", 4, "reopen")
    assert plan.lands == "attempted"
    with pytest.raises(SpecMismatch, match="record 4"):
        migration.migrate(ticket, EscalationMachine(V3), base=new_ticket())


def _replays_under(migration: Migration, ticket_history: tuple, base: object) -> str:
    """An independent oracle: fire the mapped history through a fresh machine of the target."""
    clock = ManualClock(START)
    machine = EscalationMachine(migration.target, clock=clock)
    ticket = machine.new_ticket(**base.model_dump(exclude={"stage", "history", "version", "tier"}))  # type: ignore[attr-defined]
    for record in ticket_history:
        clock.set(record.at)
        payload = dict(record.payload)
        ticket = machine.fire(ticket, migration.trigger_of(record.trigger),
                              actor=Actor(id=record.actor_id, role=record.actor_role), **payload)
        assert ticket.stage == migration.stage_of(record.dest)
    return ticket.stage


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), steps=st.integers(0, 16),
       target=st.sampled_from(["v2", "v3"]), cache=st.booleans())
def test_a_migration_the_dry_run_accepts_replays_under_the_new_machine(
        seed: int, steps: int, target: str, cache: bool) -> None:
    """Invariant: for every ticket the check calls clean, firing its history (renamed triggers
    under their new names) through a fresh machine of the new spec succeeds and ends in the stage
    the plan says it lands in; a ticket it calls broken does fail that replay."""
    import random

    ticket = walked(EscalationMachine(V1), "T-1", steps, random.Random(seed))
    migration = (Migration(V1, V2) if target == "v2"
                 else Migration(V1, V3, triggers={"record_step": "log_step"}))
    plan = MigrationCheck(migration, cache=cache).check(ticket, new_ticket(id="T-1"))
    if plan.status in ("clean", "done"):
        assert _replays_under(migration, ticket.history, new_ticket(id="T-1")) == plan.lands
    else:
        assert plan.status == "breaks"
        with pytest.raises((Exception, AssertionError)):
            _replays_under(migration, ticket.history, new_ticket(id="T-1"))


def test_the_prefix_cache_and_the_full_replay_agree() -> None:
    """The same 300 tickets get the same plans with the cache as without it."""
    import random

    rng = random.Random(3)
    v1 = EscalationMachine(V1)
    tickets = [walked(v1, f"T-{n}", rng.randrange(15), rng) for n in range(300)]
    migration = Migration(V1, V3, triggers={"record_step": "log_step"})
    cached, full = MigrationCheck(migration), MigrationCheck(migration, cache=False)
    base = {t.id: new_ticket(id=t.id) for t in tickets}
    plans = [cached.check(t, base[t.id]) for t in tickets]
    assert plans == [full.check(t, base[t.id]) for t in tickets]
    assert {p.status for p in plans} == {"clean", "breaks", "done"}
    assert cached.nodes < sum(t.version for t in tickets)


def test_a_renamed_procedure_migrates_the_same_tickets_the_same_way() -> None:
    """Marks, not names: the renamed procedure's v1 -> v3 plans equal the default's, translated."""
    import random

    rng = random.Random(11)
    v1 = EscalationMachine(V1)
    tickets = [walked(v1, f"T-{n}", rng.randrange(12), rng) for n in range(200)]
    renamed = renamed_spec()
    found = []
    for spec, names, translated in ((V1, lambda n: n, lambda t: t),
                                    (renamed, translate, translated_ticket)):
        migration = Migration(spec, without_stage(spec, names),
                              triggers={names("record_step"): names("log_step")})
        check = MigrationCheck(migration)
        found.append([check.check(translated(t), new_ticket(id=t.id)) for t in tickets])
    default_plans, renamed_plans = found
    assert [(p.status, translate(p.stage), translate(p.lands or ""), p.seq,
             translate(p.trigger or "")) for p in default_plans] \
        == [(p.status, p.stage, p.lands or "", p.seq, p.trigger or "") for p in renamed_plans]
    assert {p.status for p in default_plans} >= {"clean", "breaks", "done"}
