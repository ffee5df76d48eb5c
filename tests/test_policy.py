"""The escalation policy decides from complexity, frustration and urgency, and says why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from escalation_fsm import Assessment, Decision, EscalationPolicy


def a(c: str, f: str, u: str) -> Assessment:
    return Assessment(complexity=c, frustration=f, urgency=u)  # type: ignore[arg-type]


@pytest.mark.parametrize(("assessment", "expected"), [
    (a("high", "low", "low"), True),
    (a("low", "high", "low"), True),
    (a("low", "low", "high"), True),
    (a("low", "low", "critical"), True),
    (a("medium", "medium", "normal"), False),
    (a("low", "low", "low"), False),
])
def test_default_thresholds(assessment: Assessment, expected: bool) -> None:
    """By default any one signal at its threshold (high) warrants escalation."""
    assert EscalationPolicy().decide(assessment).ok is expected


def test_reasons_name_the_signals() -> None:
    """A positive decision lists each signal that fired; a negative one says what fell short."""
    yes = EscalationPolicy().decide(a("high", "high", "low"))
    assert yes.reasons == ("complexity is high (escalate at high or above)",
                           "customer frustration is high (escalate at high or above)")
    no = EscalationPolicy().decide(a("medium", "low", "normal"))
    assert no.reasons == (
        "the escalation policy does not warrant escalation: complexity medium is below high, "
        "customer frustration low is below high, urgency normal is below high "
        "(0 of the 1 signal(s) needed)",)


def test_thresholds_are_configurable() -> None:
    """Lower thresholds and a signal count change the decision."""
    assert EscalationPolicy(complexity_at="medium").decide(a("medium", "low", "low")).ok  # type: ignore[arg-type]
    strict = EscalationPolicy(min_signals=2)
    assert not strict.decide(a("high", "low", "low")).ok
    assert strict.decide(a("high", "low", "critical")).ok


def test_policy_config_is_validated() -> None:
    """Bad configuration is refused with a pydantic error naming the field."""
    with pytest.raises(ValidationError, match="min_signals"):
        EscalationPolicy(min_signals=4)
    with pytest.raises(ValidationError, match="urgency_at"):
        EscalationPolicy(urgency_at="extreme")  # type: ignore[arg-type]


def test_decision_helpers() -> None:
    """Decision.require gives yes() or no(reason)."""
    assert Decision.require(True, "r") == Decision(True, ())
    assert Decision.require(False, "r") == Decision(False, ("r",))
    assert Decision.yes("x").ok and not Decision.no("y").ok
