"""``escalation-fsm replay``: replay a helpdesk event log and write the escalation review report."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError
from ..replay import FORMATS, CaseResult, render_report, resolve_mapping, review
from ..replay.training import TrainingFigures
from ..sla import SLAPolicy, default_sla_policy
from ._common import USAGE, read_policy, read_teams, run

__all__ = ["ProgressBar", "add_replay_command", "fewer_collections"]


def add_replay_command(commands: Any) -> None:
    """Add ``replay`` to the CLI's sub-parsers (``commands`` from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "replay", help="replay a recorded ticket log against the procedure and report",
        description="Replay a helpdesk event log (CSV, CSV in a .zip, JSON Lines) against the "
                    "spec its mapping names, and write the escalation review report.")
    parser.add_argument("log", type=Path, metavar="LOG", help="the event log")
    parser.add_argument("--mapping", required=True,
                        help="a mapping TOML file, or a shipped mapping: helpdesk, servicenow")
    parser.add_argument("--format", choices=FORMATS, default="table", dest="fmt",
                        help="report format (default: table)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the report here (default: stdout)")
    parser.add_argument("--cases", type=Path, metavar="FILE",
                        help="also write every case's result here, as JSON Lines")
    parser.add_argument("--sla", metavar="FILE", default="none",
                        help="measure SLA breach rates with this policy (a TOML or JSON file; "
                             "'default' for the built-in one; default: none, not measured)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when the report has a data note about values "
                             "that could not be read or a rule that never fired (the report is "
                             "still written)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--teams", metavar="FILE",
                        help="a JSON or TOML file mapping agent ids (the log's resources) to teams")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="replace agent ids in the training section (for reports that leave "
                             "the team)")
    parser.set_defaults(handler=lambda args: run("replay", run_replay, args))


def run_replay(args: argparse.Namespace, *, stderr: IO[str] | None = None) -> int:
    """Run the sub-command; an error leaves no report (and no cases file) written."""
    with fewer_collections():
        return _replay(args, stderr)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run with the cyclic garbage collector scanning less often (restored afterwards).

    A replay allocates many small containers, and keeps many (the traces, times and programs it
    remembers): with the default thresholds the collector scans them over and over, about a
    tenth of the time on a large log. Here the objects that exist already (the imported modules)
    are left out of its scans, and it runs every 20,000 new containers rather than every 700;
    cycles are still collected, so memory stays bounded.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _replay(args: argparse.Namespace, stderr: IO[str] | None) -> int:
    err = sys.stderr if stderr is None else stderr
    mapping = resolve_mapping(args.mapping)
    policy, source = _policy(args.sla)
    training = TrainingFigures(teams=None if args.teams is None else read_teams(args.teams),
                               pseudonymise=args.pseudonymise)
    bar = None if args.quiet or not err.isatty() else ProgressBar(err)
    with ExitStack() as stack:
        on_case: Callable[[CaseResult], None] | None = None
        if args.cases is not None:
            # Written next to the target and renamed at the end: never a partial file.
            partial = args.cases.with_name(args.cases.name + ".partial")
            stack.callback(partial.unlink, missing_ok=True)
            handle = stack.enter_context(partial.open("w", encoding="utf-8"))

            def on_case(case: CaseResult) -> None:
                handle.write(json.dumps(case.as_record()) + "\n")

        try:
            report = review(args.log, mapping, svg=args.fmt == "html",
                            progress=bar.update if bar else None, on_case=on_case,
                            sla=policy, sla_source=source, training=training)
        finally:
            if bar:
                bar.clear()
        if args.cases is not None:
            handle.close()
            partial.replace(args.cases)
    text = render_report(report, args.fmt)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        if not args.quiet:
            print(f"wrote {args.fmt} report to {args.output}", file=err)
    if args.strict and report.strict_problems:
        kinds = sorted({f"{n.column or n.rule}: {n.problem}" for n in report.data_notes if n.strict})
        err.write(f"escalation-fsm replay: --strict: {report.strict_problems} data note(s) "
                  f"({'; '.join(kinds)}); see the report's Data notes\n")
        return USAGE
    return 0


def _policy(option: str) -> tuple[SLAPolicy | None, str | None]:
    """The SLA policy ``--sla`` names, and how the report names its source."""
    if option == "none":
        return None, None
    if option == "default":
        return default_sla_policy(), "the built-in default policy"
    if not Path(option).is_file():
        raise UsageError(f"--sla {option!r}: no such file (give a TOML or JSON SLA policy, "
                         f"'default' or 'none')")
    return read_policy(option), option


class ProgressBar:
    """A one-line progress bar on a terminal (standard library only: one line, redrawn)."""

    def __init__(self, stream: IO[str], *, width: int = 30, every: float = 0.1) -> None:
        self.stream = stream
        self.width = width
        self.every = every
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, done: int, total: int) -> None:
        """Redraw with ``done`` of ``total`` bytes read (at most every ``every`` seconds)."""
        now = time.monotonic()
        if now - self.drawn < self.every:
            return
        self.drawn = now
        share = min(done / total, 1.0) if total else 0.0
        filled = int(share * self.width)
        self.stream.write(f"\rreplaying [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{share:6.1%} {now - self.started:5.1f}s")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar (only if it was drawn)."""
        if self.drawn:
            self.stream.write("\r" + " " * (self.width + 30) + "\r")
            self.stream.flush()
