"""What every command shares: one-line errors with exit status 2, stores, times, specs, policies.

A command raises :class:`~escalation_fsm.errors.UsageError` (or lets any library error,
pydantic's ``ValidationError`` or an ``OSError`` out); :func:`run` prints it as one line on
standard error, ``escalation-fsm <command>: <what is wrong>``, and returns 2. No traceback
reaches a user for input they gave.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..errors import EscalationError, UsageError
from ..loader import load_spec
from ..models import EARLIEST, LATEST
from ..sla import SLAPolicy
from ..spec import MachineSpec

if TYPE_CHECKING:
    from ..machine import EscalationMachine
    from ..stores import StoreBase

__all__ = ["USAGE", "count", "day_or_instant", "instant", "open_store", "read_policy",
           "read_teams", "reader_for", "run", "spec_of", "write_out"]

USAGE = 2
"""The exit status of every command error: bad arguments, files, specs, stores."""

Handler = Callable[[argparse.Namespace], int]


def run(name: str, handler: Handler, args: argparse.Namespace) -> int:
    """Call ``handler``; an error becomes one line on standard error and exit status 2."""
    try:
        return handler(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        message = f"{exc.title}: {where}: {first['msg']}"
    except (EscalationError, OSError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the error's layout
    sys.stderr.write(f"escalation-fsm {name}: {message}\n")
    return USAGE


def instant(text: str) -> datetime:
    """An ISO 8601 time with a time zone, within the supported range (an argparse ``type``)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone, e.g. {text}Z or {text}+01:00")
    try:
        inside = EARLIEST <= when < LATEST
    except OverflowError:  # an offset that moves year 1 or 9999 out of datetime's range
        inside = False
    if not inside:
        raise argparse.ArgumentTypeError(f"{text!r} is outside the supported times "
                                         f"({EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d})")
    return when


def count(text: str) -> int:
    """A whole number from 0 to 2**63 - 1 (an argparse ``type`` for limits)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and {2**63 - 1:,}")
    return value


def spec_of(reference: str | None) -> MachineSpec | None:
    """The spec ``--spec`` names (see :func:`escalation_fsm.loader.load_spec`), or ``None``."""
    return None if reference is None else load_spec(reference)


def read_policy(path: str) -> SLAPolicy:
    """An SLA policy from a JSON or TOML file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the SLA policy {path!r} is not UTF-8 text: {exc}") from exc
    if file.suffix.lower() == ".toml":
        import tomllib  # noqa: PLC0415 (only for TOML policies)

        try:
            return SLAPolicy.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"the SLA policy {path!r} is not valid TOML: {exc}") from exc
    return SLAPolicy.model_validate_json(text)


def open_store(db: str | None, dsn: str | None, *, readonly: bool,
               machine: EscalationMachine | None = None) -> StoreBase:
    """The SQLite store at ``db`` or the PostgreSQL store at ``dsn`` (exactly one is given)."""
    from ..stores import PostgresStore, SQLiteStore  # noqa: PLC0415 (commands that need no store)

    if (db is None) == (dsn is None):
        raise UsageError("give exactly one of --db FILE (SQLite) and --dsn DSN (PostgreSQL)")
    if dsn is not None:
        return PostgresStore(dsn, machine=machine, readonly=readonly)
    assert db is not None  # noqa: S101 (narrowing: checked just above)
    if readonly and not Path(db).is_file():
        raise UsageError(f"no database at {db!r}")
    return SQLiteStore(db, machine=machine, readonly=readonly)


def read_teams(path: str) -> dict[str, str]:
    """An agent-to-team map from a JSON or TOML file: ``{"a-17": "billing desk", ...}``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the team map {path!r} is not UTF-8 text: {exc}") from exc
    try:
        data = tomllib.loads(text) if file.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"the team map {path!r} does not parse: {exc}") from exc
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise UsageError(f"the team map {path!r} must map agent ids to team names (strings), "
                         f"e.g. {{\"a-17\": \"billing desk\"}}")
    return data


def day_or_instant(text: str) -> datetime:
    """An ISO date (midnight UTC) or an ISO time with a zone (an argparse ``type``)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return instant(text)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def write_out(text: str, output: str | None) -> None:
    """``text`` to the file ``-o`` names, or to standard output."""
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


def reader_for(spec: MachineSpec | None, db: str | None,
               dsn: str | None) -> EscalationMachine | None:
    """A machine reading the database's tickets under ``spec`` and its recorded SLA policy.

    ``None`` without a spec: the store then reads with its default machine.
    """
    if spec is None:
        return None
    from ..machine import EscalationMachine  # noqa: PLC0415 (commands that need no machine)

    with open_store(db, dsn, readonly=True) as probe:
        return EscalationMachine(spec, sla=probe.recorded_policy())
