"""The ladder reads marks, never names: a renamed procedure gets the same follow-up, and more.

The same ladder on the default procedure and on ``renamed_procedure.renamed_spec`` (every stage,
trigger and guard renamed, plus Tier 3) acts on the same steps with the same outcomes, names
aside; on the renamed one an escalate step on Tier 2's clock fires ``to_tier3`` (marked
``escalate``), which the default procedure does not have.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from ladder_support import LADDER, LATER, MONDAY, ladder_desk, new, noop
from renamed_procedure import renamed_spec, translate

from escalation_fsm import FOLLOW_UP_TRIGGER, Actor, MachineSpec, Mark, Role, Ticket, default_spec
from escalation_fsm.stores import FollowUpWorker, MemoryStore

AGENT = Actor(id="a-1", role=Role.AGENT)


def _trigger(spec: MachineSpec, mark: Mark) -> str:
    return spec.marked(mark)[0]


def _drained(spec: MachineSpec, with_step: bool) -> Ticket:
    machine, _clock = ladder_desk(spec)
    store = MemoryStore(machine=machine)
    store.create(new("T-1", stage=spec.initial))
    store.apply("T-1", _trigger(spec, Mark.ATTEMPT), actor=AGENT)
    if with_step:
        store.apply("T-1", _trigger(spec, Mark.STEP), actor=AGENT, step="Checked the KB")
    FollowUpWorker(store, "w", notify=noop, callbacks={"page": noop}).drain(by=LATER)
    return store.get("T-1")


def _story(ticket: Ticket) -> list[tuple[str, str, str, str]]:
    return [(r.trigger if r.trigger == FOLLOW_UP_TRIGGER else translate(r.trigger),
             str(r.payload.get("step", "")), str(r.payload.get("outcome", "")),
             translate(str(r.payload.get("trigger", "")))) for r in ticket.history]


@pytest.mark.parametrize("with_step", [True, False], ids=["escalation-allowed", "refused"])
def test_the_renamed_procedure_gets_the_same_follow_up(with_step: bool) -> None:
    """Same steps, same outcomes (done, refused by the renamed guard), same escalation as the
    renamed trigger, the same stages and priority."""
    default = _drained(default_spec(), with_step)
    renamed = _drained(renamed_spec(), with_step)
    assert _story(renamed) == [
        (translate(t) if t != FOLLOW_UP_TRIGGER else t, s, o, translate(g))
        for t, s, o, g in _story(default)]
    assert renamed.stage == translate(default.stage)
    assert renamed.priority == default.priority
    names = [step["name"] for step in LADDER["resolution"]["normal"]]
    acted = [s for t, s, _, _ in _story(default) if t == FOLLOW_UP_TRIGGER]
    # Escalated, the ticket is at high urgency, where this ladder has no steps: 'late' is not due.
    assert acted == (names[:3] if with_step else names)


def test_a_renamed_tier3_escalation_fires_from_the_ladder() -> None:
    """On Tier 2's clock, an escalate step fires to_tier3 from second_line as system, with its
    own guards (the customer must have been told first)."""
    spec = renamed_spec()
    ladder = {"tier2_update": {"high": [{"name": "tier3", "at": 1.0, "action": "escalate",
                                          "payload": {"summary": "Tier 2 is late",
                                                      "assessment": {"complexity": "high",
                                                                     "frustration": "high",
                                                                     "urgency": "high"}}}]}}
    machine, clock = ladder_desk(spec, ladder)
    store = MemoryStore(machine=machine)
    store.create(new("T-1", stage=spec.initial))
    store.apply("T-1", "pick_up", actor=AGENT)
    store.apply("T-1", "note_step", actor=AGENT, step="Checked the KB")
    store.apply("T-1", "to_tier2", actor=AGENT, summary="Needs Tier 2",
                assessment={"complexity": "high", "frustration": "high", "urgency": "high"})
    store.apply("T-1", "inform_customer", actor=AGENT, message="With Tier 2 now")
    clock.set(MONDAY + timedelta(hours=1))
    FollowUpWorker(store, "w").drain(by=MONDAY + timedelta(days=1))
    ticket = store.get("T-1")
    assert ticket.stage == "third_line"
    moved = next(r for r in ticket.history if r.trigger == "to_tier3")
    assert (moved.actor_role, moved.source) == (Role.SYSTEM, "second_line")
    assert ticket.history[moved.seq].payload["outcome"] == "done"       # the record after it
    # Tier 2's clock starts again on Tier 3; its step there finds nothing to escalate to.
    assert [(r.payload["outcome"], r.source) for r in ticket.history[moved.seq + 1:]] == [
        ("skipped", "third_line")]
