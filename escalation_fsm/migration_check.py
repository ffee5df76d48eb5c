"""Judging a migration ticket by ticket: every stored history replayed under the new spec.

For each ticket, :class:`MigrationCheck` fires the triggers of its history again, in order, through
an :class:`~escalation_fsm.EscalationMachine` of the migration's target spec (renamed triggers under
their new names, each by the role and with the payload recorded, at the recorded time) and checks
that each one is allowed and enters the stage the migration maps the old one to. The answer, a
:class:`TicketPlan`, is ``clean`` (and the stage the ticket lands in), or ``breaks`` with the first
record the new spec refuses and why.

Where the replay starts: from the ticket as it was created (``base``), or after its last import or
migration record, which stand for the state they brought the ticket into (a migration was judged
when it was written). Records before that are not fired again. A ticket stored with a history
already (``store.create`` of a ticket with records) keeps only its data as of then: those records
are checked against the new spec's transitions, stages and roles, not fired (their guards' data is
not stored).

Speed: each distinct step is replayed once. Replays are kept in a graph whose nodes are the
tickets a prefix of a history leads to, and whose edges are records keyed by what can change the
answer: the trigger, the actor's role and the payload (and the stages the record names). Where a
replay starts is keyed by the values of the ticket fields the new spec's guards declare they read
(:attr:`~escalation_fsm.GuardSpec.ticket_fields`). Two prefixes that lead to the same ticket data
(history, version and id aside) share one node: what follows them is replayed once for both, so
10,000 tickets of about 10 records mostly follow edges replayed already. To make such prefixes
meet, the cached replay fires every record as one fixed actor id at one fixed time (the recorded
role, trigger and payload are kept); the first record a ticket breaks at is fired again with its
recorded actor and time, so that the reason is the one a full replay gives.

That is exact as long as guards and effects read only the ticket's data (not its history or
version, the time or the actor's id), and guards only the ticket fields they declare, the payload
and the actor's role (a guard that reads no payload and declares no ticket fields makes the whole
ticket document part of the start's key; one that declares ``history``, ``version`` or ``id``
turns the sharing of nodes off, leaving the sharing of prefixes). The shipped guards and effects
qualify. ``cache=False`` replays every ticket in full, as recorded; tests check both agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import ValidationError

from .bounds import MIGRATE_TRIGGER
from .clock import ManualClock
from .errors import EscalationError
from .integrity import imported_tier, verify_ticket
from .machine import EscalationMachine
from .models import FOLLOW_UP_TRIGGER, IMPORT_TRIGGER, Actor, AuditRecord, FrozenDict, Ticket
from .policy import EscalationPolicy

__all__ = ["MigrationCheck", "PlanStatus", "TicketPlan", "restart_position"]

PlanStatus = Literal["clean", "breaks", "done", "skipped", "unreadable"]
"""``clean``: the ticket migrates; ``breaks``: its history breaks under the new spec; ``done``:
nothing to do (already under the target spec, or without history in a stage the new spec starts
from); ``skipped``: written under a spec this migration does not move; ``unreadable``: its stored
data does not decode (``reason`` says why)."""

_RESTARTS = (IMPORT_TRIGGER, MIGRATE_TRIGGER)
_MARKERS = tuple(f',"trigger":{json.dumps(t)},' for t in _RESTARTS)
_ROLE = '"actor_role":'
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_REPLAYER = "migration-check"
"""The actor id the cached replay fires every record as (with the recorded role)."""
_UNKEYED: set[str] = {"history", "version", "id"}
"""Ticket fields a node's key leaves out (a guard that reads one turns the sharing of nodes off)."""


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """What migrating one ticket would do.

    ``stage`` is where it is now, ``lands`` the stage the migration puts it in; for a ticket
    that ``breaks``, ``seq`` is the first history record the new spec refuses (``None``: the
    history as a whole, e.g. the tier it leads to), ``trigger`` its trigger and ``reason`` why.
    """

    ticket_id: str
    status: PlanStatus
    stage: str
    lands: str | None
    version: int
    fingerprint: str | None
    seq: int | None = None
    trigger: str | None = None
    reason: str | None = None

    @property
    def why(self) -> str:
        """The reason in a sentence, with the record it concerns."""
        where = f"record {self.seq} ({self.trigger!r}): " if self.seq is not None else ""
        return where + (self.reason or self.status)

    def as_record(self) -> dict[str, Any]:
        """The plan as JSON-ready data (one entry of ``escalation-fsm migrate --format json``)."""
        return {"ticket_id": self.ticket_id, "status": self.status, "stage": self.stage,
                "lands": self.lands, "version": self.version, "fingerprint": self.fingerprint,
                "seq": self.seq, "trigger": self.trigger, "reason": self.reason}


