"""The escalation ladder's what-if on the past: counted as the live ladder would have found it.

The property fires random histories through the machine (waiting stages a policy may pause
clocks in, escalations, Tier 2 updates, resolutions, reopenings, interactions; times that often
repeat or land on a threshold exactly), under random ladders and calendars, and counts them three
ways: the reference asks the live step code (``sla.ladder_steps``) about the ticket after every
prefix of its history and keeps the steps due before the next record (or the ticket's last
event); :meth:`LadderWhatIf.add_history` walks the records once; and the replay's
:meth:`LadderWhatIf.add_compiled` reads the compiled clock fold's running stretches. All three
must agree on every figure of every step.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from renamed_procedure import renamed_logged_spec, translate, translated_ticket
from support import VALID, new_ticket

from escalation_fsm import Actor, EscalationError, EscalationMachine, ManualClock, Ticket, Urgency
from escalation_fsm.cli import main
from escalation_fsm.marks import Mark
from escalation_fsm.models import FrozenDict
from escalation_fsm.procedure import logged_procedure_spec
from escalation_fsm.replay import (
    LogStats,
    Replayer,
    build_report,
    render_report,
    review,
    sample_log,
    shipped_mapping,
)
from escalation_fsm.replay.breaches import BreachCounter
from escalation_fsm.replay.ladder_whatif import LadderWhatIf
from escalation_fsm.replay.program import CaseProgram
from escalation_fsm.replay.times import stamp_of
from escalation_fsm.sla import (
    BusinessCalendar,
    SLAClock,
    SLAPolicy,
    WorkingPeriod,
    clock_runs,
    ladder_steps,
)
from escalation_fsm.spec import MachineSpec

SPEC = logged_procedure_spec()
START = datetime(2026, 3, 27, 15, tzinfo=UTC)
CALENDARS = [
    BusinessCalendar(),
    BusinessCalendar.always(),
    BusinessCalendar(timezone="Europe/Berlin",
                     hours=(WorkingPeriod(start=time(8), end=time(12)),
                            WorkingPeriod(start=time(13), end=time(18))),
                     holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6)})),
]
CLOCKS = [SLAClock.FIRST_RESPONSE, SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE,
          SLAClock.RESOLUTION]
WHEN: list[dict[str, Any]] = [
    {"at": 0.25}, {"at": 0.5}, {"at": 1.0}, {"at": 1.5}, {"offset": "-PT30M"},
    {"offset": "-PT100H"}, {"offset": "PT1H"}]
GAPS = [0, 0, 30 * 60, 60 * 60, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400]
"""Seconds between records: often none, often a whole share of a target (ties on thresholds)."""

Figures = dict[tuple[SLAClock, Urgency, str], tuple[int, int, int, int]]


def _policy(calendar: BusinessCalendar, paused: frozenset[SLAClock],
            chosen: dict[SLAClock, list[int]]) -> SLAPolicy:
    ladder = {clock: {urgency: [{"name": f"s{n}", **WHEN[n], "action": "notify", "role": "lead"}
                                for n in picks] for urgency in Urgency}
              for clock, picks in chosen.items()}
    return SLAPolicy.model_validate({"calendar": calendar, "ladder": ladder, "pauses": {
        "waiting": paused, "waiting_tier2": paused}})


def _history(policy: SLAPolicy, urgency: Urgency, data: st.DataObject, spec: MachineSpec = SPEC,
             ) -> Ticket:
    """A ticket fired through the machine at random (valid payloads; refusals are skipped)."""
    clock = ManualClock(START)
    machine = EscalationMachine(spec, clock=clock, sla=policy)
    ticket = new_ticket(opened_at=START, stage=spec.initial, priority=urgency)
    for _ in range(data.draw(st.integers(0, 10))):
        clock.advance(timedelta(seconds=data.draw(st.one_of(st.sampled_from(GAPS),
                                                            st.integers(0, 40 * 3600)))))
        moves = spec.transitions_from(ticket.stage)
        if not moves:
            break
        move = data.draw(st.sampled_from(moves))
        payload = dict(VALID.get(move.trigger, {}))
        try:
            ticket = machine.fire(ticket, move.trigger, actor=Actor(id="x", role=min(move.roles)),
                                  **payload)
        except EscalationError:
            continue
    return ticket.model_copy(update={"priority": urgency})  # judged at one urgency, as replays are


def reference(ticket: Ticket, policy: SLAPolicy, spec: MachineSpec, end: datetime
              ) -> tuple[Figures, dict[tuple[SLAClock, Urgency], int]]:
    """The live step code asked after every prefix of the history: steps due before the next."""
    history = ticket.history
    stage = history[0].source if history else ticket.stage
    bounds = [record.at for record in history] + [end]
    found: dict[tuple[SLAClock, datetime, str], datetime] = {}
    for count in range(len(history) + 1):
        prefix = ticket.model_copy(update={"history": history[:count], "stage": stage})
        for due in ladder_steps(prefix, policy, spec):
            if due.due_at < bounds[count]:
                key = (due.clock, due.run_started_at, due.name)
                found[key] = min(found.get(key, due.due_at), due.due_at)
    escalated = [r.at for r in history if Mark.ESCALATE in spec.marks_of(r.trigger)]
    resolved = [r.at for r in history if Mark.RESOLVE in spec.marks_of(r.trigger)]
    firsts: dict[tuple[SLAClock, Urgency, str], datetime] = {}
    runs: dict[tuple[SLAClock, Urgency, str], int] = {}
    for (clock, _run, name), due_at in found.items():
        step = (clock, ticket.priority, name)
        runs[step] = runs.get(step, 0) + 1
        firsts[step] = min(firsts.get(step, due_at), due_at)
    figures: Figures = {key: (1, runs[key], int(any(at > first for at in escalated)),
                              int(any(at > first for at in resolved)))
                        for key, first in firsts.items()}
    ran = {run.clock for run in clock_runs(ticket, policy, spec, now=end)}
    eligible = {(clock, ticket.priority): 1 for clock in ran
                if policy.ladder.of(clock, ticket.priority)}
    return figures, eligible


def figures_of(what_if: LadderWhatIf) -> tuple[Figures, dict[tuple[SLAClock, Urgency], int]]:
    tickets, runs = what_if.tickets, what_if.runs
    escalated, resolved = what_if.escalated_later, what_if.resolved_later
    counted = {key: (tickets[key], runs[key], escalated[key], resolved[key])
               for key in tickets if tickets[key] or runs[key] or escalated[key] or resolved[key]}
    return counted, {key: n for key, n in what_if.eligible.items() if n}


def stripped(ticket: Ticket) -> Ticket:
    """The ticket as a replay sees it: the same records, without payloads (logs have none)."""
    return ticket.model_copy(update={"history": tuple(
        r.model_copy(update={"payload": FrozenDict()}) for r in ticket.history)})


def compiled(ticket: Ticket, policy: SLAPolicy, end: datetime, spec: MachineSpec = SPEC, *,
             backwards: bool = False) -> LadderWhatIf:
    """The replay's count: one event at the opening, one per record, one at ``end``."""
    history = ticket.history
    assert ticket.opened_at is not None
    times = [ticket.opened_at, *(r.at for r in history), end]
    steps = [(n, (r.trigger,), None) for n, r in enumerate(history, start=1)]
    outcomes = [("ok", r.source, r.trigger, r.dest) for r in history]
    program = CaseProgram(steps, outcomes, ticket.stage, length=len(times), initial=spec.initial,
                          finals=spec.finals, require_final=True, escalating=frozenset(),
                          reopening=frozenset(), resolving=frozenset())
    stamps = [stamp_of(at) for at in times]
    counter = BreachCounter(policy, spec)
    what_if = LadderWhatIf(policy, spec)
    what_if.add_compiled(program, counter.times(stamps, None, stamps[0], stamps[-1]),
                         ticket.priority, counter, backwards=backwards)
    return what_if


