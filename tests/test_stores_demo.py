"""``escalation-fsm demo --db FILE``: the demo through the SQLite store, kept between runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from escalation_fsm.cli import main
from escalation_fsm.stores import SQLiteStore

if TYPE_CHECKING:
    import pytest


def test_demo_with_a_database_prints_the_same_transitions_and_keeps_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Same output as the in-memory demo plus a summary; a second run reads the tickets back."""
    assert main(["demo"]) == 0
    plain = capsys.readouterr().out
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0
    first = capsys.readouterr().out
    assert first.startswith(plain)
    assert first[len(plain):] == (f"== 3 demo tickets with 18 transitions are in {db} "
                                  "(3 tickets stored in all); run again to read them back, or "
                                  f"show one: escalation-fsm timeline --db {db} T-1002\n")
    with SQLiteStore(db) as store:
        assert [(t.id, t.stage, t.version) for t in store.stream()] == [
            ("T-1001", "feedback", 5), ("T-1002", "feedback", 10), ("T-1003", "resolved", 3)]
    assert main(["demo", "--db", str(db)]) == 0
    second = capsys.readouterr().out
    assert "already stored: stage feedback, version 10; not run again" in second
    assert "-->" not in second


def test_demo_with_an_unusable_database_fails_cleanly(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a database gives a one-line error and exit status 2."""
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n" * 50)
    assert main(["demo", "--db", str(bad)]) == 2
    assert "notes.txt" in capsys.readouterr().err
