"""Reviewing a store gives the replay's report, from the stored histories, streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import SQL_KINDS, Backend, backend
from support import AGENT, HIGH, START, escalated, new_ticket

from escalation_fsm import Actor, EscalationMachine, ManualClock, Mark, Role, Ticket, Trigger
from escalation_fsm.cli import main
from escalation_fsm.replay import ReviewReport, review
from escalation_fsm.review import review_store
from escalation_fsm.sla import SLAClock, SLAPolicy
from escalation_fsm.stores import MemoryStore
from escalation_fsm.testing.strategies import tickets

MAPPING = """format_version = 1
name = "store export"
spec = "default"
on_unknown = "error"
ignore = ["opened"]
[columns]
case = "case"
activity = "activity"
timestamp = "at"
timestamp_format = "iso"
resource = "who"
category = "category"
priority = "priority"
[activities]
"""

DIRECTIONS = ("inbound", "outbound")
SAME = ("overall", "by_category", "by_priority", "by_month", "time_in_stage",
        "transition_counts", "sla_breach_rates", "resolution_histogram", "training", "cases",
        "period_start")


def export(stored: list[Ticket], folder: Path, machine: EscalationMachine) -> tuple[Path, Path]:
    """The histories as an event log (an ``opened`` row, then one row per record) and a mapping
    naming each trigger as its own activity; an interaction's activity also says its direction
    (``record_interaction inbound``), which the mapping's ``[interactions]`` table declares."""
    log, mapping = folder / "export.csv", folder / "export.toml"
    interacting = machine.spec.marked(Mark.INTERACTION)
    with log.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "activity", "at", "who", "category", "priority"])
        for ticket in stored:
            assert ticket.opened_at is not None
            fixed = [ticket.category or "", ticket.priority]
            writer.writerow([ticket.id, "opened", ticket.opened_at.isoformat(), "", *fixed])
            for record in ticket.history:
                activity = record.trigger
                if record.trigger in interacting:
                    activity += f" {record.payload['direction']}"
                writer.writerow([ticket.id, activity, record.at.isoformat(),
                                 record.actor_id, *fixed])
    names = "".join(f'"{t.name}" = "{t.name}"\n' for t in machine.spec.triggers
                    if t.name not in interacting)
    names += "".join(f'"{t} {d}" = "{t}"\n' for t in interacting for d in DIRECTIONS)
    directions = "".join(f'"{t} {d}" = "{d}"\n' for t in interacting for d in DIRECTIONS)
    mapping.write_text(MAPPING + names + "[interactions]\n" + directions, encoding="utf-8")
    return log, mapping


def figures(report: ReviewReport) -> dict[str, object]:
    data = report.model_dump(mode="json")
    return {key: data[key] for key in SAME}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(data=st.data())
def test_a_store_reviews_like_its_histories_replayed(tmp_path_factory: pytest.TempPathFactory,
                                                     data: st.DataObject) -> None:
    """Invariant: for any workload, review_store gives the figures (KPIs, breakdowns, stage
    times, transitions, SLA breach rates, training section) of a replay of the same histories
    written out as a log. The one thing a log cannot carry is the ETA promised to the customer
    (a record's payload), so only the store can judge the promised-response clock; every other
    figure must be equal (an interaction's direction travels in its activity, declared by the
    mapping's ``[interactions]`` table)."""
    clock = ManualClock(START, tick=timedelta(minutes=41))
    policy = SLAPolicy()
    machine = EscalationMachine(clock=clock, sla=policy)
    drawn = data.draw(st.lists(tickets(machine, max_steps=8), min_size=1, max_size=6))
    store = MemoryStore(machine=machine)
    stored = []
    for number, ticket in enumerate(drawn):
        if not ticket.history:
            continue
        opened = ticket.history[0].at - timedelta(minutes=number + 1)
        stored.append(store.create(ticket.model_copy(update={"id": f"T-{number}",
                                                             "opened_at": opened})))
    if not stored:
        return
    folder = tmp_path_factory.mktemp("export")
    log, mapping = export(stored, folder, machine)
    ours = review_store(store)
    theirs = review(log, mapping, sla=policy)
    ours_figures, their_figures = figures(ours), figures(theirs)
    assert not any(rate["clock"] == SLAClock.PROMISED_RESPONSE
                   for rate in their_figures["sla_breach_rates"])  # type: ignore[attr-defined]
    ours_figures["sla_breach_rates"] = [
        rate for rate in ours_figures["sla_breach_rates"]  # type: ignore[attr-defined]
        if rate["clock"] != SLAClock.PROMISED_RESPONSE]
    assert ours_figures == their_figures
    assert ours.events + len(stored) == theirs.events   # the export's "opened" rows
    assert ours.source_kind == "store" and theirs.source_kind == "log"


