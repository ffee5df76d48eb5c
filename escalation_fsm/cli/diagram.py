"""The ``escalation-fsm diagram`` sub-command.

``escalation-fsm diagram [--format mermaid|dot|svg|png] [--spec module:attribute] [-o FILE]``
prints (or writes) a diagram of the default procedure or of any spec importable as
``module:attribute``, where the attribute is a :class:`~escalation_fsm.spec.MachineSpec` or a
function that takes no argument and returns one (``escalation_fsm:default_spec``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from ..errors import EscalationError
from ..procedure import default_spec
from ..spec import MachineSpec
from . import FORMATS, render

__all__ = ["add_diagram_command", "load_spec"]


class _UsageError(Exception):
    """A bad ``--spec`` value: reported like an argparse error (exit status 2)."""


def load_spec(reference: str) -> MachineSpec:
    """The spec named by ``module:attribute`` (a spec, or a no-argument callable returning one)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise _UsageError(f"--spec must look like module:attribute, got {reference!r}")
    if str(Path.cwd()) not in sys.path:
        # Like `python -m`, find the host's own modules from the current folder: the console
        # script's sys.path does not include it.
        sys.path.insert(0, str(Path.cwd()))
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _UsageError(f"--spec {reference}: cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise _UsageError(f"--spec {reference}: {module_name!r} has no {attribute!r}") from exc
    if callable(target) and not isinstance(target, MachineSpec):
        target = target()
    if not isinstance(target, MachineSpec):
        raise _UsageError(
            f"--spec {reference}: expected a MachineSpec (or a function returning one), "
            f"got {type(target).__name__}"
        )
    return target


def _run(args: argparse.Namespace) -> int:
    try:
        spec = default_spec() if args.spec is None else load_spec(args.spec)
    except _UsageError as exc:
        args.parser.error(str(exc))  # exits with status 2, like any other usage error
    try:
        output = render(spec, args.format, show_guards=args.guards, show_roles=args.roles,
                        direction=args.direction)
    except EscalationError as exc:  # GraphvizUnavailable: the message says what to install
        sys.stderr.write(f"escalation-fsm diagram: {exc}\n")
        return 1
    if args.output is not None:
        Path(args.output).write_bytes(output.encode("utf-8") if isinstance(output, str) else output)
    elif isinstance(output, str):
        sys.stdout.write(output)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(output)
    return 0


def add_diagram_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``diagram`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "diagram",
        help="draw the procedure as Mermaid, DOT, SVG or PNG",
        description=(
            "Draw a machine spec. Mermaid and DOT are text and need nothing else; svg and png "
            "need the 'svg' extra (pip install 'escalation-fsm[svg]') and Graphviz's dot."
        ),
    )
    parser.add_argument("--format", choices=FORMATS, default="mermaid",
                        help="output format (default: mermaid)")
    parser.add_argument("--spec", metavar="module:attribute",
                        help="the spec to draw (default: the shipped procedure)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--guards", action="store_true", help="label transitions with guards")
    parser.add_argument("--roles", action="store_true", help="label transitions with roles")
    parser.add_argument("--direction", choices=("TB", "LR"), default="TB",
                        help="top to bottom (default) or left to right")
    parser.set_defaults(handler=_run, parser=parser)
    return parser
