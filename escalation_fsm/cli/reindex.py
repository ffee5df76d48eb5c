"""``escalation-fsm reindex``: rebuild a database's SLA deadline index under a chosen policy.

``escalation-fsm reindex (--db FILE | --dsn DSN) [--policy FILE] [--spec REF]`` folds every
ticket's history again under the policy (default: the one recorded in the database) and the spec's
trigger meaning, records them, and prints how many tickets it re-indexed. The one command that
moves a database to another SLA policy; it also upgrades an older schema.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..machine import EscalationMachine
from ._common import open_store, read_policy, run, spec_of

__all__ = ["add_reindex_command"]


def _reindex(args: argparse.Namespace) -> int:
    if args.db is not None and not Path(args.db).is_file():
        raise UsageError(f"no database at {args.db!r}")
    # Every argument is read before the database is opened: a bad one leaves it untouched.
    spec, chosen = spec_of(args.spec), None if args.policy is None else read_policy(args.policy)
    with open_store(args.db, args.dsn, readonly=False) as store:
        before = store.recorded_policy()
        policy = before if chosen is None else chosen
        count = store.reindex(EscalationMachine(spec, sla=policy))
    changed = "" if before == policy else " (the SLA policy changed)"
    sys.stdout.write(f"re-indexed {count} ticket(s) under SLA policy "
                     f"{store.machine.sla.fingerprint}{changed}\n")
    return 0


def add_reindex_command(commands: Any) -> argparse.ArgumentParser:
    """Register ``reindex`` on the CLI's sub-parsers (``argparse._SubParsersAction``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reindex", help="rebuild a ticket database's SLA deadline index under a policy",
        description="Fold every ticket's history again under an SLA policy and record it: the "
                    "explicit way to change the policy a database is indexed with.")
    parser.add_argument("--db", metavar="FILE", help="a SQLite ticket database")
    parser.add_argument("--dsn", metavar="DSN", help="a PostgreSQL ticket database")
    parser.add_argument("--policy", metavar="FILE",
                        help="the SLA policy as JSON or TOML (default: the recorded one)")
    parser.add_argument("--spec", metavar="REF",
                        help="the procedure: default, logged or module:attribute (default: default)")
    parser.set_defaults(handler=lambda args: run("reindex", _reindex, args))
    return parser