def walked(ticket: Ticket, policy: SLAPolicy, end: datetime, spec: MachineSpec = SPEC,
           ) -> LadderWhatIf:
    what_if = LadderWhatIf(policy, spec)
    history = ticket.history
    what_if.add_history(history, stage=history[0].source if history else ticket.stage,
                        opened_at=ticket.opened_at, priority=ticket.priority, end=end)
    return what_if


@settings(max_examples=250, deadline=None)
@given(calendar=st.sampled_from(CALENDARS), paused=st.frozensets(st.sampled_from(CLOCKS)),
       chosen=st.dictionaries(st.sampled_from(CLOCKS), st.lists(
           st.sampled_from(range(len(WHEN))), min_size=1, max_size=4, unique=True), min_size=1),
       urgency=st.sampled_from(list(Urgency)), tail=st.sampled_from([0, 3600, 5 * 86400]),
       data=st.data())
def test_what_if_counts_equal_the_live_step_code_asked_at_every_record(
        *, calendar: BusinessCalendar, paused: frozenset[SLAClock],
        chosen: dict[SLAClock, list[int]], urgency: Urgency, tail: int,
        data: st.DataObject) -> None:
    """On random histories, ladders and calendars, each step's tickets, runs, escalated-later
    and resolved-later counts, and the tickets per clock and urgency, are the reference's: with
    payloads (a store's history) by the record walk; without (a log's) by the walk, by the
    compiled stretches, and by the compiled path falling back to the walk."""
    policy = _policy(calendar, paused, chosen)
    ticket = _history(policy, urgency, data)
    last = ticket.history[-1].at if ticket.history else START
    end = last + timedelta(seconds=tail)
    assert figures_of(walked(ticket, policy, end)) == reference(ticket, policy, SPEC, end)
    plain = stripped(ticket)
    expected = reference(plain, policy, SPEC, end)
    assert figures_of(walked(plain, policy, end)) == expected
    assert figures_of(compiled(plain, policy, end)) == expected
    assert figures_of(compiled(plain, policy, end, backwards=True)) == expected


