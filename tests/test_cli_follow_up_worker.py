"""``escalation-fsm follow-up --once | --run``: the follow-up worker on the command line.

``--once`` acts on every due step and exits; ``--run`` keeps working until SIGTERM, then exits 0
having released the claims it held; a worker that could never act refuses to start, and worker
options without a worker mode are an error. The listing mode stays read-only.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from ladder_support import MONDAY, new

from escalation_fsm import FOLLOW_UP_TRIGGER, EscalationMachine, ManualClock, Urgency
from escalation_fsm.cli import main
from escalation_fsm.sla import SLAPolicy
from escalation_fsm.stores import SQLiteStore

POLICY = """
[[ladder.resolution.normal]]
name = "warn"
at = 0.5
action = "notify"
role = "supervisor"

[[ladder.resolution.normal]]
name = "page"
at = 0.75
action = "callback"
callback = "page"

[[ladder.resolution.normal]]
name = "breach"
at = 1.0
action = "raise_urgency"
"""

CALLBACKS = """
import sys
def page(ticket, step):
    print("PAGED", ticket.id, step.name, file=sys.stderr)
CALLBACKS = {"page": page}
"""


def _desk(tmp_path: Path, tickets: int = 3) -> Path:
    (tmp_path / "sla.toml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "hostcallbacks.py").write_text(CALLBACKS, encoding="utf-8")
    policy = SLAPolicy.model_validate(tomllib.loads(POLICY))
    path = tmp_path / "tickets.db"
    with SQLiteStore(path, machine=EscalationMachine(sla=policy,
                                                     clock=ManualClock(MONDAY))) as store:
        for n in range(tickets):
            store.create(new(f"T-{n}"))
    return path


def _records(path: Path) -> list[dict[str, object]]:
    with SQLiteStore(path, readonly=True) as store:
        return [dict(r.payload) for t in store.query() for r in t.history
                if r.trigger == FOLLOW_UP_TRIGGER]


def test_once_acts_on_every_due_step_and_exits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Notify steps are JSON lines on stdout, callbacks are called, urgencies raised; the
    progress line is on stderr; a second run finds nothing."""
    path = _desk(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["follow-up", "--db", str(path), "--once", "--now", "2026-02-01T00:00Z",
            "--worker-id", "cron-1", "--callbacks", "hostcallbacks:CALLBACKS", "--batch", "2"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["ticket_id"] for line in lines) == ["T-0", "T-1", "T-2"]
    assert {(line["step"], line["role"]) for line in lines} == {("warn", "supervisor")}
    assert err.count("PAGED") == 3
    assert "worker cron-1 stopped" in err and "9 claimed: done 9" in err
    records = _records(path)
    assert sorted((r["step"], r["worker"]) for r in records) == sorted(
        [(step, "cron-1") for step in ("warn", "page", "breach")] * 3)
    with SQLiteStore(path, readonly=True) as store:
        assert {t.priority for t in store.query()} == {Urgency.HIGH}
    assert main(args) == 0
    assert "0 claimed" in capsys.readouterr().err
    assert len(_records(path)) == 9


def test_a_worker_that_could_never_act_refuses_to_start(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """No --callbacks for the ladder's 'page': status 2, one line naming it, nothing written;
    worker options without --once/--run are an error too."""
    path = _desk(tmp_path)
    assert main(["follow-up", "--db", str(path), "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "callbacks 'page'" in err
    assert _records(path) == []
    assert main(["follow-up", "--db", str(path), "--worker-id", "w"]) == 2
    assert "--worker-id is for a worker" in capsys.readouterr().err
    for bad in (["--once", "--run"], ["--once", "--lease", "0"], ["--run", "--batch", "0"]):
        with pytest.raises(SystemExit) as info:  # the parser's own refusals: status 2
            main(["follow-up", "--db", str(path), *bad])
        assert info.value.code == 2
    assert _records(path) == []


def test_run_works_until_sigterm_then_releases_its_claims_and_exits_0(tmp_path: Path) -> None:
    """A --run worker acts on what is due, keeps polling, and on SIGTERM stops cleanly: status
    0, a last progress line, and no lease left in the database."""
    path = _desk(tmp_path, tickets=5)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "escalation_fsm", "follow-up", "--db", str(path), "--run",
         "--now", "2026-02-01T00:00Z", "--poll", "0.1", "--worker-id", "daemon",
         "--callbacks", "hostcallbacks:CALLBACKS"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_records(path)) < 15:
            assert time.monotonic() < deadline and worker.poll() is None, worker.stderr
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:  # pragma: no cover (only when an assertion above failed)
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    assert "worker daemon running" in err and "worker daemon stopped" in err
    assert "15 claimed: done 15" in err.splitlines()[-1]
    assert len(out.splitlines()) == 5
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM escalation_tickets WHERE lease_owner IS NOT NULL "
                          "OR next_step_at IS NOT NULL").fetchone() == (0,)
