"""Stateful property test: a store behaves exactly like firing on in-memory tickets.

Hypothesis creates tickets and fires random triggers with random actors and payloads (valid or
not) through a store, and through the bare machine on a model dict; outcomes (the new ticket or
the error type) must agree after every step, also across closing and reopening the store.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from pydantic import ValidationError
from store_support import KINDS, Backend, backend
from support import START

from escalation_fsm import (
    Actor,
    Assessment,
    Category,
    Channel,
    EscalationError,
    EscalationMachine,
    InteractionDirection,
    ManualClock,
    Role,
    Ticket,
    TicketExists,
    Trigger,
)
from escalation_fsm.stores import StoreBase

IDS = ("T-1", "T-2", "T-3")
texts = st.text(min_size=1, max_size=12) | st.just("")
levels = st.sampled_from(["low", "medium", "high"])
PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    Trigger.ATTEMPT: st.just({}),
    Trigger.RECORD_STEP: st.fixed_dictionaries({"step": texts}),
    Trigger.ESCALATE: st.fixed_dictionaries({"summary": texts, "assessment": st.builds(
        Assessment, complexity=levels, frustration=levels,
        urgency=st.sampled_from(["low", "normal", "high", "critical"]))}),
    Trigger.NOTIFY_CUSTOMER: st.fixed_dictionaries(
        {"message": texts},
        optional={"eta": st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))}),
    Trigger.FOLLOW_UP: st.fixed_dictionaries({"update": texts, "customer_message": texts}),
    Trigger.RESOLVE: st.fixed_dictionaries({"solution": texts}),
    Trigger.REQUEST_FEEDBACK: st.just({}),
    Trigger.RECORD_FEEDBACK: st.fixed_dictionaries({"rating": st.integers(0, 6)},
                                                   optional={"comment": texts}),
    Trigger.REOPEN: st.fixed_dictionaries({"reason": texts}),
    Trigger.RECORD_INTERACTION: st.fixed_dictionaries(
        {"channel": st.sampled_from(list(Channel)), "direction": st.sampled_from(list(InteractionDirection)),
         "summary": texts}),
}
actors = st.builds(Actor, id=st.sampled_from(["a-1", "x'); --"]), role=st.sampled_from(list(Role)))


class StoreMatchesTheMachine(RuleBasedStateMachine):
    """Model: a dict of tickets advanced with ``machine.fire``. System: a store of one kind."""

    kind = "memory"
    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        # A clock that never moves: the store and the model stamp identical times.
        self.machine = EscalationMachine(clock=ManualClock(START))
        self._tmp = tempfile.TemporaryDirectory()
        self._backend_cm = backend(self.kind, Path(self._tmp.name))
        try:
            self.db: Backend = self._backend_cm.__enter__()
        except BaseException:
            # Without a server the PostgreSQL kind skips here, before hypothesis would call
            # teardown: the directory must not be left to the garbage collector (a
            # ResourceWarning then fails whichever test happens to be running).
            self._tmp.cleanup()
            raise
        self.store: StoreBase = self.db.open(self.machine)
        self.model: dict[str, Ticket] = {}

    def teardown(self) -> None:
        try:
            self._backend_cm.__exit__(None, None, None)
        finally:
            self._tmp.cleanup()

    @initialize()
    def nothing_stored_yet(self) -> None:
        assert list(self.store.stream()) == []

    @rule(target=tickets, ticket_id=st.sampled_from(IDS), category=st.sampled_from(list(Category)),
          details=texts)
    def create(self, ticket_id: str, category: Category, details: str) -> str:
        ticket = self.machine.new_ticket(id=ticket_id, customer_id="C-1", category=category,
                                         details=details)
        if ticket_id in self.model:
            with pytest.raises(TicketExists):
                self.store.create(ticket)
        else:
            self.store.create(ticket)
            self.model[ticket_id] = ticket
        return ticket_id

    @rule(ticket_id=tickets, data=st.data())
    def fire(self, ticket_id: str, data: st.DataObject) -> None:
        ticket = self.model[ticket_id]
        allowed = sorted(self.machine.allowed(ticket))
        if allowed and data.draw(st.integers(0, 3), label="mostly a plausible move") > 0:
            # Mostly a trigger defined here, fired by a role allowed to: tickets get far.
            trigger = data.draw(st.sampled_from(allowed), label="trigger")
            transition = self.machine.spec.transition(ticket.stage, trigger)
            assert transition is not None
            actor = Actor(id="a-1", role=data.draw(st.sampled_from(sorted(transition.roles)), label="role"))
        else:
            trigger = data.draw(st.sampled_from(sorted(PAYLOADS)), label="trigger")
            actor = data.draw(actors, label="actor")
        payload = data.draw(PAYLOADS[trigger], label="payload")
        try:
            expected: Ticket | type[Exception] = self.machine.fire(
                self.model[ticket_id], trigger, actor=actor, **payload)
        except (EscalationError, ValidationError) as exc:
            expected = type(exc)
        try:
            actual: Ticket | type[Exception] = self.store.apply(ticket_id, trigger, actor=actor, **payload)
        except (EscalationError, ValidationError) as exc:
            actual = type(exc)
        assert actual == expected
        if isinstance(actual, Ticket):
            self.model[ticket_id] = actual

    @rule()
    def reopen(self) -> None:
        """A new handle (a new process, for the SQL stores) sees exactly the same tickets."""
        self.store = self.db.open(self.machine)

    @rule(ticket_id=tickets, data=st.data())
    def retry_with_a_key(self, ticket_id: str, data: st.DataObject) -> None:
        """A keyed call made twice commits at most once and answers the same both times."""
        ticket = self.model[ticket_id]
        allowed = sorted(self.machine.allowed(ticket))
        if not allowed:
            return
        trigger = data.draw(st.sampled_from(allowed), label="keyed trigger")
        transition = self.machine.spec.transition(ticket.stage, trigger)
        assert transition is not None
        actor = Actor(id="a-1", role=sorted(transition.roles)[0])
        payload = data.draw(PAYLOADS[trigger], label="keyed payload")
        key = f"k-{ticket.version}"
        outcomes: list[Ticket | type[Exception]] = []
        for _ in range(2):
            try:
                outcomes.append(self.store.apply(ticket_id, trigger, actor=actor,
                                                 idempotency_key=key, **payload))
            except (EscalationError, ValidationError) as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]
        if isinstance(outcomes[0], Ticket):
            assert outcomes[0].version == ticket.version + 1
            self.model[ticket_id] = outcomes[0]

    @rule()
    def verified(self) -> None:
        """Whatever happened so far, every stored ticket verifies clean."""
        report = self.store.verify()
        assert report.ok, report.problems
        assert report.checked == len(self.model)

    @invariant()
    def store_equals_model(self) -> None:
        for ticket_id, ticket in self.model.items():
            assert self.store.get(ticket_id) == ticket
        assert [t.id for t in self.store.stream(batch_size=2)] == sorted(self.model)


def _make(kind: str) -> type[StoreMatchesTheMachine]:
    return type(f"StoreMatchesTheMachine_{kind}", (StoreMatchesTheMachine,), {"kind": kind})


@pytest.mark.parametrize("kind", KINDS)
def test_store_matches_the_machine(kind: str) -> None:
    """Every store agrees with the bare machine on every outcome (PostgreSQL: fewer examples)."""
    if kind == "postgres":
        from store_support import postgres_dsn

        postgres_dsn()  # skip (or fail in CI) before hypothesis starts
    examples = 25 if kind == "postgres" else 40
    test = _make(kind).TestCase
    test.settings = settings(max_examples=examples, stateful_step_count=25, deadline=None)
    test("runTest").runTest()
