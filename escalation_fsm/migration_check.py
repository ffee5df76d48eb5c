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

Speed: each distinct step is replayed once, in a graph of replayed prefixes
(:mod:`escalation_fsm.migration_graph`): records are edges keyed by what can change the answer
(the trigger, the actor's role, the payload and the stages the record names), and two prefixes
that lead to the same ticket data (history, version and id aside) share one node, so 10,000
tickets of about 10 records mostly follow edges replayed already. A stored ticket is judged from
its texts (:meth:`MigrationCheck.check_texts`): an edge followed already costs a dictionary look-up
of the record's text after its time and actor, and only a record not followed yet is decoded. To
make prefixes meet, the cached replay fires every record as one fixed actor id at one fixed time
(the recorded role, trigger and payload are kept); the first record a ticket breaks at is fired
again with its recorded actor and time, so that the reason is the one a full replay gives.

That is exact as long as guards and effects read only the ticket's data (not its history or
version, the time or the actor's id), and guards only the ticket fields they declare, the payload
and the actor's role (a guard that reads no payload and declares no ticket fields makes the whole
ticket document part of the start's key; one that declares ``history``, ``version`` or ``id``
turns the sharing of nodes off, leaving the sharing of prefixes). The shipped guards and effects
qualify. ``cache=False`` replays every ticket in full, as recorded; tests check both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from .integrity import verify_ticket
from .migration_graph import RESTARTS, Node, PrefixGraph, keys_of
from .migration_plan import PlanStatus, Subject, TicketPlan
from .models import FOLLOW_UP_TRIGGER, AuditRecord, Ticket
from .policy import EscalationPolicy

__all__ = ["MigrationCheck", "PlanStatus", "TicketPlan", "restart_position"]

_MARKERS = tuple(f',"trigger":"{t}",' for t in RESTARTS)
_Replay = tuple[Ticket | str, int, Sequence[AuditRecord] | None, str]
"""What a replay of one ticket needs again: its base, start, decoded history or record texts."""


