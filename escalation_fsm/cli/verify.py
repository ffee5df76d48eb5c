"""``escalation-fsm verify``: check every ticket of a database against its hash chain and spec.

``escalation-fsm verify (--db FILE | --dsn DSN) [--spec REF] [--format table|json]`` opens the
database read-only and reports each ticket whose row, document or history was changed outside
the library (the first history row that does not match), or whose history the spec does not
allow. Exit status 0: every ticket is as the library wrote it; 1: problems were found (listed on
standard output); 2: the command could not run (one line on standard error).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..machine import EscalationMachine
from ..stores import StoreVerification
from ._common import open_store, run, spec_of

__all__ = ["FOUND", "add_verify_command", "render_json", "render_table"]

FOUND = 1
"""The exit status when the check ran and found problems."""


def render_table(report: StoreVerification) -> str:
    """One line per problem, then a summary line."""
    lines = [f"{problem.ticket_id}  "
             f"{'record ' + str(problem.seq) if problem.seq is not None else 'ticket'}  "
             f"{problem.check}: {problem.message}" for problem in report.problems]
    bad = len(report.tickets)
    lines.append(f"checked {report.checked} ticket(s): "
                 + ("all as the library wrote them" if report.ok else f"{bad} with problems"))
    return "\n".join(lines) + "\n"


def render_json(report: StoreVerification) -> str:
    """The same as JSON: ``{"checked": n, "ok": bool, "problems": [...]}``."""
    document: dict[str, Any] = {
        "checked": report.checked, "ok": report.ok,
        "problems": [{"ticket_id": p.ticket_id, "seq": p.seq, "check": p.check,
                      "message": p.message} for p in report.problems],
    }
    return json.dumps(document, indent=2) + "\n"


def _verify(args: argparse.Namespace) -> int:
    machine = None
    if args.spec is not None:
        spec = spec_of(args.spec)  # before the database is opened: a bad one leaves it untouched
        with open_store(args.db, args.dsn, readonly=True) as probe:
            recorded = probe.recorded_policy()
        machine = EscalationMachine(spec, sla=recorded)
    with open_store(args.db, args.dsn, readonly=True, machine=machine) as store:
        report = store.verify()
    sys.stdout.write((render_json if args.format == "json" else render_table)(report))
    return 0 if report.ok else FOUND


def add_verify_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``verify`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "verify", help="check every ticket of a database against its hash chain and the spec",
        description="Report every ticket whose row, document or history was changed outside the "
                    "library, or whose history the spec does not allow. Read-only. Exit status "
                    "1 when problems were found.")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--spec", metavar="REF",
                        help="the procedure: default, logged or module:attribute (default: default)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=lambda args: run("verify", _verify, args))
    return parser
