"""The ``escalation-fsm`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .demo import run_demo
from .diagrams.command import add_diagram_command
from .replay.cli import add_replay_command

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    run_demo()
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
    demo.set_defaults(handler=_demo)
    add_diagram_command(commands)
    add_replay_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m escalation_fsm``."""
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
