"""The ticket timeline: every record once, in order, with business time and SLA events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from renamed_procedure import renamed_spec, translated_ticket

from escalation_fsm import (
    Actor,
    Assessment,
    AuditRecord,
    Category,
    Channel,
    EscalationMachine,
    InteractionDirection,
    ManualClock,
    Role,
    Ticket,
    Trigger,
)
from escalation_fsm.diagrams import GraphvizUnavailable
from escalation_fsm.sla import SLAClock, SLAPolicy, clock_runs
from escalation_fsm.testing.strategies import tickets
from escalation_fsm.timeline import DeadlineEntry, RecordEntry, Timeline, render_timeline, ticket_timeline
from escalation_fsm.timeline import build as timeline_build

MONDAY = datetime(2026, 3, 23, 9, tzinfo=UTC)
AGENT = Actor(id="a-17", role=Role.AGENT)


def _escalated(clock: ManualClock, machine: EscalationMachine) -> Ticket:
    t = Ticket(id="T-8", customer_id="C-9", category=Category.TECHNICAL, details="Sync fails",
               opened_at=clock.now(), priority="high")
    t = machine.fire(t, Trigger.ATTEMPT, actor=AGENT)
    t = machine.fire(t, Trigger.RECORD_STEP, actor=AGENT, step="Re-linked the account")
    return machine.fire(t, Trigger.ESCALATE, actor=AGENT, summary="Sync API rejects the token",
                        assessment=Assessment(complexity="high", frustration="medium",
                                              urgency="high"))


@pytest.fixture
def story() -> tuple[Ticket, EscalationMachine]:
    """Escalated Monday 09:00; the customer calls at 11:00; the helpdesk writes at 12:00."""
    clock = ManualClock(MONDAY)
    machine = EscalationMachine(clock=clock, sla=SLAPolicy())
    t = _escalated(clock, machine)
    clock.advance(timedelta(hours=2))
    t = machine.fire(t, Trigger.RECORD_INTERACTION, actor=AGENT, channel=Channel.PHONE,
                     direction=InteractionDirection.INBOUND, summary="Customer asks for news")
    clock.advance(timedelta(hours=1))
    t = machine.fire(t, Trigger.RECORD_INTERACTION, actor=AGENT, channel=Channel.EMAIL,
                     direction=InteractionDirection.OUTBOUND, summary="Sent the workaround")
    return t, machine


def _events(timeline: Timeline) -> list[tuple[str, str, int]]:
    return [(e.kind, e.clock.value, e.at.hour) for e in timeline.entries
            if isinstance(e, DeadlineEntry)]


def test_records_interactions_and_sla_events_in_order(story: tuple[Ticket, EscalationMachine]) -> None:
    """Each record is an entry (interactions told apart by their mark), and each deadline met,
    restarted by the customer's message, or breached is an event at its own time."""
    ticket, machine = story
    timeline = ticket_timeline(ticket, machine, now=MONDAY.replace(hour=18))
    records = [e for e in timeline.entries if isinstance(e, RecordEntry)]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert [r.kind for r in records] == ["transition"] * 3 + ["interaction"] * 2
    assert records[3].details == (("channel", "phone"), ("direction", "inbound"),
                                  ("summary", "Customer asks for news"))
    assert [r.business_since_previous for r in records][3:] == [timedelta(hours=2),
                                                                timedelta(hours=1)]
    assert _events(timeline) == [
        ("deadline_met", "first_response", 9),
        ("deadline_restarted", "customer_update", 11),   # the inbound call, not an update
        ("deadline_breached", "tier2_update", 11),
        ("deadline_met", "customer_update", 12),         # the outbound email is an update
        ("deadline_breached", "customer_update", 16),
    ]
    assert [e.at for e in timeline.entries] == sorted(e.at for e in timeline.entries)
    assert {d.clock for d in timeline.open_deadlines} == {
        SLAClock.RESOLUTION, SLAClock.TIER2_UPDATE, SLAClock.CUSTOMER_UPDATE}
    assert timeline.path == ("identified", "attempted", "escalated")


def test_business_time_skips_the_weekend() -> None:
    """The time between records is measured in the policy's business hours: Friday 16:00 to
    Monday 10:00 is two business hours (09:00-17:00, Monday to Friday)."""
    friday = datetime(2026, 3, 20, 16, tzinfo=UTC)
    clock = ManualClock(friday)
    machine = EscalationMachine(clock=clock, sla=SLAPolicy())
    t = Ticket(id="T-1", customer_id="C-1", details="x", category=Category.BILLING,
               opened_at=friday)
    clock.set(MONDAY.replace(hour=10))
    t = machine.fire(t, Trigger.ATTEMPT, actor=AGENT)
    (entry,) = [e for e in ticket_timeline(t, machine).entries if isinstance(e, RecordEntry)]
    assert entry.business_since_previous == timedelta(hours=2)
    assert entry.since_previous == timedelta(days=2, hours=18)


def test_a_renamed_procedure_gives_the_same_timeline(
        story: tuple[Ticket, EscalationMachine]) -> None:
    """Nothing keys on the default names: the same history under a fully renamed spec has the
    same kinds, business times and SLA events."""
    ticket, machine = story
    renamed = EscalationMachine(renamed_spec(), clock=machine.clock, sla=SLAPolicy())
    now = MONDAY.replace(hour=18)
    default, other = (ticket_timeline(ticket, machine, now=now),
                      ticket_timeline(translated_ticket(ticket), renamed, now=now))

    def shape(timeline: Timeline) -> list[tuple[object, ...]]:
        return [(e.kind, e.at, getattr(e, "business_since_previous", None),
                 getattr(e, "clock", None)) for e in timeline.entries]

    assert shape(default) == shape(other)
    assert other.path == ("logged", "first_line", "second_line")


