"""Guarantees added after review: read-only history, picklable errors, no silently ignored input."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from support import AGENT, SYSTEM, attempted, escalated, new_ticket, walk

from escalation_fsm import (
    EscalationError,
    EscalationMachine,
    EscalationPolicy,
    GuardContext,
    HookFailed,
    InvalidTransition,
    PermissionDenied,
    Role,
    SpecError,
    TransitionRefused,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    default_spec,
)
from escalation_fsm import errors as errors_module
from escalation_fsm.models import FrozenDict
from escalation_fsm.stores import MemoryStore

# -- history is read-only --------------------------------------------------------------------------


def test_audit_payloads_cannot_be_edited(machine: EscalationMachine) -> None:
    """Records are shared by every later ticket, so their payloads refuse changes at every depth."""
    t1 = escalated(machine)
    t2 = walk(machine, t1, (Trigger.NOTIFY_CUSTOMER, SYSTEM))
    record = t2.history[2]
    assert isinstance(record.payload, FrozenDict)
    with pytest.raises(TypeError, match="read-only"):
        record.payload["summary"] = "FORGED"  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        record.payload["assessment"]["urgency"] = "low"  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        record.payload.update(summary="FORGED")  # type: ignore[attr-defined]
    assert t1.history[2].payload["summary"] == "Needs Tier 2 tools"


def test_read_only_payloads_still_copy_pickle_and_round_trip(machine: EscalationMachine) -> None:
    """Freezing changes nothing else: deepcopy, pickle, JSON and python dumps give equal tickets."""
    t = escalated(machine)
    assert copy.deepcopy(t) == t
    assert pickle.loads(pickle.dumps(t)) == t
    dumped = t.model_dump()
    assert type(dumped["history"][2]["payload"]) is dict  # plain data out
    assert type(dumped["history"][2]["payload"]["assessment"]) is dict
    assert type(t).model_validate(dumped) == t
    assert type(t).model_validate_json(t.model_dump_json()) == t


def test_a_hook_cannot_rewrite_history_through_its_event(machine: EscalationMachine) -> None:
    """A before-hook that tries to edit the ticket it was given fails, and the veto changes nothing."""
    @machine.before(Trigger.RECORD_STEP)
    def sneaky(event: Any) -> None:
        event.before.history[0].payload["forged"] = True

    t = attempted(machine)
    snapshot = copy.deepcopy(t)
    with pytest.raises(HookFailed) as info:
        machine.fire(t, Trigger.RECORD_STEP, actor=AGENT, step="x")
    assert isinstance(info.value.__cause__, TypeError)
    assert t == snapshot


# -- errors survive pickling (task queues, process pools) -----------------------------------------

ERRORS: list[EscalationError] = [
    SpecError(["a", "b"]),
    InvalidTransition(ticket_id="T", stage="identified", trigger="resolve", defined=["attempt"]),
    TransitionRefused(ticket_id="T", stage="attempted", trigger="escalate", reasons=["r1", "r2"],
                      allowed=["record_step"]),
    PermissionDenied(ticket_id="T", stage="escalated", trigger="resolve", actor_id="a",
                     role="agent", allowed_roles=["tier2"]),
    HookFailed(phase="after", trigger="attempt", ticket=new_ticket(),
               failures=[("mail", OSError("SMTP down"))]),
    errors_module.TicketNotFound("T"),
    errors_module.TicketExists("T"),
    errors_module.ConcurrentUpdate(ticket_id="T", trigger="attempt", expected_version=3, attempts=2),
    errors_module.CorruptTicket(ticket_id="T", reason="not JSON"),
    errors_module.StoreReadOnly("apply 'attempt'", "SQLite database 'x.db'"),
    errors_module.SLAPolicyMismatch(where="SQLite database 'x.db'", recorded="a-1", current="b-2"),
    errors_module.MappingError("m.toml", ["line 1 (name): Field required"]),
    errors_module.LogError("log.csv", "no rows", line=2),
    errors_module.ReplayError("bad"),
    errors_module.GraphvizUnavailable("svg", "program"),
    errors_module.RenderFailed("svg", "syntax error"),
    errors_module.HolidaysUnavailable(),
    errors_module.PostgresUnavailable(),
    errors_module.UsageError("--limit must not be negative"),
    errors_module.InconsistentTicket(ticket_id="T", problems=["stage 'resolved' without history"]),
    errors_module.InvalidArgument(name="tier", value="'1'", allowed="a whole number"),
    errors_module.StaleTicket(ticket_id="T", trigger="escalate", expected_version=3, found_version=5),
    errors_module.IdempotencyConflict(ticket_id="T", key="k-1", seq=2, reason="which fired 'x'"),
    errors_module.LockTimeout(what="SQLite write", where="'x.db'", detail="database is locked"),
    errors_module.CommitOutcomeUnknown(ticket_id="T", trigger="resolve", key="k-1", detail="EOF"),
    errors_module.SpecMismatch(ticket_id="T", found=None, expected="a" * 64, found_label="unknown",
                               expected_label="v2", reasons=["stage 'x' was removed"]),
    errors_module.MigrationError(["stage 'x' is not mapped"]),
    errors_module.FollowUpSetupError(["step 'page' names callback 'pager', which is not given"]),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_pickles_and_copies(error: EscalationError) -> None:
    """Errors keep their class, message and context attributes through pickle and copy."""
    assert {type(e) for e in ERRORS} >= {getattr(errors_module, n) for n in errors_module.__all__
                                         if n not in {"EscalationError", "StoreError",
                                                      "InvariantViolated"}}
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.args == error.args
        assert clone.__dict__.keys() == error.__dict__.keys()


# -- nothing silently ignored ------------------------------------------------------------------------


def test_hooks_on_unknown_names_are_refused(machine: EscalationMachine) -> None:
    """A typo in a trigger or stage name, or a missing pair of parentheses, fails at once."""
    with pytest.raises(ValueError, match="unknown trigger 'escalte'"):
        machine.after("escalte")
    with pytest.raises(ValueError, match="unknown stage 'escalate'"):
        machine.on_enter("escalate")

    def hook(event: Any) -> None:
        """A hook."""

    with pytest.raises(TypeError, match=r"write @machine.after\(\)"):
        machine.after(hook)  # type: ignore[arg-type]
    assert not machine.hooks


def test_a_guard_reading_a_field_the_trigger_lacks_is_a_spec_error() -> None:
    """Caught when the spec is built, not as an AttributeError when fired."""
    with pytest.raises(SpecError) as info:
        default_spec().extend(
            triggers=[TriggerSpec(name="close", description="Close it.")],
            stages=[],
            transitions=[TransitionSpec(trigger="close", source="feedback", dest="resolved",
                                        roles={Role.AGENT}, guards=("has_solution",))])
    assert info.value.problems == (
        "transition 'feedback' --close-->: guard 'has_solution' reads payload field(s) ['solution'] "
        "that trigger 'close' (NoPayload) does not take; it takes: nothing",)


def tag_badly(ctx: GuardContext) -> Mapping[str, Any]:
    return {"tags": ["x"], "priority": "urgent!!", "steps": [42]}


def set_the_tier(ctx: GuardContext) -> Mapping[str, Any]:
    return {"tier": 3}


def tag_well(ctx: GuardContext) -> Mapping[str, Any]:
    return {"tags": ["vip"]}


def test_host_effects_are_validated() -> None:
    """A host effect's values are checked like the model's fields; lists become tuples."""
    def machine_with(effect: Any) -> EscalationMachine:
        return EscalationMachine(default_spec().extend(triggers=[
            TriggerSpec(name="attempt", description="Start.", effect=effect)]))

    bad = machine_with(tag_badly)
    with pytest.raises(SpecError) as info:
        bad.fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    assert [p.split(":")[0] for p in info.value.problems] == [
        "the effect of trigger 'attempt' returned an invalid priority",
        "the effect of trigger 'attempt' returned an invalid steps"]
    good = machine_with(tag_well).fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)
    assert good.tags == ("vip",)
    with pytest.raises(SpecError, match="the tier follows the trigger's marks"):
        machine_with(set_the_tier).fire(new_ticket(), Trigger.ATTEMPT, actor=AGENT)


def test_an_eta_beyond_a_year_is_refused(machine: EscalationMachine) -> None:
    """A promised response three years out is a typo; refusing it keeps SLA deadlines computable."""
    t = escalated(machine)
    with pytest.raises(ValidationError, match="eta"):
        machine.fire(t, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m", eta=timedelta(days=1097))
    ok = machine.fire(t, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m", eta=timedelta(days=365))
    assert ok.escalation is not None


def test_a_store_fires_through_its_machine_as_it_is_now() -> None:
    """Changing the machine's policy after opening a store applies to the store's next apply."""
    machine = EscalationMachine()
    with MemoryStore(machine=machine) as store:
        store.create(new_ticket())
        store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
        store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="s")
        machine.policy = EscalationPolicy(min_signals=3)
        mixed = {"summary": "s", "assessment": {"complexity": "high", "frustration": "low",
                                                "urgency": "low"}}
        with pytest.raises(TransitionRefused):
            store.apply("T-1", Trigger.ESCALATE, actor=AGENT, **mixed)
        assert store.get("T-1").version == 2
