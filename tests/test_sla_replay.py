"""SLA breach rates in the replay review report, on a hand-made log whose answers are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_fsm.replay import render_report, review
from escalation_fsm.replay.engine import urgency_of
from escalation_fsm.sla import SLAPolicy

# Office hours 09-17 UTC, Monday 2026-01-05. Normal: first response 4h, resolution 40h.
LOG = """case,activity,at,priority
A,Open,2026-01-05T09:00:00+00:00,3 - Moderate
A,Attempt,2026-01-05T10:00:00+00:00,3 - Moderate
A,Resolve,2026-01-05T11:00:00+00:00,3 - Moderate
B,Open,2026-01-05T09:00:00+00:00,3 - Moderate
B,Attempt,2026-01-06T15:00:00+00:00,3 - Moderate
B,Resolve,2026-01-12T10:00:00+00:00,3 - Moderate
C,Open,2026-01-05T09:00:00+00:00,1 - Critical
C,Attempt,2026-01-05T10:00:00+00:00,1 - Critical
"""
MAPPING = """name = "sla-test"
spec = "default"
[columns]
case = "case"
activity = "activity"
timestamp = "at"
priority = "priority"
[activities]
"Attempt" = "attempt"
"Resolve" = "resolve"
"""
IGNORE = 'ignore = ["Open"]\n'


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    log, mapping = tmp_path / "log.csv", tmp_path / "m.toml"
    log.write_text(LOG, encoding="utf-8")
    mapping.write_text(MAPPING.replace("[columns]", IGNORE + "[columns]"), encoding="utf-8")
    return log, mapping


def test_breach_rates_from_logged_times(files: tuple[Path, Path]) -> None:
    """A met both clocks; B answered after 14 office hours and resolved after 41; C (critical, 30 min
    target) answered after an hour and is still open within its 8-hour resolution target."""
    report = review(*files, sla=SLAPolicy(), sla_source="default")
    rates = {r.clock: r for r in report.sla_breach_rates}
    assert (rates["first_response"].decided, rates["first_response"].breached) == (3, 2)
    assert rates["first_response"].rate == round(2 / 3, 4)
    assert (rates["resolution"].decided, rates["resolution"].breached) == (2, 1)
    assert set(rates) == {"first_response", "resolution"}   # no escalation, no ETA in the log
    assert report.sla_policy == SLAPolicy().fingerprint
    table = render_report(report, "table")
    assert "SLA breach rates (business time)" in table and "66.7%" in table


def test_breach_rates_can_be_left_out(files: tuple[Path, Path]) -> None:
    """``sla=None``: no measuring, no section."""
    report = review(*files, sla=None)
    assert report.sla_breach_rates == [] and report.sla_policy is None
    assert "SLA breach rates" not in render_report(report, "markdown")


def test_a_policy_of_ones_own(files: tuple[Path, Path]) -> None:
    """A 24/7 calendar: B's first response took 30 elapsed hours, still a breach; A's did not."""
    from escalation_fsm.sla import BusinessCalendar

    report = review(*files, sla=SLAPolicy(calendar=BusinessCalendar.always()))
    rates = {r.clock: r for r in report.sla_breach_rates}
    assert (rates["first_response"].decided, rates["first_response"].breached) == (3, 2)
    assert (rates["resolution"].decided, rates["resolution"].breached) == (2, 1)


@pytest.mark.parametrize(("text", "urgency"), [
    ("1 - Critical", "critical"), ("2 - High", "high"), ("3 - Moderate", "normal"),
    ("4 - Low", "low"), ("urgent", "critical"), ("P9", "normal"), (None, "normal")])
def test_log_priorities_map_to_urgencies(text: str | None, urgency: str) -> None:
    """Priority text names an urgency by word; anything unclear counts as normal."""
    assert urgency_of(text) == urgency
