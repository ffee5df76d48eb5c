"""``escalation-fsm timeline``: one ticket's history from a store, read-only, in four formats."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from store_support import SQL_KINDS, Backend, backend
from support import AGENT, HIGH, START, new_ticket

from escalation_fsm import Channel, EscalationMachine, ManualClock, Trigger
from escalation_fsm.cli import main
from escalation_fsm.timeline import Timeline


@pytest.fixture(params=SQL_KINDS)
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        store = found.open(EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=30))))
        store.create(new_ticket(id="T-1", opened_at=START))
        store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
        store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="KB article 12")
        store.apply("T-1", Trigger.ESCALATE, actor=AGENT, summary="Tier 2", assessment=HIGH)
        store.apply("T-1", Trigger.RECORD_INTERACTION, actor=AGENT, channel=Channel.PHONE,
                    direction="inbound", summary="Customer called")
        store.close()
        yield found


def where(db: Backend) -> list[str]:
    return ["--db", db.target] if db.kind == "sqlite" else ["--dsn", db.target]


NOW = "2026-01-05T17:00:00Z"


def test_text_lists_every_record_and_the_open_deadlines(
        sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """The default format names each trigger with who fired it, the interaction's details, and
    what is still owed."""
    assert main(["timeline", *where(sql), "T-1", "--now", NOW]) == 0
    out = capsys.readouterr().out
    for text in ("attempt (identified -> attempted)", "interaction record_interaction",
                 "summary: Customer called", "open deadlines:", "path: identified -> attempted "
                 "-> escalated"):
        assert text in out


def test_json_is_the_timeline_model(sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format json`` reads back as a :class:`Timeline` of the stored ticket."""
    assert main(["timeline", *where(sql), "T-1", "--now", NOW, "--format", "json"]) == 0
    timeline = Timeline.model_validate_json(capsys.readouterr().out)
    assert timeline.ticket_id == "T-1" and timeline.version == 4
    assert [e.kind for e in timeline.entries if e.kind in ("transition", "interaction")] == [
        "transition", "transition", "transition", "interaction"]


def test_html_and_markdown_to_a_file(sql: Backend, tmp_path: Path) -> None:
    """``-o`` writes the page; Markdown carries the live Mermaid diagram, HTML a picture or a
    note saying why there is none."""
    page, notes = tmp_path / "t.html", tmp_path / "t.md"
    assert main(["timeline", *where(sql), "T-1", "--format", "html", "-o", str(page)]) == 0
    assert main(["timeline", *where(sql), "T-1", "--format", "markdown", "-o", str(notes)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html or "no SVG diagram" in html
    assert "```mermaid" in notes.read_text(encoding="utf-8")


def test_it_never_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The SQLite file is byte for byte the same after a timeline, with or without --policy."""
    with backend("sqlite", tmp_path) as db:
        store = db.open(EscalationMachine(clock=ManualClock(START)))
        store.create(new_ticket(id="T-1", opened_at=START))
        store.close()
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"promise_in_business_time": True}), encoding="utf-8")
        files = sorted(Path(db.target).parent.glob(Path(db.target).name + "*"))
        before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        assert main(["timeline", "--db", db.target, "T-1", "--policy", str(policy)]) == 0
        assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == before
    assert "Ticket T-1" in capsys.readouterr().out


def test_errors_are_one_line(sql: Backend, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown ticket, a bad format or an output into a missing folder: exit 2, one line."""
    assert main(["timeline", *where(sql), "T-404"]) == 2
    assert capsys.readouterr().err == "escalation-fsm timeline: ticket 'T-404' is not in the store\n"
    assert main(["timeline", *where(sql), "T-1", "-o", str(tmp_path / "no" / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("escalation-fsm timeline: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        main(["timeline", *where(sql), "T-1", "--format", "pdf"])
    assert exit_.value.code == 2


def test_a_refused_interaction_changes_nothing(sql: Backend) -> None:
    """An interaction without a summary is refused by its guard; the stored ticket, its history
    and its hash chain are exactly as before."""
    from escalation_fsm import TransitionRefused

    store = sql.open(EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=30))))
    before = store.get("T-1")
    with pytest.raises(TransitionRefused) as refused:
        store.apply("T-1", Trigger.RECORD_INTERACTION, actor=AGENT, channel=Channel.EMAIL,
                    direction="outbound")
    assert list(refused.value.failed_guards) == ["has_interaction_summary"]
    assert store.get("T-1") == before and store.history("T-1") == before.history
    assert store.verify().ok
    store.close()