def seeded(store: MemoryStore, *, biased: str | None, tickets: int = 240) -> None:
    """Tickets attempted by four agents in turn; ``biased`` escalates every technical one."""
    agents = [Actor(id=f"a-{n}", role=Role.AGENT) for n in range(4)]
    for number in range(tickets):
        agent = agents[number % 4]
        category = ("technical", "billing")[number // 4 % 2]
        store.create(new_ticket(id=f"T-{number}", category=category, opened_at=START))
        store.apply(f"T-{number}", Trigger.ATTEMPT, actor=agent)
        store.apply(f"T-{number}", Trigger.RECORD_STEP, actor=agent, step="KB")
        if (agent.id == biased and category == "technical") or number % 10 == 0:
            store.apply(f"T-{number}", Trigger.ESCALATE, actor=agent, summary="Tier 2",
                        assessment=HIGH)
        else:
            store.apply(f"T-{number}", Trigger.RESOLVE, actor=agent, solution="fixed")


def test_training_flags_the_seeded_agent_and_nobody_else() -> None:
    """An agent who escalates every technical ticket is the finding; without one, none."""
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=3)))
    biased, fair = MemoryStore(machine=machine), MemoryStore(machine=machine)
    seeded(biased, biased="a-2")
    seeded(fair, biased=None)
    section = review_store(biased).training
    assert section is not None and section.findings
    assert {f.subject for f in section.findings} == {"a-2"}
    assert any(f.text.startswith("a-2 escalates technical tickets ") for f in section.findings)
    fair_section = review_store(fair).training
    assert fair_section is not None and fair_section.findings == []


def test_since_and_until_pick_tickets_by_opening() -> None:
    """Only tickets opened in [since, until) are counted; naive bounds are refused."""
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=3)))
    store = MemoryStore(machine=machine)
    for day in range(3):
        store.create(new_ticket(id=f"T-{day}", opened_at=START + timedelta(days=day)))
        store.apply(f"T-{day}", Trigger.ATTEMPT, actor=AGENT)
    window = review_store(store, since=START + timedelta(days=1), until=START + timedelta(days=2))
    assert window.cases == 1 and review_store(store).cases == 3
    with pytest.raises(ValueError, match="timezone-aware"):
        review_store(store, since=datetime(2026, 1, 1))


@pytest.fixture(params=SQL_KINDS)
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        store = found.open(EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=3))))
        seeded(store, biased="a-2", tickets=120)  # type: ignore[arg-type]
        store.close()
        yield found


def test_review_command_on_sqlite_and_postgresql(sql: Backend, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``escalation-fsm review`` writes the report in each format; the JSON is the model, with
    the store as its source; pseudonyms hide agent ids; a bad --sla is one line, status 2."""
    where = ["--db", sql.target] if sql.kind == "sqlite" else ["--dsn", sql.target]
    assert main(["review", *where, "--format", "json", "--since", "2026-01-01"]) == 0
    report = ReviewReport.model_validate_json(capsys.readouterr().out)
    assert report.source_kind == "store" and report.cases == 120
    assert report.training is not None and report.training.findings
    assert main(["review", *where, "--pseudonymise", "--format", "markdown"]) == 0
    page = capsys.readouterr().out
    assert "## Training opportunities" in page and "a-2" not in page
    teams = tmp_path / "teams.json"
    teams.write_text('{"a-0": "red", "a-1": "red", "a-2": "blue", "a-3": "blue"}', "utf-8")
    out = tmp_path / "r.html"
    assert main(["review", *where, "--teams", str(teams), "--format", "html", "-o", str(out)]) == 0
    assert "4 agent(s) and 2 team(s)" in out.read_text(encoding="utf-8")
    assert main(["review", *where, "--sla", str(tmp_path / "missing.toml")]) == 2
    assert capsys.readouterr().err.startswith("escalation-fsm review: --sla ")
    assert main(["review", *where, "--since", "2026-02-01", "--until", "2026-01-01"]) == 2


def interacted(machine: EscalationMachine, direction: str) -> Ticket:
    """An escalated ticket on which the customer (or the helpdesk) then got in touch."""
    ticket = escalated(machine).model_copy(update={"opened_at": START - timedelta(minutes=5)})
    return machine.fire(ticket, Trigger.RECORD_INTERACTION, actor=AGENT, channel="email",
                        direction=direction, summary="asked for news")


def customer_update_rate(report: ReviewReport) -> dict[str, object]:
    return next(rate for rate in report.model_dump(mode="json")["sla_breach_rates"]
                if rate["clock"] == SLAClock.CUSTOMER_UPDATE)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_an_interaction_moves_the_customer_update_clock_in_a_replay_as_in_the_store(
        tmp_path: Path, direction: str) -> None:
    """Regression (found by the property above): after an escalation, an interaction restarts
    the customer-update clock (inbound, by the default policy) or counts as the update
    (outbound). A replay whose mapping gives the interaction's direction counts that run as the
    store review does; without the direction it cannot, and says so in its notes."""
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=41)),
                                sla=SLAPolicy())
    store = MemoryStore(machine=machine)
    stored = [store.create(interacted(machine, direction))]
    log, mapping = export(stored, tmp_path, machine)
    ours, theirs = review_store(store), review(log, mapping, sla=machine.sla)
    assert customer_update_rate(ours) == customer_update_rate(theirs)
    assert customer_update_rate(ours)["decided"] == 1
    assert not any(n.rule.startswith("interaction direction") for n in theirs.not_observable)
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text[:text.index("[interactions]")], encoding="utf-8")
    blind = review(log, mapping, sla=machine.sla)
    assert not any(rate.clock == SLAClock.CUSTOMER_UPDATE for rate in blind.sla_breach_rates)
    assert [n.rule for n in blind.not_observable if n.rule.startswith("interaction direction")] == [
        f"interaction direction: '{Trigger.RECORD_INTERACTION.value} inbound', "
        f"'{Trigger.RECORD_INTERACTION.value} outbound'"]