def test_a_record_the_spec_does_not_define_is_shown_not_dropped(
        story: tuple[Ticket, EscalationMachine]) -> None:
    """A record written by a library service (a trigger outside the spec) is an entry of kind
    ``record``; the diagram leaves it out and says so."""
    ticket, machine = story
    last = ticket.history[-1]
    extra = AuditRecord(seq=last.seq + 1, at=last.at + timedelta(minutes=5), actor_id="worker-1",
                        actor_role="system", trigger="@service-note", source=last.dest,
                        dest=last.dest, payload={"step": "50% of the target"})
    odd = ticket.model_copy(update={"history": (*ticket.history, extra),
                                    "version": ticket.version + 1})
    timeline = ticket_timeline(odd, machine, now=MONDAY.replace(hour=18))
    kinds = [e.kind for e in timeline.entries if isinstance(e, RecordEntry)]
    assert kinds[-1] == "record" and len(kinds) == len(odd.history)
    assert timeline.diagram.svg_note == (
        f"records {extra.seq} are not transitions of the spec and are not drawn")


def test_missing_graphviz_is_reported_in_the_page(story: tuple[Ticket, EscalationMachine],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Graphviz the HTML still shows the path (Mermaid source) and says why there is
    no picture, rather than failing or leaving it out silently."""
    def unavailable(*_: object, **__: object) -> str:
        raise GraphvizUnavailable("svg", "program")

    monkeypatch.setattr(timeline_build, "render", unavailable)
    ticket, machine = story
    timeline = ticket_timeline(ticket, machine, svg=True)
    assert timeline.diagram.svg is None and timeline.diagram.svg_note is not None
    assert timeline.diagram.svg_note.startswith("no SVG diagram: ")
    page = render_timeline(timeline, "html")
    assert "no SVG diagram" in page and "stateDiagram-v2" in page and "<svg" not in page


HOSTILE = "<script>alert(1)</script> | x\n# y \x1b[31mred\x1b[0m [l](javascript:1) <img onerror=1>"


def _hostile() -> tuple[Ticket, EscalationMachine]:
    clock = ManualClock(MONDAY)
    machine = EscalationMachine(clock=clock)
    t = Ticket(id="T-<b>", customer_id="C-<i>|1", details="x", opened_at=MONDAY)
    t = machine.fire(t, Trigger.RECORD_INTERACTION, actor=Actor(id="<svg onload=1>", role=Role.AGENT),
                     channel=Channel.CHAT, direction="inbound", summary=HOSTILE)
    return t, machine


def test_text_output_has_no_control_characters() -> None:
    """An ANSI escape or a newline in a summary never reaches the terminal raw."""
    text = render_timeline(ticket_timeline(*_hostile()), "text")
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    assert r"\x1b[31mred" in text and r"x\n# y" in text


def test_markdown_cells_cannot_break_out() -> None:
    """In Markdown no HTML tag, link or extra table column comes from ticket data."""
    page = render_timeline(ticket_timeline(*_hostile()), "markdown")
    table = [line for line in page.splitlines() if line.startswith("| ")]
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 6 for line in table)
    assert not re.search(r"<(script|img|svg|b|i)\b", page)
    assert not re.search(r"(?<!\\)\]\(javascript", page)


def test_html_escapes_everything() -> None:
    """The HTML page carries ticket data only as escaped text and has no script."""
    page = render_timeline(ticket_timeline(*_hostile()), "html")
    assert not re.search(r"<(script|img|svg|b|i)\b", page)
    assert "&lt;script&gt;" in page and "\x1b" not in page


def test_json_round_trips(story: tuple[Ticket, EscalationMachine]) -> None:
    """The JSON form is the model: it reads back into an equal timeline."""
    ticket, machine = story
    timeline = ticket_timeline(ticket, machine, now=MONDAY.replace(hour=18))
    text = render_timeline(timeline, "json")
    assert Timeline.model_validate_json(text) == timeline
    assert json.loads(text)["schema_version"] == 1


def test_bad_arguments_are_refused(story: tuple[Ticket, EscalationMachine]) -> None:
    """A naive ``now`` and an unknown format are errors that name what is allowed."""
    ticket, machine = story
    with pytest.raises(ValueError, match="timezone-aware"):
        ticket_timeline(ticket, machine, now=datetime(2026, 3, 23, 12))
    with pytest.raises(ValueError, match="text, markdown, html, json"):
        render_timeline(ticket_timeline(ticket, machine), "pdf")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_record_appears_once_in_order(data: st.DataObject) -> None:
    """Invariant: a timeline has exactly one record entry per audit record, in history order,
    entries never go back in time, and every deadline event is a clock run of the ticket."""
    clock = ManualClock(MONDAY, tick=timedelta(minutes=37))
    machine = EscalationMachine(clock=clock, sla=SLAPolicy())
    ticket = data.draw(tickets(machine))
    now = clock.now() + timedelta(days=3)
    timeline = ticket_timeline(ticket, machine, now=now)
    records = [e for e in timeline.entries if isinstance(e, RecordEntry)]
    assert [(r.seq, r.trigger, r.at) for r in records] == [
        (r.seq, r.trigger, r.at) for r in ticket.history]
    assert [e.at for e in timeline.entries] == sorted(e.at for e in timeline.entries)
    assert all(e.at <= now for e in timeline.entries if isinstance(e, DeadlineEntry))
    assert timeline.path[-1] == ticket.stage
    met = {(e.clock, e.started_at, e.at) for e in timeline.entries
           if isinstance(e, DeadlineEntry) and e.kind != "deadline_breached"}
    assert met == {(d.clock, d.started_at, d.met_at)
                   for d in clock_runs(ticket, machine.sla, machine.spec, now=now) if d.met_at}
