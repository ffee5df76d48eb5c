"""Exact replay results on the fixtures derived from the two real logs: which cases fit, and why
the others do not."""

from __future__ import annotations

import pytest
from replay_helpers import HELPDESK, SERVICENOW

from escalation_fsm.replay import CaseResult, LogStats, Replayer, shipped_mapping

# case id -> (status, final stage, first deviation (event index, stage, trigger, kind), deviations)
HELPDESK_EXPECTED = {
    "Case1": ("fits", "closed", None, 0),
    "Case2": ("fits", "closed", None, 0),
    "Case5": ("fits", "closed", None, 0),
    "Case9": ("fits", "closed", None, 0),
    "Case20": ("fits", "closed", None, 0),
    "Case26": ("fits", "closed", None, 0),
    "Case34": ("fits", "closed", None, 0),
    "Case100": ("fits", "closed", None, 0),
    "Case114": ("fits", "closed", None, 0),
    "Case150": ("fits", "closed", None, 0),
    "Case199": ("fits", "closed", None, 0),
    "Case230": ("fits", "closed", None, 0),
    "Case1345": ("fits", "closed", None, 0),
    "Case3897": ("fits", "closed", None, 0),
    # Resolved and never closed when the log was extracted: not a deviation, not finished.
    "Case28": ("open", "resolved", None, 0),
    "Case342": ("open", "resolved", None, 0),
    # Resolved straight after "Assign seriousness": nobody took it in charge first.
    "Case35": ("deviates", "identified", (1, "identified", "resolve", "not_allowed"), 2),
    "Case56": ("deviates", "identified", (1, "identified", "resolve", "not_allowed"), 2),
    # "Create SW anomaly" (escalation) before anybody attempted the ticket.
    "Case58": ("deviates", "identified", (1, "identified", "escalate", "not_allowed"), 4),
    "Case732": ("deviates", "closed", (1, "identified", "escalate", "not_allowed"), 1),
    # Put on hold before anybody took it in charge.
    "Case64": ("deviates", "closed", (2, "identified", "wait", "not_allowed"), 1),
    "Case88": ("deviates", "closed", (2, "identified", "wait", "not_allowed"), 1),
    # "Resolve ticket" twice in a row.
    "Case18": ("deviates", "closed", (3, "resolved", "resolve", "not_allowed"), 1),
    "Case37": ("deviates", "closed", (3, "resolved", "resolve", "not_allowed"), 1),
    # Seriousness re-assigned while the ticket was being worked / after it was resolved.
    "Case2805": ("deviates", "closed", (3, "attempted", "classify", "not_allowed"), 2),
    "Case3121": ("deviates", "closed", (3, "resolved", "classify", "not_allowed"), 1),
    # "Resolve SW anomaly" (a Tier 2 follow-up) without an escalation.
    "Case3271": ("deviates", "closed", (2, "attempted", "follow_up", "not_allowed"), 1),
    # Put on hold after it was resolved.
    "Case262": ("deviates", "closed", (4, "resolved", "wait", "not_allowed"), 2),
    "Case2463": ("deviates", "closed", (3, "resolved", "wait", "not_allowed"), 2),
    # Closed twice; worked again after it was closed.
    "Case130": ("deviates", "closed", (5, "closed", "close", "not_allowed"), 1),
    "Case916": ("deviates", "closed", (4, "closed", "close", "not_allowed"), 1),
    "Case192": ("deviates", "closed", (5, "closed", "attempt", "not_allowed"), 3),
}

SERVICENOW_EXPECTED = {
    **dict.fromkeys((
        "INC0000045", "INC0000047", "INC0000060", "INC0000062", "INC0000064", "INC0000071",
        "INC0000079", "INC0000112", "INC0000114", "INC0000130", "INC0000132", "INC0000134",
        "INC0000164", "INC0000356", "INC0000508", "INC0028089"), ("fits", "closed", None, 0)),
    # Still being worked when the log ends.
    "INC0029233": ("open", "attempted", None, 0),
    # Created straight as "Resolved": the first-contact attempt was never recorded.
    "INC0000093": ("deviates", "identified", (0, "identified", "resolve", "not_allowed"), 2),
    "INC0000160": ("deviates", "identified", (0, "identified", "resolve", "not_allowed"), 2),
    # Created straight as "Awaiting User Info".
    "INC0000333": ("deviates", "identified", (0, "identified", "wait", "not_allowed"), 3),
    "INC0000336": ("deviates", "identified", (0, "identified", "wait", "not_allowed"), 3),
    # No category: the has_category guard (observable here) refuses the first attempt.
    "INC0000358": ("deviates", "identified", (0, "identified", "attempt", "refused"), 3),
    "INC0000359": ("deviates", "identified", (0, "identified", "attempt", "refused"), 4),
    # Closed without being resolved.
    "INC0000135": ("deviates", "attempted", (7, "attempted", "close", "not_allowed"), 1),
    "INC0003115": ("deviates", "attempted", (1, "attempted", "close", "not_allowed"), 1),
    # Reassigned to another group (an escalation) after it was resolved.
    "INC0000885": ("deviates", "closed", (3, "resolved", "escalate", "not_allowed"), 1),
    "INC0007338": ("deviates", "closed", (7, "resolved", "escalate", "not_allowed"), 2),
    # Put on hold after it was resolved.
    "INC0004721": ("deviates", "closed", (3, "resolved", "wait", "not_allowed"), 2),
    # Worked again after it was closed.
    "INC0001894": ("deviates", "closed", (6, "closed", "attempt", "not_allowed"), 3),
    "INC0003300": ("deviates", "closed", (7, "closed", "attempt", "not_allowed"), 4),
}


