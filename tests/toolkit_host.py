"""A host project as issue 17 tried it: its procedure, a notification hook and a caching store.

What a helpdesk team would write on top of escalation_fsm, used by the toolkit's own tests and by
``benchmarks/bench_testing.py`` to prove that ``escalation_fsm.testing`` catches the host's own
mistakes:

* :data:`SPEC`: the default procedure plus Tier 3 engineering (``escalate_tier3``, marked
  ``escalate``, with the host's own payload, guards and effect) and a final ``closed`` stage;
* :class:`Pager`: an after-hook that pages the tier a ticket was escalated to;
* :class:`CachedStore`: a read-through cache in front of :class:`~escalation_fsm.stores.SQLiteStore`.

Each seeded bug of the issue is a small variant of one of them (see ``seeded_*`` below); the
clean versions must pass every check.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import StringConstraints

from escalation_fsm import (
    Actor,
    AuditRecord,
    Decision,
    EscalationMachine,
    GuardContext,
    GuardSpec,
    MachineSpec,
    Mark,
    Payload,
    Role,
    StageSpec,
    Ticket,
    TransitionEvent,
    TransitionSpec,
    TriggerSpec,
    default_spec,
)
from escalation_fsm.stores import SQLiteStore
from escalation_fsm.testing.temporal import after, never

TIER3 = "tier3"
SNAPSHOT = Path(__file__).parent / "snapshots" / "host_procedure.json"
"""The approved procedure table of :data:`SPEC`, committed as a host would."""


class Tier3Payload(Payload):
    """``escalate_tier3``: the hand-over to engineering and the ticket that tracks the fix."""

    summary: str = ""
    engineering_ticket: Annotated[str, StringConstraints(pattern=r"^ENG-[0-9]+$")] | None = None


def has_tier3_summary(ctx: GuardContext) -> Decision:
    """The host's guard: a Tier 3 hand-over summary is given."""
    payload = cast("Tier3Payload", ctx.payload)
    return Decision.require(bool(payload.summary.strip()),
                            "the Tier 3 summary is empty: pass summary= for engineering")


def has_engineering_ticket(ctx: GuardContext) -> Decision:
    """The host's guard: an engineering ticket tracks the fix."""
    payload = cast("Tier3Payload", ctx.payload)
    return Decision.require(payload.engineering_ticket is not None,
                            "no engineering ticket: pass engineering_ticket='ENG-<number>'")


def customer_updated_at_tier3(ctx: GuardContext) -> Decision:
    """The host's guard: the customer heard from us since the Tier 3 hand-over.

    Host code may name its own triggers; the library reads marks.
    """
    history = ctx.ticket.history
    handed_over = max((r.seq for r in history if r.trigger == "escalate_tier3"), default=0)
    told = any(r.seq > handed_over and r.trigger in ("notify_customer", "follow_up") for r in history)
    return Decision.require(told, "the customer was not updated since the Tier 3 hand-over: "
                                  "fire notify_customer first")


def link_engineering(ctx: GuardContext) -> Mapping[str, Any]:
    """The host's effect: tag the ticket with the engineering ticket (the tier comes from the mark)."""
    payload = cast("Tier3Payload", ctx.payload)
    return {"tags": (*ctx.ticket.tags, f"eng:{payload.engineering_ticket}")}


TIER3_GUARDS = (
    GuardSpec(name="has_tier3_summary", requirement="a Tier 3 summary is given",
              check=has_tier3_summary, reads=frozenset({"summary"})),
    GuardSpec(name="has_engineering_ticket", requirement="an engineering ticket tracks the fix",
              check=has_engineering_ticket, reads=frozenset({"engineering_ticket"})),
    GuardSpec(name="customer_updated_at_tier3",
              requirement="the customer was updated since the Tier 3 hand-over",
              check=customer_updated_at_tier3, ticket_fields=frozenset({"history"})),
)
ESCALATE_TIER3 = TriggerSpec(name="escalate_tier3", payload=Tier3Payload, effect=link_engineering,
                             marks={Mark.ESCALATE}, description="Hand the ticket to Tier 3 engineering.")