def test_a_known_case_counts_the_steps_before_the_clock_stopped() -> None:
    """Opened Monday 09:00 (office hours 9-17, normal urgency: resolution 40 hours), answered at
    10:00, resolved Thursday 12:00 (27 business hours): the 50% step (Wednesday 13:00) was
    reached, then resolved later; the 75% step (Thursday 15:00) and the breach were not."""
    policy = SLAPolicy.model_validate({"ladder": {"resolution": {"normal": [
        {"name": "half", "at": 0.5, "action": "notify", "role": "lead"},
        {"name": "most", "at": 0.75, "action": "notify", "role": "lead"},
        {"name": "breach", "at": 1.0, "action": "raise_urgency"}]}}})
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    clock = ManualClock(monday)
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    agent = Actor(id="a", role="agent")
    ticket = new_ticket(opened_at=monday, stage=SPEC.initial)
    clock.advance(timedelta(hours=1))
    ticket = machine.fire(ticket, SPEC.marked(Mark.ATTEMPT)[0], actor=agent)
    clock.set(datetime(2026, 1, 8, 12, tzinfo=UTC))
    ticket = machine.fire(ticket, SPEC.marked(Mark.RESOLVE)[0], actor=agent,
                          **VALID[SPEC.marked(Mark.RESOLVE)[0]])
    for what_if in (walked(ticket, policy, clock.now()),
                    compiled(stripped(ticket), policy, clock.now())):
        figures, eligible = figures_of(what_if)
        assert figures == {(SLAClock.RESOLUTION, Urgency.NORMAL, "half"): (1, 1, 0, 1)}
        assert eligible == {(SLAClock.RESOLUTION, Urgency.NORMAL): 1}


def test_an_escalation_at_the_steps_very_instant_is_not_later() -> None:
    """Escalated exactly when the 50% step of the resolution target comes due (Wednesday 13:00),
    resolved on Friday: the step was reached (the resolution clock ran on), the escalation was
    not after it, the resolution was."""
    policy = SLAPolicy.model_validate({"ladder": {"resolution": {"normal": [
        {"name": "half", "at": 0.5, "action": "notify", "role": "lead"}]}}})
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    clock = ManualClock(monday)
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    agent = Actor(id="a", role="agent")
    ticket = new_ticket(opened_at=monday, stage=SPEC.initial)
    for at, mark in ((monday, Mark.ATTEMPT), (monday, Mark.STEP),
                     (datetime(2026, 1, 7, 13, tzinfo=UTC), Mark.ESCALATE),
                     (datetime(2026, 1, 8, 9, tzinfo=UTC), Mark.PROMISE),
                     (datetime(2026, 1, 9, 12, tzinfo=UTC), Mark.RESOLVE)):
        clock.set(at)
        trigger = SPEC.marked(mark)[0]
        ticket = machine.fire(ticket, trigger, actor=Actor(id="s", role="supervisor")
                              if mark is not Mark.ATTEMPT and mark is not Mark.STEP else agent,
                              **VALID.get(trigger, {}))
    end = clock.now()
    ticket = ticket.model_copy(update={"priority": Urgency.NORMAL})  # the escalation raised it
    expected = {(SLAClock.RESOLUTION, Urgency.NORMAL, "half"): (1, 1, 0, 1)}
    assert reference(ticket, policy, SPEC, end)[0] == expected
    assert figures_of(walked(ticket, policy, end))[0] == expected
    assert figures_of(compiled(stripped(ticket), policy, end))[0] == expected


