"""The built-in checks of a commit that read the reference, not the spec under test.

A *reference* is what a commit is judged against: the spec under test (the default), another
spec (``reference_spec``) or an approved :class:`~escalation_fsm.testing.SpecSnapshot`
(``reference_snapshot``). Two kinds of check live here, each with a name a host can skip
(``skip_checks``) when its own data legitimately differs:

* **the table**: the committed transition is in the reference, for that role and to that stage,
  and every guard the reference names for it passed when it fired;
* **the marks**: what each mark of the committed trigger promises is visible on the new ticket,
  whatever effect the host wrote (an escalating trigger raised the tier by one and tagged the
  ticket for review, a resolving one documented a solution, a step was recorded, ...).

Nothing here names a trigger, stage or guard of the default procedure: only marks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ..marks import Mark, review_tag
from ..models import Actor, Ticket
from ..payloads import Payload
from ..policy import EscalationPolicy, GuardContext
from ..spec import GuardSpec, evaluate_guards

__all__ = ["MARK_CHECKS", "Problem", "Reference", "mark_problems", "review_tag_problems",
           "table_problems"]

Problem = tuple[str, str]
"""``(check name, what is wrong)``."""

MARK_CHECKS = (
    "tier-follows-marks", "escalate-tags-review", "escalate-keeps-hand-over", "review-tags-kept",
    "resolve-records-solution", "step-records-step", "tier-update-records-follow-up",
    "promise-records-notification", "customer-update-records-message", "feedback-recorded",
)
"""The names of the checks derived from marks (for ``skip_checks``)."""


class ReferenceTransition(Protocol):
    """What a reference says about one transition."""

    @property
    def target(self) -> str:
        """The stage the ticket is in afterwards."""

    @property
    def guards(self) -> tuple[str, ...]:
        """The guards that must pass."""

    @property
    def roles(self) -> frozenset[str]:
        """The roles that may fire it."""


class Reference(Protocol):
    """A spec or an approved snapshot: what the procedure *should* be."""

    @property
    def name(self) -> str:
        """The reference's name, for messages."""

    def transition(self, source: str, trigger: str) -> ReferenceTransition | None:
        """The transition fired by ``trigger`` from ``source``, if any."""

    def marks_of(self, trigger: str) -> frozenset[Mark]:
        """The marks of ``trigger``."""


def table_problems(ref: Reference, guard: Callable[[str], GuardSpec | None], *, before: Ticket,
                   trigger: str, actor: Actor, target: str, payload: Payload,
                   policy: EscalationPolicy, now: datetime) -> list[Problem]:
    """The committed transition is the reference's, and the reference's guards passed on it."""
    move = ref.transition(before.stage, trigger)
    if move is None:
        return [("table", f"committed, but the reference {ref.name!r} defines no {trigger!r} from "
                          f"{before.stage!r}")]
    if actor.role not in move.roles:
        return [("table", f"committed for role {actor.role!r}, but the reference {ref.name!r} allows only "
                          f"{', '.join(sorted(map(str, move.roles)))}")]
    if move.target != target:
        return [("table", f"committed into {target!r}, but the reference {ref.name!r} goes to "
                          f"{move.target!r}")]
    specs: list[GuardSpec] = []
    for name in move.guards:
        found = guard(name)
        if found is None:
            return [("table", f"the reference {ref.name!r} requires guard {name!r}, which the spec "
                              f"under test does not have")]
        specs.append(found)
    ctx = GuardContext(ticket=before, actor=actor, payload=payload, policy=policy, now=now, trigger=trigger)
    verdict = evaluate_guards(specs, ctx)
    if verdict.ok:
        return []
    said = " | ".join(
        f"{name}: {'; '.join(verdict.decisions[name].reasons) or guard_requirement(specs, name)}"
        for name in verdict.failed)
    return [("table", f"committed although guard(s) of {ref.name!r} said no when it fired: {said}")]


