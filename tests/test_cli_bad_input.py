"""Every command, fed bad arguments and bad files: exit status 2, one line, no traceback, no file.

Issue 15 (6) found 19 tracebacks and two silent exit-0 runs across the commands. This table runs
each command in-process against arguments and files a user could plausibly give, and checks the
same four things every time: the exit status is 2, standard error holds exactly one line naming
the command, no traceback escapes, and nothing was written next to the inputs.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from support import AGENT

from escalation_fsm import Category, Ticket, Trigger
from escalation_fsm.cli import main
from escalation_fsm.stores import SQLiteStore

SAMPLES = Path(__file__).parents[1] / "escalation_fsm" / "replay" / "samples"

CASES = [
    # -- no command, unknown command, unknown option
    [],
    ["teleport"],
    ["--frobnicate"],
    # -- demo
    ["demo", "--db", "{tmp}/folder"],
    ["demo", "--db", "{tmp}/missing/tickets.db"],
    ["demo", "--db", "{tmp}/notes.txt"],
    ["demo", "--db", "{tmp}/foreign.db"],
    # -- diagram
    ["diagram", "--format", "gif"],
    ["diagram", "--direction", "XY"],
    ["diagram", "--spec", "raises:SPEC"],
    ["diagram", "--spec", "sys:exit"],
    ["diagram", "--spec", "needs:spec"],
    ["diagram", "--spec", "json:dumps"],
    ["diagram", "--spec", "no_such_module:SPEC"],
    ["diagram", "--spec", "nonsense"],
    ["diagram", "-o", "{tmp}/missing/procedure.mmd"],
    ["diagram", "-o", "{tmp}/folder"],
    # -- replay
    ["replay", "{tmp}/no-such-log.csv", "--mapping", "helpdesk"],
    ["replay", "{tmp}/latin1.csv", "--mapping", "helpdesk"],
    ["replay", "{tmp}/folder", "--mapping", "helpdesk"],
    ["replay", "{log}", "--mapping", "no-such-mapping"],
    ["replay", "{log}", "--mapping", "{tmp}/latin1.toml"],
    ["replay", "{log}", "--mapping", "{tmp}/broken.toml"],
    ["replay", "{log}", "--mapping", "{tmp}/raises-spec.toml"],
    ["replay", "{log}", "--mapping", "{tmp}/unknown-role.toml"],
    ["replay", "{log}", "--mapping", "helpdesk", "--format", "pdf"],
    ["replay", "{log}", "--mapping", "helpdesk", "-o", "{tmp}/missing/report.md"],
    ["replay", "{log}", "--mapping", "helpdesk", "-o", "{tmp}/folder"],
    ["replay", "{log}", "--mapping", "helpdesk", "--cases", "{tmp}/missing/cases.jsonl"],
    ["replay", "{log}", "--mapping", "helpdesk", "--cases", "{tmp}/folder"],
    # -- follow-up
    ["follow-up"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--dsn", "postgresql://x@127.0.0.1:1/x"],
    ["follow-up", "--db", "{tmp}/missing.db"],
    ["follow-up", "--db", "{tmp}/notes.txt"],
    ["follow-up", "--db", "{tmp}/folder"],
    ["follow-up", "--db", "{tmp}/foreign.db"],
    ["follow-up", "--dsn", "postgresql://nobody@127.0.0.1:1/none"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--now", "0001-01-01T00:00:00+01:00"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--now", "9999-12-31T23:59:59-01:00"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--now", "9999-12-31T23:00:00+00:00"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--now", "2026-01-05T09:00:00"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--now", "yesterday"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--limit", "-1"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--limit", str(2**70)],
    ["follow-up", "--db", "{tmp}/tickets.db", "--limit", "ten"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--format", "xml"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/latin1.json"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/broken.json"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/broken.toml"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/no-such-policy.json"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/folder"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--spec", "raises:SPEC"],
    ["follow-up", "--db", "{tmp}/tickets.db", "--spec", "sys:exit"],
    # -- reindex
    ["reindex"],
    ["reindex", "--db", "{tmp}/missing.db"],
    ["reindex", "--db", "{tmp}/notes.txt"],
    ["reindex", "--db", "{tmp}/foreign.db"],
    ["reindex", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/latin1.json"],
    ["reindex", "--db", "{tmp}/tickets.db", "--policy", "{tmp}/broken.toml"],
    ["reindex", "--db", "{tmp}/tickets.db", "--spec", "needs:spec"],
    ["reindex", "--db", "{tmp}/tickets.db", "--spec", "sys:exit"],
    # -- verify
    ["verify"],
    ["verify", "--db", "{tmp}/missing.db"],
    ["verify", "--db", "{tmp}/notes.txt"],
    ["verify", "--db", "{tmp}/foreign.db"],
    ["verify", "--db", "{tmp}/tickets.db", "--spec", "raises:SPEC"],
    ["verify", "--db", "{tmp}/tickets.db", "--format", "xml"],
]


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the bad arguments point at: a good database, and every kind of bad file."""
    tmp = tmp_path_factory.mktemp("inputs")
    (tmp / "folder").mkdir()
    with SQLiteStore(tmp / "tickets.db") as store:
        store.create(Ticket(id="T-1", customer_id="C-1", category=Category.OTHER, details="d"))
        store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    foreign = sqlite3.connect(tmp / "foreign.db")
    foreign.execute("CREATE TABLE escalation_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    foreign.execute("INSERT INTO escalation_meta VALUES ('schema_version', 'three')")
    foreign.commit()
    foreign.close()
    (tmp / "notes.txt").write_text("this is not a database\n" * 100, encoding="utf-8")
    (tmp / "latin1.json").write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    (tmp / "broken.json").write_text('{"name": ', encoding="utf-8")
    (tmp / "broken.toml").write_text("name = [unclosed\n", encoding="utf-8")
    (tmp / "latin1.toml").write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    (tmp / "latin1.csv").write_bytes("case,activity,time\nc\u00e9,x,2020-01-01\n".encode("latin-1"))
    (tmp / "raises.py").write_text("raise RuntimeError('this module fails on import')\n",
                                   encoding="utf-8")
    (tmp / "needs.py").write_text("def spec(name):\n    raise AssertionError(name)\n",
                                  encoding="utf-8")
    shipped = (Path(__file__).parents[1] / "escalation_fsm" / "replay" / "mappings" /
               "helpdesk.toml").read_text(encoding="utf-8")
    (tmp / "raises-spec.toml").write_text(shipped.replace('spec = "logged"', 'spec = "raises:SPEC"'),
                                          encoding="utf-8")
    (tmp / "unknown-role.toml").write_text(shipped + '\n[roles]\n"Value 1" = "wizard"\n',
                                           encoding="utf-8")
    shutil.copy(SAMPLES / "helpdesk_sample.csv", tmp / "log.csv")
    return tmp


@pytest.mark.parametrize("argv", CASES, ids=lambda argv: " ".join(argv) or "(nothing)")
def test_bad_input_is_one_line_and_status_2(argv: list[str], inputs: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Exit status 2, exactly one line on standard error naming the command, no traceback, and
    no file created or changed (inputs and current folder alike)."""
    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    monkeypatch.chdir(work)  # --spec module:attribute imports from here
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    for name in ("raises", "needs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    args = [arg.format(tmp=work, log=work / "log.csv") for arg in argv]
    before = _files(work)
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's own errors exit
        status = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert status == 2, (status, out[-500:], err)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("escalation-fsm"), err
    assert _files(work) == before
    assert not list((work / "folder").iterdir())
