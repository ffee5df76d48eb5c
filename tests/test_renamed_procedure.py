"""A renamed procedure (every stage, trigger and guard, plus Tier 3) behaves like the default one.

The library reads marks, never names: on the same histories the renamed procedure gives the same
tickets, SLA deadlines, replay results and review figures, and the testing toolkit gives the same
verdicts, names aside (``renamed_procedure.translate`` maps one set of names to the other).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test
from renamed_procedure import (
    renamed_logged_spec,
    renamed_spec,
    translate,
    translated_ticket,
)
from replay_helpers import HELPDESK, SERVICENOW
from support import new_ticket

from escalation_fsm import (
    Actor,
    Assessment,
    EscalationError,
    EscalationMachine,
    MachineSpec,
    ManualClock,
    TransitionSpec,
    default_spec,
)
from escalation_fsm.procedure import logged_procedure_spec
from escalation_fsm.replay import LogMapping, LogStats, Replayer, build_report
from escalation_fsm.sla import (
    BusinessCalendar,
    SLAClock,
    SLAPolicy,
    WorkingPeriod,
    clock_runs,
    next_due,
)
from escalation_fsm.stores import MemoryStore
from escalation_fsm.testing import EscalationStateMachine, InvariantViolated, transition_cover

START = datetime(2026, 3, 27, 15, tzinfo=UTC)   # the Friday before Berlin's DST change
BERLIN = BusinessCalendar(timezone="Europe/Berlin",
                          hours=(WorkingPeriod(start=time(8), end=time(17)),),
                          holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6)}))
PAUSING = [SLAClock.RESOLUTION, SLAClock.CUSTOMER_UPDATE, SLAClock.TIER2_UPDATE]


def _payload(trigger: str, data: st.DataObject) -> dict[str, Any]:
    payloads: dict[str, dict[str, Any]] = {
        "record_step": {"step": "KB-1"}, "resolve": {"solution": "Fixed"},
        "follow_up": {"update": "Found it", "customer_message": "Fix coming"},
        "record_feedback": {"rating": 4}, "reopen": {"reason": "Back again"},
    }
    if trigger == "escalate":
        return {"summary": "Tier 2 please", "assessment": Assessment(
            complexity="high", frustration="low",
            urgency=data.draw(st.sampled_from(["low", "normal", "high", "critical"])))}
    if trigger == "record_interaction":
        return {"channel": "phone", "summary": "Called about the fix",
                "direction": data.draw(st.sampled_from(["inbound", "outbound"]))}
    if trigger == "notify_customer":
        hours = data.draw(st.one_of(st.none(), st.integers(1, 40)))
        return {"message": "On it", "eta": None if hours is None else timedelta(hours=hours)}
    return payloads.get(trigger, {})


def _twins(default: MachineSpec, renamed: MachineSpec, policy: SLAPolicy,
           data: st.DataObject) -> tuple[EscalationMachine, EscalationMachine, Any, Any]:
    """Fire one random plan through both procedures (names translated) and return both tickets."""
    clocks = ManualClock(START), ManualClock(START)
    renamed_policy = policy.model_copy(update={"pauses": {translate(stage): clocks_
                                                          for stage, clocks_ in policy.pauses.items()}})
    machines = (EscalationMachine(default, clock=clocks[0], sla=policy),
                EscalationMachine(renamed, clock=clocks[1], sla=renamed_policy))
    tickets = [new_ticket(opened_at=START), new_ticket(opened_at=START, stage=renamed.initial)]
    for _ in range(data.draw(st.integers(1, 25))):
        gap = timedelta(minutes=data.draw(st.integers(0, 60 * 30)))
        for clock in clocks:
            clock.advance(gap)
        moves = default.transitions_from(tickets[0].stage)
        if not moves:
            break
        move = data.draw(st.sampled_from(moves))
        role = data.draw(st.sampled_from(sorted(move.roles)))
        payload = _payload(move.trigger, data)
        outcomes = []
        for machine, index, trigger in ((machines[0], 0, move.trigger),
                                        (machines[1], 1, translate(move.trigger))):
            try:
                tickets[index] = machine.fire(tickets[index], trigger, actor=Actor(id="x", role=role),
                                              **payload)
                outcomes.append("committed")
            except EscalationError as exc:
                outcomes.append(type(exc).__name__)
        assert outcomes[0] == outcomes[1]
    return machines[0], machines[1], tickets[0], tickets[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), calendar=st.sampled_from([BusinessCalendar(), BERLIN]),
       paused=st.sets(st.sampled_from(PAUSING)))
def test_the_same_plan_gives_the_same_tickets_and_deadlines(data: st.DataObject,
                                                            calendar: BusinessCalendar,
                                                            paused: set[SLAClock]) -> None:
    """Fired through both logged procedures: equal tickets, deadlines, runs and next deadline."""
    policy = SLAPolicy(calendar=calendar, pauses={"waiting_tier2": frozenset(paused),
                                                  "waiting": frozenset(paused)})
    default, renamed, ticket, twin = _twins(logged_procedure_spec(), renamed_logged_spec(), policy, data)
    assert translated_ticket(ticket) == twin
    later = START + timedelta(days=data.draw(st.integers(0, 30)))
    assert default.deadlines(ticket, now=later) == renamed.deadlines(twin, now=later)
    assert clock_runs(ticket, policy, default.spec, now=later) == clock_runs(
        twin, renamed.sla, renamed.spec, now=later)
    assert next_due(ticket, policy, default.spec) == next_due(twin, renamed.sla, renamed.spec)


def test_a_stored_ticket_indexes_the_same_deadline() -> None:
    """Stores fold the clocks from marks: the renamed procedure's index says the same."""
    stores = MemoryStore(machine=EscalationMachine(clock=ManualClock(START))), MemoryStore(
        machine=EscalationMachine(renamed_spec(), clock=ManualClock(START)))
    agent = Actor(id="a", role="agent")
    for store, rename in zip(stores, (str, translate), strict=True):
        store.create(new_ticket(opened_at=START, stage=store.machine.spec.initial))
        store.apply("T-1", rename("attempt"), actor=agent)
        store.apply("T-1", rename("record_step"), actor=agent, step="KB")
        store.apply("T-1", rename("escalate"), actor=agent, summary="T2", assessment=Assessment(
            complexity="high", frustration="high", urgency="high"))
    by = START + timedelta(days=3)
    assert [t.id for t in stores[0].due(by=by)] == [t.id for t in stores[1].due(by=by)] == ["T-1"]
    assert stores[0].clocks("T-1").next_due(stores[0].machine.sla, stores[0].get("T-1").priority) \
        == stores[1].clocks("T-1").next_due(stores[1].machine.sla, stores[1].get("T-1").priority)


