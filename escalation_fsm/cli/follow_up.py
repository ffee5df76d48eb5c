"""The ``escalation-fsm follow-up`` sub-command: what is due or breached in a ticket database.

``escalation-fsm follow-up --db FILE [--now ISO-TIME] [--format table|json] [--policy FILE]``
asks the store's deadline index for the tickets whose next deadline falls at or before ``--now``
(default: the current time), recomputes their deadlines from their history, and lists every
open clock that is due, with what is owed: a first response, a Tier 2 response, a customer
update, a resolution, or the response promised with an ETA.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..clock import SystemClock
from ..errors import EscalationError
from ..machine import EscalationMachine
from ..models import Ticket
from ..stores import SQLiteStore
from .clocks import Deadline, deadlines
from .policy import SLAPolicy, default_sla_policy

__all__ = ["FollowUp", "add_follow_up_command", "follow_ups", "render_json", "render_table"]

FollowUp = tuple[Ticket, Deadline]
"""One thing owed: the ticket and its due (or breached) clock."""


def follow_ups(tickets: list[Ticket], policy: SLAPolicy, now: datetime) -> list[FollowUp]:
    """Every open, running clock of ``tickets`` due at or before ``now``, soonest first."""
    found = [(ticket, d) for ticket in tickets for d in deadlines(ticket, policy, now=now)
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


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone, e.g. {text}Z or {text}+01:00")
    return when


def _run(args: argparse.Namespace) -> int:
    name = "escalation-fsm follow-up"
    if not Path(args.db).is_file():
        sys.stderr.write(f"{name}: no database at {args.db!r}\n")
        return 1
    try:
        policy = (default_sla_policy() if args.policy is None
                  else SLAPolicy.model_validate_json(Path(args.policy).read_text(encoding="utf-8")))
    except (OSError, ValidationError) as exc:
        sys.stderr.write(f"{name}: cannot read the SLA policy {args.policy!r}: {exc}\n")
        return 1
    now = args.now if args.now is not None else SystemClock().now()
    try:
        with SQLiteStore(args.db, machine=EscalationMachine(sla=policy)) as store:
            items = follow_ups(store.due(by=now, limit=args.limit), policy, now)
    except EscalationError as exc:
        sys.stderr.write(f"{name}: {exc}\n")
        return 1
    render = render_json if args.format == "json" else render_table
    sys.stdout.write(render(items, now))
    return 0


def add_follow_up_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``follow-up`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "follow-up", help="list due and breached SLA deadlines in a ticket database",
        description="List the tickets whose SLA deadlines are due or breached, with what is owed.")
    parser.add_argument("--db", required=True, metavar="FILE", help="the SQLite ticket database")
    parser.add_argument("--now", type=_instant, metavar="TIME",
                        help="ISO 8601 time with a zone (default: the current time)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--policy", metavar="FILE", help="an SLA policy as JSON (default: the shipped one)")
    parser.add_argument("--limit", type=int, metavar="N", help="look at no more than N tickets")
    parser.set_defaults(handler=_run)
    return parser
