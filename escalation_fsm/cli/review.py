"""``escalation-fsm review``: the review report of the tickets a store holds (read-only).

``escalation-fsm review (--db FILE | --dsn DSN) [--since DATE] [--until DATE]
[--format table|markdown|json|html] [-o FILE] [--sla recorded|none|FILE] [--teams FILE]
[--pseudonymise] [--min-tickets N] [--spec REF]`` streams the stored histories into the same
report as ``escalation-fsm replay`` (see :func:`escalation_fsm.review.review_store`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..replay import FORMATS, render_report
from ..review import review_store
from ..sla import SLAPolicy
from ._common import (
    count,
    day_or_instant,
    open_store,
    read_policy,
    read_teams,
    reader_for,
    run,
    spec_of,
    write_out,
)

__all__ = ["add_review_command"]


def _sla(option: str) -> SLAPolicy | str | None:
    if option in ("recorded", "none"):
        return "recorded" if option == "recorded" else None
    if not Path(option).is_file():
        raise UsageError(f"--sla {option!r}: no such file (give a TOML or JSON SLA policy, "
                         f"'recorded' or 'none')")
    return read_policy(option)


def _name(args: argparse.Namespace) -> str:
    if args.db is not None:
        return str(args.db)
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", str(args.dsn))  # never a password


def _review(args: argparse.Namespace) -> int:
    # Every argument is read before the database is opened: a bad one leaves it untouched.
    sla, spec = _sla(args.sla), spec_of(args.spec)
    teams = None if args.teams is None else read_teams(args.teams)
    if args.since is not None and args.until is not None and args.until <= args.since:
        raise UsageError(f"--until {args.until.isoformat()} is not after --since "
                         f"{args.since.isoformat()}")
    reader = reader_for(spec, args.db, args.dsn)
    with open_store(args.db, args.dsn, readonly=True, machine=reader) as store:
        report = review_store(store, since=args.since, until=args.until, sla=sla, teams=teams,
                              pseudonymise=args.pseudonymise, min_tickets=args.min_tickets,
                              svg=args.format == "html", name=_name(args))
    text = render_report(report, args.format)
    write_out(text, args.output)
    return 0


def add_review_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``review`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "review", help="the review report (trends, training opportunities) of a ticket database",
        description="Review the tickets a database holds: the same report as a replay "
                    "(conformance, first-contact resolution, escalation and reopen rates, time to "
                    "resolution, SLA breaches, by category, priority and month) and training "
                    "opportunities. Read-only: it never writes.")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--since", type=day_or_instant, metavar="DATE",
                        help="only tickets opened at or after this date (UTC) or time")
    parser.add_argument("--until", type=day_or_instant, metavar="DATE",
                        help="only tickets opened before this date (UTC) or time")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="report format (default: table)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--sla", metavar="FILE", default="recorded",
                        help="the SLA policy for breach rates: 'recorded' (the database's, the "
                             "default), 'none', or a TOML or JSON file")
    parser.add_argument("--teams", metavar="FILE",
                        help="a JSON or TOML file mapping agent ids to teams")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="replace agent ids in the training section (for reports that leave "
                             "the team)")
    parser.add_argument("--min-tickets", type=count, default=10, metavar="N",
                        help="the fewest tickets on each side of a comparison (default: 10)")
    parser.add_argument("--spec", metavar="REF",
                        help="the procedure: default, logged or module:attribute (default: default)")
    parser.set_defaults(handler=lambda args: run("review", _review, args))
    return parser