class _Subject(NamedTuple):
    """The ticket a plan is about, as it is now."""

    ticket_id: str
    stage: str
    tier: int
    version: int
    fingerprint: str | None


class _Node:
    """A replayed prefix: the ticket after it, or why its last record broke."""

    __slots__ = ("children", "failure", "ticket")

    def __init__(self, ticket: Ticket | None, failure: tuple[str, str] | None = None) -> None:
        self.ticket = ticket
        self.failure = failure
        """``(trigger, reason)`` of the record that broke."""
        self.children: dict[Any, _Node] = {}


class MigrationCheck:
    """Replays ticket histories under a migration's target spec, sharing common prefixes.

    ``policy`` is the escalation policy the new machine judges with (default: the default
    policy); ``cache=False`` replays every ticket in full; at most ``max_nodes`` replayed records
    are remembered, and as many starting points (later ones are replayed without being kept).
    """

    def __init__(self, migration: Any, *, policy: EscalationPolicy | None = None,
                 cache: bool = True, max_nodes: int = 500_000) -> None:
        self.migration = migration
        self.target = migration.target
        self.fingerprint: str = migration.target_fingerprint
        self._clock = ManualClock(_EPOCH)
        self.machine = EscalationMachine(self.target, policy=policy, clock=self._clock)
        self.cache = cache
        self.max_nodes = max_nodes
        self.nodes = 0
        self._roots: dict[Any, _Node] = {}
        guards = self.target.guards
        self._whole = any(g.ticket_fields is None and not g.uses_payload for g in guards)
        self._fields = sorted({f for g in guards for f in (g.ticket_fields or ())})
        self._merge = cache and not self._whole and not _UNKEYED & set(self._fields)
        """Whether prefixes that lead to the same ticket data share one node."""
        self._states: dict[str, _Node] = {}
        self._documents: dict[str, _Node] = {}
        self._uncached: MigrationCheck | None = None

    # -- the two ways in: a decoded ticket, or a stored one's texts ------------------------------

    def check(self, ticket: Ticket, base: Ticket | None = None) -> TicketPlan:
        """The plan for ``ticket``.

        ``base`` is the ticket as of an earlier version, at or after its last import or migration
        record, whose data the replay starts from (default: as created, for a ticket without
        history).
        """
        subject = _Subject(ticket.id, ticket.stage, ticket.tier, ticket.version,
                           ticket.spec_fingerprint)
        early = self._triage(subject)
        if early is not None:
            return early
        if ticket.spec_fingerprint is None:
            problems = verify_ticket(ticket, self.migration.source)
            if problems:
                first = problems[0]
                return self._breaks(subject, first.seq, None, (
                    f"its history does not fit {self.migration.source.label}, which the "
                    f"migration says wrote it: {first.message}"))
        history = ticket.history
        base = ticket if base is None and not history else base
        if base is None:
            raise ValueError(f"ticket {ticket.id}: the replay needs the ticket as created (base)")
        start = max(base.version, restart_position(history))
        if base.version < start:
            raise ValueError(f"ticket {ticket.id}: base version {base.version} is before its "
                             f"record {start}, where the replay starts")
        texts = [record.model_dump_json() for record in history]
        early = self._before_base(subject, history, restart_position(history), start)
        return early or self._walk(subject, base, start, history, texts)

    def check_texts(self, ticket_id: str, *, stage: str, version: int, tier: int,
                    fingerprint: str | None, base_version: int, document: str,
                    records: Sequence[str]) -> TicketPlan | None:
        """The plan from a stored ticket's texts, or ``None`` when it needs decoding first.

        ``document`` is the ticket as created (at ``base_version``) and ``records`` the stored
        history texts. ``None`` for tickets of unknown spec and tickets migrated or imported
        after they were created: call :meth:`check` with the decoded ticket.
        """
        subject = _Subject(ticket_id, stage, tier, version, fingerprint)
        early = self._triage(subject)
        if early is not None:
            return early
        if fingerprint is None:
            return None
        if len(records) != version:
            return None  # rows missing or doubled: decoding says what is wrong
        last = 0
        joined = "\n".join(records)  # one scan for the rare import or migration record
        if any(marker in joined for marker in _MARKERS):
            for position, text in enumerate(records, start=1):
                if any(marker in text for marker in _MARKERS):
                    last = position
        if last > base_version:
            return None
        early = self._before_base(subject, None, last, base_version, records)
        return early or self._walk(subject, document, base_version, None, records)

    # -- internals ---------------------------------------------------------------------------------

    def _triage(self, subject: _Subject) -> TicketPlan | None:
        """The plan of a ticket this migration does not replay (``None``: replay it)."""
        migration = self.migration
        ticket_id, stage, _, version, fingerprint = subject
        if version == 0:
            if stage == self.target.initial and migration.stages.get(stage, stage) == stage:
                return TicketPlan(ticket_id, "done", stage, stage, 0, None)
            if stage in migration.stages and migration.stage_of(stage) == self.target.initial:
                return TicketPlan(ticket_id, "clean", stage, self.target.initial, 0, None)
            return TicketPlan(ticket_id, "skipped", stage, None, 0, None, reason=(
                f"no history, in stage {stage!r}, which the migration does not map to the new "
                f"spec's initial stage {self.target.initial!r}"))
        if fingerprint == self.fingerprint:
            return TicketPlan(ticket_id, "done", stage, stage, version, fingerprint)
        if not migration.covers(fingerprint):
            return TicketPlan(ticket_id, "skipped", stage, None, version, fingerprint, reason=(
                "written under another spec than the migration's source" if fingerprint else
                "written before spec versions were recorded (adopt it: Migration(..., "
                "unknown=True))"))
        return None

    def _before_base(self, subject: _Subject, history: Sequence[AuditRecord] | None, first: int,
                     start: int, texts: Sequence[str] = ()) -> TicketPlan | None:
        """Check records ``first + 1 .. start``, which came with the ticket when it was stored.

        The data their guards saw is not stored (the store keeps the ticket as it was created,
        history included), so they are not fired again: each must be a transition of the new
        spec, from and to the stages they map to, by a role it allows. ``None``: they all are.
        """
        migration, target = self.migration, self.target
        for seq in range(first + 1, start + 1):
            record = _record(history, texts, seq)
            if record.trigger == FOLLOW_UP_TRIGGER:
                continue  # the SLA ladder's record: no transition of either spec
            trigger = migration.trigger_of(record.trigger)
            source, dest = migration.stages.get(record.source), migration.stages.get(record.dest)
            move = None if source is None else target.transition(source, trigger)
            if move is None:
                return self._breaks(subject, seq, record.trigger, (
                    f"the new spec has no transition {trigger!r} from {source!r}"))
            if (move.dest or source) != dest:
                return self._breaks(subject, seq, record.trigger, (
                    f"under the new spec {trigger!r} from {source!r} enters {move.dest!r}, but "
                    f"the migration maps the stage it entered, {record.dest!r}, to {dest!r}"))
            if record.actor_role not in move.roles:
                return self._breaks(subject, seq, record.trigger, (
                    f"the new spec does not let role {record.actor_role!r} fire {trigger!r}"))
        return None

    def _breaks(self, subject: _Subject, seq: int | None, trigger: str | None,
                reason: str) -> TicketPlan:
        return TicketPlan(subject.ticket_id, "breaks", subject.stage,
                          self.migration.stages.get(subject.stage), subject.version,
                          subject.fingerprint, seq, trigger, reason)

    def _walk(self, subject: _Subject, base: Ticket | str, start: int,
              history: Sequence[AuditRecord] | None, texts: Sequence[str]) -> TicketPlan:
        """Replay records ``start + 1 ..`` from ``base`` (a ticket, or a document's text)."""
        if subject.stage not in self.migration.stages:
            return self._breaks(subject, None, None, f"its stage {subject.stage!r} is not a stage "
                                                     f"of {self.migration.source.label}")
        record = _record(history, texts, start) if start else None
        node = self._root(base, start, record, subject.ticket_id)
        if node.failure is not None:
            return self._breaks(subject, start or None, *node.failure)
        for seq in range(start + 1, len(texts) + 1):
            text = texts[seq - 1]
            cut = text.find(_ROLE)
            key = text[cut:] if cut > 0 else text
            child = node.children.get(key)
            if child is None:
                child = self._step(node, _record(history, texts, seq), exact=not self.cache)
                if self.cache and self.nodes < self.max_nodes:
                    child = self._shared(child)
                    node.children[key] = child
                    self.nodes += 1
            if child.failure is not None:
                if not self.cache:
                    return self._breaks(subject, seq, *child.failure)
                return self._broke(subject, node, seq, (base, start, history, texts))
            node = child
        replayed = node.ticket
        assert replayed is not None  # noqa: S101 (a node without failure has a ticket)
        if replayed.tier != subject.tier:
            return self._breaks(subject, None, None, (
                f"its history leads to tier {replayed.tier} under the new spec, but the ticket "
                f"is at tier {subject.tier}"))
        return TicketPlan(subject.ticket_id, "clean", subject.stage,
                          self.migration.stage_of(subject.stage), subject.version,
                          subject.fingerprint)

    def _shared(self, node: _Node) -> _Node:
        """The node already kept for the same ticket data, or ``node`` (kept from now on)."""
        if not self._merge or node.ticket is None:
            return node
        state = node.ticket.model_dump_json(exclude=_UNKEYED)
        return self._states.setdefault(state, node)

    def _broke(self, subject: _Subject, node: _Node, seq: int,
               replay: tuple[Ticket | str, int, Sequence[AuditRecord] | None, Sequence[str]]
               ) -> TicketPlan:
        """The plan of a ticket whose record ``seq`` breaks from ``node``.

        The reason is the one a full replay gives: the record is fired again by its recorded
        actor, at its recorded time, on the node's data under the ticket's id.
        """
        base, start, history, texts = replay
        assert node.ticket is not None  # noqa: S101 (only nodes without failure get children)
        own = _Node(node.ticket.model_copy(update={"id": subject.ticket_id}))
        failure = self._step(own, _record(history, texts, seq), exact=True).failure
        if failure is None:  # pragma: no cover (a guard or effect reads what the cache leaves out)
            if self._uncached is None:
                self._uncached = MigrationCheck(self.migration, policy=self.machine.policy,
                                                cache=False)
            return self._uncached._walk(subject, base, start, history, texts)  # noqa: SLF001
        return self._breaks(subject, seq, *failure)

    def _root(self, base: Ticket | str, start: int, record: AuditRecord | None,
              ticket_id: str) -> _Node:
        """The replay's starting point: the base data, in the stage the history had reached.

        A replay from a ticket's document as created is looked up first by the document's text
        after its id (documents that differ only in the id start from the same node).
        """
        rest = None
        if start == 0 and isinstance(base, str) and self.cache and not self._whole:
            head = f'{{"id":{json.dumps(ticket_id)},'
            if base.startswith(head):
                rest = base[len(head):]
                found = self._documents.get(rest)
                if found is not None:
                    return found
        node = self._root_of(base, start, record)
        if rest is not None and len(self._documents) < self.max_nodes:
            self._documents[rest] = node
        return node

    def _root_of(self, base: Ticket | str, start: int, record: AuditRecord | None) -> _Node:
        data: dict[str, Any] = (json.loads(base) if isinstance(base, str)
                                else base.model_dump(mode="json", exclude={"history"}))
        if self._whole:
            projection = base if isinstance(base, str) else json.dumps(data, sort_keys=True)
        else:
            projection = json.dumps([data.get(f) for f in self._fields], sort_keys=True)
        restart = record is not None and record.trigger in _RESTARTS
        tier = imported_tier(record) if restart and record is not None else data.get("tier")
        old_stage = record.dest if record is not None else None
        key = (start > 0, restart, old_stage, tier, projection)
        node = self._roots.get(key)
        if node is None:
            node = self._start(data, start, record, tier)
            if self.cache and len(self._roots) < self.max_nodes:
                self._roots[key] = node
        return node

    def _start(self, data: dict[str, Any], start: int, record: AuditRecord | None,
               tier: Any) -> _Node:
        fields = {name: value for name, value in data.items()
                  if name not in ("history", "version", "stage", "tier")}
        target, migration = self.target, self.migration
        if start == 0:
            mapped = migration.stage_of(migration.source.initial)
            if mapped != target.initial:
                return _Node(None, ("", f"the new spec starts tickets in {target.initial!r}, but "
                                        f"the migration maps the old initial stage "
                                        f"{migration.source.initial!r} to {mapped!r}"))
            return _Node(Ticket.model_validate({**fields, "stage": target.initial, "tier": 1}))
        assert record is not None  # noqa: S101 (start > 0 comes with its record)
        stage = migration.stages.get(record.dest)
        if stage is None:
            return _Node(None, (record.trigger, f"it enters stage {record.dest!r}, which "
                                                f"{migration.source.label} does not have"))
        entry = AuditRecord(seq=1, at=record.at, actor_id=record.actor_id,
                            actor_role=record.actor_role, trigger=IMPORT_TRIGGER,
                            source=target.initial, dest=stage, payload=FrozenDict(),
                            spec_fingerprint=self.fingerprint)
        try:
            ticket = Ticket.model_validate({**fields, "stage": stage, "tier": tier or 1,
                                            "history": (entry,), "version": 1})
        except ValidationError as exc:  # pragma: no cover (stored data was valid)
            return _Node(None, (record.trigger, f"its data does not validate: {exc}"))
        return _Node(ticket)

    def _step(self, node: _Node, record: AuditRecord, *, exact: bool) -> _Node:
        """Fire one recorded trigger on the node's ticket under the new spec.

        ``exact``: by the recorded actor at the recorded time; else by one fixed actor id (with
        the recorded role) at one fixed time, so that equal prefixes give equal ticket data.
        """
        migration = self.migration
        ticket = node.ticket
        assert ticket is not None  # noqa: S101 (only nodes without failure get children)
        trigger = migration.trigger_of(record.trigger)
        if record.trigger in _RESTARTS:  # pragma: no cover (the walk starts after the last one)
            return _Node(None, (record.trigger, "an import or migration record mid-way"))
        if record.trigger == FOLLOW_UP_TRIGGER:  # the SLA ladder's record: carried as it is
            return _Node(_followed_up(ticket, record, self.fingerprint))
        self._clock.set(record.at if exact else _EPOCH)
        try:
            result = self.machine.transition(
                ticket, trigger, actor=Actor(id=record.actor_id if exact else _REPLAYER,
                                             role=record.actor_role), **record.payload)
        except (EscalationError, ValidationError) as exc:
            return _Node(None, (record.trigger, _one_line(exc)))
        except Exception as exc:  # noqa: BLE001 (host guards and effects on old data: reported)
            return _Node(None, (record.trigger, f"{type(exc).__name__}: {_one_line(exc)}"))
        expected = migration.stages.get(record.dest)
        entered = result.ticket.stage
        if entered != expected:
            return _Node(None, (record.trigger, (
                f"under the new spec {trigger!r} from {ticket.stage!r} enters {entered!r}, but "
                f"the migration maps the stage it entered, {record.dest!r}, to {expected!r}")))
        return _Node(result.ticket)