def test_tier3_is_one_more_escalation() -> None:
    """to_tier3 carries the escalate mark: tier 3, its review tag, a new Tier 2 update clock."""
    clock = ManualClock(START)
    machine = EscalationMachine(renamed_spec(), clock=clock)
    agent, tier2, tier3 = (Actor(id=r, role=r) for r in ("agent", "tier2", "tier3"))
    t = machine.fire(new_ticket(opened_at=START, stage="logged"), "pick_up", actor=agent)
    t = machine.fire(t, "note_step", actor=agent, step="KB")
    t = machine.fire(t, "to_tier2", actor=agent, summary="T2", assessment=Assessment(
        complexity="high", frustration="high", urgency="high"))
    t = machine.fire(t, "inform_customer", actor=agent, message="With Tier 2")
    clock.advance(timedelta(hours=1))
    t = machine.fire(t, "to_tier3", actor=tier2, summary="Needs engineering")
    assert (t.stage, t.tier, t.tags) == ("third_line", 3, ("tier2-review", "tier3-review"))
    tier_update = next(d for d in machine.deadlines(t, now=clock.now())
                       if d.clock is SLAClock.TIER2_UPDATE)
    assert tier_update.started_at == clock.now() and tier_update.is_open
    t = machine.fire(t, "close_out", actor=tier3, solution="Patched")
    assert t.stage == "fixed" and all(not d.is_open for d in machine.deadlines(t, now=clock.now())
                                      if d.clock is not SLAClock.FIRST_RESPONSE)


# -- replay ---------------------------------------------------------------------------------------


def _renamed_mapping(name: str) -> LogMapping:
    """A shipped mapping with every trigger name translated, for the renamed logged procedure."""
    text = resources.files("escalation_fsm.replay").joinpath("mappings", f"{name}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["activities"] = {activity: translate(choice) if isinstance(choice, str)
                          else [translate(c) for c in choice]
                          for activity, choice in data["activities"].items()}
    data["conditions"] = [{**c, "trigger": translate(c["trigger"])} for c in data.get("conditions", [])]
    return LogMapping.model_validate(data)


def _case_view(result: Any, rename: Any) -> tuple[object, ...]:
    return (result.case_id, result.status, result.events, result.final_stage,
            [(d.index, d.kind, d.stage, d.trigger) for d in result.deviations], list(result.fired),
            result.stage_seconds, result.escalated, result.reopened, result.resolved_at,
            result.sla_runs) if rename is None else (
        result.case_id, result.status, result.events, rename(result.final_stage),
        [(d.index, d.kind, rename(d.stage), rename(d.trigger)) for d in result.deviations],
        [(rename(s), rename(t)) for s, t in result.fired],
        {rename(k): v for k, v in result.stage_seconds.items()}, result.escalated,
        result.reopened, result.resolved_at, result.sla_runs)