class MigrationCheck(PrefixGraph):
    """Replays ticket histories under a migration's target spec, sharing common prefixes.

    ``policy`` is the escalation policy the new machine judges with (default: the default
    policy); ``cache=False`` replays every ticket in full; at most ``max_nodes`` replayed records
    are remembered, and as many starting points (later ones are replayed without being kept).
    """

    def __init__(self, migration: Any, *, policy: EscalationPolicy | None = None,
                 cache: bool = True, max_nodes: int = 500_000) -> None:
        super().__init__(migration, policy=policy, cache=cache, max_nodes=max_nodes)
        self._covers: dict[str | None, bool] = {}
        self._lands: dict[str, str] = migration.stages
        source = migration.source_fingerprint
        self._quick_spec = (source if cache and not self._whole and source != self.fingerprint
                            else "")
        """The spec whose tickets :meth:`_quick` may judge ("": none)."""

    # -- the two ways in: a decoded ticket, or a stored one's texts ------------------------------

    def check(self, ticket: Ticket, base: Ticket | None = None) -> TicketPlan:
        """The plan for ``ticket``.

        ``base`` is the ticket as of an earlier version, at or after its last import or migration
        record, whose data the replay starts from (default: as created, for a ticket without
        history).
        """
        subject = Subject(ticket.id, ticket.stage, ticket.tier, ticket.version,
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
        early = self._before_base(subject, (base, 0, history, ""), restart_position(history),
                                  start)
        if early is not None:
            return early
        replay = (base, start, history, "")
        if not self.cache:
            return self._replay(subject, replay)
        keys = keys_of("\n".join(record.model_dump_json() for record in history))
        return self._walk(subject, replay, keys)

    def check_texts(self, ticket_id: str, *, stage: str, version: int, tier: int,
                    fingerprint: str | None, base_version: int, document: str,
                    records: Sequence[str] | str) -> TicketPlan | None:
        """The plan from a stored ticket's texts, or ``None`` when it needs decoding first.

        ``document`` is the ticket as created (at ``base_version``) and ``records`` the stored
        history texts, in order (a list, or one string of them joined by newlines). ``None`` for
        tickets of unknown spec, tickets migrated or imported after they were created, and texts
        that do not add up to ``version`` records: call :meth:`check` with the decoded ticket.
        ``ValueError``: a record text that does not parse.
        """
        if fingerprint == self._quick_spec and not base_version and isinstance(records, str):
            plan = self._quick(ticket_id, stage, version=version, tier=tier, document=document,
                               joined=records)
            if plan is not None:
                return plan
        subject = Subject(ticket_id, stage, tier, version, fingerprint)
        early = self._triage(subject)
        if early is not None:
            return early
        read = None if fingerprint is None else _keyed(records, version)
        if read is None:
            return None  # unknown spec, or rows missing or doubled: decoding says what is wrong
        joined, keys = read
        last = _restart_in(joined, keys)
        if last > base_version:
            return None  # imported or migrated since it was created
        replay = (document, base_version, None, joined)
        early = self._before_base(subject, replay, last, base_version) if base_version else None
        if early is not None:
            return early
        return self._walk(subject, replay, keys) if self.cache else self._replay(subject, replay)

    # -- internals ---------------------------------------------------------------------------------

    def _quick(self, ticket_id: str, stage: str, *, version: int, tier: int, document: str,
               joined: str) -> TicketPlan | None:
        """The plan of a clean ticket of the source spec replayed from its document, or ``None``.

        The hot path of a store's dry run: the general way's steps for the common case, inline
        (a ticket replayed from a document not met yet, or that breaks, or anything unusual:
        ``None``, and the general way, which says the same, judges it).
        """
        keys = keys_of(joined)
        if (len(keys) != version or joined.count("\n") != version - 1
                or _MARKERS[0] in joined or _MARKERS[1] in joined or stage not in self._lands):
            return None
        head = f'{{"id":{encode_basestring_ascii(ticket_id)},'
        node = self._documents.get(document[len(head):]) if document.startswith(head) else None
        if node is None or node.failure is not None:
            return None
        for key in keys:
            child = node.children.get(key)
            if child is None:
                child = self._grow(node, key)
            if child.failure is not None:
                return None
            node = child
        ticket = node.ticket
        if ticket is None or ticket.tier != tier:
            return None
        return TicketPlan(ticket_id, "clean", stage, self._lands[stage], version,
                          self._quick_spec)

    def _triage(self, subject: Subject) -> TicketPlan | None:
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
        covered = self._covers.get(fingerprint)
        if covered is None:
            covered = self._covers[fingerprint] = migration.covers(fingerprint)
        if not covered:
            return TicketPlan(ticket_id, "skipped", stage, None, version, fingerprint, reason=(
                "written under another spec than the migration's source" if fingerprint else
                "written before spec versions were recorded (adopt it: Migration(..., "
                "unknown=True))"))
        return None

    def _before_base(self, subject: Subject, replay: _Replay, first: int,
                     start: int) -> TicketPlan | None:
        """Check records ``first + 1 .. start``, which came with the ticket when it was stored.

        The data their guards saw is not stored (the store keeps the ticket as it was created,
        history included), so they are not fired again: each must be a transition of the new
        spec, from and to the stages they map to, by a role it allows. ``None``: they all are.
        """
        migration, target = self.migration, self.target
        for seq in range(first + 1, start + 1):
            record = _record(replay, seq)
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

    def _breaks(self, subject: Subject, seq: int | None, trigger: str | None,
                reason: str) -> TicketPlan:
        return TicketPlan(subject.ticket_id, "breaks", subject.stage,
                          self.migration.stages.get(subject.stage), subject.version,
                          subject.fingerprint, seq, trigger, reason)

    def _start_node(self, subject: Subject, replay: _Replay) -> Node | TicketPlan:
        """Where the replay of ``subject`` starts, or the plan when it cannot start."""
        if subject.stage not in self.migration.stages:
            return self._breaks(subject, None, None, f"its stage {subject.stage!r} is not a stage "
                                                     f"of {self.migration.source.label}")
        base, start = replay[0], replay[1]
        node = self._root(base, start, _record(replay, start) if start else None,
                          subject.ticket_id)
        if node.failure is not None:
            return self._breaks(subject, start or None, *node.failure)
        return node

    def _walk(self, subject: Subject, replay: _Replay, keys: list[str]) -> TicketPlan:
        """Follow records ``start + 1 ..`` (by their ``keys``) through the graph of prefixes."""
        node = self._start_node(subject, replay)
        if isinstance(node, TicketPlan):
            return node
        seq = start = replay[1]
        for key in keys[start:] if start else keys:
            seq += 1
            child = node.children.get(key) or self._grow(node, key)
            if child.failure is not None:
                return self._broke(subject, node, seq, replay)
            node = child
        return self._ends(subject, node)

    def _replay(self, subject: Subject, replay: _Replay) -> TicketPlan:
        """Replay records ``start + 1 ..`` in full, each by its recorded actor at its time."""
        node = self._start_node(subject, replay)
        if isinstance(node, TicketPlan):
            return node
        history, joined = replay[2], replay[3]
        count = len(history) if history is not None else joined.count("\n") + 1
        for seq in range(replay[1] + 1, count + 1):
            node = self._step(node, _record(replay, seq), exact=True)
            if node.failure is not None:
                return self._breaks(subject, seq, *node.failure)
        return self._ends(subject, node)

    def _ends(self, subject: Subject, node: Node) -> TicketPlan:
        """The plan of a ticket whose replay ends at ``node``: clean, unless the tier differs."""
        replayed = node.ticket
        assert replayed is not None  # noqa: S101 (a node without failure has a ticket)
        if replayed.tier != subject.tier:
            return self._breaks(subject, None, None, (
                f"its history leads to tier {replayed.tier} under the new spec, but the ticket "
                f"is at tier {subject.tier}"))
        return TicketPlan(subject.ticket_id, "clean", subject.stage,
                          self.migration.stages[subject.stage], subject.version,
                          subject.fingerprint)

    def _broke(self, subject: Subject, node: Node, seq: int, replay: _Replay) -> TicketPlan:
        """The plan of a ticket whose record ``seq`` breaks from ``node``.

        The reason is the one a full replay gives: the record is fired again by its recorded
        actor, at its recorded time, on the node's data under the ticket's id.
        """
        assert node.ticket is not None  # noqa: S101 (only nodes without failure get children)
        own = Node(node.ticket.model_copy(update={"id": subject.ticket_id}))
        failure = self._step(own, _record(replay, seq), exact=True).failure
        if failure is None:  # pragma: no cover (a guard or effect reads what the cache leaves out)
            return self._replay(subject, replay)
        return self._breaks(subject, seq, *failure)


def _keyed(records: Sequence[str] | str, version: int) -> tuple[str, list[str]] | None:
    """The records joined by newlines and their edge keys; ``None``: not ``version`` of them.

    Not one line each (a record with a newline), or a line without an actor's role: decoding
    says what is wrong.
    """
    if isinstance(records, str):
        joined = records
    elif len(records) != version:
        return None
    else:
        joined = "\n".join(records)
    keys = keys_of(joined)
    if len(keys) != version or joined.count("\n") != version - 1:
        return None
    return joined, keys


def _restart_in(joined: str, keys: list[str]) -> int:
    """The position of the last import or migration record (0: none), from the texts."""
    last = 0
    if any(marker in joined for marker in _MARKERS):  # one scan for the rare restart record
        for position, key in enumerate(keys, start=1):
            if any(marker in key for marker in _MARKERS):
                last = position
    return last


def _record(replay: _Replay, seq: int) -> AuditRecord:
    """Record ``seq`` of a replay's history: decoded already, or decoded from its text."""
    history, joined = replay[2], replay[3]
    if history is not None:
        return history[seq - 1]
    return AuditRecord.model_validate_json(joined.split("\n")[seq - 1])


def restart_position(history: Sequence[AuditRecord]) -> int:
    """The position of the last import or migration record (0: none): where a replay starts."""
    for position in range(len(history), 0, -1):
        if history[position - 1].trigger in RESTARTS:
            return position
    return 0
