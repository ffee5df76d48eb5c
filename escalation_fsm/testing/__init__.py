"""Test your integration: hypothesis strategies, a stateful test base and transition-cover paths.

Install with the ``testing`` extra (``pip install escalation-fsm[testing]``), which brings
hypothesis. This package is the only place in escalation_fsm that imports hypothesis, and
``import escalation_fsm`` never imports it. See ``docs/testing.md`` ("Testing your integration").

* :mod:`.strategies`: tickets, actors, payloads and trigger sequences derived from any spec;
* :class:`EscalationStateMachine`: subclass it with your spec, hooks and store;
* :func:`transition_cover` / :func:`stage_cover`: a shortest fireable path per transition / stage,
  as plain data for ``pytest.mark.parametrize``.
"""

from ._cover import CoverPath, TriggerStep, actor_for, example_ticket, stage_cover, transition_cover
from ._examples import example_payloads
from ._negative import RefusalPath, guard_cover, role_cover
from .coverage import CoverageIncomplete, CoverageReport
from .snapshot import SnapshotMismatch, SpecSnapshot, check_snapshot
from .stateful import (
    EscalationStateMachine,
    InvariantViolated,
    Outcome,
    StoreLike,
    outcome_invariant,
    ticket_invariant,
)
from .strategies import (
    Hints,
    actors,
    invalid_payloads,
    new_tickets,
    payloads,
    roles_of,
    tickets,
    trigger_sequences,
    valid_payloads,
)
from .temporal import (
    TemporalRule,
    TemporalViolated,
    TemporalViolation,
    after,
    always,
    assert_temporal,
    check_temporal,
    never,
)

__all__ = [
    "CoverPath",
    "CoverageIncomplete",
    "CoverageReport",
    "RefusalPath",
    "SnapshotMismatch",
    "SpecSnapshot",
    "TemporalRule",
    "TemporalViolated",
    "TemporalViolation",
    "after",
    "always",
    "assert_temporal",
    "check_snapshot",
    "check_temporal",
    "guard_cover",
    "never",
    "role_cover",
    "EscalationStateMachine",
    "Hints",
    "InvariantViolated",
    "Outcome",
    "StoreLike",
    "TriggerStep",
    "actor_for",
    "actors",
    "example_payloads",
    "example_ticket",
    "invalid_payloads",
    "new_tickets",
    "outcome_invariant",
    "payloads",
    "roles_of",
    "stage_cover",
    "ticket_invariant",
    "tickets",
    "transition_cover",
    "trigger_sequences",
    "valid_payloads",
]
