"""``escalation-fsm follow-up``: what is due or breached in a ticket database (read-only).

``escalation-fsm follow-up (--db FILE | --dsn DSN) [--now ISO-TIME] [--format table|json]
[--policy FILE] [--spec REF] [--limit N]`` asks the store's deadline index for the tickets whose
next deadline falls at or before ``--now`` (default: the current time), computes their deadlines
from their history under the store's recorded SLA policy, and lists every open clock that is due,
with what is owed. It never writes: a ``--policy`` other than the one the index was built with is
an error naming both (re-index with ``escalation-fsm reindex`` first). A ticket that cannot be
read (damaged, or changed outside the library) does not stop the listing: it is named on standard
error and the exit status is 1.

With ``--once`` or ``--run`` it is a follow-up worker instead (it writes): it acts on the SLA
escalation ladder's due steps and records each (see :mod:`escalation_fsm.cli._worker` and
``docs/following-up.md``), with ``--worker-id``, ``--lease``, ``--batch``, ``--poll``,
``--notifier`` and ``--callbacks``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from ..clock import SystemClock
from ..errors import UsageError
from ..machine import EscalationMachine
from ..models import Ticket
from ..sla import Deadline
from ._common import count, instant, open_store, read_policy, run, spec_of
from ._worker import run_worker

__all__ = ["UNREADABLE", "FollowUp", "add_follow_up_command", "follow_ups", "render_json",
           "render_table"]

UNREADABLE = 1
"""The exit status when the listing is complete but for tickets that cannot be read (each one is
named on standard error)."""

FollowUp = tuple[Ticket, Deadline]
"""One thing owed: the ticket and its due (or breached) clock."""


def follow_ups(tickets: list[Ticket], machine: EscalationMachine, now: datetime) -> list[FollowUp]:
    """Every open, running clock of ``tickets`` due at or before ``now``, soonest first."""
    found = [(ticket, d) for ticket in tickets for d in machine.deadlines(ticket, now=now)
             if d.due_by(now)]
    return sorted(found, key=lambda item: (item[1].due_at, item[0].id, item[1].clock.value))


def _hours(delta: timedelta) -> str:
    sign = "-" if delta < timedelta(0) else ""
    minutes = int(abs(delta).total_seconds() // 60)
    return f"{sign}{minutes // 60}h{minutes % 60:02d}m"


def render_table(items: list[FollowUp], now: datetime) -> str:
    """A fixed-width table, one line per thing owed (UTC times, business time remaining)."""
    if not items:
        return f"nothing due at {now:%Y-%m-%d %H:%M} UTC\n"
    header = ("ticket", "stage", "priority", "owed", "due (UTC)", "left", "status")
    rows = [header] + [
        (ticket.id, ticket.stage, ticket.priority.value, d.owed,
         f"{d.due_at:%Y-%m-%d %H:%M}" if d.due_at else "-", _hours(d.remaining),
         "BREACHED" if d.breached else "due")
        for ticket, d in items
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    breached = sum(d.breached for _, d in items)
    lines.append(f"{len(items)} due at {now:%Y-%m-%d %H:%M} UTC, {breached} breached")
    return "\n".join(lines) + "\n"


def render_json(items: list[FollowUp], now: datetime) -> str:
    """The same listing as JSON: ``{"now": ..., "due": [...]}``."""
    document: dict[str, Any] = {
        "now": now.isoformat(),
        "due": [
            {"ticket_id": ticket.id, "stage": ticket.stage, "priority": ticket.priority.value,
             "clock": d.clock.value, "owed": d.owed, "started_at": d.started_at.isoformat(),
             "due_at": d.due_at.isoformat() if d.due_at else None,
             "remaining_seconds": d.remaining.total_seconds(), "breached": d.breached}
            for ticket, d in items
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _seconds(text: str) -> float:
    """A number of seconds above zero, at most a day (an argparse ``type``)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from exc
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text} is not above 0 and at most 86400 seconds")
    return value


