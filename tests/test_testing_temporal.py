"""Temporal rules over one ticket's history: their meaning, their inputs, and the stateful base."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings
from renamed_procedure import renamed_spec, translate
from replay_helpers import HELPDESK

from escalation_fsm import (
    EscalationMachine,
    ManualClock,
    Mark,
    TransitionEvent,
    TransitionRefused,
    default_spec,
)
from escalation_fsm.replay import Replayer, shipped_mapping
from escalation_fsm.stores import MemoryStore
from escalation_fsm.testing import (
    EscalationStateMachine,
    Fire,
    Open,
    RunFailed,
    TemporalViolated,
    after,
    always,
    assert_temporal,
    check_temporal,
    never,
    transition_cover,
)
from escalation_fsm.testing.temporal import events_of

SPEC = default_spec()
NOTIFIED = after(Mark.ESCALATE).expect(Mark.CUSTOMER_UPDATE, before=Mark.RESOLVE)
TIER2_NEWS = after(Mark.ESCALATE).eventually(Mark.TIER_UPDATE)
ESCALATED = ["attempt", "record_step", "escalate"]


def where(rule: object, history: list[str], *, finished: bool | None = None) -> list[int]:
    """The event numbers where ``rule`` breaks on ``history`` (0: at the end)."""
    return [v.index for v in check_temporal([rule], history, SPEC, finished=finished)]  # type: ignore[list-item]


def test_rules_print_as_what_they_say() -> None:
    """A rule's str is its sentence (the check name the stateful base reports)."""
    assert str(NOTIFIED) == "after escalate, customer_update before resolve"
    assert str(TIER2_NEWS) == "after escalate, eventually tier_update"
    assert str(never(Mark.RESOLVE, until=Mark.ATTEMPT)) == "never resolve until attempt"
    assert str(after(Mark.RESOLVE).never(("escalate", Mark.STEP))) == "after resolve, never escalate or step"
    assert str(always((Mark.STEP, "attempt"))) == "always step or attempt"
    assert NOTIFIED.liveness is False and TIER2_NEWS.liveness is True


def test_expect_before_each_escalation_needs_its_own_customer_update() -> None:
    """After each P, a Q before the next R; an R with no P pending is fine; no R, no violation."""
    assert where(NOTIFIED, [*ESCALATED, "notify_customer", "resolve"]) == []
    assert where(NOTIFIED, [*ESCALATED, "resolve"]) == [4]
    assert where(NOTIFIED, ["attempt", "resolve"]) == []
    assert where(NOTIFIED, ESCALATED) == []
    again = [*ESCALATED, "notify_customer", "resolve", "reopen", "escalate", "resolve"]
    assert where(NOTIFIED, again) == [8]
    violation = check_temporal([NOTIFIED], [*ESCALATED, "resolve"], SPEC)[0]
    assert violation.message == ("resolve at event 4 is resolve, with no customer_update since "
                                 "escalate at event 3")


def test_eventually_is_judged_on_finished_histories_only() -> None:
    """A pending obligation is a violation only once the history ended in a final stage."""
    resolved = [*ESCALATED, "notify_customer", "resolve", "request_feedback"]
    assert where(TIER2_NEWS, resolved) == [0]                       # feedback is final
    assert where(TIER2_NEWS, resolved[:-1]) == []                   # resolved is not
    assert where(TIER2_NEWS, resolved[:-1], finished=True) == [0]
    assert where(TIER2_NEWS, [*ESCALATED, "follow_up", "notify_customer", "resolve",
                              "request_feedback"]) == []
    message = check_temporal([TIER2_NEWS], resolved, SPEC)[0].message
    assert message == "the history ended in a final stage with no tier_update since escalate at event 3"


def test_never_and_always() -> None:
    """never Q (until U), after P never Q (until U), always Q: by mark, name or any of several."""
    assert where(never(Mark.RESOLVE, until=Mark.ATTEMPT), ["attempt", "resolve"]) == []
    assert where(never("resolve"), ["attempt", "resolve", "reopen", "resolve"]) == [2, 4]
    quiet = after(Mark.RESOLVE).never(Mark.STEP, until=Mark.REOPEN)
    assert where(quiet, ["attempt", "resolve", "reopen", "record_step"]) == []
    assert where(quiet, ["attempt", "record_step", "resolve", "request_feedback"]) == []
    steps_only = always((Mark.STEP, Mark.ATTEMPT))
    assert where(steps_only, ["attempt", "record_step", "resolve"]) == [3]


def test_histories_come_in_every_shape() -> None:
    """Audit records, a ticket, a store's history, trigger names and (source, trigger) pairs
    give the same events; marks and destinations come from the spec."""
    machine = EscalationMachine(clock=ManualClock(datetime(2026, 1, 5, tzinfo=UTC)))
    path = next(p for p in transition_cover(SPEC) if str(p) == "escalated --resolve--> resolved")
    ticket = path.replay(machine)
    names = [r.trigger for r in ticket.history]
    pairs = [(r.source, r.trigger) for r in ticket.history]
    with MemoryStore(machine=machine) as store:
        store.create(ticket)
        stored = store.history(ticket.id)
    shapes = [ticket, ticket.history, stored, names, pairs]
    events = [events_of(shape, SPEC) for shape in shapes]
    assert all(e == events[0] for e in events)
    assert events[0][2].marks == {Mark.ESCALATE} and events[0][-1].dest == "resolved"
    assert all(check_temporal([NOTIFIED], shape, SPEC) == [] for shape in shapes)


