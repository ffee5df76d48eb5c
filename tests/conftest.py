"""Shared test configuration: hypothesis profiles and common actors."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from support import START

from escalation_fsm import EscalationMachine, ManualClock

# CI machines have 2 noisy cores: no deadline there, and more examples for the stateful tests.
settings.register_profile("ci", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")



@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START, tick=timedelta(minutes=1))


@pytest.fixture
def machine(clock: ManualClock) -> EscalationMachine:
    return EscalationMachine(clock=clock)

