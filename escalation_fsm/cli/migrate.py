"""``escalation-fsm migrate``: move a database's tickets to another version of the procedure.

``escalation-fsm migrate (--db FILE | --dsn DSN) --to REF [--from WHICH] [--map OLD=NEW ...]
[--unknown] [--dry-run] [--format table|json]`` judges every stored ticket by replaying its
history under the spec ``--to`` names (``default``, ``logged`` or ``module:attribute``) and, unless
``--dry-run``, writes one migration record per ticket that migrates cleanly
(:meth:`~escalation_fsm.stores.StoreBase.migrate`). The version moved from is ``--from``: a
fingerprint (or its first 6+ characters) of a spec the database recorded, or a spec reference;
without it, the one recorded version with tickets that is not the target (or the one other
recorded version, when no ticket is left on it: running the command twice moves nothing). Exit status 0: every
ticket of that version migrates (or did); 1: some break (listed); 2: the command could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError
from ..identity import SpecDescription, short, spec_fingerprint
from ..machine import EscalationMachine
from ..migration import Migration
from ..spec import MachineSpec
from ..stores import MigrationReport, StoreBase
from ._common import open_store, run, spec_of

__all__ = ["BROKEN", "add_migrate_command", "parse_maps", "render_table"]

BROKEN = 1
"""The exit status when some tickets of the source version do not migrate."""


def parse_maps(pairs: list[str], old: SpecDescription) -> tuple[dict[str, str], dict[str, str]]:
    """``--map`` values as (stages, triggers): ``old=new``, or ``stage:old=new`` / ``trigger:..``."""
    stages: dict[str, str] = {}
    triggers: dict[str, str] = {}
    for pair in pairs:
        name, sep, new = pair.partition("=")
        kind, colon, bare = name.partition(":")
        if not sep or not new or (colon and kind not in ("stage", "trigger")):
            raise UsageError(f"--map {pair!r}: write OLD=NEW, stage:OLD=NEW or trigger:OLD=NEW")
        if colon:
            (stages if kind == "stage" else triggers)[bare] = new
        elif name in old.stage_names and name in old.trigger_names:
            raise UsageError(f"--map {pair!r}: {name!r} is a stage and a trigger of "
                             f"{old.label}; write stage:{pair} or trigger:{pair}")
        elif name in old.trigger_names:
            triggers[name] = new
        else:
            stages[name] = new  # an unknown name is reported by Migration, with the others
    return stages, triggers


def _source(store: StoreBase, which: str | None, target: MachineSpec) -> SpecDescription:
    """The version to move tickets from (see the module docstring)."""
    recorded = [e for e in store.specs() if e.kind == "spec"]
    if which is not None and ":" not in which and which not in ("default", "logged"):
        found = [e for e in recorded if e.fingerprint and e.fingerprint.startswith(which.lower())]
        if len(which) < 6 or len(found) != 1 or found[0].description is None:
            listed = ", ".join(e.label for e in recorded) or "none"
            raise UsageError(f"--from {which!r} names no single usable recorded spec (give 6 or "
                             f"more characters of a fingerprint, or module:attribute); "
                             f"recorded: {listed}")
        return found[0].description
    if which is not None:
        loaded = spec_of(which)
        assert loaded is not None  # noqa: S101 (a reference was given)
        return SpecDescription.from_spec(loaded)
    fingerprint = spec_fingerprint(target)
    others = [e for e in recorded if e.fingerprint != fingerprint]
    others = [e for e in others if e.tickets] or others  # run twice: the old one, now empty
    if len(others) != 1 or others[0].description is None:
        listed = ", ".join(f"{e.label}: {e.tickets} ticket(s)" for e in others) or "none"
        raise UsageError(f"give --from: the database holds tickets of {len(others)} other "
                         f"version(s) than the target ({listed})")
    return others[0].description


def render_table(report: MigrationReport) -> str:
    """One line per ticket that does not migrate cleanly, the notes, then the counts."""
    lines = [f"{p.ticket_id}  {p.status}  {p.stage} -> {p.lands or '?'}  {p.why}"
             for p in (*report.plans, *report.refused) if p.status in ("breaks", "unreadable")]
    lines += [f"note: {note}" for note in report.notes]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
    what = "dry run" if report.dry_run else f"migrated {report.migrated}, already {report.already}"
    lines.append(f"{report.label} ({short(report.source)} -> {short(report.target)}): "
                 f"{len(report.plans)} ticket(s): {counts or 'none'}; {what}")
    return "\n".join(lines) + "\n"


def _migrate(args: argparse.Namespace) -> int:
    target = spec_of(args.to)  # every argument is read before the database changes
    assert target is not None  # noqa: S101 (--to is required)
    with open_store(args.db, args.dsn, readonly=True) as probe:
        recorded = probe.recorded_policy()
        old = _source(probe, args.source, target)
    stages, triggers = parse_maps(args.map, old)
    migration = Migration(old, target, stages=stages, triggers=triggers, unknown=args.unknown)
    machine = EscalationMachine(target, sla=recorded)
    with open_store(args.db, args.dsn, readonly=args.dry_run, machine=machine) as store:
        report = store.migrate(migration, dry_run=args.dry_run)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.as_record(), indent=2) + "\n")
    else:
        sys.stdout.write(render_table(report))
    return 0 if report.ok else BROKEN


def add_migrate_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``migrate`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "migrate", help="move a database's tickets to another version of the procedure",
        description="Replay every stored history under the new spec and report each ticket; "
                    "unless --dry-run, write one migration record per ticket that migrates.")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--to", metavar="REF", required=True,
                        help="the new procedure: default, logged or module:attribute")
    parser.add_argument("--from", dest="source", metavar="WHICH",
                        help="the version moved from: a recorded fingerprint (6+ characters) or "
                             "a spec reference (default: the one other recorded version)")
    parser.add_argument("--map", metavar="OLD=NEW", action="append", default=[],
                        help="where an old stage or trigger goes (stage:OLD=NEW or "
                             "trigger:OLD=NEW when a name is both); repeatable")
    parser.add_argument("--unknown", action="store_true",
                        help="also adopt tickets written before spec versions were recorded, "
                             "as written under --from")
    parser.add_argument("--dry-run", action="store_true",
                        help="only judge the tickets; write nothing (opens read-only)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or json (every ticket's plan)")
    parser.set_defaults(handler=lambda args: run("migrate", _migrate, args))
    return parser
