"""``escalation-fsm specs``: the versions of the procedure a database holds tickets of.

``escalation-fsm specs (--db FILE | --dsn DSN) [--format table|json] [--show WHICH]`` lists every
spec the database recorded (name, version, fingerprint) with the number of tickets whose last
record was written under it, then tickets of unknown spec and tickets without history. ``--show``
prints one recorded spec's stored description as JSON (a fingerprint or its first 6+ characters):
an old version, without its code. Opens the database read-only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError
from ..identity import short
from ..stores import SpecVersion
from ._common import open_store, run

__all__ = ["add_specs_command", "render_table"]


def render_table(entries: tuple[SpecVersion, ...]) -> str:
    """One line per version: tickets, fingerprint, label (and any problem)."""
    lines = [f"{e.tickets:>8}  {short(e.fingerprint) if e.fingerprint else '-':<12}  {e.label}"
             + (f"  ({e.problem})" if e.problem else "") for e in entries]
    return "\n".join([" tickets  fingerprint   version", *lines]) + "\n"


def _specs(args: argparse.Namespace) -> int:
    with open_store(args.db, args.dsn, readonly=True) as store:
        entries = store.specs()
    if args.show is not None:
        found = [e for e in entries if e.fingerprint and e.fingerprint.startswith(args.show.lower())]
        if len(args.show) < 6 or len(found) != 1 or found[0].description is None:
            raise UsageError(f"--show {args.show!r} names no single recorded spec with a usable "
                             f"description (give 6 or more characters of a fingerprint)")
        sys.stdout.write(found[0].description.model_dump_json(indent=2) + "\n")
    elif args.format == "json":
        sys.stdout.write(json.dumps([e.as_record() for e in entries], indent=2) + "\n")
    else:
        sys.stdout.write(render_table(entries))
    return 0


def add_specs_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``specs`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "specs", help="list the procedure versions a database holds tickets of",
        description="List each recorded spec version with its ticket count (read-only).")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or json")
    parser.add_argument("--show", metavar="FINGERPRINT",
                        help="print this recorded spec's description as JSON")
    parser.set_defaults(handler=lambda args: run("specs", _specs, args))
    return parser
