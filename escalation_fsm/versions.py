"""What a machine knows of the other versions of its procedure, and which tickets it goes on with.

Every audit record carries the fingerprint of the spec it was written under. A machine goes on
with a ticket whose last record carries its own spec's fingerprint, or one its spec declares
itself compatible with (``MachineSpec.compatible_with``) *and* that is: the older spec's stages,
triggers and transitions all exist unchanged in it (:func:`~escalation_fsm.spec_diff.spec_diff`,
computed, never taken on trust). Any other ticket raises
:class:`~escalation_fsm.errors.SpecMismatch` naming both versions, unless a
:class:`~escalation_fsm.migration.Migration` from its spec is registered, which stores apply on
the way (``store.apply``, ``store.migrate``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import MigrationError, SpecMismatch
from .identity import SpecDescription, describe, spec_fingerprint, spec_label
from .spec import MachineSpec
from .spec_diff import spec_diff

if TYPE_CHECKING:
    from .migration import Migration
    from .models import Ticket

__all__ = ["SpecVersions"]


class SpecVersions:
    """The versions of a spec one machine knows: descriptions, migrations, and those it continues.

    ``known`` maps fingerprints to descriptions (the machine's own spec, the sources of its
    migrations, and what stores recorded); ``accepted`` holds the fingerprints whose tickets the
    machine goes on with as they are.
    """

    __slots__ = ("_refusals", "accepted", "fingerprint", "known", "migrations", "spec")

    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self.fingerprint = spec_fingerprint(spec)
        self.known: dict[str, SpecDescription] = {self.fingerprint: describe(spec)}
        self.accepted: set[str | None] = {self.fingerprint}
        self.migrations: dict[str | None, Migration] = {}
        """Registered migrations to this spec, by the fingerprint they move tickets from
        (``None``: records written before spec versions were recorded)."""
        self._refusals: dict[str, tuple[str, ...]] = {}

    def know(self, *specs: MachineSpec | SpecDescription) -> None:
        """Remember what these specs are (to name them, and to check declared compatibility)."""
        for spec in specs:
            description = describe(spec)
            if not description.problems():
                self.known.setdefault(description.fingerprint, description)

    def register(self, migration: Migration) -> None:
        """Move tickets written under ``migration``'s source onto this spec when met.

        Raises :class:`~escalation_fsm.errors.MigrationError` when its target is not this spec.
        """
        if migration.target_fingerprint != self.fingerprint:
            raise MigrationError([
                f"the migration {migration.label} ends at fingerprint "
                f"{migration.target_fingerprint[:12]}, not at this machine's spec "
                f"({self.label(self.fingerprint)}); chain migrations with Migration.then"])
        self.know(migration.source)
        self.migrations[migration.source_fingerprint] = migration
        if migration.unknown:
            self.migrations[None] = migration

    def migration_from(self, fingerprint: str | None) -> Migration | None:
        """The registered migration that moves tickets written under ``fingerprint``, if any."""
        return self.migrations.get(fingerprint)

    def label(self, fingerprint: str | None) -> str:
        """The version a fingerprint names, as far as this machine knows it."""
        known = None if fingerprint is None else self.known.get(fingerprint)
        if known is None:
            return spec_label(None, None, fingerprint)
        return known.label

    def check(self, ticket: Ticket) -> None:
        """Go on with ``ticket`` (its spec is accepted now), or raise :class:`SpecMismatch`."""
        found = ticket.spec_fingerprint
        if found in self.accepted:
            return
        reasons: tuple[str, ...] = ()
        if found is not None:
            reasons = self._refusals.get(found) or self._compatibility(found)
            if not reasons:
                self.accepted.add(found)
                return
        if found in self.migrations:
            reasons = (*reasons, f"a migration from it is registered "
                                 f"({self.migrations[found].label}): apply it through a store "
                                 f"(store.apply migrates the ticket on the way, store.migrate all "
                                 f"of them)")
        raise SpecMismatch(ticket_id=ticket.id, found=found, expected=self.fingerprint,
                           found_label=self.label(found), expected_label=self.label(self.fingerprint),
                           reasons=reasons)

    def _compatibility(self, found: str) -> tuple[str, ...]:
        """Why the spec does not continue ``found`` (empty: it declares so, and it does)."""
        old = self.known.get(found)
        declared = self.spec.compatible_with
        if old is None:
            return ("the machine does not know that version (stores tell it the versions they "
                    "recorded; machine.versions.know(spec) does too)",)
        if not (found in declared or (old.name == self.spec.name and old.version in declared)):
            return (f"{self.spec.name} v{self.spec.version} does not declare itself "
                    f"compatible_with it",)
        problems = spec_diff(old, self.spec).incompatibilities()
        reasons = tuple(f"declared compatible_with {old.name} v{old.version}, but {problem}"
                        for problem in problems)
        if reasons:
            self._refusals[found] = reasons
        return reasons
