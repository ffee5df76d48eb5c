"""Moving tickets from one version of a procedure to another: a :class:`Migration`.

A migration says where every stage and trigger of the old spec (``source``) lives in the new one
(``target``): a name the new spec also has maps to itself unless told otherwise, and every other
one must be mapped. It is validated whole when built, like a spec: every problem is listed in one
:class:`~escalation_fsm.errors.MigrationError`.

Applying it to a ticket appends one audit record with the trigger
:data:`~escalation_fsm.MIGRATE_TRIGGER` (actor ``system``), from the ticket's stage to the
stage it maps to, naming both versions; the records before it stay as they were written. Before
that, the ticket's history is replayed under the new spec (:mod:`escalation_fsm.migration_check`):
a ticket whose history the new machine refuses is never moved. Stores apply a migration to every
ticket, with a dry run first (:meth:`~escalation_fsm.stores.StoreBase.migrate`); a machine with a
registered migration moves a ticket when it meets it
(:meth:`~escalation_fsm.EscalationMachine.register`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .bounds import MIGRATE_TRIGGER
from .errors import MigrationError, SpecMismatch
from .identity import SpecDescription, describe, spec_fingerprint, spec_label
from .models import Actor, AuditRecord, FrozenDict, Role, Ticket, evolve
from .spec import MachineSpec

if TYPE_CHECKING:
    from .machine import EscalationMachine
    from .migration_check import MigrationCheck, TicketPlan

__all__ = ["MIGRATION_ACTOR", "Migration"]

MIGRATION_ACTOR = Actor(id="system", role=Role.SYSTEM)
"""Who a migration record says moved the ticket."""


class Migration:
    """A move from spec ``source`` (a spec or a stored description) to spec ``target``.

    ``stages`` and ``triggers`` map old names to new ones; an old name the new spec has maps to
    itself unless given. ``unknown=True`` also moves tickets whose records carry no fingerprint
    (written before spec versions were recorded): it says they were written under ``source``,
    which the dry run checks against their history. Raises
    :class:`~escalation_fsm.errors.MigrationError` listing every problem: an old stage or trigger
    left unmapped, a name that is not in the spec it should be in.
    """

    __slots__ = ("_check", "source", "stages", "target", "triggers", "unknown")

    def __init__(self, source: MachineSpec | SpecDescription, target: MachineSpec, *,
                 stages: Mapping[str, str] | None = None, triggers: Mapping[str, str] | None = None,
                 unknown: bool = False) -> None:
        if not isinstance(target, MachineSpec):
            raise MigrationError([f"the target must be a MachineSpec (the code that will run "
                                  f"the tickets), not a {type(target).__name__}"])
        old = describe(source)
        given_stages, given_triggers = dict(stages or {}), dict(triggers or {})
        problems = old.problems()
        problems += _mapping_problems("stage", old.stage_names, target.stage_names, given_stages,
                                      old.label)
        problems += _mapping_problems("trigger", old.trigger_names, target.trigger_names,
                                      given_triggers, old.label)
        if problems:
            raise MigrationError(problems)
        self.source: SpecDescription = old
        self.target: MachineSpec = target
        self.stages: dict[str, str] = {name: given_stages.get(name, name) for name in old.stage_names}
        """Every old stage and the new stage it maps to."""
        self.triggers: dict[str, str] = {name: given_triggers.get(name, name)
                                         for name in old.trigger_names}
        """Every old trigger and the new trigger it maps to."""
        self.unknown = unknown
        self._check: MigrationCheck | None = None

    @property
    def source_fingerprint(self) -> str:
        """The fingerprint of the spec the tickets are moved from."""
        return self.source.fingerprint

    @property
    def target_fingerprint(self) -> str:
        """The fingerprint of the spec the tickets are moved to."""
        return spec_fingerprint(self.target)

    @property
    def label(self) -> str:
        """``old name vX -> new name vY``."""
        return (f"{self.source.name} v{self.source.version} -> {self.target.name} "
                f"v{self.target.version}")

    def stage_of(self, stage: str) -> str:
        """The new stage of old stage ``stage`` (``KeyError`` for a stage the old spec lacks)."""
        return self.stages[stage]

    def trigger_of(self, trigger: str) -> str:
        """The new name of old trigger ``trigger`` (a name the old spec lacks stays as it is)."""
        return self.triggers.get(trigger, trigger)

    def notes(self) -> list[str]:
        """What a reader should know: triggers that mean something else after the move."""
        found = []
        for old, new in self.triggers.items():
            before, after = self.source.marks_of(old), self.target.marks_of(new)
            if before != after:
                found.append(f"trigger {old!r} (marks: {_marks(before)}) becomes {new!r} (marks: "
                             f"{_marks(after)}): its records' SLA meaning follows the new marks")
        return found

    def then(self, other: Migration) -> Migration:
        """This migration followed by ``other`` (whose source must be this one's target)."""
        if other.source_fingerprint != self.target_fingerprint:
            raise MigrationError([f"cannot chain {self.label} with {other.label}: the second does "
                                  f"not start where the first ends"])
        return Migration(self.source, other.target,
                         stages={old: other.stage_of(new) for old, new in self.stages.items()},
                         triggers={old: other.trigger_of(new) for old, new in self.triggers.items()},
                         unknown=self.unknown)

    def covers(self, fingerprint: str | None) -> bool:
        """Whether a ticket written under ``fingerprint`` is one this migration moves."""
        return fingerprint == self.source_fingerprint or (fingerprint is None and self.unknown)

    def record(self, ticket: Ticket, *, at: datetime, actor: Actor = MIGRATION_ACTOR) -> AuditRecord:
        """The audit record that moves ``ticket`` (at ``at``) onto the target spec."""
        found = ticket.spec_fingerprint
        payload: dict[str, Any] = {
            "from": {"name": self.source.name if found is not None else None,
                     "version": self.source.version if found is not None else None,
                     "fingerprint": found},
            "to": {"name": self.target.name, "version": self.target.version,
                   "fingerprint": self.target_fingerprint},
            "tier": ticket.tier,
            "stages": {old: new for old, new in self.stages.items() if old != new},
            "triggers": {old: new for old, new in self.triggers.items() if old != new},
        }
        if found is None and ticket.history:
            payload["adopted"] = {"name": self.source.name, "version": self.source.version,
                                  "fingerprint": self.source_fingerprint}
        return AuditRecord(seq=ticket.version + 1, at=at, actor_id=actor.id,
                           actor_role=actor.role, trigger=MIGRATE_TRIGGER, source=ticket.stage,
                           dest=self.stage_of(ticket.stage), payload=FrozenDict(payload),
                           spec_fingerprint=self.target_fingerprint)

    def checker(self, machine: EscalationMachine | None = None) -> MigrationCheck:
        """The history replay that judges each ticket (one per migration, with its cache)."""
        if self._check is None:
            from .migration_check import MigrationCheck  # noqa: PLC0415 (it imports the machine)

            self._check = MigrationCheck(self, policy=None if machine is None else machine.policy)
        return self._check

    def plan(self, ticket: Ticket, machine: EscalationMachine | None = None,
             base: Ticket | None = None) -> TicketPlan:
        """What migrating ``ticket`` would do: clean and where it lands, or where it breaks.

        ``base`` is the ticket as created (or as of its last import or migration record): the
        data its history is replayed from (stores keep it). A ticket without history is its own.
        """
        return self.checker(machine).check(ticket, base)

    def migrate(self, ticket: Ticket, machine: EscalationMachine,
                base: Ticket | None = None) -> Ticket:
        """``ticket`` with its migration record appended, stamped by ``machine``'s clock.

        ``base`` as for :meth:`plan`. Raises :class:`~escalation_fsm.errors.SpecMismatch` with
        the reason if its history breaks under the target spec (nothing changes).
        """
        plan = self.plan(ticket, machine, base)
        if plan.status != "clean":
            raise SpecMismatch(ticket_id=ticket.id, found=ticket.spec_fingerprint,
                               expected=self.target_fingerprint,
                               found_label=spec_label(self.source.name, self.source.version,
                                                      ticket.spec_fingerprint),
                               expected_label=spec_label(self.target.name, self.target.version,
                                                         self.target_fingerprint),
                               reasons=[f"migrating it ({self.label}) is refused: {plan.why}"])
        record = self.record(ticket, at=machine.clock.now())
        return evolve(ticket, {"stage": record.dest, "history": (*ticket.history, record),
                               "version": record.seq})

    def __repr__(self) -> str:
        return f"Migration({self.label})"


def _marks(marks: frozenset[Any]) -> str:
    return ", ".join(sorted(str(mark) for mark in marks)) or "none"


def _mapping_problems(kind: str, old: tuple[str, ...], new: tuple[str, ...],
                      given: dict[str, str], label: str) -> list[str]:
    problems = [f"{kind} {name!r} is mapped, but {label} has no such {kind}" for name in given
                if name not in old]
    problems += [f"{kind} {name!r} is mapped to {target!r}, which the new spec does not have; its "
                 f"{kind}s: {', '.join(new)}" for name, target in given.items()
                 if name in old and target not in new]
    problems += [f"{kind} {name!r} of {label} is not in the new spec: map it to one of "
                 f"{', '.join(new)}" for name in old if name not in given and name not in new]
    return problems
