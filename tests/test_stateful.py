"""Stateful property test: random triggers, payloads and actors never break the procedure.

Invariants checked after every step:
- the stage is always a stage of the spec;
- history length == number of committed transitions == version, seq gapless;
- a refused, invalid, permission-denied or malformed trigger changes nothing;
- no ticket is resolved without a solution;
- no ticket reaches escalated without a recorded step, a summary and a positive policy decision;
- no escalated ticket is resolved before the customer was notified of that escalation;
- only the declared exception types escape, and explain() agrees with fire().
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import ValidationError
from support import ACTORS, START, VALID, new_ticket

from escalation_fsm import (
    Assessment,
    EscalationMachine,
    EscalationPolicy,
    InvalidTransition,
    ManualClock,
    PermissionDenied,
    Stage,
    Ticket,
    TransitionRefused,
    Trigger,
    default_spec,
)

DECLARED = (InvalidTransition, PermissionDenied, TransitionRefused, ValidationError)

texts = st.one_of(st.sampled_from(["", "   ", "Checked KB-7", "Customer informed"]), st.text(max_size=4))
levels = st.sampled_from(["low", "medium", "high"])
assessments = st.builds(Assessment, complexity=levels, frustration=levels,
                        urgency=st.sampled_from(["low", "normal", "high", "critical"]))
PAYLOAD_POOL: dict[str, st.SearchStrategy[Any]] = {
    "step": texts, "summary": texts, "message": texts, "update": texts,
    "customer_message": texts, "solution": texts, "reason": texts,
    "assessment": st.one_of(assessments, st.just("high")),
    "eta": st.one_of(st.none(), st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(days=2))),
    "rating": st.one_of(st.integers(min_value=-1, max_value=7), st.just("5")),
    "comment": st.one_of(st.none(), texts),
    "junk": st.integers(),
}
random_payloads = st.fixed_dictionaries({}, optional=PAYLOAD_POOL)
triggers = st.sampled_from([*Trigger, "teleport"])


class ProcedureMachine(RuleBasedStateMachine):
    """Drives one ticket through random triggers and checks the procedure's invariants."""

    @initialize()
    def start(self) -> None:
        self.policy = EscalationPolicy()
        self.machine = EscalationMachine(policy=self.policy,
                                         clock=ManualClock(START, tick=timedelta(minutes=1)))
        self.ticket: Ticket = new_ticket()
        self.committed = 0

    def _fire(self, trigger: str, actor: Any, payload: dict[str, Any]) -> None:
        before = copy.deepcopy(self.ticket)
        verdict = self.machine.explain(self.ticket, trigger, actor=actor, **payload)
        try:
            new = self.machine.fire(self.ticket, trigger, actor=actor, **payload)
        except DECLARED as error:
            assert self.ticket == before, "a refused trigger changed the ticket"
            assert not verdict.ok and verdict.error == type(error).__name__
            return
        assert verdict.ok, f"explain() said no but fire() committed: {verdict}"
        assert self.ticket == before, "fire() mutated the ticket passed in"
        self.committed += 1
        record = new.history[-1]
        assert (record.trigger, record.source, record.actor_id) == (trigger, before.stage, actor.id)
        assert new.history[:-1] == before.history
        self.ticket = new

    @rule(trigger=triggers, actor=st.sampled_from(ACTORS), payload=random_payloads)
    def fire_random(self, trigger: str, actor: Any, payload: dict[str, Any]) -> None:
        self._fire(trigger, actor, payload)

    @rule(trigger=st.sampled_from(list(Trigger)), actor=st.sampled_from(ACTORS))
    def fire_valid_payload(self, trigger: str, actor: Any) -> None:
        # Valid payloads let the walk get deep into the procedure instead of bouncing off guards.
        self._fire(trigger, actor, VALID[trigger])

    @invariant()
    def stage_is_in_the_spec(self) -> None:
        assert self.ticket.stage in default_spec().stage_names

    @invariant()
    def history_counts_commits(self) -> None:
        assert len(self.ticket.history) == self.committed == self.ticket.version
        assert [r.seq for r in self.ticket.history] == list(range(1, self.committed + 1))

    @invariant()
    def resolved_only_with_a_solution(self) -> None:
        if self.ticket.stage in (Stage.RESOLVED, Stage.FEEDBACK):
            assert self.ticket.solution
        for record in self.ticket.history:
            if record.dest == Stage.RESOLVED and record.source != Stage.RESOLVED:
                assert str(record.payload["solution"]).strip()

    @invariant()
    def escalated_only_with_steps_summary_and_policy(self) -> None:
        history = self.ticket.history
        for record in history:
            if record.trigger == Trigger.ESCALATE:
                assert any(r.trigger == Trigger.RECORD_STEP for r in history[: record.seq - 1])
                assert str(record.payload["summary"]).strip()
                assessment = Assessment.model_validate(record.payload["assessment"])
                assert self.policy.decide(assessment).ok
        if self.ticket.stage == Stage.ESCALATED:
            assert self.ticket.escalation is not None and "tier2-review" in self.ticket.tags

    @invariant()
    def escalated_tickets_resolved_only_after_notification(self) -> None:
        notified = False
        for record in self.ticket.history:
            if record.trigger == Trigger.ESCALATE:
                notified = False
            elif record.trigger == Trigger.NOTIFY_CUSTOMER:
                notified = True
            elif record.source == Stage.ESCALATED and record.dest == Stage.RESOLVED:
                assert notified, "resolved an escalated ticket before notifying the customer"


TestProcedure = ProcedureMachine.TestCase
