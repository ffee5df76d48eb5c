"""The ``escalation-fsm`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .clock import ManualClock
from .demo import START, demo_machine, run_demo
from .diagrams.command import add_diagram_command
from .errors import StoreError
from .replay.cli import add_replay_command
from .sla.command import add_follow_up_command
from .stores import SQLiteStore

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    if args.db is None:
        run_demo()
        return 0
    try:
        # The store's own clock (creation stamps) is separate, so the history times match the
        # demo without --db.
        with SQLiteStore(args.db, machine=demo_machine(), clock=ManualClock(START)) as store:
            finals = run_demo(store=store)
            stored = sum(1 for _ in store.stream())
    except StoreError as exc:
        print(f"escalation-fsm demo: {exc}", file=sys.stderr)
        return 1
    print(f"== {len(finals)} demo tickets with {sum(t.version for t in finals)} transitions are in "
          f"{args.db} ({stored} tickets stored in all); run again to read them back")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per capability."""
    parser = argparse.ArgumentParser(
        prog="escalation-fsm",
        description="A customer-service escalation procedure as a guarded state machine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the built-in sample tickets through the procedure")
    demo.add_argument("--db", metavar="FILE",
                      help="keep the tickets in this SQLite database (created if missing)")
    demo.set_defaults(handler=_demo)
    add_diagram_command(commands)
    add_replay_command(commands)
    add_follow_up_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m escalation_fsm``."""
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
