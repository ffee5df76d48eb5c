"""``escalation-fsm demo``: the built-in sample tickets through the procedure, printed readably."""

from __future__ import annotations

import argparse
from typing import Any

from ..clock import ManualClock
from ..demo import START, demo_machine, run_demo
from ..machine import EscalationMachine
from ..models import Ticket
from ..stores import SQLiteStore
from ..timeline import render_timeline, ticket_timeline
from ._common import run

__all__ = ["add_demo_command"]


def _story(ticket: Ticket, machine: EscalationMachine) -> None:
    """The escalated ticket's timeline: its interactions and SLA clocks beside its transitions."""
    print(f"== The whole story of {ticket.id}, as `escalation-fsm timeline` tells it")
    timeline = ticket_timeline(ticket, machine, now=ticket.history[-1].at)
    print(render_timeline(timeline, "text"), end="")


def _demo(args: argparse.Namespace) -> int:
    if args.db is None:
        machine = demo_machine()
        finals = run_demo(machine=machine)
        _story(finals[1], machine)
        return 0
    # The store's own clock (creation stamps) is separate, so the history times match the demo
    # without --db.
    with SQLiteStore(args.db, machine=demo_machine(), clock=ManualClock(START)) as store:
        finals = run_demo(store=store)
        stored = sum(1 for _ in store.stream())
        _story(finals[1], store.machine)
    print(f"== {len(finals)} demo tickets with {sum(t.version for t in finals)} transitions are in "
          f"{args.db} ({stored} tickets stored in all); run again to read them back, or show "
          f"one: escalation-fsm timeline --db {args.db} {finals[1].id}")
    return 0


def add_demo_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="run the built-in sample tickets through the procedure")
    parser.add_argument("--db", metavar="FILE",
                        help="keep the tickets in this SQLite database (created if missing)")
    parser.set_defaults(handler=lambda args: run("demo", _demo, args))
    return parser
