"""The SLA policy: targets per urgency, the business calendar, and which stages pause which clock.

The policy is plain, frozen pydantic data, so it can be written as JSON or TOML next to the spec
and loaded with ``SLAPolicy.model_validate``. It names the stages that pause clocks;
:meth:`SLAPolicy.problems` checks them against a spec (the machine does when the policy is
attached to it). Which triggers start, meet and resume clocks comes from the spec's marks.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..models import Urgency
from .calendar import BusinessCalendar
from .clock_names import SLAClock
from .ladder import Ladder
from .ladder_rules import ladder_problems, ladder_target_problems

if TYPE_CHECKING:
    from ..spec import MachineSpec

__all__ = ["DEFAULT_TARGETS", "InteractionRules", "SLAClock", "SLAPolicy", "SLATargets",
           "default_sla_policy"]


Target = Annotated[timedelta, Field(gt=timedelta(0))] | None
"""A positive business duration, or ``None``: the clock is not tracked at this urgency."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SLATargets(_Frozen):
    """The business-time targets for one urgency (``None``: not tracked)."""

    first_response: Target = None
    tier2_update: Target = None
    customer_update: Target = None
    """The cadence of customer updates while escalated."""
    resolution: Target = None

    def target(self, clock: SLAClock) -> timedelta | None:
        """The target for ``clock`` (the promised response has none here: its ETA is the target)."""
        # A clock is its name (a StrEnum): no ``.value`` lookup, which goes through a descriptor.
        return None if clock is SLAClock.PROMISED_RESPONSE else getattr(self, clock, None)


def _targets(first: float, tier2: float, cadence: float, resolution: float) -> SLATargets:
    return SLATargets(first_response=timedelta(hours=first), tier2_update=timedelta(hours=tier2),
                      customer_update=timedelta(hours=cadence),
                      resolution=timedelta(hours=resolution))


DEFAULT_TARGETS: dict[Urgency, SLATargets] = {
    Urgency.CRITICAL: _targets(0.5, 1, 2, 8),
    Urgency.HIGH: _targets(1, 2, 4, 16),
    Urgency.NORMAL: _targets(4, 8, 8, 40),
    Urgency.LOW: _targets(8, 16, 16, 80),
}
"""Business hours per urgency: first response, Tier 2 update, customer cadence, resolution."""


class InteractionRules(_Frozen):
    """What a documented customer interaction does to the customer-update cadence.

    The interaction is a trigger marked ``interaction``; the cadence runs while escalated.
    """

    outbound_is_update: bool = True
    """An outbound interaction (the helpdesk calls or writes) counts as a customer update: it
    meets the current period and starts the next, as a trigger marked ``customer_update`` does."""
    inbound_restarts_cadence: bool = True
    """An inbound interaction (the customer calls or writes) restarts the cadence from that
    moment: the current period ends there (breached if it was already over its target) and the
    next update is due a full period after the customer's message."""


class SLAPolicy(_Frozen):
    """Targets per urgency, the business calendar they are measured in, and pausing stages.

    ``targets`` needs an entry for every :class:`~escalation_fsm.models.Urgency`; the ticket's
    ``priority`` picks one. ``pauses`` maps a stage name to the clocks that stop while a ticket is
    in it (for example ``{"waiting_on_customer": {"resolution", "customer_update"}}``). The ETA
    given in ``notify_customer`` is plain elapsed time, as the customer reads it, unless
    ``promise_in_business_time``.
    """

    calendar: BusinessCalendar = BusinessCalendar()
    targets: dict[Urgency, SLATargets] = Field(default_factory=lambda: dict(DEFAULT_TARGETS))
    pauses: dict[str, frozenset[SLAClock]] = Field(default_factory=dict)
    promise_in_business_time: bool = False
    interactions: InteractionRules = InteractionRules()
    ladder: Ladder = Field(default_factory=Ladder)
    """Escalation steps per clock and urgency (:mod:`escalation_fsm.sla.ladder`; default: none)."""

    @field_validator("targets")
    @classmethod
    def _every_urgency(cls, value: dict[Urgency, SLATargets]) -> dict[Urgency, SLATargets]:
        missing = [u.value for u in Urgency if u not in value]
        if missing:
            raise ValueError(f"targets are missing for urgencies {missing}: give every urgency "
                             "an entry (an empty SLATargets() tracks nothing)")
        return value

    @model_validator(mode="after")
    def _ladder_fits(self) -> SLAPolicy:
        problems = ladder_target_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def target(self, urgency: Urgency, clock: SLAClock) -> timedelta | None:
        """The target of ``clock`` for a ticket of ``urgency``."""
        return self.targets[urgency].target(clock)

    def paused(self, stage: str) -> frozenset[SLAClock]:
        """The clocks that do not run while a ticket is in ``stage``."""
        return self.pauses.get(stage, frozenset())

    def problems(self, spec: MachineSpec) -> list[str]:
        """Stage names this policy uses that ``spec`` does not have (empty: it fits).

        Which triggers start and meet the clocks is not the policy's business: the spec's marks
        say it (:class:`~escalation_fsm.marks.Mark`).
        """
        return [f"SLA policy pauses clocks in unknown stage {name!r}"
                for name in sorted(self.pauses) if not spec.has_stage(name)
                ] + ladder_problems(self, spec)

    @property
    def fingerprint(self) -> str:
        """A digest of the policy's content, equal across processes for equal policies.

        Stores keep it next to their deadline index, to rebuild the index when the policy changes.
        """
        canonical = json.dumps(_canonical(self.model_dump(mode="json")), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    # Sets dump as lists in iteration order, which depends on the hash seed: sort plain lists.
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        scalar = all(isinstance(item, str | int | float) for item in items)
        return sorted(items) if scalar else items
    return value


@cache
def default_sla_policy() -> SLAPolicy:
    """The shipped policy: :data:`DEFAULT_TARGETS`, Monday-Friday 09:00-17:00 UTC, no pauses."""
    return SLAPolicy()
