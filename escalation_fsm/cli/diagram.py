"""``escalation-fsm diagram``: draw a procedure as Mermaid, DOT, SVG or PNG.

``escalation-fsm diagram [--format mermaid|dot|svg|png] [--spec REF] [--against REF] [-o FILE]``
prints (or writes) a diagram of the default procedure or of any spec
:func:`~escalation_fsm.loader.load_spec` can load (``default``, ``logged`` or
``module:attribute``). With ``--against OLD`` it draws the difference from ``OLD`` to the spec
(added, removed and changed transitions in distinct styles); in that mode either side may also be
a stored spec description as JSON (``escalation-fsm specs --show FINGERPRINT``), so an old
version is drawn without its code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..diagrams import FORMATS, diff_to_dot, diff_to_mermaid, render
from ..diagrams.render import dot_to_image
from ..identity import SpecDescription
from ..procedure import default_spec
from ..spec import MachineSpec
from ._common import run, spec_of

__all__ = ["add_diagram_command"]


def _side(reference: str | None) -> MachineSpec | SpecDescription:
    """A spec reference, or a stored description's JSON file (a path ending in ``.json``)."""
    if reference is not None and reference.lower().endswith(".json"):
        text = Path(reference).read_text(encoding="utf-8")
        described: SpecDescription = SpecDescription.model_validate_json(text)
        return described
    return spec_of(reference) or default_spec()


def _diagram(args: argparse.Namespace) -> int:
    output: str | bytes
    if args.against is not None:
        old, new = _side(args.against), _side(args.spec)
        if args.format == "mermaid":
            output = diff_to_mermaid(old, new, direction=args.direction)
        else:
            output = diff_to_dot(old, new, direction=args.direction)
            if args.format != "dot":
                image = dot_to_image(output, args.format)
                output = image.decode("utf-8") if args.format == "svg" else image
    else:
        spec = spec_of(args.spec) or default_spec()
        output = render(spec, args.format, show_guards=args.guards, show_roles=args.roles,
                        show_marks=args.marks, direction=args.direction)
    data = output.encode("utf-8") if isinstance(output, str) else output
    if args.output is not None:
        Path(args.output).write_bytes(data)
    elif isinstance(output, str):
        sys.stdout.write(output)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
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
    parser.add_argument("--spec", metavar="REF",
                        help="the spec to draw: default, logged or module:attribute "
                             "(default: the shipped procedure)")
    parser.add_argument("--against", metavar="OLD",
                        help="draw the difference from OLD (a spec reference, or a stored "
                             "description's .json file) to --spec")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--guards", action="store_true", help="label transitions with guards")
    parser.add_argument("--roles", action="store_true", help="label transitions with roles")
    parser.add_argument("--marks", action="store_true",
                        help="label transitions with what their triggers mean (escalates, ...)")
    parser.add_argument("--direction", choices=("TB", "LR"), default="TB",
                        help="top to bottom (default) or left to right")
    parser.set_defaults(handler=lambda args: run("diagram", _diagram, args))
    return parser