TO_TIER3 = TransitionSpec(trigger="escalate_tier3", source="escalated", dest=TIER3, roles={Role.TIER2},
                          guards=("customer_notified", "has_tier3_summary", "has_engineering_ticket"))
RESOLVE_TIER3 = TransitionSpec(trigger="resolve", source=TIER3, dest="resolved",
                               roles={TIER3, Role.SUPERVISOR},
                               guards=("has_solution", "customer_updated_at_tier3"))


def host_spec(*, escalate_tier3: TriggerSpec = ESCALATE_TIER3, to_tier3: TransitionSpec = TO_TIER3,
              resolve_tier3: TransitionSpec = RESOLVE_TIER3) -> MachineSpec:
    """The host's procedure; the keyword arguments let the seeded bugs swap one part."""
    return default_spec().extend(
        name="helpdesk-with-tier3",
        stages=[StageSpec(name=TIER3, description="Escalated further to Tier 3 engineering."),
                StageSpec(name="closed", description="Closed for good.", final=True)],
        triggers=[escalate_tier3, TriggerSpec(name="close", description="Close the ticket.")],
        guards=TIER3_GUARDS,
        transitions=[
            to_tier3,
            TransitionSpec(trigger="notify_customer", source=TIER3, roles={TIER3, Role.SYSTEM},
                           guards=("has_message",)),
            resolve_tier3,
            TransitionSpec(trigger="close", source="feedback", dest="closed",
                           roles={Role.SUPERVISOR, Role.SYSTEM}),
        ],
    )


SPEC = host_spec()
TEMPORAL = (
    after(Mark.ESCALATE).expect(Mark.CUSTOMER_UPDATE, before=Mark.RESOLVE),
    after(Mark.ESCALATE).eventually(Mark.CUSTOMER_UPDATE),
    never(Mark.RESOLVE, until=Mark.ATTEMPT),
    after(Mark.RESOLVE).never("escalate_tier3", until=Mark.REOPEN),
)
"""The host's rules of order: by marks for the procedure, by name for its own trigger."""
EXAMPLES = {"escalate_tier3": [{"summary": "Needs a code fix", "engineering_ticket": "ENG-1"}]}
"""For the covers: no generic candidate matches the ``ENG-<number>`` format."""


def hints() -> dict[str, Any]:
    """Payload strategies for the stateful base (imported lazily: hypothesis is a test extra)."""
    from hypothesis import strategies as st

    return {"escalate_tier3": st.builds(
        lambda n, text: {"summary": text, "engineering_ticket": f"ENG-{n}"},
        st.integers(1, 9999), st.sampled_from(["Needs a code fix", "Data repair", ""]))}


class Pager:
    """The host's notification hook: page the tier a ticket was escalated to.

    ``fail_on`` seeds bug b: the hook raises on that escalation (counted across tickets), like a
    pager client whose rate limit kicks in.
    """

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on
        self.pages: list[tuple[str, int]] = []

    def register(self, machine: EscalationMachine) -> None:
        """Page after every trigger marked ``escalate`` (read from the spec, not by name)."""
        for trigger in machine.spec.marked(Mark.ESCALATE):
            machine.after(trigger)(self.page)

    def page(self, event: TransitionEvent) -> None:
        """Send the page (here: remember it)."""
        if self.fail_on is not None and len(self.pages) + 1 == self.fail_on:
            raise ConnectionError(f"pager rate limit reached on escalation {self.fail_on}")
        self.pages.append((event.after.id, event.after.tier))


