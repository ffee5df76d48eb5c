"""The dry run's shared replay: a graph of replayed prefixes, and one record fired under the new spec.

:class:`~escalation_fsm.MigrationCheck` (:mod:`escalation_fsm.migration_check`) walks each
ticket's history through this graph. Its nodes are the tickets a prefix of a history leads to
(or why the prefix's last record broke); its edges are records keyed by their text from the
actor's role on: role, trigger, stages, payload and spec (a record's sequence number, time and
actor id come before it in the stored JSON and are left out). Where a replay starts is keyed by
the values of the ticket fields the new spec's guards declare they read
(:attr:`~escalation_fsm.GuardSpec.ticket_fields`), or, for a replay from a ticket as created, by
its stored document after the id. Two prefixes that lead to the same ticket data (history, version
and id aside) share one node. A record not followed yet is fired through the machine as one fixed
actor id at one fixed time (the role, trigger and payload are the recorded ones), decoded from its
key alone; :meth:`PrefixGraph._step` fires a whole decoded record, by its recorded actor at its
recorded time when asked to be exact.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import ValidationError

from .bounds import MIGRATE_TRIGGER
from .clock import ManualClock
from .errors import EscalationError
from .integrity import imported_tier
from .jsondata import freeze_json
from .machine import EscalationMachine
from .models import FOLLOW_UP_TRIGGER, IMPORT_TRIGGER, Actor, AuditRecord, FrozenDict, Ticket
from .policy import EscalationPolicy

__all__ = ["RESTARTS", "Node", "PrefixGraph", "keys_of"]

RESTARTS = (IMPORT_TRIGGER, MIGRATE_TRIGGER)
"""The triggers of records a replay starts after (they stand for the state they brought)."""
_MARK = '"actor_role":'
_KEYS = re.compile(_MARK + r"([^\n]*)")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_REPLAYER = "migration-check"
"""The actor id the cached replay fires every record as (with the recorded role)."""
_UNKEYED: set[str] = {"history", "version", "id"}
"""Ticket fields a node's key leaves out (a guard that reads one turns the sharing of nodes off)."""


def keys_of(joined: str) -> list[str]:
    """The edge keys of records joined by newlines: each one's text after ``"actor_role":``.

    A line without it gives no key (callers compare the count with the number of records). In
    a record's JSON ``"actor_role":`` can only be the top-level key (quotes inside strings are
    escaped, and the role comes before the payload), so the key holds the role, trigger, stages,
    payload and spec and nothing before them.
    """
    return _KEYS.findall(joined)


class Node:
    """A replayed prefix: the ticket after it, or why its last record broke."""

    __slots__ = ("children", "failure", "ticket")

    def __init__(self, ticket: Ticket | None, failure: tuple[str, str] | None = None) -> None:
        self.ticket = ticket
        self.failure = failure
        """``(trigger, reason)`` of the record that broke."""
        self.children: dict[str, Node] = {}