def _followed_up(ticket: Ticket, record: AuditRecord, fingerprint: str) -> Ticket:
    """``ticket`` with a follow-up worker's record appended in place, stamped ``fingerprint``.

    A raised urgency is applied; the record is no transition of either spec.
    """
    entry = record.model_copy(update={"seq": ticket.version + 1, "source": ticket.stage,
                                      "dest": ticket.stage, "spec_fingerprint": fingerprint})
    updates: dict[str, Any] = {"history": (*ticket.history, entry), "version": entry.seq}
    raised = record.payload.get("to")
    if record.payload.get("outcome") == "done" and isinstance(raised, str):
        updates["priority"] = raised
    return Ticket.model_validate({**ticket.model_dump(), **updates})


def _record(history: Sequence[AuditRecord] | None, texts: Sequence[str], seq: int) -> AuditRecord:
    if history is not None:
        return history[seq - 1]
    return AuditRecord.model_validate_json(texts[seq - 1])


def restart_position(history: Sequence[AuditRecord]) -> int:
    """The position of the last import or migration record (0: none): where a replay starts."""
    for position in range(len(history), 0, -1):
        if history[position - 1].trigger in _RESTARTS:
            return position
    return 0


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return f"its payload does not validate: {where}: {first['msg']}"
    text = " ".join(str(exc).split())
    # Errors name the ticket they were raised on, but a cached replay is shared by every ticket
    # with the same history: the plan names its own ticket, the reason must not name another.
    return text.removeprefix(f"ticket {getattr(exc, 'ticket_id', '')}: ")