def _batch(text: str) -> int:
    value = count(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"{text} is not from 1 to 10000")
    return value


def _follow_up(args: argparse.Namespace) -> int:
    working = args.once or args.run
    if not working:
        for option in ("worker_id", "notifier", "callbacks"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option.replace('_', '-')} is for a worker: add --once or "
                                 f"--run")
    now = args.now if args.now is not None or working else SystemClock().now()
    machine = None
    if args.policy is not None or args.spec is not None:
        # Every argument is read before the database is opened: a bad one leaves it untouched.
        spec, policy = spec_of(args.spec), None if args.policy is None else read_policy(args.policy)
        if policy is None:
            with open_store(args.db, args.dsn, readonly=True) as probe:
                policy = probe.recorded_policy()
        # Opening with a machine checks its policy and trigger meaning against the index's.
        machine = EscalationMachine(spec, sla=policy)
    if working:
        with open_store(args.db, args.dsn, readonly=False, machine=machine) as store:
            return run_worker(store, args)
    assert now is not None  # noqa: S101 (narrowing: the listing has a time)
    with open_store(args.db, args.dsn, readonly=True, machine=machine) as store:
        due = store.due(by=now, limit=args.limit)
        items = follow_ups(due, store.machine, now)
    render = render_json if args.format == "json" else render_table
    sys.stdout.write(render(items, now))
    for bad in due.skipped:  # listed without them; named here, and the exit status says so
        sys.stderr.write(f"escalation-fsm follow-up: skipped ticket {bad.ticket_id!r}, which "
                         f"cannot be read: {' '.join(bad.reason.split())}\n")
    return UNREADABLE if due.skipped else 0


def add_follow_up_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``follow-up`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "follow-up", help="list due SLA deadlines, or act on the escalation ladder's due steps",
        description="List the tickets whose SLA deadlines are due or breached, with what is owed "
                    "(read-only: it never writes to the database); with --once or --run, act "
                    "on the SLA escalation ladder's due steps as a follow-up worker and record "
                    "each.")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--now", type=instant, metavar="TIME",
                        help="ISO 8601 time with a zone (default: the current time)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--policy", metavar="FILE",
                        help="the SLA policy (JSON or TOML) the database must have been indexed "
                             "with (default: the one recorded in it)")
    parser.add_argument("--spec", metavar="REF",
                        help="the procedure: default, logged or module:attribute (default: default)")
    parser.add_argument("--limit", type=count, metavar="N", help="look at no more than N tickets")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true",
                      help="be a follow-up worker: act on every ladder step due by --now "
                           "(default: the current time), record each, and exit (for cron)")
    mode.add_argument("--run", action="store_true",
                      help="be a follow-up worker until SIGTERM or SIGINT (then finish the "
                           "current step, release the other claims and exit 0)")
    parser.add_argument("--worker-id", metavar="ID",
                        help="the worker's name in leases and records (default: host:pid)")
    parser.add_argument("--lease", type=_seconds, default=60.0, metavar="SECONDS",
                        help="how long a claim is this worker's (default: 60)")
    parser.add_argument("--batch", type=_batch, default=10, metavar="N",
                        help="steps claimed per pass, 1 to 10000 (default: 10)")
    parser.add_argument("--poll", type=_seconds, default=5.0, metavar="SECONDS",
                        help="with --run: the wait when nothing is due (default: 5)")
    parser.add_argument("--notifier", metavar="MODULE:ATTRIBUTE",
                        help="a function (ticket, step) that sends notify steps (default: one "
                             "JSON line per step on standard output)")
    parser.add_argument("--callbacks", metavar="MODULE:ATTRIBUTE",
                        help="a mapping of the callback names the ladder uses to functions "
                             "(ticket, step)")
    parser.set_defaults(handler=lambda args: run("follow-up", _follow_up, args))
    return parser
