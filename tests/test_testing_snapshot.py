"""The approval snapshot: a procedure table a host commits, and readable differences from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from renamed_procedure import renamed_spec

from escalation_fsm import GuardSpec, Mark, Role, StageSpec, TriggerSpec, default_spec
from escalation_fsm.guards import has_message
from escalation_fsm.testing import SnapshotMismatch, SpecSnapshot, check_snapshot
from escalation_fsm.testing.snapshot import UPDATE_ENV

DEFAULT = SpecSnapshot.from_spec(default_spec())
RESOLVE = default_spec().transition("escalated", "resolve")


def test_a_snapshot_round_trips_through_its_text() -> None:
    """The text parses back to an equal snapshot, and it is JSON with one item per line."""
    text = DEFAULT.text()
    assert SpecSnapshot.parse(text) == DEFAULT
    assert json.loads(text)["spec"] == "customer-service-escalation"
    lines = text.splitlines()
    assert sum(1 for line in lines if line.startswith('  {"source"')) == len(default_spec().transitions)
    assert '  {"source": "attempted", "trigger": "escalate", "target": "escalated", "guards": ' \
           '["has_steps", "has_summary", "escalation_warranted"], "roles": ["agent", "supervisor"]},' in lines


def test_a_snapshot_answers_what_a_reference_is_asked() -> None:
    """Transitions (target, guards, roles) and marks, as the stateful base reads them."""
    escalate = DEFAULT.transition("attempted", "escalate")
    assert escalate is not None
    assert (escalate.target, escalate.guards, escalate.roles) == (
        "escalated", ("has_steps", "has_summary", "escalation_warranted"),
        frozenset({"agent", "supervisor"}))
    assert escalate.key == ("attempted", "escalate")
    assert escalate.goal == "attempted --escalate--> escalated"
    assert DEFAULT.transition("identified", "resolve") is None
    assert DEFAULT.marks_of("notify_customer") == {Mark.PROMISE, Mark.CUSTOMER_UPDATE}
    assert DEFAULT.marks_of("no_such_trigger") == frozenset()
    assert len(DEFAULT.transitions) == len(default_spec().transitions)
    assert DEFAULT.name == default_spec().name


def test_every_kind_of_drift_reads_as_a_sentence() -> None:
    """Stages, triggers (marks, effect), guards (check) and transitions (target, guards, roles)."""
    assert RESOLVE is not None
    drifted = default_spec().extend(
        name="drifted",
        stages=[StageSpec(name="resolved", description="Resolved.", final=True)],
        triggers=[TriggerSpec(name="reopen", description="Reopen.", payload=default_spec().trigger(
            "reopen").payload, marks=set())],
        guards=[GuardSpec(name="has_solution", requirement="a solution is documented",
                          check=has_message, reads=frozenset({"solution"}))],
        transitions=[
            RESOLVE.model_copy(update={"roles": frozenset({Role.TIER2, Role.CUSTOMER}),
                                       "guards": ("has_solution",)}),
            default_spec().transition("feedback", "reopen").model_copy(  # type: ignore[union-attr]
                update={"dest": "resolved"}),
        ],
    )
    found = DEFAULT.differences(SpecSnapshot.from_spec(drifted))
    assert found == [
        "spec renamed: 'customer-service-escalation' -> 'drifted'",
        "stage 'resolved': final changed from False to True",
        "trigger 'reopen': marks lost 'reopen' (approved: reopen; now: none)",
        "trigger 'reopen': effect changed from 'escalation_fsm.effects.reopen' to None",
        "guard 'has_solution': check changed from 'escalation_fsm.guards.has_solution' to "
        "'escalation_fsm.guards.has_message'",
        "transition escalated --resolve--> resolved: guards lost 'customer_notified' (approved: "
        "has_solution, customer_notified; now: has_solution)",
        "transition escalated --resolve--> resolved: roles lost 'supervisor' and gained 'customer' "
        "(approved: supervisor, tier2; now: customer, tier2)",
        "transition feedback --reopen--> attempted: target changed from 'attempted' to 'resolved'",
    ]
    renamed = SpecSnapshot.from_spec(renamed_spec())
    assert "stage 'identified' was removed" in DEFAULT.differences(renamed)
    assert "transition logged --pick_up--> first_line was added: target=first_line, guards=['rule_1', " \
           "'rule_2'], roles=['agent', 'supervisor', 'tier2']" in DEFAULT.differences(renamed)


def test_reordered_guards_are_a_difference_too() -> None:
    """Guard order decides the order of reasons an agent reads: a reorder is reported."""
    assert RESOLVE is not None
    swapped = default_spec().extend(transitions=[RESOLVE.model_copy(
        update={"guards": ("customer_notified", "has_solution")})])
    assert DEFAULT.differences(SpecSnapshot.from_spec(swapped)) == [
        "transition escalated --resolve--> resolved: guards reordered (approved: has_solution, "
        "customer_notified; now: customer_notified, has_solution)"]


def test_check_snapshot_passes_fails_and_writes_only_when_asked(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing: fails with instructions; update: writes; drift: fails with the differences and
    the line diff; the environment variable updates too."""
    target = tmp_path / "snapshots" / "procedure.json"
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    with pytest.raises(SnapshotMismatch, match=f"run once with {UPDATE_ENV}=1"):
        check_snapshot(default_spec(), target)
    assert not target.exists()
    check_snapshot(default_spec(), target, update=True)
    assert SpecSnapshot.load(target) == DEFAULT
    check_snapshot(default_spec(), target)

    with pytest.raises(SnapshotMismatch) as caught:
        check_snapshot(renamed_spec(), target)
    message = str(caught.value)
    assert "spec 'renamed-escalation' differs from its approved snapshot" in message
    assert "  - stage 'logged' was added" in message
    assert f"rerun with {UPDATE_ENV}=1" in message
    assert '-  {"name": "identified", "initial": true, "final": false},' in message
    assert len(caught.value.differences) > 20
    assert isinstance(caught.value, AssertionError)

    monkeypatch.setenv(UPDATE_ENV, "1")
    check_snapshot(renamed_spec(), target)
    assert SpecSnapshot.load(target).name == "renamed-escalation"


def test_a_file_that_is_not_a_snapshot_is_refused(tmp_path: Path) -> None:
    """A JSON file of another kind is named as such, not compared."""
    other = tmp_path / "x.json"
    other.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not an escalation_fsm snapshot"):
        SpecSnapshot.load(other)


def test_the_renamed_procedure_snapshots_like_the_default() -> None:
    """Same shape, names aside: as many stages, triggers, guards and transitions (plus Tier 3)."""
    renamed = SpecSnapshot.from_spec(renamed_spec())
    assert len(renamed.data["transitions"]) == len(DEFAULT.data["transitions"]) + 4
    assert renamed.marks_of("to_tier3") == {Mark.ESCALATE}
