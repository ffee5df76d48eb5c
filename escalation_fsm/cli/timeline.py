"""``escalation-fsm timeline``: one ticket's full history, for a person (read-only).

``escalation-fsm timeline (--db FILE | --dsn DSN) TICKET_ID [--format text|markdown|html|json]
[--now ISO-TIME] [--policy FILE] [--spec REF] [-o FILE]`` reads the ticket from the store and
renders :func:`~escalation_fsm.timeline.ticket_timeline`: transitions, interactions, who, when,
business time between them, SLA deadlines met or breached, and the path on the procedure diagram
(HTML draws it as SVG when Graphviz is installed, and says so when it is not). The SLA policy is
the one recorded in the database unless ``--policy`` names another; either way nothing is written.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..clock import SystemClock
from ..machine import EscalationMachine
from ..timeline import TIMELINE_FORMATS, render_timeline, ticket_timeline
from ._common import instant, open_store, read_policy, reader_for, run, spec_of, write_out

__all__ = ["add_timeline_command"]


def _timeline(args: argparse.Namespace) -> int:
    # Every argument is read before the database is opened: a bad one leaves it untouched.
    spec = spec_of(args.spec)
    policy = None if args.policy is None else read_policy(args.policy)
    reader = reader_for(spec, args.db, args.dsn)
    with open_store(args.db, args.dsn, readonly=True, machine=reader) as store:
        ticket = store.get(args.ticket_id)
        machine = store.machine if policy is None else EscalationMachine(store.machine.spec,
                                                                         sla=policy)
    now = args.now if args.now is not None else SystemClock().now()
    timeline = ticket_timeline(ticket, machine, now=now, svg=args.format == "html")
    text = render_timeline(timeline, args.format)
    write_out(text, args.output)
    return 0


def add_timeline_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``timeline`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "timeline", help="one ticket's full history: transitions, interactions, SLA deadlines",
        description="Render one ticket's history for a person: transitions and interactions, who "
                    "and when, business time between them, SLA deadlines met or breached, and "
                    "its path on the procedure diagram. Read-only: it never writes.")
    parser.add_argument("ticket_id", metavar="TICKET_ID", help="the ticket to show")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--format", choices=TIMELINE_FORMATS, default="text",
                        help="text (terminal, default), markdown, html or json")
    parser.add_argument("--now", type=instant, metavar="TIME",
                        help="ISO 8601 time with a zone (default: the current time)")
    parser.add_argument("--policy", metavar="FILE",
                        help="measure with this SLA policy (JSON or TOML) instead of the one "
                             "recorded in the database")
    parser.add_argument("--spec", metavar="REF",
                        help="the procedure: default, logged or module:attribute (default: default)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(handler=lambda args: run("timeline", _timeline, args))
    return parser