class PrefixGraph:
    """The replayed prefixes of one migration's histories (the base of ``MigrationCheck``).

    ``cache=False`` keeps nothing (every replay fires every record); at most ``max_nodes``
    records are kept, and as many starting points.
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
        """How many replayed records are kept."""
        self._roots: dict[Any, Node] = {}
        guards = self.target.guards
        self._whole = any(g.ticket_fields is None and not g.uses_payload for g in guards)
        self._fields = sorted({f for g in guards for f in (g.ticket_fields or ())})
        self._merge = cache and not self._whole and not _UNKEYED & set(self._fields)
        """Whether prefixes that lead to the same ticket data share one node."""
        self._states: dict[str, Node] = {}
        self._documents: dict[str, Node] = {}
        self._decoded: dict[str, _Decoded] = {}
        """Each edge key decoded (few distinct ones: the same record follows many prefixes)."""

    def _grow(self, node: Node, key: str) -> Node:
        """Follow the record keyed ``key`` from ``node`` for the first time (kept if there is room)."""
        child = self._step_key(node, key)
        if self.nodes < self.max_nodes:
            child = self._shared(child)
            node.children[key] = child
            self.nodes += 1
        return child

    def _shared(self, node: Node) -> Node:
        """The node already kept for the same ticket data, or ``node`` (kept from now on)."""
        if not self._merge or node.ticket is None:
            return node
        state = node.ticket.model_dump_json(exclude=_UNKEYED)
        return self._states.setdefault(state, node)

    # -- where a replay starts ---------------------------------------------------------------------

    def _root(self, base: Ticket | str, start: int, record: AuditRecord | None,
              ticket_id: str) -> Node:
        """The replay's starting point: the base data, in the stage the history had reached.

        A replay from a ticket's document as created is looked up first by the document's text
        after its id (documents that differ only in the id start from the same node).
        """
        rest = None
        if start == 0 and isinstance(base, str) and self.cache and not self._whole:
            head = f'{{"id":{encode_basestring_ascii(ticket_id)},'
            if base.startswith(head):
                rest = base[len(head):]
                found = self._documents.get(rest)
                if found is not None:
                    return found
        node = self._root_of(base, start, record)
        if rest is not None and len(self._documents) < self.max_nodes:
            self._documents[rest] = node
        return node

    def _root_of(self, base: Ticket | str, start: int, record: AuditRecord | None) -> Node:
        data: dict[str, Any] = (json.loads(base) if isinstance(base, str)
                                else base.model_dump(mode="json", exclude={"history"}))
        if self._whole:
            projection = base if isinstance(base, str) else json.dumps(data, sort_keys=True)
        else:
            projection = json.dumps([data.get(f) for f in self._fields], sort_keys=True)
        restart = record is not None and record.trigger in RESTARTS
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
               tier: Any) -> Node:
        fields = {name: value for name, value in data.items()
                  if name not in ("history", "version", "stage", "tier")}
        target, migration = self.target, self.migration
        if start == 0:
            mapped = migration.stage_of(migration.source.initial)
            if mapped != target.initial:
                return Node(None, ("", f"the new spec starts tickets in {target.initial!r}, but "
                                       f"the migration maps the old initial stage "
                                       f"{migration.source.initial!r} to {mapped!r}"))
            return Node(Ticket.model_validate({**fields, "stage": target.initial, "tier": 1}))
        assert record is not None  # noqa: S101 (start > 0 comes with its record)
        stage = migration.stages.get(record.dest)
        if stage is None:
            return Node(None, (record.trigger, f"it enters stage {record.dest!r}, which "
                                               f"{migration.source.label} does not have"))
        entry = AuditRecord(seq=1, at=record.at, actor_id=record.actor_id,
                            actor_role=record.actor_role, trigger=IMPORT_TRIGGER,
                            source=target.initial, dest=stage, payload=FrozenDict(),
                            spec_fingerprint=self.fingerprint)
        try:
            ticket = Ticket.model_validate({**fields, "stage": stage, "tier": tier or 1,
                                            "history": (entry,), "version": 1})
        except ValidationError as exc:  # pragma: no cover (stored data was valid)
            return Node(None, (record.trigger, f"its data does not validate: {exc}"))
        return Node(ticket)

    # -- one record fired under the new spec -------------------------------------------------------

    def _step_key(self, node: Node, key: str) -> Node:
        """Fire the record keyed ``key`` as the cached replay does: one actor id, one time.

        The key is decoded alone (a JSON object without sequence number, time and actor id); its
        payload is made read-only as a decoded record's is. ``ValueError`` if it does not parse.
        """
        decoded = self._decoded.get(key)
        if decoded is None:
            decoded = _decode_key(key)
            if len(self._decoded) < self.max_nodes:
                self._decoded[key] = decoded
        if isinstance(decoded, AuditRecord):  # rare: decoded whole, as the exact replay does
            return self._step(node, decoded, exact=False)
        trigger, role, dest, payload = decoded
        return self._fire(node, trigger, role, dest, payload, at=_EPOCH, actor_id=_REPLAYER)

    def _step(self, node: Node, record: AuditRecord, *, exact: bool) -> Node:
        """Fire one decoded record on the node's ticket under the new spec.

        ``exact``: by the recorded actor at the recorded time; else by one fixed actor id (with
        the recorded role) at one fixed time, so that equal prefixes give equal ticket data.
        """
        ticket = node.ticket
        assert ticket is not None  # noqa: S101 (only nodes without failure get children)
        if record.trigger == FOLLOW_UP_TRIGGER:  # the SLA ladder's record: carried as it is
            return Node(_followed_up(ticket, record, self.fingerprint))
        return self._fire(node, record.trigger, record.actor_role, record.dest, record.payload,
                          at=record.at if exact else _EPOCH,
                          actor_id=record.actor_id if exact else _REPLAYER)

    def _fire(self, node: Node, old_trigger: str, role: str, old_dest: str, payload: Any, *,
              at: datetime, actor_id: str) -> Node:
        migration = self.migration
        ticket = node.ticket
        assert ticket is not None  # noqa: S101 (only nodes without failure get children)
        if old_trigger in RESTARTS:  # pragma: no cover (the walk starts after the last one)
            return Node(None, (old_trigger, "an import or migration record mid-way"))
        trigger = migration.trigger_of(old_trigger)
        self._clock.set(at)
        try:
            result = self.machine.transition(ticket, trigger, actor=Actor(id=actor_id, role=role),
                                             **payload)
        except (EscalationError, ValidationError) as exc:
            return Node(None, (old_trigger, _one_line(exc)))
        except Exception as exc:  # noqa: BLE001 (host guards and effects on old data: reported)
            return Node(None, (old_trigger, f"{type(exc).__name__}: {_one_line(exc)}"))
        expected = migration.stages.get(old_dest)
        entered = result.ticket.stage
        if entered != expected:
            return Node(None, (old_trigger, (
                f"under the new spec {trigger!r} from {ticket.stage!r} enters {entered!r}, but "
                f"the migration maps the stage it entered, {old_dest!r}, to {expected!r}")))
        return Node(result.ticket)


_Decoded = tuple[str, str, str, Any] | AuditRecord
"""A key decoded: trigger, role, stage entered and read-only payload (a follow-up: its record)."""


def _decode_key(key: str) -> _Decoded:
    """What the cached replay fires for the record keyed ``key``; ``ValueError`` if malformed."""
    data = json.loads("{" + _MARK + key)
    trigger, role, dest = data.get("trigger"), data.get("actor_role"), data.get("dest")
    if not (isinstance(trigger, str) and isinstance(role, str) and isinstance(dest, str)
            and isinstance(data.get("payload", {}), dict)):
        raise ValueError("a record whose trigger, role, stage or payload is malformed")
    if trigger == FOLLOW_UP_TRIGGER:
        return AuditRecord.model_validate({**data, "seq": 1, "at": _EPOCH, "actor_id": _REPLAYER})
    return trigger, role, dest, freeze_json(data.get("payload", {}))


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


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return f"its payload does not validate: {where}: {first['msg']}"
    text = " ".join(str(exc).split())
    # Errors name the ticket they were raised on, but a cached replay is shared by every ticket
    # with the same history: the plan names its own ticket, the reason must not name another.
    return text.removeprefix(f"ticket {getattr(exc, 'ticket_id', '')}: ")
