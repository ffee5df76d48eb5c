"""``escalation-fsm specs`` and ``escalation-fsm migrate``, and the diff diagram, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_support import SQL_KINDS, Backend, backend
from version_support import V2, tickets_in_every_stage

from escalation_fsm import MIGRATE_TRIGGER, EscalationMachine, default_spec, spec_fingerprint
from escalation_fsm.cli import main
from escalation_fsm.diagrams import diff_edges, diff_to_dot, diff_to_mermaid


@pytest.fixture(params=SQL_KINDS)
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        store = found.open(EscalationMachine(default_spec()))
        for ticket in tickets_in_every_stage(EscalationMachine(default_spec()), 80):
            store.create(ticket)
        store.close()
        yield found


def where(db: Backend) -> list[str]:
    return ["--db", db.target] if db.kind == "sqlite" else ["--dsn", db.target]


def test_specs_lists_the_versions_with_their_ticket_counts(
        sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """The table names v1 with its tickets; json says the same; --show prints the description."""
    assert main(["specs", *where(sql)]) == 0
    table = capsys.readouterr().out
    assert "customer-service-escalation v1" in table and "no history yet" in table
    assert main(["specs", *where(sql), "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["fingerprint"] == spec_fingerprint(default_spec())
    assert sum(e["tickets"] for e in entries) == 80
    assert main(["specs", *where(sql), "--show", entries[0]["fingerprint"][:8]]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1"


def test_migrate_dry_run_then_apply_then_again(sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """The dry run writes nothing and counts the tickets; the apply moves them (status 0); a
    second run moves nothing; specs then shows every ticket with history on v2."""
    before = sql.sql("SELECT count(*) FROM escalation_history")
    assert main(["migrate", *where(sql), "--to", "version_support:V2", "--dry-run",
                 "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and sum(report["counts"].values()) == 80
    assert sql.sql("SELECT count(*) FROM escalation_history") == before
    assert main(["migrate", *where(sql), "--to", "version_support:V2"]) == 0
    out = capsys.readouterr().out
    assert f"migrated {report['counts']['clean']}, already 0" in out
    moved = sql.sql("SELECT count(*) FROM escalation_history WHERE trigger = ?", (MIGRATE_TRIGGER,))
    assert moved == [(report["counts"]["clean"],)]
    assert main(["migrate", *where(sql), "--to", "version_support:V2"]) == 0
    assert "migrated 0" in capsys.readouterr().out
    assert main(["specs", *where(sql), "--format", "json"]) == 0
    counts = {e["fingerprint"]: e["tickets"] for e in json.loads(capsys.readouterr().out)}
    assert counts[spec_fingerprint(V2)] == report["counts"]["clean"]


def test_migrate_reports_breaking_tickets_with_status_1(
        sql: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    """To v3 (no reopen from feedback): the tickets that break are listed with their record;
    the others are migrated; exit status 1."""
    assert main(["migrate", *where(sql), "--to", "version_support:V3"]) == 1
    out = capsys.readouterr().out
    assert "breaks" in out and "'reopen'" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--map", "nowhere=attempted"], "stage 'nowhere' is mapped, but"),
    (["--map", "bad"], "write OLD=NEW"),
    (["--from", "abc"], "names no single usable recorded spec"),
])
def test_migrate_bad_input_is_one_line_and_changes_nothing(
        sql: Backend, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """A bad --map or --from: one line on stderr, status 2, nothing written."""
    before = sql.sql("SELECT count(*) FROM escalation_history")
    assert main(["migrate", *where(sql), "--to", "version_support:V2", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sql.sql("SELECT count(*) FROM escalation_history") == before


def test_the_diff_diagram_styles_added_removed_and_changed_transitions() -> None:
    """v1 -> v2 adds (bold green), a changed role is orange, a removed one red and dashed."""
    v1 = default_spec()
    changed = V2.extend(
        transitions=[V2.transition("resolved", "reopen").model_copy(  # type: ignore[union-attr]
            update={"roles": frozenset({"agent"})})],
        remove_transitions=[("feedback", "reopen")])
    _, edges = diff_edges(v1, changed)
    status = {(e.source, e.trigger): e.status for e in edges}
    assert status[("escalated", "escalate_tier3")] == "added"
    assert status[("resolved", "reopen")] == "changed"
    assert status[("feedback", "reopen")] == "removed"
    assert status[("identified", "attempt")] == "same"
    dot = diff_to_dot(v1, changed)
    assert '"escalated" -> "tier3" [label="+ escalate_tier3", color="#15803d"' in dot
    assert '"feedback" -> "attempted" [label="- reopen", color="#b91c1c", fontcolor="#b91c1c", style=dashed]' in dot
    assert "~ reopen (roles without customer, supervisor)" in dot
    mermaid = diff_to_mermaid(v1, changed)
    assert "s_feedback -.->|" in mermaid and "stroke-dasharray" in mermaid


def test_the_cli_draws_the_diff_against_a_stored_description(
        sql: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """specs --show writes v1's description; diagram --against it draws v1 -> v2 without v1's code."""
    main(["specs", *where(sql), "--format", "json"])
    fingerprint = json.loads(capsys.readouterr().out)[0]["fingerprint"]
    main(["specs", *where(sql), "--show", fingerprint])
    old = tmp_path / "v1.json"
    old.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["diagram", "--against", str(old), "--spec", "version_support:V2",
                 "--format", "dot"]) == 0
    assert '"+ tier3"' in capsys.readouterr().out
