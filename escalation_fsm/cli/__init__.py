"""The ``escalation-fsm`` command line: one thin module per command, over the public API only.

Every command reports a problem as one line on standard error and exits with status 2 (see
:mod:`escalation_fsm.cli._common`); ``docs/cli.md`` documents each of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line (the others are too), status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see --help)\n")


_COMMANDS = {"demo": "demo", "diagram": "diagram", "replay": "replay", "follow-up": "follow_up",
             "reindex": "reindex", "verify": "verify", "timeline": "timeline", "migrate": "migrate",
             "specs": "specs", "review": "review"}
"""Each command's module, in the order ``--help`` lists them (each has ``add_<module>_command``)."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per capability.

    ``only`` (a command's name) adds that command alone: what :func:`main` parses with when the
    command line names one, so that a command imports only the modules it needs at start-up.
    """
    parser = _Parser(
        prog="escalation-fsm",
        description="A customer-service escalation procedure as a guarded state machine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _COMMANDS.items():
        if only is None or name == only:
            command = importlib.import_module(f".{module}", __name__)
            getattr(command, f"add_{module}_command")(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m escalation_fsm``."""
    words = sys.argv[1:] if argv is None else list(argv)
    named = words[0] if words and words[0] in _COMMANDS else None
    args = build_parser(named).parse_args(words)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
