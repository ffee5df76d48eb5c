"""A ticket is its history (issue 15, problem 1): the machine checks it, and lists what is wrong.

``fire`` refuses, in O(1), a ticket whose stage is not its last record's destination (or the
initial stage); ``machine.verify`` replays the whole history under the spec; ``import_ticket`` is
the audited way into the middle of the procedure; bad input is a clear error at the boundary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict, ValidationError
from renamed_procedure import renamed_spec, translated_ticket
from support import AGENT, CUSTOMER, HIGH, START, SYSTEM, TIER2, VALID, escalated, new_ticket, walk

from escalation_fsm import (
    IMPORT_TRIGGER,
    MAX_TEXT_LENGTH,
    Actor,
    AuditRecord,
    Escalation,
    EscalationMachine,
    InconsistentTicket,
    InvalidArgument,
    ManualClock,
    Payload,
    Role,
    SpecError,
    Stage,
    Ticket,
    TransitionSpec,
    Trigger,
    TriggerSpec,
    default_spec,
    import_ticket,
)


def record(seq: int, trigger: str, source: str, dest: str, role: str = "agent",
           **payload: Any) -> AuditRecord:
    return AuditRecord(seq=seq, at=START + timedelta(minutes=seq), actor_id=f"{role}-1",
                       actor_role=role, trigger=trigger, source=source, dest=dest, payload=payload)


def test_fire_refuses_a_bare_stage_and_a_copied_stage(machine: EscalationMachine) -> None:
    """A ticket at 'resolved' without history, or whose stage was set with model_copy, is refused
    with InconsistentTicket saying why; the ticket given is unchanged."""
    bare = new_ticket(stage=Stage.RESOLVED)
    with pytest.raises(InconsistentTicket, match=r"stage 'resolved' without any history: a ticket "
                                                 r"starts in the initial stage 'identified'") as info:
        machine.fire(bare, Trigger.REOPEN, actor=AGENT, reason="again")
    assert info.value.ticket_id == "T-1" and isinstance(info.value, ValueError)
    copied = escalated(machine).model_copy(update={"stage": Stage.RESOLVED})
    with pytest.raises(InconsistentTicket, match=r"stage 'resolved' is not 'escalated', the stage "
                                                 r"its last record \(3\) entered"):
        machine.fire(copied, Trigger.REOPEN, actor=AGENT, reason="again")
    assert copied.version == 3 and copied.stage == Stage.RESOLVED
    assert machine.allowed(copied) == set() and machine.allowed(bare) == set()
    explained = machine.explain(copied, Trigger.REOPEN, actor=AGENT, reason="again")
    assert (explained.ok, explained.error) == (False, "InconsistentTicket")


@pytest.mark.parametrize(("history", "stage", "message"), [
    ((record(1, "attempt", "identified", "attempted"),
      record(2, "resolve", "escalated", "resolved")), "resolved",
     "history record 2 leaves stage 'escalated', but record 1 entered 'attempted'"),
    ((record(1, "attempt", "identified", "attempted"),), "resolved",
     "stage 'resolved' is not the stage its last history record (1, 'attempt') entered"),
    ((record(1, "attempt", "identified", "attempted"),
      record(2, IMPORT_TRIGGER, "attempted", "escalated")), "escalated",
     "history record 2 is an import, which only a ticket's first record can be"),
])
def test_a_ticket_whose_records_do_not_chain_does_not_validate(
        history: tuple[AuditRecord, ...], stage: str, message: str) -> None:
    """What a ticket can say about itself without a spec is checked whenever it is validated."""
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        new_ticket(stage=stage, history=history, version=len(history))


def test_verify_lists_every_inconsistency_with_its_record(machine: EscalationMachine) -> None:
    """Unknown triggers, moves the spec lacks, a customer resolving, a wrong destination, an
    unknown stage and a tier the marks do not give: each is one problem naming its record."""
    history = (record(1, "attempt", "identified", "attempted"),
               record(2, "teleport", "attempted", "attempted"),
               record(3, "resolve", "attempted", "resolved", role="customer"),
               record(4, "reopen", "resolved", "escalated"),
               record(5, "record_step", "escalated", "limbo"))
    forged = Ticket.model_construct(**{**new_ticket().__dict__, "stage": "limbo", "tier": 3,
                                       "history": history, "version": 6})
    found = [(p.seq, p.check) for p in machine.verify(forged)]
    assert found == [(None, "version"), (2, "trigger"), (3, "role"), (4, "transition"),
                     (5, "transition"), (None, "stage"), (None, "tier")]
    assert "actor 'customer-1' with role 'customer' may not fire 'resolve' from 'attempted'; " \
           "roles allowed: agent, supervisor" in [p.message for p in machine.verify(forged)]
    assert all(p.ticket_id == "T-1" for p in machine.verify(forged))
    assert machine.verify(new_ticket(stage="nowhere")) == machine.verify(
        new_ticket(stage="nowhere"))  # a value: the same answer every time
    assert [p.check for p in machine.verify(new_ticket(stage="nowhere"))] == ["stage"]


def test_an_unknown_stage_at_the_end_of_a_chain_is_reported(machine: EscalationMachine) -> None:
    """A history that ends in a stage the spec does not have: the record and the stage say so."""
    limbo = new_ticket(stage="limbo", history=(record(1, "attempt", "identified", "limbo"),),
                       version=1)
    assert [(p.seq, p.check) for p in machine.verify(limbo)] == [(1, "transition"),
                                                                (None, "stage")]


triggers = st.sampled_from([str(t) for t in Trigger])
actors = st.sampled_from([AGENT, TIER2, CUSTOMER, SYSTEM])


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(triggers, actors), max_size=25))
def test_nothing_the_machine_makes_fails_verification(steps: list[tuple[str, Actor]]) -> None:
    """Invariant: every ticket fire returns verifies clean, whatever was tried on the way."""
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=7)))
    ticket = new_ticket()
    for trigger, actor in steps:
        try:
            ticket = machine.fire(ticket, trigger, actor=actor, **VALID[trigger])
        except (ValueError, PermissionError, Exception) as exc:  # noqa: BLE001 (refusals are fine)
            assert not isinstance(exc, InconsistentTicket)
        assert machine.verify(ticket) == ()


def test_verify_reads_marks_not_names() -> None:
    """The same history, renamed, verifies clean under the renamed procedure (Tier 3 included),
    and a tier the renamed marks do not give is reported there too."""
    machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=1)))
    ticket = walk(machine, escalated(machine), (Trigger.NOTIFY_CUSTOMER, SYSTEM),
                  (Trigger.RESOLVE, TIER2), (Trigger.REOPEN, AGENT))
    renamed = EscalationMachine(renamed_spec())
    assert renamed.verify(translated_ticket(ticket)) == ()
    wrong = translated_ticket(ticket).model_copy(update={"tier": 2})
    assert [p.check for p in renamed.verify(wrong)] == ["tier"]


def test_import_is_the_audited_way_in_mid_way(machine: EscalationMachine) -> None:
    """import_ticket brings a ticket in at a stage and tier with one record saying who and when;
    it verifies clean, fires on from there, and a second import record is a problem."""
    supervisor = Actor(id="s-9", role=Role.SUPERVISOR)
    handover = Escalation(summary="Handed over in the old helpdesk", assessment=HIGH, reasons=(),
                          steps_taken=(), at=START, by="old-desk")
    data = new_ticket(details="Imported from the old helpdesk", escalation=handover)
    ticket = import_ticket(machine, data, Stage.ESCALATED, actor=supervisor, tier=2,
                           note="old-desk #4411")
    assert (ticket.stage, ticket.tier, ticket.version) == (Stage.ESCALATED, 2, 1)
    [imported] = ticket.history
    assert (imported.trigger, imported.source, imported.dest, imported.actor_id) == (
        IMPORT_TRIGGER, "identified", "escalated", "s-9")
    assert dict(imported.payload) == {"tier": 2, "note": "old-desk #4411"}
    assert machine.verify(ticket) == ()
    later = machine.fire(ticket, Trigger.NOTIFY_CUSTOMER, actor=SYSTEM, message="We are on it")
    assert machine.verify(later) == () and later.tier == 2
    twice = later.model_copy(update={"history": (*later.history, imported.model_copy(
        update={"seq": 3, "source": "escalated"})), "version": 3})
    assert (3, "import") in [(p.seq, p.check) for p in machine.verify(twice)]


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"stage": "limbo"}, "stage"),
    ({"stage": Stage.ESCALATED, "tier": 0}, "tier"),
    ({"stage": Stage.ESCALATED, "tier": True}, "tier"),
])
def test_import_refuses_what_it_cannot_record(machine: EscalationMachine, kwargs: dict[str, Any],
                                              name: str) -> None:
    """An unknown stage or a tier below 1 is an InvalidArgument naming it; so is history."""
    with pytest.raises(InvalidArgument) as info:
        import_ticket(machine, new_ticket(), actor=AGENT, **kwargs)
    assert info.value.name == name
    with pytest.raises(InvalidArgument, match="a ticket without history"):
        import_ticket(machine, escalated(machine), Stage.ESCALATED, actor=AGENT)


# -- bad input at the boundary (issue 15, problem 6) ----------------------------------------------


@pytest.mark.parametrize(("fields", "field"), [
    ({"id": "T\ud800"}, "id"),
    ({"id": "T\x00-1"}, "id"),
    ({"id": "T" * 201}, "id"),
    ({"customer_id": "C\n1"}, "customer_id"),
    ({"details": "x\udfff"}, "details"),
    ({"details": "x" * (MAX_TEXT_LENGTH + 1)}, "details"),
    ({"opened_at": datetime(9999, 12, 31, tzinfo=UTC)}, "opened_at"),
    ({"opened_at": datetime(1, 1, 2, tzinfo=UTC)}, "opened_at"),
])
def test_ids_texts_and_times_are_checked_when_a_ticket_is_made(fields: dict[str, Any],
                                                               field: str) -> None:
    """Lone surrogates, control characters in ids, overlong texts and times outside 1900..9000
    are ValidationErrors naming the field (they were UnicodeEncodeError and OverflowError)."""
    with pytest.raises(ValidationError) as info:
        new_ticket(**fields)
    assert [error["loc"][0] for error in info.value.errors()] == [field]


def test_payload_texts_are_bounded_and_valid(machine: EscalationMachine) -> None:
    """A payload text over MAX_TEXT_LENGTH, or not valid text, is a ValidationError."""
    ticket = walk(machine, new_ticket(), (Trigger.ATTEMPT, AGENT))
    for step in ("x" * (MAX_TEXT_LENGTH + 1), "bad \ud83d half"):
        with pytest.raises(ValidationError, match="step"):
            machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT, step=step)
    assert machine.fire(ticket, Trigger.RECORD_STEP, actor=AGENT,
                        step="x" * MAX_TEXT_LENGTH).steps[0].text == "x" * MAX_TEXT_LENGTH


class Roomy(Payload):
    """A host payload that tries to allow longer texts than tickets hold."""

    model_config = ConfigDict(**{**Payload.model_config, "str_max_length": MAX_TEXT_LENGTH * 2})
    note: str = ""


class Anything(Payload):
    """A host payload whose field takes any value."""

    data: Any = None


def _with(payload: type[Payload]) -> EscalationMachine:
    return EscalationMachine(default_spec().extend(
        triggers=[TriggerSpec(name="note", description="A note.", payload=payload)],
        transitions=[TransitionSpec(trigger="note", source="identified", roles={Role.AGENT})]))


def test_a_payload_allowing_longer_texts_than_tickets_hold_is_a_spec_error() -> None:
    """Records it would write could not be read back: the machine refuses the spec."""
    with pytest.raises(SpecError, match="allows texts of 200000 characters, more than tickets hold"):
        _with(Roomy)


def test_a_payload_nested_thousands_deep_is_a_validation_error() -> None:
    """fire: a ValidationError, not a RecursionError or a bare ValueError; explain: a reason."""
    machine = _with(Anything)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5_000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ValidationError, match="cannot be written as JSON"):
        machine.fire(new_ticket(), "note", actor=AGENT, data=deep)
    shallow: Any = []
    for _ in range(40):
        shallow = [shallow]
    with pytest.raises(ValidationError, match="more than 32 levels deep"):
        machine.fire(new_ticket(), "note", actor=AGENT, data=shallow)
    assert machine.fire(new_ticket(), "note", actor=AGENT, data=[[["fine"]]]).version == 1
    explained = machine.explain(new_ticket(), "note", actor=AGENT, data=deep)
    assert explained.error is None or explained.error == "ValidationError"


def test_explain_never_raises_on_deep_payloads(machine: EscalationMachine) -> None:
    """explain promises not to raise: validation errors nested thousands deep become one short
    reason each."""
    from pydantic import JsonValue

    class Json(Payload):
        data: JsonValue = None

    json_machine = _with(Json)
    deep: Any = "x"
    for _ in range(5_000):
        deep = {"a": deep}
    explained = json_machine.explain(new_ticket(), "note", actor=AGENT, data=deep)
    assert (explained.ok, explained.error) == (False, "ValidationError")
    assert all(len(reason) < 300 for reason in explained.reasons)


def test_the_text_limit_is_set_by_the_environment() -> None:
    """ESCALATION_FSM_MAX_TEXT sets the limit for tickets and payloads alike; nonsense is refused."""
    code = ("from escalation_fsm import MAX_TEXT_LENGTH, Ticket\n"
            "print(MAX_TEXT_LENGTH)\n"
            "try:\n    Ticket(id='T', customer_id='C', details='x' * 11)\n"
            "except ValueError as exc:\n    print('refused', 'at most 10 characters' in str(exc))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ESCALATION_FSM_MAX_TEXT": "10"})
    assert run.stdout.split() == ["10", "refused", "True"]
    bad = subprocess.run([sys.executable, "-c", "import escalation_fsm"], capture_output=True,
                         text=True, check=False, env={**os.environ, "ESCALATION_FSM_MAX_TEXT": "lots"})
    assert bad.returncode == 1 and "ESCALATION_FSM_MAX_TEXT must be a positive whole number" in bad.stderr