class CachedStore:
    """A read-through cache in front of :class:`SQLiteStore` (what a host adds for its dashboards).

    ``drop_every`` seeds bug c: the cached history skips every n-th record appended to it.
    """

    def __init__(self, path: str | Path, machine: EscalationMachine, *, drop_every: int | None = None) -> None:
        self.store = SQLiteStore(path, machine=machine, synchronous="NORMAL")
        self.drop_every = drop_every
        self.tickets: dict[str, Ticket] = {}
        self.histories: dict[str, list[AuditRecord]] = {}

    def create(self, ticket: Ticket) -> Ticket:
        """Store a new ticket and cache it."""
        created = self.store.create(ticket)
        self.tickets[ticket.id] = created
        self.histories[ticket.id] = list(created.history)
        return created

    def get(self, ticket_id: str) -> Ticket:
        """The cached ticket (read through on a miss)."""
        if ticket_id not in self.tickets:
            self.tickets[ticket_id] = self.store.get(ticket_id)
        return self.tickets[ticket_id]

    def apply(self, ticket_id: str, trigger: str, *, actor: Actor, **payload: Any) -> Ticket:
        """Apply through the store, then update the cache."""
        try:
            new = self.store.apply(ticket_id, trigger, actor=actor, **payload)
        except Exception as exc:
            committed = getattr(exc, "ticket", None)   # an after-hook failed: it did commit
            if getattr(exc, "phase", None) == "after" and isinstance(committed, Ticket):
                self._cache(committed)
            raise
        self._cache(new)
        return new

    def _cache(self, new: Ticket) -> None:
        self.tickets[new.id] = new
        record = new.history[-1]
        if self.drop_every is None or record.seq % self.drop_every:
            self.histories.setdefault(new.id, []).append(record)

    def history(self, ticket_id: str) -> tuple[AuditRecord, ...]:
        """The cached history (read through on a miss)."""
        if ticket_id not in self.histories:
            self.histories[ticket_id] = list(self.store.history(ticket_id))
        return tuple(self.histories[ticket_id])

    def close(self) -> None:
        """Close the store and forget the cache."""
        self.store.close()
        self.tickets.clear()
        self.histories.clear()


# -- the seeded bugs of the issue ------------------------------------------------------------------

SPEC_WITHOUT_TIER3_SUMMARY = host_spec(to_tier3=TO_TIER3.model_copy(
    update={"guards": ("customer_notified", "has_engineering_ticket")}))
"""Bug a: the Tier 3 escalation lost its summary guard."""

SPEC_WHERE_CUSTOMERS_RESOLVE = host_spec(resolve_tier3=RESOLVE_TIER3.model_copy(
    update={"roles": frozenset({TIER3, Role.SUPERVISOR, Role.CUSTOMER})}))
"""Bug e: a role-table mistake lets customers resolve Tier 3 tickets."""

SPEC_TIER3_NOT_ESCALATING = host_spec(escalate_tier3=ESCALATE_TIER3.model_copy(update={"marks": frozenset()}))
"""Bug d (as the kernel allows it): the Tier 3 trigger lost its ``escalate`` mark, so the tier
is not raised (effects may not set the tier; only marks do)."""


def forgetful_link(ctx: GuardContext) -> Mapping[str, Any]:
    """Bug d': the Tier 3 effect rebuilds the tags and loses the Tier 2 review tag."""
    payload = cast("Tier3Payload", ctx.payload)
    return {"tags": (f"eng:{payload.engineering_ticket}",)}


SPEC_TIER3_EFFECT_DROPS_TAGS = host_spec(escalate_tier3=ESCALATE_TIER3.model_copy(
    update={"effect": forgetful_link}))
"""Bug d': the Tier 3 effect forgets what the escalation already recorded."""

SPEC_TIER3_RESOLVED_UNANNOUNCED = host_spec(resolve_tier3=RESOLVE_TIER3.model_copy(
    update={"guards": ("has_solution",)}))
"""Not in the issue's table: Tier 3 may resolve without telling the customer about the hand-over,
which only the temporal rule "after an escalation, a customer update before resolving" sees."""