def test_the_same_rules_run_over_replayed_logs() -> None:
    """A replayed case (its fired transitions and final stage) is a history like any other.

    Helpdesk logs do not record customer notifications, so every escalation the sample resolved
    breaks "a customer update before resolving": the rule says so, case by case.
    """
    cases = {case.case_id: case for case in Replayer(shipped_mapping("helpdesk")).replay(HELPDESK)}
    spec = Replayer(shipped_mapping("helpdesk")).spec
    assert check_temporal([never(Mark.RESOLVE, until=Mark.ATTEMPT)], cases["Case9"], spec) == []
    broken = sorted(case_id for case_id, case in cases.items()
                    if check_temporal([NOTIFIED], case, spec))
    assert broken == ["Case100", "Case1345", "Case28", "Case3897", "Case732"]
    assert [v.index for v in check_temporal([NOTIFIED], cases["Case1345"], spec)] == [6]


def test_assert_temporal_names_every_broken_rule() -> None:
    """The raising form lists each violation under the label given."""
    with pytest.raises(TemporalViolated) as caught:
        assert_temporal([NOTIFIED, TIER2_NEWS], [*ESCALATED, "resolve", "request_feedback"], SPEC,
                        label="T-7")
    assert str(caught.value).startswith("T-7 breaks 2 temporal rule(s):")
    assert len(caught.value.violations) == 2
    assert_temporal([NOTIFIED], ["attempt", "resolve"], SPEC)


def test_rules_by_mark_hold_alike_on_the_renamed_procedure() -> None:
    """A rule written with marks gives the same verdict on the renamed twin of a history."""
    history = [*ESCALATED, "resolve", "request_feedback"]
    twin = [translate(name) for name in history]
    for rule in (NOTIFIED, TIER2_NEWS, never(Mark.RESOLVE, until=Mark.ATTEMPT)):
        assert where(rule, history) == [
            v.index for v in check_temporal([rule], twin, renamed_spec())]


# -- in the stateful base -------------------------------------------------------------------------

RUN = settings(max_examples=60, derandomize=True, database=None, deadline=None,
               suppress_health_check=list(HealthCheck))


class ExpectsTier2News(EscalationStateMachine):
    """The default procedure does not make Tier 2 report before a ticket is resolved."""

    temporal = (TIER2_NEWS,)


def test_eventually_is_found_false_by_driving_tickets_to_the_end() -> None:
    """An escalated ticket left open is driven to a final stage along a shortest path, which
    resolves it without a Tier 2 update: the rule fails at the end of a three-trigger run."""
    with pytest.raises(RunFailed) as caught:
        ExpectsTier2News.run(RUN)
    found = caught.value
    assert found.check == "temporal: after escalate, eventually tier_update"
    triggers = [s.trigger for s in found.steps if isinstance(s, Fire)]
    assert triggers[:3] == ESCALATED
    assert triggers[3:] == ["notify_customer", "resolve", "request_feedback"]   # the drive
    assert found.step == len(found.steps)


class HoldsOrder(EscalationStateMachine):
    """Rules the default procedure guarantees, checked during runs and at their end."""

    temporal = (NOTIFIED, after(Mark.ESCALATE).eventually(Mark.CUSTOMER_UPDATE),
                never(Mark.RESOLVE, until=Mark.ATTEMPT))


def test_rules_the_procedure_guarantees_hold_in_runs() -> None:
    """Checked per commit and after driving every open ticket to a final stage."""
    report = HoldsOrder.run(RUN)
    assert report.runs >= 60


def test_a_ticket_that_cannot_finish_keeps_its_obligation() -> None:
    """A ticket without a category can never leave the first stage: nothing is pending, so no
    failure. An escalated ticket whose resolution a hook vetoes cannot be driven to a final
    stage: its pending obligation is reported, saying so."""
    class Stuck(EscalationStateMachine):
        temporal = (after(Mark.ESCALATE).eventually(Mark.RESOLVE),)

    Stuck.replay([Open("T-1", customer_id="C-1", details="No category")])

    class Vetoed(Stuck):
        allow_hook_failures = True

        def register_hooks(self, machine: EscalationMachine) -> None:
            @machine.before("resolve")
            def frozen(event: TransitionEvent) -> None:
                raise TransitionRefused(ticket_id=event.before.id, stage=event.source,
                                        trigger=event.trigger, reasons=("change freeze",))

    with pytest.raises(RunFailed) as caught:
        Vetoed.replay([Open("T-1", customer_id="C-1", category="other", details="d"),
                       *(Fire("T-1", t, "agent", p) for t, p in (
                           ("attempt", {}), ("record_step", {"step": "s"}),
                           ("escalate", {"summary": "s", "assessment": {
                               "complexity": "high", "frustration": "low", "urgency": "low"}})))])
    assert caught.value.check == "temporal: after escalate, eventually resolve"
    assert "T-1 (it could not be driven to a final stage)" in caught.value.detail
