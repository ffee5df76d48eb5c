"""``escalation-fsm follow-up --run | --once``: a follow-up worker on a ticket database.

``--once`` acts on every ladder step due by ``--now`` (default: the current time) and exits: a
cron job. ``--run`` keeps going, one pass after another, waiting ``--poll`` seconds whenever
nothing is due, until SIGTERM or SIGINT: then the step being acted on is finished and recorded,
the claims not yet acted on are released for other workers, and the exit status is 0. Each pass
that found work prints a progress line on standard error. Notify steps go to the ``--notifier``
(``module:attribute``, a function of the ticket and the step) or, by default, to standard
output as one JSON line each; callback steps to the functions of the ``--callbacks`` mapping.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import UsageError
from ..models import Ticket
from ..sla import DueStep
from ..stores import FollowUpWorker, StoreBase, WorkerPass, WorkerTotals

__all__ = ["print_notification", "run_worker", "worker_of"]


def print_notification(ticket: Ticket, step: DueStep) -> None:
    """The default notifier: one JSON line on standard output per notify step."""
    line = {"ticket_id": ticket.id, "stage": ticket.stage, "priority": ticket.priority.value,
            "clock": step.clock.value, "step": step.name, "role": step.step.role,
            "due_at": step.due_at.isoformat(), "key": step.key}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _host_object(reference: str, option: str) -> Any:
    """The object ``module:attribute`` names (the current folder is importable, as with -m)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"{option} {reference!r}: use 'module:attribute'")
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (Exception, SystemExit) as exc:  # host code: any failure is reported, even an exit
        raise UsageError(f"{option} {reference!r}: {type(exc).__name__}: {exc}") from exc
    return target


def _callbacks(reference: str | None) -> dict[str, Any]:
    if reference is None:
        return {}
    found = _host_object(reference, "--callbacks")
    if not isinstance(found, Mapping) or not all(isinstance(k, str) for k in found):
        raise UsageError(f"--callbacks {reference!r} is a {type(found).__name__}, not a mapping "
                         f"of callback names to functions")
    return dict(found)


def worker_of(store: StoreBase, args: argparse.Namespace) -> FollowUpWorker:
    """The worker the arguments describe, on ``store``."""
    notify = print_notification if args.notifier is None else _host_object(args.notifier,
                                                                           "--notifier")
    worker_id = args.worker_id or f"{socket.gethostname()}:{os.getpid()}"
    return FollowUpWorker(store, worker_id, notify=notify, callbacks=_callbacks(args.callbacks),
                          lease=timedelta(seconds=args.lease), batch=args.batch)


@contextmanager
def _stopping(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (in the main thread), and are put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM,
                                                                      signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_worker(store: StoreBase, args: argparse.Namespace) -> int:
    """``--once`` or ``--run`` on ``store`` (opened writable); the exit status."""
    worker = worker_of(store, args)
    totals = WorkerTotals()

    def progress(done: WorkerPass) -> None:
        totals.add(done)
        sys.stderr.write(f"escalation-fsm follow-up: worker {worker.worker_id}: {totals.line()}\n")
        sys.stderr.flush()

    stop = threading.Event()
    with _stopping(stop):
        if args.once:
            worker.drain(by=args.now, stop=stop.is_set, on_pass=progress)
        else:
            sys.stderr.write(f"escalation-fsm follow-up: worker {worker.worker_id} running "
                             f"(lease {args.lease:g}s, batch {args.batch}); SIGTERM stops it\n")
            sys.stderr.flush()
            now = args.now
            worker.run(stop, poll=args.poll, by=None if now is None else (lambda: now),
                       on_pass=progress)
    sys.stderr.write(f"escalation-fsm follow-up: worker {worker.worker_id} stopped: "
                     f"{totals.line()}\n")
    return 0