def test_a_run_resumed_at_the_last_event_counts_its_overdue_step() -> None:
    """Tier 2's clock paused in waiting_tier2 from the escalation, resumed by the very last
    record: at that instant the live code finds the step at offset -100 hours (due as the run
    started) overdue, so it counts, by every way (hypothesis found the compiled path skipping a
    run whose only running stretch is that instant)."""
    policy = _policy(CALENDARS[0], frozenset({SLAClock.TIER2_UPDATE}),
                     {SLAClock.TIER2_UPDATE: [5]})
    clock = ManualClock(START)
    machine = EscalationMachine(SPEC, clock=clock, sla=policy)
    agent = Actor(id="a", role="agent")
    ticket = new_ticket(opened_at=START, stage=SPEC.initial, priority=Urgency.LOW)
    for trigger in ("attempt", "record_step", "wait", "escalate"):
        ticket = machine.fire(ticket, trigger, actor=agent, **VALID.get(trigger, {}))
    clock.advance(timedelta(minutes=30))
    ticket = machine.fire(ticket, "attempt", actor=agent)
    ticket = ticket.model_copy(update={"priority": Urgency.LOW})
    end = clock.now()
    expected = {(SLAClock.TIER2_UPDATE, Urgency.LOW, "s5"): (1, 1, 0, 0)}
    assert reference(stripped(ticket), policy, SPEC, end)[0] == expected
    assert figures_of(walked(stripped(ticket), policy, end))[0] == expected
    assert figures_of(compiled(stripped(ticket), policy, end))[0] == expected


def test_a_renamed_procedure_gets_the_same_what_if() -> None:
    """Every stage and trigger renamed (renamed_procedure.py): the same histories, translated,
    count the same figures by both ways, so nothing reads a default name."""
    policy = _policy(CALENDARS[0], frozenset({SLAClock.RESOLUTION}),
                     {clock: [0, 2, 6] for clock in CLOCKS})
    renamed_policy = policy.model_copy(update={"pauses": {
        translate(stage): clocks for stage, clocks in policy.pauses.items()}})
    seen = 0

    @settings(max_examples=40, deadline=None)
    @given(urgency=st.sampled_from(list(Urgency)), data=st.data())
    def same(urgency: Urgency, data: st.DataObject) -> None:
        nonlocal seen
        ticket = _history(policy, urgency, data)
        end = (ticket.history[-1].at if ticket.history else START) + timedelta(hours=5)
        twin = translated_ticket(ticket)
        ours = figures_of(compiled(stripped(ticket), policy, end))
        assert ours == figures_of(compiled(stripped(twin), renamed_policy, end,
                                           renamed_logged_spec()))
        assert figures_of(walked(ticket, policy, end)) == figures_of(
            walked(twin, renamed_policy, end, renamed_logged_spec()))
        seen += bool(ours[0])

    same()
    assert seen  # some history reached a step: the comparison was not of empty counts


LADDER_TOML = """
[[ladder.resolution.normal]]
name = "half"
at = 0.5
action = "notify"
role = "the assignee"

[[ladder.resolution.normal]]
name = "breach"
at = 1.0
action = "escalate"

[[ladder.tier2_update.high]]
name = "lead"
at = 0.75
action = "notify"
role = "the team lead"

[[ladder.promised_response.normal]]
name = "promise"
at = 0.9
action = "notify"
role = "the assignee"
"""


def _ladder_policy(role: str = "the team lead") -> SLAPolicy:
    import tomllib

    data = tomllib.loads(LADDER_TOML)
    data["ladder"]["tier2_update"]["high"][0]["role"] = role
    return SLAPolicy.model_validate(data)


def test_the_review_of_a_sample_log_has_the_section_and_notes_an_idle_clock() -> None:
    """A replay with a ladder policy gives one entry per step, counted over every case; the
    promised-response steps (a log records no ETA) are a data note, not silently zero."""
    report = review(sample_log("servicenow"), "servicenow", sla=_ladder_policy())
    section = report.ladder_what_if
    assert section is not None and section.tickets == report.cases
    assert [(s.clock, s.urgency, s.step) for s in section.steps] == [
        ("resolution", "normal", "half"), ("resolution", "normal", "breach"),
        ("tier2_update", "high", "lead"), ("promised_response", "normal", "promise")]
    half, breach = section.steps[0], section.steps[1]
    assert half.tickets >= breach.tickets > 0 and half.eligible >= half.tickets
    assert breach.acting and not half.acting
    assert "not re-simulated" in section.note
    idle = [n for n in report.data_notes if n.problem == "ladder_idle"]
    # One note per clock and urgency no ticket ran (the sample has no high-urgency escalation).
    assert {n.rule for n in idle} == {f"ladder {s.clock}/{s.urgency}" for s in section.steps
                                      if not s.eligible} >= {"ladder promised_response/normal"}
    assert "no promised ETA" in next(n.effect for n in idle if "promised" in n.rule)
    assert report.schema_version == "1.4"


