"""Shared test configuration: hypothesis profiles and common actors."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings

from escalation_fsm import Actor, EscalationMachine, ManualClock, Role

# CI machines have 2 noisy cores: no deadline there, and more examples for the stateful tests.
settings.register_profile("ci", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START, tick=timedelta(minutes=1))


@pytest.fixture
def machine(clock: ManualClock) -> EscalationMachine:
    return EscalationMachine(clock=clock)


AGENT = Actor(id="a-1", role=Role.AGENT)
TIER2 = Actor(id="t2-1", role=Role.TIER2)
SUPERVISOR = Actor(id="s-1", role=Role.SUPERVISOR)
CUSTOMER = Actor(id="c-1", role=Role.CUSTOMER)
SYSTEM = Actor(id="sys", role=Role.SYSTEM)
