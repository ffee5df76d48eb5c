"""``escalation-fsm demo``: the built-in sample tickets through the procedure, printed readably."""

from __future__ import annotations

import argparse
from typing import Any

from ..clock import ManualClock
from ..demo import START, demo_machine, run_demo
from ..stores import SQLiteStore
from ._common import run

__all__ = ["add_demo_command"]


def _demo(args: argparse.Namespace) -> int:
    if args.db is None:
        run_demo()
        return 0
    # The store's own clock (creation stamps) is separate, so the history times match the demo
    # without --db.
    with SQLiteStore(args.db, machine=demo_machine(), clock=ManualClock(START)) as store:
        finals = run_demo(store=store)
        stored = sum(1 for _ in store.stream())
    print(f"== {len(finals)} demo tickets with {sum(t.version for t in finals)} transitions are in "
          f"{args.db} ({stored} tickets stored in all); run again to read them back")
    return 0


def add_demo_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="run the built-in sample tickets through the procedure")
    parser.add_argument("--db", metavar="FILE",
                        help="keep the tickets in this SQLite database (created if missing)")
    parser.set_defaults(handler=lambda args: run("demo", _demo, args))
    return parser
