"""The ``escalation-fsm`` command line: one thin module per command, over the public API only.

Every command reports a problem as one line on standard error and exits with status 2 (see
:mod:`escalation_fsm.cli._common`); ``docs/cli.md`` documents each of them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from .demo import add_demo_command
from .diagram import add_diagram_command
from .follow_up import add_follow_up_command
from .migrate import add_migrate_command
from .reindex import add_reindex_command
from .replay import add_replay_command
from .review import add_review_command
from .specs import add_specs_command
from .timeline import add_timeline_command
from .verify import add_verify_command

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line (the others are too), status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per capability."""
    parser = _Parser(
        prog="escalation-fsm",
        description="A customer-service escalation procedure as a guarded state machine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_demo_command, add_diagram_command, add_replay_command, add_follow_up_command,
                add_reindex_command, add_verify_command, add_timeline_command, add_migrate_command,
                add_specs_command, add_review_command):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m escalation_fsm``."""
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
