"""pytest fixtures for host projects, registered through the ``pytest11`` entry point.

Installed with the package, so every pytest run of a host project sees them (override any of them
in your ``conftest.py``; ``escalation_spec`` and ``escalation_policy`` are the usual ones):

* ``escalation_spec``: the spec under test (default: the shipped procedure);
* ``escalation_policy``: the escalation policy (default thresholds);
* ``escalation_clock``: a :class:`~escalation_fsm.ManualClock` frozen at 2026-01-05 09:00 UTC;
* ``escalation_machine``: an :class:`~escalation_fsm.EscalationMachine` built from the three;
* ``escalation_actors``: one :class:`~escalation_fsm.Actor` per role of the spec, by role name;
* ``escalation_ticket_factory``: ``make(stage=None, **fields)`` returns a new ticket, or one taken
  to ``stage`` through the machine along the shortest fireable path (so its history is real).

The option ``--update-escalation-snapshots`` makes
:func:`escalation_fsm.testing.check_snapshot` write the approved procedure snapshots instead of
failing on a difference (review the diff, then commit).

Fixture names carry an ``escalation_`` prefix so they do not collide with a host's own
``machine`` or ``clock`` fixtures. This module imports neither hypothesis nor the toolkit at
import time: it is loaded in every pytest run, also without the ``testing`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from .clock import ManualClock
from .machine import EscalationMachine
from .models import Actor, Ticket
from .policy import EscalationPolicy
from .procedure import default_spec
from .spec import MachineSpec

__all__ = [
    "FROZEN_AT",
    "UPDATE_SNAPSHOTS_ENV",
    "escalation_actors",
    "escalation_clock",
    "escalation_machine",
    "escalation_policy",
    "escalation_spec",
    "escalation_ticket_factory",
]

FROZEN_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The time ``escalation_clock`` is frozen at."""

TicketFactory = Callable[..., Ticket]

UPDATE_SNAPSHOTS_ENV = "ESCALATION_FSM_UPDATE_SNAPSHOTS"
"""What ``--update-escalation-snapshots`` sets (``escalation_fsm.testing.snapshot.UPDATE_ENV``;
not imported from there, which would import hypothesis in every host's pytest run)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-escalation-snapshots``: write approved snapshots instead of failing."""
    parser.getgroup("escalation_fsm").addoption(
        "--update-escalation-snapshots", action="store_true", default=False,
        help="write the approved procedure snapshots that check_snapshot compares with "
             "(review the diff, then commit it)")


def pytest_configure(config: pytest.Config) -> None:
    """Turn the option into the environment variable ``check_snapshot`` reads."""
    if config.getoption("update_escalation_snapshots"):
        os.environ[UPDATE_SNAPSHOTS_ENV] = "1"


@pytest.fixture
def escalation_spec() -> MachineSpec:
    """The spec under test; override this fixture to test your own."""
    return default_spec()


@pytest.fixture
def escalation_policy() -> EscalationPolicy:
    """The escalation policy; override this fixture to test other thresholds."""
    return EscalationPolicy()


@pytest.fixture
def escalation_clock() -> ManualClock:
    """A clock frozen at :data:`FROZEN_AT` (move it with ``advance``/``set``)."""
    return ManualClock(FROZEN_AT)


@pytest.fixture
def escalation_machine(escalation_spec: MachineSpec, escalation_policy: EscalationPolicy,
                       escalation_clock: ManualClock) -> EscalationMachine:
    """A machine for the spec, policy and frozen clock (no hooks registered)."""
    return EscalationMachine(escalation_spec, policy=escalation_policy, clock=escalation_clock)


@pytest.fixture
def escalation_actors(escalation_spec: MachineSpec) -> dict[str, Actor]:
    """``{role: Actor(id="<role>-1", role=role)}`` for every role of the spec."""
    roles = sorted({role for t in escalation_spec.transitions for role in t.roles})
    return {role: Actor(id=f"{role}-1", role=role) for role in roles}


@pytest.fixture
def escalation_ticket_factory(escalation_machine: EscalationMachine) -> TicketFactory:
    """``make(stage=None, **fields)``: a new ticket, or one brought to ``stage`` for real."""
    # Imported here: the cover search lives in the testing package, which needs the extra.
    from .testing import example_ticket, stage_cover  # noqa: PLC0415

    counter = iter(range(1, 1_000_000))

    def make(stage: str | None = None, **fields: Any) -> Ticket:
        values = {"id": f"T-{next(counter)}", **fields}
        ticket = example_ticket(escalation_machine.spec, **values)
        if stage is None or stage == ticket.stage:
            return ticket
        paths = {path.stage: path for path in stage_cover(
            escalation_machine.spec, policy=escalation_machine.policy, start=ticket)}
        return paths[stage].replay(escalation_machine)

    return make
