"""A custom spec for the toolkit's own tests: Tier 3 engineering and a ``closed`` final stage.

It differs from the default procedure where a host's spec would: a new stage, role, trigger,
effect and guard, a payload with a format constraint the generic payload search cannot guess (so
hints and examples are needed), and a final stage moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, cast

from hypothesis import strategies as st
from pydantic import StringConstraints

from escalation_fsm import (
    Decision,
    GuardContext,
    GuardSpec,
    Mark,
    Payload,
    Role,
    StageSpec,
    TransitionSpec,
    TriggerSpec,
    default_spec,
)

TIER3 = "tier3"


class Tier3Payload(Payload):
    """``escalate_tier3``: the engineering ticket that tracks the fix."""

    engineering_ticket: Annotated[str, StringConstraints(pattern=r"^ENG-[0-9]+$")] | None = None


def _has_engineering_ticket(ctx: GuardContext) -> Decision:
    payload = cast("Tier3Payload", ctx.payload)
    return Decision.require(payload.engineering_ticket is not None,
                            "no engineering ticket: pass engineering_ticket='ENG-<number>'")


def _to_tier3(ctx: GuardContext) -> Mapping[str, Any]:
    # The tier and the tier3-review tag come from the escalate mark; the effect links the fix.
    payload = cast("Tier3Payload", ctx.payload)
    return {"tags": (*ctx.ticket.tags, f"tracked-in:{payload.engineering_ticket}")}


SPEC = default_spec().extend(
    name="escalation-with-tier3",
    stages=[
        StageSpec(name="tier3", description="Escalated further to Tier 3 engineering."),
        StageSpec(name="feedback", description="Feedback requested and recorded."),
        StageSpec(name="closed", description="Nothing left to do.", final=True),
    ],
    triggers=[
        TriggerSpec(name="escalate_tier3", payload=Tier3Payload, effect=_to_tier3,
                    marks={Mark.ESCALATE}, description="Hand the ticket to Tier 3 engineering."),
        TriggerSpec(name="close", description="Close the ticket for good."),
    ],
    guards=[GuardSpec(name="has_engineering_ticket", check=_has_engineering_ticket,
                      requirement="an engineering ticket tracks the fix", uses_payload=True)],
    transitions=[
        TransitionSpec(trigger="escalate_tier3", source="escalated", dest="tier3",
                       roles={Role.TIER2}, guards=("customer_notified", "has_engineering_ticket")),
        TransitionSpec(trigger="notify_customer", source="tier3", roles={TIER3, Role.SYSTEM},
                       guards=("has_message",)),
        TransitionSpec(trigger="resolve", source="tier3", dest="resolved",
                       roles={TIER3, Role.SUPERVISOR}, guards=("has_solution",)),
        TransitionSpec(trigger="close", source="feedback", dest="closed",
                       roles={Role.SUPERVISOR, Role.SYSTEM}),
    ],
)

EXAMPLES = {"escalate_tier3": [{"engineering_ticket": "ENG-1"}]}
"""For ``transition_cover``: no generic candidate matches the ``ENG-<number>`` format."""

HINTS = {"escalate_tier3": st.integers(1, 9999).map(lambda n: {"engineering_ticket": f"ENG-{n}"})}
"""For the strategies and the stateful base, for the same reason."""
