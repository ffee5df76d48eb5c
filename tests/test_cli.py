"""The command line: the demo prints each transition and the refused escalation's reasons."""

from __future__ import annotations

import subprocess
import sys

import pytest

from escalation_fsm import Stage
from escalation_fsm.cli import main
from escalation_fsm.demo import SCENARIOS, run_demo


def test_demo_runs_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """The three scenarios end where the procedure says, the refusal shows its reasons, and the
    escalated ticket's timeline shows its interaction and SLA clocks."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("== ") == len(SCENARIOS) + 1 == 4
    assert "== The whole story of T-1002" in out
    assert "interaction record_interaction (in escalated)" in out
    assert "SLA customer_update restarted by the customer's message" in out
    assert "attempted --escalate--> escalated" in out
    assert "REFUSED escalate by a-17 (agent): TransitionRefused" in out
    assert "- no resolution step is recorded: record_step what was tried first" in out
    assert "- the Tier 2 summary is empty: pass summary= describing the issue" in out
    assert "allowed now: record_interaction, record_step, resolve" in out


def test_demo_final_tickets() -> None:
    """First-contact resolution, escalation with feedback, and refused-then-resolved."""
    lines: list[str] = []
    finals = run_demo(lines.append)
    assert [(t.id, t.stage, t.tier) for t in finals] == [
        ("T-1001", Stage.FEEDBACK, 1), ("T-1002", Stage.FEEDBACK, 2), ("T-1003", Stage.RESOLVED, 1)]
    assert finals[1].escalation is not None and len(finals[1].escalation.follow_ups) == 1
    assert all(t.version == len(t.history) for t in finals)


def test_demo_output_is_deterministic() -> None:
    """A manual clock makes the demo print the same thing every time (docs rely on it)."""
    first: list[str] = []
    second: list[str] = []
    run_demo(first.append)
    run_demo(second.append)
    assert first == second


def test_python_dash_m_and_version() -> None:
    """python -m escalation_fsm is the same CLI; --version answers; no command is an error."""
    run = subprocess.run([sys.executable, "-m", "escalation_fsm", "--version"], capture_output=True,
                         text=True, check=True)
    assert run.stdout.startswith("escalation-fsm ")
    bad = subprocess.run([sys.executable, "-m", "escalation_fsm"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "COMMAND" in bad.stderr
