"""A ticket is its history: checking that it is, and bringing a ticket in mid-way with a record.

:func:`verify_ticket` (what :meth:`EscalationMachine.verify
<escalation_fsm.EscalationMachine.verify>` runs) replays a ticket's audit records under a spec and
lists every way the ticket disagrees with them: records that do not chain, triggers or moves the
spec does not have, roles it does not allow, and a stage, version or tier other than the ones
the records lead to. Stores run it on every ticket they are asked to ``create``; ``fire`` checks
the part that costs nothing (the stage is the last record's destination) on every call.

:func:`import_ticket` is the one honest way into the middle of the procedure: an audit record
with the trigger :data:`~escalation_fsm.models.IMPORT_TRIGGER`, saying who brought the ticket in,
when, at which stage and tier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .bounds import MIGRATE_TRIGGER
from .errors import InvalidArgument
from .marks import Mark
from .models import FOLLOW_UP_TRIGGER, IMPORT_TRIGGER, Actor, AuditRecord, FrozenDict, Role, Ticket
from .sla.acted import acted_key

if TYPE_CHECKING:
    from .typing import SpecShape

if TYPE_CHECKING:
    from .machine import EscalationMachine

__all__ = ["IntegrityProblem", "import_ticket", "imported_tier", "tier_after", "verify_ticket"]


@dataclass(frozen=True, slots=True)
class IntegrityProblem:
    """One way a ticket (or its stored form) disagrees with its history.

    ``seq`` is the history record concerned (``None``: the ticket as a whole, its row or
    document); ``check`` names the kind of problem (``version``, ``sequence``, ``chain``,
    ``trigger``, ``transition``, ``role``, ``import``, ``follow-up``, ``stage``, ``tier``; stores
    add ``hash``, ``document``, ``row``, ``clocks`` and ``decode``; migrations add ``migration``);
    ``message`` says it in a sentence.
    """

    ticket_id: str
    seq: int | None
    check: str
    message: str

    def __str__(self) -> str:
        where = f"record {self.seq}" if self.seq is not None else "ticket"
        return f"{self.ticket_id} {where} [{self.check}]: {self.message}"


def tier_after(marks: frozenset[Mark], tier: int) -> int:
    """The tier once a trigger with ``marks`` committed (what the machine sets)."""
    if Mark.ESCALATE in marks:
        return tier + 1
    if Mark.DE_ESCALATE in marks:
        return max(1, tier - 1)
    return 1 if Mark.REOPEN in marks else tier


def imported_tier(record: AuditRecord) -> int | None:
    """The tier an import record brought the ticket in at (``None``: not a valid tier)."""
    tier = record.payload.get("tier", 1)
    return tier if type(tier) is int and tier >= 1 else None


def import_ticket(machine: EscalationMachine, ticket: Ticket, stage: str, *, actor: Actor,
                  tier: int = 1, note: str = "") -> Ticket:
    """``ticket`` brought into ``machine``'s procedure at ``stage``, with an audited import record.

    For tickets that started in another system: ``ticket`` holds their data as it is (category,
    details, steps, escalation, solution, ...) without history; the result is in ``stage`` at
    ``tier``, with one history record (trigger :data:`~escalation_fsm.models.IMPORT_TRIGGER`)
    saying who imported it, when (the machine's clock) and ``note`` (where from, say). Stores
    accept it, and :func:`verify_ticket` replays later records from there. No hook runs: an
    import is not a transition of the spec. Raises :class:`~escalation_fsm.errors.InvalidArgument`
    for a ticket that already has history, an unknown stage or a tier below 1.
    """
    spec = machine.spec
    problems = []
    if ticket.history:
        problems.append(("ticket", f"<ticket {ticket.id} with {len(ticket.history)} records>",
                         "a ticket without history (it enters the procedure with the import)"))
    if not spec.has_stage(stage):
        problems.append(("stage", repr(stage), f"a stage of spec {spec.name!r}: "
                                               f"{', '.join(spec.stage_names)}"))
    if type(tier) is not int or tier < 1:
        problems.append(("tier", repr(tier), "a whole number of at least 1"))
    if problems:
        name, value, allowed = problems[0]
        raise InvalidArgument(name=name, value=value, allowed=allowed)
    record = AuditRecord(seq=1, at=machine.clock.now(), actor_id=actor.id, actor_role=actor.role,
                         trigger=IMPORT_TRIGGER, source=spec.initial, dest=stage,
                         payload=FrozenDict({"tier": tier, "note": note}),
                         spec_fingerprint=machine.fingerprint)
    return Ticket.model_validate({**ticket.model_dump(exclude={"history"}), "stage": stage,
                                  "tier": tier, "history": (record,), "version": 1})


def verify_ticket(ticket: Ticket, spec: SpecShape) -> tuple[IntegrityProblem, ...]:
    """Every inconsistency between ``ticket`` and its history under ``spec`` (empty: none).

    The history is replayed from the spec's initial stage at tier 1: each record must leave the
    stage the previous one entered, fire a trigger the spec defines from that stage, with a role
    the transition allows, and enter the stage the spec says; only the first record may be an
    import. The ticket's stage, version and tier must be the ones the records lead to. Guards
    are not re-evaluated (they judged the ticket as it was, with the policy of the time).

    A migration record (trigger :data:`~escalation_fsm.MIGRATE_TRIGGER`) moved the ticket
    from an older version of the procedure, which was judged when it was written: the records
    before the last one are checked for their order only, and the check under ``spec`` resumes
    from the stage and tier it set. ``spec`` may be a stored
    :class:`~escalation_fsm.identity.SpecDescription`.
    """
    problems: list[IntegrityProblem] = []

    def add(seq: int | None, check: str, message: str) -> None:
        problems.append(IntegrityProblem(ticket.id, seq, check, message))

    history = ticket.history
    if ticket.version != len(history):
        add(None, "version", f"version {ticket.version} is not the number of history records "
                             f"({len(history)})")
    stage: str = spec.initial
    tier = 1
    resume = max((n for n, r in enumerate(history, start=1) if r.trigger == MIGRATE_TRIGGER),
                 default=0)
    for position, record in enumerate(history, start=1):
        seq = record.seq
        if seq != position:
            add(seq, "sequence", f"record at position {position} has sequence number {seq}")
        if record.source != stage and position > resume:
            before = ("a ticket starts in the initial stage" if position == 1
                      else "the record before entered it")
            add(seq, "chain", f"leaves stage {record.source!r}, but the ticket was in {stage!r} "
                              f"({before})")
        tier = _check_record(record, position, resume, spec, add, tier)
        stage = str(record.dest)
    found = str(ticket.stage)  # a StrEnum member when set without validation (model_copy)
    if found != stage and history:
        add(None, "stage", f"stage {found!r} is not {stage!r}, the stage its last record "
                           f"({history[-1].seq}) entered")
    elif found != stage:
        add(None, "stage", f"stage {found!r} without any history: a ticket starts in the "
                           f"initial stage {stage!r} (bring one in mid-way with "
                           f"escalation_fsm.import_ticket)")
    elif not spec.has_stage(stage):
        add(None, "stage", f"stage {stage!r} is not a stage of spec {spec.name!r}")
    if ticket.tier != tier:
        add(None, "tier", f"tier {ticket.tier} is not {tier}, the tier its history's escalations, "
                          f"de-escalations and reopenings lead to")
    return tuple(problems)


def _check_record(record: AuditRecord, position: int, resume: int,  # noqa: PLR0917
                  spec: SpecShape, add: Callable[[int | None, str, str], None], tier: int) -> int:
    """Check one record by its kind; the tier after it."""
    if position == resume:
        return _check_migration(record, spec, add, tier)
    if position < resume:
        return tier  # written under an older version, judged when the migration was written
    if record.trigger == IMPORT_TRIGGER:
        return _check_import(record, position, spec, add, tier)
    if record.trigger == FOLLOW_UP_TRIGGER:
        _check_follow_up(record, add)
        return tier
    return _check_move(record, spec, add, tier)


def _check_migration(record: AuditRecord, spec: SpecShape,
                     add: Callable[[int | None, str, str], None], tier: int) -> int:
    if not spec.has_stage(record.dest):
        add(record.seq, "stage", f"a migration moved it into stage {record.dest!r}, which spec "
                                 f"{spec.name!r} does not have")
    target = record.payload.get("to")
    if not isinstance(target, dict) or target.get("fingerprint") != record.spec_fingerprint:
        add(record.seq, "migration", "its payload does not name the spec it was written under")
    found = imported_tier(record)
    if found is None:
        add(record.seq, "migration", f"its tier {record.payload.get('tier')!r} is not a whole "
                                     f"number of at least 1")
        return tier
    return found


def _check_import(record: AuditRecord, position: int, spec: SpecShape,
                  add: Callable[[int | None, str, str], None], tier: int) -> int:
    if position != 1:
        add(record.seq, "import", "an import record can only be a ticket's first record")
    if not spec.has_stage(record.dest):
        add(record.seq, "stage", f"imports into stage {record.dest!r}, which spec {spec.name!r} "
                                 f"does not have")
    found = imported_tier(record)
    if found is None:
        add(record.seq, "import", f"its tier {record.payload.get('tier')!r} is not a whole number "
                                  f"of at least 1")
        return tier
    return found


def _check_follow_up(record: AuditRecord, add: Callable[[int | None, str, str], None]) -> None:
    """A follow-up worker's record: by ``system``, in place, naming the ladder step it acted on."""
    if record.dest != record.source:
        add(record.seq, "follow-up", f"a follow-up record leaves the stage as it is, but this one "
                                     f"moves from {record.source!r} to {record.dest!r}")
    if record.actor_role != Role.SYSTEM:
        add(record.seq, "follow-up", f"a follow-up record is written by role 'system', not "
                                     f"{record.actor_role!r}")
    if acted_key(record.payload) is None:
        add(record.seq, "follow-up", "a follow-up record must name its clock, run (an ISO time "
                                     "with a zone) and step")


def _check_move(record: AuditRecord, spec: SpecShape,
                add: Callable[[int | None, str, str], None], tier: int) -> int:
    seq = record.seq
    if not spec.has_trigger(record.trigger):
        add(seq, "trigger", f"trigger {record.trigger!r} is not in spec {spec.name!r}")
        return tier
    transition = spec.transition(record.source, record.trigger)
    if transition is None:
        add(seq, "transition", f"spec {spec.name!r} has no {record.trigger!r} from stage "
                               f"{record.source!r}")
        return tier
    if record.dest != transition.target:
        add(seq, "transition", f"{record.trigger!r} from {record.source!r} enters "
                               f"{transition.target!r}, but the record says {record.dest!r}")
    if record.actor_role not in transition.roles:
        add(seq, "role", f"actor {record.actor_id!r} with role {record.actor_role!r} may not fire "
                         f"{record.trigger!r} from {record.source!r}; roles allowed: "
                         f"{', '.join(sorted(transition.roles))}")
    return tier_after(spec.marks_of(record.trigger), tier)