def test_no_ladder_no_section_and_counting_results_leaves_it_out_with_a_warning() -> None:
    """A policy without a ladder gives no section; a report counted from CaseResults (which
    carry no history) leaves the section out and says why, never a silent zero."""
    plain = review(sample_log("servicenow"), "servicenow", sla=SLAPolicy())
    assert plain.ladder_what_if is None
    assert all(n.problem != "ladder_idle" for n in plain.data_notes)
    replayer = Replayer(shipped_mapping("servicenow"), sla=_ladder_policy())
    stats = LogStats(source="sample")
    report = build_report(replayer.replay(sample_log("servicenow"), stats), replayer, stats,
                          log_name="sample")
    assert report.ladder_what_if is None
    assert any("ladder's what-if was left out" in w for w in report.warnings)


def test_renderers_escape_the_ladder_texts() -> None:
    """A role (free text in the policy) with markup, a pipe and terminal escapes is shown as
    text in every format: no tag, no new table cell, no escape sequence."""
    hostile = "<script>x</script> | \x1b[31mred"
    report = review(sample_log("servicenow"), "servicenow", sla=_ladder_policy(hostile))
    table = render_report(report, "table")
    assert "\x1b" not in table and "notify <script>x</script> | \\x1b[31mred" in table
    markdown = render_report(report, "markdown")
    assert "<script>" not in markdown and "&lt;script&gt;x&lt;/script&gt; &#124; " in markdown
    html = render_report(report, "html")
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt; | \\x1b[31mred" in html
    for text in (table, markdown, html):
        assert "Escalation ladder: what if it had been on" in text


def test_replay_and_review_commands_show_the_what_if(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``replay --sla FILE`` with a ladder writes the section (JSON and table); so does
    ``review --sla FILE`` on a store."""
    policy = tmp_path / "ladder.toml"
    policy.write_text(LADDER_TOML, encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["replay", str(sample_log("servicenow")), "--mapping", "servicenow", "--sla",
                 str(policy), "--format", "json", "-o", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["schema_version"] == "1.4"
    assert data["ladder_what_if"]["steps"][0]["description"] == (
        "notify the assignee at 50% of the resolution target")
    assert main(["replay", str(sample_log("servicenow")), "--mapping", "servicenow", "--sla",
                 str(policy), "--quiet"]) == 0
    assert "would have reached 'notify the assignee at 50% of the resolution target'" in (
        capsys.readouterr().out)


def test_review_command_on_a_store_shows_the_what_if(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``escalation-fsm review --db FILE --sla FILE`` counts the stored histories: a ticket left
    unresolved for a week reached the 50% step of its resolution target; one resolved within
    the hour did not."""
    from escalation_fsm import default_spec
    from escalation_fsm.stores import SQLiteStore

    policy_file = tmp_path / "ladder.toml"
    policy_file.write_text("""
[[ladder.resolution.normal]]
name = "half"
at = 0.5
action = "notify"
role = "the assignee"
""", encoding="utf-8")
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    clock = ManualClock(monday)
    spec = default_spec()
    machine = EscalationMachine(spec, clock=clock)
    agent = Actor(id="a", role="agent")
    db = tmp_path / "t.db"
    store = SQLiteStore(str(db), machine=machine)
    for ticket_id in ("T-1", "T-2"):
        store.create(new_ticket(id=ticket_id, opened_at=monday))
        store.apply(ticket_id, spec.marked(Mark.ATTEMPT)[0], actor=agent)
    store.apply("T-1", spec.marked(Mark.STEP)[0], actor=agent, **VALID["record_step"])
    store.apply("T-1", spec.marked(Mark.RESOLVE)[0], actor=agent, **VALID["resolve"])
    clock.set(monday + timedelta(days=7))
    store.apply("T-2", spec.marked(Mark.STEP)[0], actor=agent, **VALID["record_step"])
    store.close()
    assert main(["review", "--db", str(db), "--sla", str(policy_file), "--format", "json"]) == 0
    section = json.loads(capsys.readouterr().out)["ladder_what_if"]
    assert section["tickets"] == 2
    assert [(s["step"], s["eligible"], s["tickets"]) for s in section["steps"]] == [
        ("half", 2, 1)]