def replay(name: str) -> tuple[list[CaseResult], LogStats]:
    path = HELPDESK if name == "helpdesk" else SERVICENOW
    stats = LogStats(source=str(path))
    return list(Replayer(shipped_mapping(name)).replay(path, stats)), stats


def summary(result: CaseResult) -> tuple[object, ...]:
    first = result.first_deviation
    where = None if first is None else (first.index, first.stage, first.trigger, first.kind)
    return (result.status, result.final_stage, where, len(result.deviations))


@pytest.mark.parametrize(("name", "expected"), [("helpdesk", HELPDESK_EXPECTED),
                                                 ("servicenow", SERVICENOW_EXPECTED)])
def test_every_case_has_the_pinned_outcome(name: str, expected: dict[str, tuple[object, ...]]) -> None:
    """Each fixture case fits, is open, or deviates at the pinned event for the pinned reason."""
    results, _ = replay(name)
    assert {r.case_id: summary(r) for r in results} == expected


def test_helpdesk_reasons_are_sentences() -> None:
    """A deviation names the event, its time and line, and says in words what was not allowed."""
    results, _ = replay("helpdesk")
    case35 = next(r for r in results if r.case_id == "Case35")
    first = case35.first_deviation
    assert first is not None
    assert (first.activity, first.line, first.at.isoformat()) == (
        "Resolve ticket", 91, "2012-01-18T09:46:37+00:00")
    assert first.rule == "resolve from identified: not allowed"
    assert first.reason == ("'resolve' is not allowed in stage 'identified' "
                            "(allowed there: attempt, classify, record_interaction)")
    # After a deviation the replay goes on from the same stage, so closing is refused too.
    assert [d.trigger for d in case35.deviations] == ["resolve", "close"]


def test_servicenow_missing_category_is_refused_by_the_guard() -> None:
    """The has_category guard is observable with a category column, and its sentence is kept."""
    results, _ = replay("servicenow")
    first = next(r for r in results if r.case_id == "INC0000358").first_deviation
    assert first is not None
    assert first.rule == "attempt from identified: refused by has_category"
    assert first.reason.startswith("the ticket has no category")


def test_servicenow_reassignment_is_an_escalation() -> None:
    """A rise of reassignment_count fires escalate before the row's state change."""
    results, _ = replay("servicenow")
    escalated = {r.case_id for r in results if ("attempted", "escalate") in r.fired}
    assert escalated
    assert all(r.escalated for r in results if r.case_id in escalated)


def test_read_statistics() -> None:
    """Rows, cases, skipped unknown activities and reordered cases are counted."""
    _, helpdesk = replay("helpdesk")
    assert (helpdesk.rows, helpdesk.cases, dict(helpdesk.unknown), helpdesk.reordered_cases) == (
        194, 32, {"VERIFIED": 3, "RESOLVED": 2, "INVALID": 2, "DUPLICATE": 1}, 0)
    _, servicenow = replay("servicenow")
    assert (servicenow.rows, servicenow.cases, dict(servicenow.unknown),
            servicenow.reordered_cases) == (205, 30, {"-100": 2}, 4)


def test_time_in_stage_adds_up_to_the_case_duration() -> None:
    """The time spent in the stages of a case is at most the time from its first to its last
    event: all of it but the time spent in a final stage (a closed ticket touched again later is
    not "in" closed), when the clock agrees with the replay order."""
    backwards = []
    for name in ("helpdesk", "servicenow"):
        results, _ = replay(name)
        for r in results:
            total = sum(r.stage_seconds.values())
            assert all(seconds >= 0 for seconds in r.stage_seconds.values())
            assert not set(r.stage_seconds) & {"closed", "feedback"}
            if total <= (r.end - r.start).total_seconds() + 1e-6:
                continue
            backwards.append(r.case_id)
            assert r.clock_backwards
    # ServiceNow orders rows by sys_mod_count; in these incidents the clock disagrees.
    assert backwards == ["INC0000135", "INC0000164"]
