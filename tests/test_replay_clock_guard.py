"""A guard that reads the clock: the limit of remembered replays, and the way around it.

Remembered outcomes (per ticket state, or per trace prefix) assume that a step's outcome does not
depend on when it happened. A guard reading ``GuardContext.now`` breaks that; docs/replay.md
("Speed and memory") says so and names ``cache_traces=False``, which ``review()`` passes on.
"""

from __future__ import annotations

from pathlib import Path

from escalation_fsm import Decision, GuardContext, GuardSpec, TransitionSpec, TriggerSpec
from escalation_fsm.replay import logged_procedure_spec, parse_mapping, review


def _on_weekday(ctx: GuardContext) -> Decision:
    return Decision.require(ctx.now.weekday() < 5, "nobody works at weekends")


WEEKDAY_SPEC = logged_procedure_spec().extend(
    triggers=[TriggerSpec(name="work", description="Work on the ticket.")],
    guards=[GuardSpec(name="on_weekday", check=_on_weekday, requirement="on a weekday",
                      ticket_fields=frozenset({"stage"}))],
    transitions=[TransitionSpec(trigger="work", source="attempted", roles={"agent"},
                                guards=("on_weekday",))])

MAPPING = """\
name = "weekdays"
spec = "test_replay_clock_guard:WEEKDAY_SPEC"
observable_guards = ["on_weekday"]
[columns]
case = "case"
activity = "activity"
timestamp = "at"
[activities]
"Open" = "attempt"
"Work" = "work"
"Solve" = "resolve"
"Close" = "close"
"""

LOG = """case,activity,at
weekday,Open,2024-01-03T09:00:00Z
weekday,Work,2024-01-03T10:00:00Z
weekday,Solve,2024-01-03T11:00:00Z
weekday,Close,2024-01-03T12:00:00Z
saturday,Open,2024-01-05T09:00:00Z
saturday,Work,2024-01-06T10:00:00Z
saturday,Solve,2024-01-08T11:00:00Z
saturday,Close,2024-01-08T12:00:00Z
"""


def test_a_clock_reading_guard_needs_every_case_fired(tmp_path: Path) -> None:
    """With ``cache_traces=False`` the Saturday case is refused by the clock guard; the cached
    replay reuses the weekday case's outcome for the same trace (the documented limit)."""
    log = tmp_path / "weekdays.csv"
    log.write_text(LOG, encoding="utf-8")
    exact = review(log, parse_mapping(MAPPING), cache_traces=False)
    assert (exact.overall.fitting, exact.overall.deviating) == (1, 1)
    [problem] = exact.top_deviations
    assert problem.examples == ["saturday"]
    assert problem.rule == "work from attempted: refused by on_weekday"
    cached = review(log, parse_mapping(MAPPING))
    assert (cached.overall.fitting, cached.overall.deviating) == (2, 0)