@pytest.mark.parametrize(("log", "mapping"), [(HELPDESK, "helpdesk"), (SERVICENOW, "servicenow")])
def test_replay_gives_the_same_results_and_figures(log: Any, mapping: str) -> None:
    """Every case replays alike (names translated), and the review figures are identical."""
    sla = SLAPolicy()
    default = Replayer(_default_mapping(mapping), spec=logged_procedure_spec(), sla=sla)
    renamed = Replayer(_renamed_mapping(mapping), spec=renamed_logged_spec(), sla=sla)
    ours = list(default.replay(log))
    theirs = list(renamed.replay(log))
    assert len(ours) == len(theirs) > 20
    assert [_case_view(r, translate) for r in ours] == [_case_view(r, None) for r in theirs]
    assert any(r.escalated for r in ours) and any(r.resolved_at for r in ours)
    first = build_report(iter(ours), default, LogStats(source=str(log)), log_name=log.name)
    second = build_report(iter(theirs), renamed, LogStats(source=str(log)), log_name=log.name)
    assert first.overall == second.overall
    assert first.sla_breach_rates == second.sla_breach_rates
    for breakdown in ("by_category", "by_priority", "by_month"):
        assert getattr(first, breakdown) == getattr(second, breakdown)
    assert len(first.not_observable) == len(second.not_observable)


def test_a_mapping_naming_marks_works_on_the_renamed_procedure() -> None:
    """The ServiceNow mapping names ``escalate``, ``attempt``, ``reopen`` and ``resolve``: marks of
    the renamed procedure. Only the triggers without a mark (wait, close) need translating, and
    the replay is the same, names aside."""
    text = resources.files("escalation_fsm.replay").joinpath("mappings", "servicenow.toml").read_text("utf-8")
    data = tomllib.loads(text)
    unmarked = {"wait", "close", "classify"}
    data["activities"] = {a: translate(c) if isinstance(c, str) and c in unmarked else c
                          for a, c in data["activities"].items()}
    mapping = LogMapping.model_validate(data)
    assert mapping.triggers("escalate", renamed_logged_spec()) == ("to_tier2",)
    ours = list(Replayer(_default_mapping("servicenow"), spec=logged_procedure_spec()).replay(SERVICENOW))
    theirs = list(Replayer(mapping, spec=renamed_logged_spec()).replay(SERVICENOW))
    assert [_case_view(r, translate) for r in ours] == [_case_view(r, None) for r in theirs]


def _default_mapping(name: str) -> LogMapping:
    text = resources.files("escalation_fsm.replay").joinpath("mappings", f"{name}.toml").read_text("utf-8")
    return LogMapping.model_validate(tomllib.loads(text))


# -- the testing toolkit ------------------------------------------------------------------------


def test_transition_cover_finds_the_same_paths() -> None:
    """Shortest fireable paths to every transition: the same steps, names translated."""
    default = {path.goal: [(s.trigger, s.role) for s in path.steps]
               for path in transition_cover(default_spec())}
    renamed = {path.goal: [(s.trigger, s.role) for s in path.steps]
               for path in transition_cover(renamed_spec())}
    for goal, steps in default.items():
        source, rest = goal.split(" --")
        trigger, target = rest.split("--> ")
        twin = f"{translate(source)} --{translate(trigger)}--> {translate(target)}"
        assert renamed[twin] == [(translate(t), role) for t, role in steps]
    assert len(renamed) == len(default) + 4                       # the Tier 3 transitions


QUICK = settings(max_examples=25, stateful_step_count=25, deadline=None, database=None,
                 derandomize=True, suppress_health_check=[HealthCheck.too_slow])
VERDICT = settings(QUICK, max_examples=100, phases=[Phase.explicit, Phase.reuse, Phase.generate])
"""The verdict only: caught or not (shrinking the failure is the toolkit's own tests' business)."""


class RenamedProcedure(EscalationStateMachine):
    """The toolkit's built-in invariants on the renamed procedure: they hold."""

    spec = renamed_spec()


def test_the_toolkit_passes_the_renamed_procedure() -> None:
    """The stateful base runs clean on the renamed procedure, Tier 3 included."""
    run_state_machine_as_test(RenamedProcedure, settings=QUICK)


def _dropped(spec: MachineSpec, source: str, trigger: str, guard: str) -> type[EscalationStateMachine]:
    move = spec.transition(source, trigger)
    assert move is not None
    relaxed: TransitionSpec = move.model_copy(update={"guards": tuple(g for g in move.guards if g != guard)})

    class Dropped(EscalationStateMachine):
        pass

    Dropped.spec = spec.extend(transitions=[relaxed])
    Dropped.reference_spec = spec
    return Dropped


@pytest.mark.parametrize(("spec", "rename"), [(default_spec(), str), (renamed_spec(), translate)],
                         ids=["default", "renamed"])
def test_the_same_seeded_bug_is_caught_in_both(spec: MachineSpec, rename: Any) -> None:
    """Escalating without a recorded step: caught on the escalation, in both procedures."""
    broken = _dropped(spec, rename("attempted"), rename("escalate"), rename("has_steps"))
    with pytest.raises(InvariantViolated, match=rf"'{rename('escalate')}' by .* said no when it "
                                                rf"fired: {rename('has_steps')}: no resolution step"):
        run_state_machine_as_test(broken, settings=VERDICT)
