"""The checks derived from marks, the coverage report, and the steps: each with a bug it catches.

Mark checks need no host code: a custom spec whose effect forgets what its trigger's marks promise
is caught by replaying the shortest run that fires it (``replay`` runs every check a stateful run
does, without hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from escalation_fsm import (
    Actor,
    EscalationMachine,
    HookFailed,
    InvalidTransition,
    Mark,
    PermissionDenied,
    Ticket,
    TransitionRefused,
    TriggerSpec,
    default_spec,
)
from escalation_fsm.testing import (
    Call,
    CoverageIncomplete,
    EscalationStateMachine,
    Fire,
    Open,
    RunFailed,
    transition_cover,
)
from escalation_fsm.testing._checks import MARK_CHECKS, mark_problems, review_tag_problems
from escalation_fsm.testing.coverage import CoverageRecorder, refusal_kind
from escalation_fsm.testing.steps import render_test

SPEC = default_spec()


def run_to(goal: str) -> list[Open | Fire]:
    """The steps of the shortest run that fires ``goal`` (a transition cover path)."""
    path = next(p for p in transition_cover(SPEC) if str(p) == goal)
    model = {s.trigger: SPEC.trigger(s.trigger).payload for s in path.steps}
    return [Open("T-1", customer_id="C-1", category="other", details="d"),
            *(Fire("T-1", s.trigger, s.role, model[s.trigger].model_validate(s.payload).model_dump(
                mode="json", exclude_unset=True)) for s in path.steps)]


def with_effect(trigger: str, effect: Callable[[Any], Mapping[str, Any]] | None,
                marks: set[Mark] | None = None) -> type[EscalationStateMachine]:
    """A stateful test of the default spec whose ``trigger`` has another effect (or marks)."""
    old = SPEC.trigger(trigger)
    spec = SPEC.extend(triggers=[TriggerSpec(
        name=trigger, description=old.description, payload=old.payload, effect=effect,
        marks=old.marks if marks is None else marks)])
    return type(f"Broken_{trigger}", (EscalationStateMachine,), {"spec": spec})


@pytest.mark.parametrize(("trigger", "effect", "goal", "check"), [
    ("resolve", None, "attempted --resolve--> resolved", "resolve-records-solution"),
    ("record_step", None, "attempted --record_step--> attempted", "step-records-step"),
    ("follow_up", None, "escalated --follow_up--> escalated", "tier-update-records-follow-up"),
    ("notify_customer", None, "escalated --notify_customer--> escalated", "promise-records-notification"),
    ("record_feedback", None, "feedback --record_feedback--> feedback", "feedback-recorded"),
    ("escalate", None, "attempted --escalate--> escalated", "escalate-keeps-hand-over"),
], ids=lambda value: value if isinstance(value, str) and "--" not in value else "")
def test_an_effect_that_forgets_what_its_marks_promise_is_caught(
        trigger: str, effect: Any, goal: str, check: str) -> None:
    """Each mark's promise is checked on the new ticket, whatever the host's effect does."""
    with pytest.raises(RunFailed) as caught:
        with_effect(trigger, effect).replay(run_to(goal))
    assert caught.value.check == check
    assert caught.value.step == len(run_to(goal))


def test_a_promise_must_keep_its_eta() -> None:
    """A notification recorded without the promised response time breaks the promise mark."""
    def forget_eta(ctx: Any) -> Mapping[str, Any]:
        from escalation_fsm import Notification
        escalation = ctx.ticket.escalation
        note = Notification(message=ctx.payload.message, at=ctx.now, by=ctx.actor.id)
        return {"escalation": escalation.model_copy(
            update={"notifications": (*escalation.notifications, note)})}
    steps = run_to("escalated --notify_customer--> escalated")
    steps[-1] = Fire("T-1", "notify_customer", "agent", {"message": "Soon", "eta": "PT4H"})
    with pytest.raises(RunFailed) as caught:
        with_effect("notify_customer", forget_eta).replay(steps)
    assert caught.value.check == "promise-records-notification"
    assert "marked promise with eta datetime.timedelta(seconds=14400)" in caught.value.detail


def test_the_tier_must_follow_the_marks() -> None:
    """A trigger that gained an escalate mark without being one: the tier moves when it must not
    (judged against the default spec as reference)."""
    broken = with_effect("record_step", default_spec().trigger("record_step").effect, {Mark.ESCALATE})
    broken.reference_spec = SPEC
    with pytest.raises(RunFailed) as caught:
        broken.replay(run_to("attempted --record_step--> attempted"))
    assert caught.value.check == "tier-follows-marks"
    assert "the tier went 1 -> 2, expected 1 (only escalate, de_escalate and reopen marks change it" \
           in caught.value.detail


def test_mark_problems_directly() -> None:
    """The functions behind the checks: de-escalation and reopening set the tier; review tags."""
    ticket = Ticket(id="T-1", customer_id="C-1", tier=3, tags=("tier2-review", "tier3-review"))
    down = ticket.model_copy(update={"tier": 2})
    assert mark_problems(frozenset({Mark.DE_ESCALATE}), ticket, down, None) == []
    assert mark_problems(frozenset({Mark.REOPEN}), ticket, down, None)[0][0] == "tier-follows-marks"
    assert review_tag_problems(ticket) == []
    assert review_tag_problems(ticket.model_copy(update={"tags": ("tier3-review",)})) == [
        ("review-tags-kept", "at tier 3 but not tagged tier2-review: tags ['tier3-review']")]
    assert set(MARK_CHECKS) >= {"tier-follows-marks", "review-tags-kept"}


def test_a_check_can_be_skipped_by_name() -> None:
    """A host that records solutions elsewhere skips the built-in check, and the run passes."""
    broken = with_effect("resolve", None)
    broken.skip_checks = frozenset({"resolve-records-solution"})
    broken.replay(run_to("attempted --resolve--> resolved"))


def test_a_reference_that_lacks_a_guard_is_reported() -> None:
    """The snapshot names a guard the spec under test does not have."""
    from escalation_fsm.testing import SpecSnapshot
    data = SpecSnapshot.from_spec(SPEC).data
    data["transitions"] = [{**t, "guards": [*t["guards"], "gone"]} if t["trigger"] == "attempt" else t
                           for t in data["transitions"]]

    class Drifted(EscalationStateMachine):
        reference_snapshot = SpecSnapshot(data)
    with pytest.raises(RunFailed, match="requires guard 'gone', which the spec under test does not have"):
        Drifted.replay(run_to("identified --attempt--> attempted"))
    both = type("Both", (Drifted,), {"reference_spec": SPEC})
    with pytest.raises(ValueError, match="set reference_spec or reference_snapshot, not both"):
        both()


# -- coverage ---------------------------------------------------------------------------------------


def _refusal(error: str) -> BaseException:
    args = {"ticket_id": "T-1", "stage": "attempted", "trigger": "escalate"}
    ticket = Ticket(id="T-1", customer_id="C-1")
    return {
        "guard": TransitionRefused(**args, reasons=("x",), failed_guards={
            "has_steps": __import__("escalation_fsm").Decision.no("x")}),
        "hook_veto": TransitionRefused(**args, reasons=("night",)),
        "forbidden_role": PermissionDenied(**args, actor_id="c", role="customer", allowed_roles=()),
        "undefined": InvalidTransition(ticket_id="T-1", stage="attempted", trigger="x", defined=(),
                                       known=False),
        "hook_failed_after": HookFailed(phase="after", trigger="escalate", ticket=ticket, failures=[]),
        "other": KeyError("x"),
    }[error]


def test_the_recorder_counts_guard_outcomes_roles_and_refusal_kinds() -> None:
    """A commit passes every guard; a guard refusal fails only the guards named; a role denial
    counts per role; each error has its kind."""
    recorder = CoverageRecorder(SPEC)
    recorder.attempt("attempted", "escalate", "agent", None, committed=True)
    recorder.attempt("attempted", "escalate", "agent", _refusal("guard"), committed=False)
    recorder.attempt("attempted", "escalate", "customer", _refusal("forbidden_role"), committed=False)
    recorder.attempt("attempted", "escalate", "agent", _refusal("hook_veto"), committed=False)
    recorder.attempt("attempted", "no_such", "agent", _refusal("undefined"), committed=False)
    report = recorder.report()
    assert report.transitions[("attempted", "escalate")] == 1
    assert report.guards[("attempted", "escalate", "has_steps")] == (2, 1)
    assert report.guards[("attempted", "escalate", "has_summary")] == (3, 0)
    assert report.roles[("attempted", "escalate", "customer")] == 1
    assert report.refusals == {"guard": 1, "forbidden_role": 1, "hook_veto": 1, "undefined": 1}
    assert "guard has_summary of attempted --escalate--> escalated never refused" in report.missing()
    assert "transition identified --attempt--> attempted never committed" in report.missing()
    text = str(report)
    assert "transitions committed:          1/16" in text
    assert "refusals: guard 1 | forbidden_role 1 | invalid_payload 0 | undefined 1 | hook_veto 1" in text
    with pytest.raises(CoverageIncomplete) as caught:
        report.check(["roles"])
    assert all(line.startswith("role ") for line in caught.value.missing)


def test_refusal_kinds() -> None:
    """Every declared error has a kind; anything else is "other"."""
    assert refusal_kind(_refusal("hook_failed_after")) == "hook_failed_after"
    assert refusal_kind(_refusal("other")) == "other"
    try:
        Actor(id="", role="x")
    except ValidationError as exc:
        assert refusal_kind(exc) == "invalid_payload"


# -- steps ------------------------------------------------------------------------------------------


def test_steps_print_as_the_source_that_rebuilds_them() -> None:
    """repr is source; equality is by value; keys that are not identifiers are kept."""
    assert repr(Open("T-1", category="other")) == "Open('T-1', category='other')"
    assert repr(Call("wait", minutes=5)) == "Call('wait', minutes=5)"
    assert repr(Call("odd", **{"not-an-id": 1})) == "Call('odd', **{'not-an-id': 1})"
    step = Fire("T-1", "resolve", "tier2", {"solution": "x"})
    assert eval(repr(step)) == step  # noqa: S307 (our own output)
    assert step != Fire("T-1", "resolve", "agent", {"solution": "x"})
    assert Open("T-1") != Call("T-1")


def test_a_rendered_test_imports_what_it_replays() -> None:
    """The function names the class and its module, and lists the steps one per line."""
    source = render_test(EscalationMachine, [Open("T-1"), Fire("T-1", "attempt", "agent")],
                         name="test_x", doc="Pinned.")
    assert source.splitlines()[:2] == ["from escalation_fsm.testing import Fire, Open",
                                       "from escalation_fsm.machine import EscalationMachine"]
    assert "        Fire('T-1', 'attempt', 'agent')," in source
    compile(source, "<test>", "exec")