def guard_requirement(specs: list[GuardSpec], name: str) -> str:
    """The requirement sentence of guard ``name`` among ``specs``."""
    return next(g.requirement for g in specs if g.name == name)


def _follow_ups(ticket: Ticket) -> int:
    return 0 if ticket.escalation is None else len(ticket.escalation.follow_ups)


def _messages(ticket: Ticket) -> int:
    escalation = ticket.escalation
    return 0 if escalation is None else len(escalation.notifications) + len(escalation.follow_ups)


def mark_problems(marks: frozenset[Mark], before: Ticket, after: Ticket,  # noqa: PLR0912
                  payload: Payload | None) -> list[Problem]:
    """What the marks of a committed trigger promise, checked on the new ticket."""
    found: list[Problem] = []
    if Mark.ESCALATE in marks:
        expected = before.tier + 1
    elif Mark.DE_ESCALATE in marks:
        expected = max(1, before.tier - 1)
    elif Mark.REOPEN in marks:
        expected = 1
    else:
        expected = before.tier
    if after.tier != expected:
        meaning = ("an escalating trigger raises it by one" if Mark.ESCALATE in marks else
                   "only escalate, de_escalate and reopen marks change it")
        found.append(("tier-follows-marks", f"the tier went {before.tier} -> {after.tier}, expected "
                                            f"{expected} ({meaning}; marks: "
                                            f"{', '.join(sorted(marks)) or 'none'})"))
    if Mark.ESCALATE in marks and review_tag(expected) not in after.tags:
        found.append(("escalate-tags-review", f"marked escalate, but the ticket is not tagged "
                                              f"{review_tag(expected)!r}: tags {list(after.tags)}"))
    if Mark.ESCALATE in marks and after.escalation is None:
        found.append(("escalate-keeps-hand-over",
                      "marked escalate, but the ticket holds no escalation hand-over"))
    if Mark.RESOLVE in marks and not (after.solution or "").strip():
        found.append(("resolve-records-solution", "marked resolve, but no solution is documented"))
    if Mark.STEP in marks and len(after.steps) != len(before.steps) + 1:
        found.append(("step-records-step", f"marked step, but the steps went {len(before.steps)} -> "
                                           f"{len(after.steps)}"))
    if Mark.TIER_UPDATE in marks and _follow_ups(after) != _follow_ups(before) + 1:
        found.append(("tier-update-records-follow-up",
                      f"marked tier_update, but the follow-ups went {_follow_ups(before)} -> "
                      f"{_follow_ups(after)}"))
    if Mark.PROMISE in marks:
        found += _promise_problems(before, after, payload)
    if Mark.CUSTOMER_UPDATE in marks and _messages(after) <= _messages(before):
        found.append(("customer-update-records-message",
                      "marked customer_update, but no notification or follow-up was recorded"))
    if Mark.RECORD_FEEDBACK in marks and after.feedback is None:
        found.append(("feedback-recorded", "marked record_feedback, but the ticket holds no feedback"))
    return found


def _promise_problems(before: Ticket, after: Ticket, payload: Payload | None) -> list[Problem]:
    old = () if before.escalation is None else before.escalation.notifications
    new = () if after.escalation is None else after.escalation.notifications
    if len(new) != len(old) + 1:
        return [("promise-records-notification",
                 f"marked promise, but the notifications went {len(old)} -> {len(new)}")]
    eta = getattr(payload, "eta", None)
    if new[-1].eta != eta:
        return [("promise-records-notification",
                 f"marked promise with eta {eta!r}, but the notification holds {new[-1].eta!r}")]
    return []


def review_tag_problems(ticket: Ticket) -> list[Problem]:
    """A ticket at tier N carries the review tag of every tier from 2 to N."""
    missing = [review_tag(tier) for tier in range(2, ticket.tier + 1) if review_tag(tier) not in ticket.tags]
    if not missing:
        return []
    return [("review-tags-kept", f"at tier {ticket.tier} but not tagged {', '.join(missing)}: "
                                 f"tags {list(ticket.tags)}")]
