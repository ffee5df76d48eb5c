"""Test your integration: a stateful test base, covers, snapshots, temporal rules, strategies.

Install with the ``testing`` extra (``pip install escalation-fsm[testing]``), which brings
hypothesis. This package is the only place in escalation_fsm that imports hypothesis, and
``import escalation_fsm`` never imports it. See ``docs/testing.md`` ("Testing your integration").

* :class:`EscalationStateMachine`: subclass it with your spec, hooks and store; ``run()`` gives a
  coverage report or a minimal failure printed as a pytest function (:class:`Open`,
  :class:`Fire`, :class:`Call` steps that ``replay()`` runs);
* :func:`check_snapshot` / :class:`SpecSnapshot`: the approved procedure table, an independent
  reference for your spec;
* :func:`transition_cover` / :func:`stage_cover` / :func:`guard_cover` / :func:`role_cover`:
  shortest paths to every transition, stage, guard refusal and role denial, as plain data;
* :mod:`.temporal`: rules over a ticket's history (``after(...).expect(...)``, ``eventually``,
  ``never``, ``always``);
* :mod:`.strategies`: tickets, actors, payloads and trigger sequences derived from any spec.
"""

from ._checker import Outcome, RunFailed, StoreLike
from ._cover import CoverPath, TriggerStep, actor_for, example_ticket, stage_cover, transition_cover
from ._examples import example_payloads
from ._negative import RefusalPath, guard_cover, role_cover
from .coverage import CoverageIncomplete, CoverageReport, cover_report
from .snapshot import SnapshotMismatch, SpecSnapshot, check_snapshot
from .stateful import (
    EscalationStateMachine,
    InvariantViolated,
    host_rule,
    outcome_invariant,
    ticket_invariant,
)
from .steps import Call, Fire, Open, Step
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
    "Call",
    "CoverPath",
    "CoverageIncomplete",
    "CoverageReport",
    "EscalationStateMachine",
    "Fire",
    "Hints",
    "InvariantViolated",
    "Open",
    "Outcome",
    "RefusalPath",
    "RunFailed",
    "SnapshotMismatch",
    "SpecSnapshot",
    "Step",
    "StoreLike",
    "TemporalRule",
    "TemporalViolated",
    "TemporalViolation",
    "TriggerStep",
    "actor_for",
    "actors",
    "after",
    "always",
    "assert_temporal",
    "check_snapshot",
    "check_temporal",
    "cover_report",
    "example_payloads",
    "example_ticket",
    "guard_cover",
    "host_rule",
    "invalid_payloads",
    "never",
    "new_tickets",
    "outcome_invariant",
    "payloads",
    "role_cover",
    "roles_of",
    "stage_cover",
    "ticket_invariant",
    "tickets",
    "transition_cover",
    "trigger_sequences",
    "valid_payloads",
]
