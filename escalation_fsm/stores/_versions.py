"""What every store does about versions of the procedure: specs seen, tickets met, migrations.

* The store records each spec it writes under (name, version, fingerprint, description) and tells
  its machine about the ones it holds, so errors name them and a spec's declared compatibility
  can be checked (:meth:`Versions.specs` lists them with their ticket counts).
* ``apply`` on a ticket written under another version moves it on the way when the machine has
  a migration registered from it (:meth:`Versions._onto_spec`).
* :meth:`Versions.migrate` judges every stored ticket (a dry run: each history replayed under the
  new spec, reading the stored texts, with a prefix cache) and, unless asked for the dry run only,
  writes one migration record per clean ticket, each with its own compare-and-swap: resumable
  after a crash, idempotent when run twice, and safe beside live writers.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

from ..errors import ConcurrentUpdate, CorruptTicket
from ..identity import SpecDescription, short
from ..migration import Migration
from ..migration_check import MigrationCheck, TicketPlan, restart_position
from ..models import Ticket, evolve
from ..spec import MachineSpec
from ._codec import StoredTicket, decode
from ._dry_run_read import HistoryTexts, texts_of
from ._reports import MigrationReport, SpecVersion
from ._types import Known, StoreStats, Write

if TYPE_CHECKING:
    from ..machine import EscalationMachine
    from ..sla import ClockState

__all__ = ["Versions"]


class Versions(ABC):
    """The versions half of :class:`~escalation_fsm.stores.StoreBase` (see the module docstring)."""

    readonly: bool
    max_attempts: int
    stats: StoreStats
    _noted: set[str]

    @property
    @abstractmethod
    def machine(self) -> EscalationMachine:
        """The machine the store fires through."""

    # -- the specs a store has seen -------------------------------------------------------------

    def specs(self) -> tuple[SpecVersion, ...]:
        """The versions of the procedure the store holds tickets of, with their ticket counts.

        Recorded specs first (in the order recorded), then tickets of unknown spec (written
        before versions were recorded) and tickets without history, when there are any. Reads
        only.
        """
        counts: dict[tuple[str | None, bool], int] = {}
        for fingerprint, has_history, count in self._spec_counts():
            counts[fingerprint, has_history] = counts.get((fingerprint, has_history), 0) + count
        found: list[SpecVersion] = []
        listed: set[str] = set()
        for fingerprint, name, version, text in self._spec_rows():
            description, problem = _described(fingerprint, text)
            listed.add(fingerprint)
            found.append(SpecVersion("spec", fingerprint, name, version,
                                     counts.get((fingerprint, True), 0), description, problem))
        found += [SpecVersion("spec", fingerprint, None, None, count,
                              problem="not in the table of specs (written by another store?)")
                  for (fingerprint, has_history), count in counts.items()
                  if fingerprint is not None and has_history and fingerprint not in listed]
        for kind, key in (("unknown", (None, True)), ("new", (None, False))):
            if counts.get(key):
                found.append(SpecVersion(kind, None, None, None, counts[key]))  # type: ignore[arg-type]
        return tuple(found)

    def _note_spec(self, machine: EscalationMachine, fingerprint: str | None) -> None:
        """Record the spec ``fingerprint`` names, once per store object, if the machine knows it."""
        if fingerprint is None or fingerprint in self._noted or self.readonly:
            return
        description = machine.versions.known.get(fingerprint)
        if description is None:
            self._teach(machine)  # maybe the table has it (recorded by another process)
            return
        # Wall-clock time: when it was recorded is bookkeeping, not ticket history (and reading the
        # machine's clock would move a ManualClock).
        self._record_spec(description, datetime.now(UTC))
        self._noted.add(fingerprint)

    def _teach(self, machine: EscalationMachine) -> None:
        """Tell ``machine`` the specs this store recorded (sound descriptions only)."""
        for fingerprint, _, _, text in self._spec_rows():
            description = _described(fingerprint, text)[0]
            if description is not None:
                machine.versions.know(description)
                self._noted.add(fingerprint)

    # -- meeting a ticket of another version ----------------------------------------------------

    def _onto_spec(self, ticket: Ticket) -> Ticket:
        """``ticket`` as the machine may go on with it, or :class:`SpecMismatch`.

        Moved along a registered migration, or as it is if the spec continues its version.
        """
        machine = self.machine
        versions = machine.versions
        found = ticket.spec_fingerprint
        if found is not None and found not in versions.known:
            self._teach(machine)
        migration = versions.migration_from(found)
        if migration is None:
            versions.check(ticket)
            return ticket
        return migration.migrate(ticket, machine, self._base_of(ticket))

    def _base_of(self, ticket: Ticket) -> Ticket:
        """The stored ticket as of where a replay of its history starts (see MigrationCheck)."""
        stored = self._stored(ticket.id, 0)
        if stored is None:  # pragma: no cover (the ticket was read a moment ago)
            raise CorruptTicket(ticket_id=ticket.id, reason="it disappeared while being read")
        start = max(stored.base_version or 0, restart_position(ticket.history))
        return decode(stored, upto=start)[0]

    # -- migrating every ticket -----------------------------------------------------------------

    def migrate(self, migration: Migration, *, dry_run: bool = False, batch_size: int = 500,
                cache: bool = True) -> MigrationReport:
        """Judge every stored ticket under ``migration`` and, unless ``dry_run``, move them.

        The dry run replays each history under the target spec through the machine
        (:class:`~escalation_fsm.MigrationCheck`: ``cache=False`` replays every ticket in full)
        and plans each ticket: ``clean`` (and the stage it lands in), ``breaks`` (the first record
        the new spec refuses, and why), ``done``, ``skipped`` (another spec's) or ``unreadable``.
        Applying then writes, per clean ticket, one migration record (trigger ``migrate``, actor
        ``system``), each with its own compare-and-swap: live writers go on meanwhile, a ticket
        changed since the dry run is judged again, one moved already is counted and left alone,
        and running it again (after a crash, say) moves only what is left. Returns a
        :class:`~escalation_fsm.stores.MigrationReport`.
        """
        if not dry_run and self.readonly:
            self._refuse(f"migrate tickets ({migration.label})")
        started = time.perf_counter()
        machine = self.machine
        self._teach(machine)
        check = (migration.checker(machine) if cache else
                 MigrationCheck(migration, policy=machine.policy, cache=False))
        plans = self._plan_all(check, batch_size)
        outcome: dict[str, object] = {"notes": tuple(migration.notes())}
        if not dry_run:
            outcome.update(self._apply_migration(migration, check, plans))
        return MigrationReport.of(migration.label, migration.source_fingerprint,
                                  migration.target_fingerprint, dry_run=dry_run, plans=plans,
                                  seconds=time.perf_counter() - started, **outcome)

    def adopt(self, spec: MachineSpec | None = None, *, dry_run: bool = False) -> MigrationReport:
        """Say that ``spec`` (default: the machine's) wrote the tickets of unknown spec.

        For tickets whose records were written before spec versions were recorded: each history
        is checked against ``spec`` and replayed under it, and a clean one gets a migration record
        that names ``spec`` (the other tickets are left alone). The same as
        ``migrate(Migration(spec, spec, unknown=True))``.
        """
        target = self.machine.spec if spec is None else spec
        return self.migrate(Migration(target, target, unknown=True), dry_run=dry_run)

    def _texts_page(self, after: str | None, size: int) -> list[HistoryTexts]:
        """Up to ``size`` tickets as the dry run reads them (SQL stores read only these texts)."""
        return [texts_of(stored) for stored in self._stored_page(after, size)]

    def _plan_all(self, check: MigrationCheck, size: int) -> list[TicketPlan]:
        """The plans of every stored ticket, by id, a page of ``size`` at a time.

        The next page is read by a second thread while this one's are planned (reading is mostly
        the database's work, which lets go of the GIL); before a page's undecodable tickets are
        read again, that read is waited for, so the store's connection is never used by both.
        """
        plans: list[TicketPlan] = []
        after: str | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dry-run-read") as reader:
            pending: Future[list[HistoryTexts]] | None = reader.submit(self._texts_page, None, size)
            while pending is not None:
                batch = pending.result()
                pending = (reader.submit(self._texts_page, batch[-1].id, size)
                           if len(batch) == size else None)
                found = [self._plan_texts(texts, check) for texts in batch]
                if any(plan is None for plan in found):
                    if pending is not None:
                        wait((pending,))
                    found = self._plan_page(batch, after, check, found)
                plans += found  # type: ignore[arg-type]  # no None left
                after = batch[-1].id if batch else after
        return plans

    def _plan_page(self, batch: list[HistoryTexts], after: str | None, check: MigrationCheck,
                   found: list[TicketPlan | None]) -> list[TicketPlan | None]:
        """The plans of a page, those ``found`` from the texts and the others decoded.

        The tickets not judged from their texts are read in full: the page read again when there
        are several, else one by one.
        """
        left = sum(plan is None for plan in found)
        full = {s.id: s for s in self._stored_page(after, len(batch))} if left > 1 else {}
        return [plan if plan is not None else
                self._plan_stored(texts, full.get(texts.id) or self._stored(texts.id, 0), check)
                for texts, plan in zip(batch, found, strict=True)]

    @staticmethod
    def _plan_texts(texts: HistoryTexts, check: MigrationCheck) -> TicketPlan | None:
        """The plan for one stored ticket from its texts, or ``None``: it must be decoded."""
        if texts.document is None or texts.base_version is None or texts.records is None:
            return None
        try:
            return check.check_texts(
                texts.id, stage=texts.stage, version=texts.version, tier=texts.tier,
                fingerprint=texts.spec, base_version=texts.base_version,
                document=texts.document, records=texts.records)
        except ValueError:  # a text that does not parse: decoding says what is wrong
            return None

    def _plan_stored(self, texts: HistoryTexts, stored: StoredTicket | None,
                     check: MigrationCheck) -> TicketPlan:
        """The plan for one stored ticket read in full and decoded."""
        if stored is None:  # deleted since the page was read (stores never delete tickets)
            return TicketPlan(texts.id, "unreadable", texts.stage, None, texts.version,
                              texts.spec, None, None, "it disappeared while being read")
        try:
            ticket = decode(stored)[0]
            start = max(stored.base_version or 0, restart_position(ticket.history))
            base = ticket if start == ticket.version else decode(stored, upto=start)[0]
        except CorruptTicket as exc:
            return TicketPlan(stored.id, "unreadable", stored.stage, None, stored.version,
                              stored.spec, exc.seq, None, exc.reason)
        return check.check(ticket, base)

    def _apply_migration(self, migration: Migration, check: MigrationCheck,
                         plans: list[TicketPlan]) -> dict[str, object]:
        machine = self.machine
        self._note_spec(machine, migration.target_fingerprint)
        if migration.target_fingerprint not in self._noted:
            machine.versions.know(migration.target)
            self._note_spec(machine, migration.target_fingerprint)
        migrated = already = 0
        refused: list[TicketPlan] = []
        for plan in plans:
            if plan.status != "clean":
                continue
            outcome = self._migrate_one(plan, migration, check)
            if outcome is None:
                migrated += 1
            elif outcome.status == "done":
                already += 1
            else:
                refused.append(outcome)
        return {"migrated": migrated, "already": already, "refused": tuple(refused)}

    def _migrate_one(self, plan: TicketPlan, migration: Migration,
                     check: MigrationCheck) -> TicketPlan | None:
        """Move one ticket (``None``), or the plan that says why not now."""
        machine = self.machine
        ticket_id = plan.ticket_id
        for _ in range(self.max_attempts):
            known = self._read(ticket_id)
            ticket = known.ticket
            if ticket.version != plan.version or ticket.spec_fingerprint != plan.fingerprint:
                plan = check.check(ticket, self._base_of(ticket) if ticket.history else None)
                if plan.status != "clean":
                    return plan
            record = migration.record(ticket, at=machine.clock.now())
            new = evolve(ticket, {"stage": record.dest, "history": (*ticket.history, record),
                                  "version": record.seq})
            clocks = known.clocks.after(record, machine.sla, {})
            due = self._due_of(new, clocks)
            old_due = known.due if known.due_known else self._due_of(ticket, known.clocks)
            write = Write((record,), changes=None, key=None, previous=known.head or "",
                          clocks=clocks, due=due, due_moved=due != old_due)
            if self._swap(ticket, new, write):
                self._remember(Known(new, clocks, known.document, due, write.hash, due_known=True))
                return None
            self.stats.conflicts += 1
        raise ConcurrentUpdate(ticket_id=ticket_id, trigger="migrate", expected_version=plan.version,
                               attempts=self.max_attempts)

    # -- what the store provides ----------------------------------------------------------------

    @abstractmethod
    def _refuse(self, what: str) -> NoReturn:
        """Raise :class:`~escalation_fsm.errors.StoreReadOnly`."""

    @abstractmethod
    def _read(self, ticket_id: str) -> Known:
        """Read one ticket (see StoreBase)."""

    @abstractmethod
    def _remember(self, known: Known) -> None:
        """Remember a ticket as read or written."""

    @abstractmethod
    def _due_of(self, ticket: Ticket, clocks: ClockState) -> datetime | None:
        """The ticket's indexed next deadline."""

    @abstractmethod
    def _stored(self, ticket_id: str, after: int) -> StoredTicket | None:
        """One ticket as stored (see StoreBase)."""

    @abstractmethod
    def _stored_page(self, after: str | None, size: int) -> list[StoredTicket]:
        """Up to ``size`` tickets as stored, ids greater than ``after``, by id."""

    @abstractmethod
    def _swap(self, current: Ticket, new: Ticket, write: Write) -> bool:
        """Compare-and-swap (see StoreBase)."""

    @abstractmethod
    def _record_spec(self, description: SpecDescription, at: datetime) -> None:
        """Add a spec to the table of specs seen, unless it is there already."""

    @abstractmethod
    def _spec_rows(self) -> list[tuple[str, str, str, str]]:
        """The specs seen: fingerprint, name, version and description JSON, in recorded order."""

    @abstractmethod
    def _spec_counts(self) -> list[tuple[str | None, bool, int]]:
        """Ticket counts by spec fingerprint and whether they have history."""


def _described(fingerprint: str, text: str) -> tuple[SpecDescription | None, str | None]:
    """A recorded description, checked against its fingerprint, or why it cannot be used."""
    try:
        description = SpecDescription.model_validate_json(text)
    except ValueError as exc:
        return None, f"its description does not read: {type(exc).__name__}"
    problems = description.problems()
    if description.fingerprint != fingerprint:
        problems.append(f"its description is of {short(description.fingerprint)}, not of "
                        f"{short(fingerprint)}")
    return (None, "; ".join(problems)) if problems else (description, None)

