"""Training opportunities: only differences that stand out, in words, with their intervals."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_fsm.replay.training import TrainingCase, TrainingFigures, wilson_interval

CATEGORIES = ("billing", "technical", "account_access", "other")


def workload(seed: int, *, biased: str | None = None, tickets: int = 4000,
             agents: int = 10) -> list[TrainingCase]:
    """Tickets taken by ``agents`` agents at random; ``biased`` escalates billing 3x as often."""
    rnd = random.Random(seed)
    cases = []
    for _ in range(tickets):
        agent, category = f"a-{rnd.randrange(agents)}", rnd.choice(CATEGORIES)
        escalated = rnd.random() < (0.6 if agent == biased and category == "billing" else 0.2)
        reopened = rnd.random() < 0.1
        cases.append(TrainingCase(category=category, agent=agent, escalated=escalated,
                                  resolved_first_contact=not escalated and not reopened,
                                  first_response_seconds=rnd.expovariate(1 / 3600),
                                  resolver=agent, reopened=reopened))
    return cases


def findings(cases: list[TrainingCase], **options: object) -> list[str]:
    figures = TrainingFigures(**options)  # type: ignore[arg-type]
    figures.extend(cases)
    return [f.text for f in figures.section().findings]


def test_wilson_interval_matches_the_textbook() -> None:
    """41 of 100 at 95%: 0.3187-0.5080 (Wilson 1927, as in Newcombe 1998, table I)."""
    low, high = wilson_interval(41, 100)
    assert (round(low, 4), round(high, 4)) == (0.3187, 0.508)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(5, 4)


def test_a_seeded_agent_is_flagged_in_words() -> None:
    """An agent who escalates billing tickets three times as often is named, with the ratio, the
    rates and the number of tickets."""
    texts = findings(workload(7, biased="a-3"))
    assert texts, "the biased agent was not flagged"
    assert texts[0].startswith("a-3 escalates billing tickets ")
    assert "as often as the rest of the team" in texts[0] and "tickets)" in texts[0]
    assert all(text.startswith("a-3 ") for text in texts)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_nobody_is_flagged_without_a_difference(seed: int) -> None:
    """Invariant: in a workload where every agent behaves alike, no finding is reported (the
    intervals are widened for the number of comparisons)."""
    assert findings(workload(seed)) == []


def test_four_tickets_are_never_a_finding() -> None:
    """Below ``min_tickets`` nothing is judged, however extreme the rate: 4 tickets never are,
    and 8 escalated out of 8 are a finding only once ``min_tickets`` allows 8."""
    cases = workload(1, tickets=400)
    extreme = [TrainingCase("billing", "new", True, False, 60.0, None, False)]
    assert findings(cases + extreme * 4) == []
    assert findings(cases + extreme * 8, min_tickets=10) == []
    assert any(t.startswith("new escalates") for t in findings(cases + extreme * 8, min_tickets=8))


def test_teams_and_pseudonyms() -> None:
    """A team mapping adds team findings; pseudonymising hides every agent id."""
    cases = workload(7, biased="a-3")
    teams = {f"a-{i}": "red" if i < 4 else "blue" for i in range(10)}
    figures = TrainingFigures(teams=teams, pseudonymise=True)
    figures.extend(cases)
    section = figures.section()
    assert section.pseudonymised and section.teams == 2 and section.agents == 10
    assert all("a-3" not in f.text and f.subject != "a-3" for f in section.findings)
    assert any(f.subject.startswith("agent-") for f in section.findings)
    keyed = TrainingFigures(pseudonymise="k")
    keyed.extend(cases)
    again = TrainingFigures(pseudonymise="k")
    again.extend(cases)
    assert keyed.section() == again.section()   # a given key gives stable pseudonyms


def test_slow_first_responses_stand_out() -> None:
    """An agent whose first responses take ten times as long is flagged on that measure."""
    rnd = random.Random(3)
    cases = [TrainingCase("billing", agent, False, True,
                          rnd.expovariate(1 / (36000 if agent == "slow" else 3600)), agent, False)
             for agent in ("slow", "a", "b", "c") * 100]
    texts = findings(cases)
    assert any(t.startswith("slow takes ") and "to first respond to billing" in t for t in texts)


def test_a_resolver_whose_tickets_reopen_is_flagged_with_exact_counts() -> None:
    """Reopenings count against the agent who resolved: 30 of the 60 technical tickets r-1
    resolved reopened, against 8 of 240 for the others. The finding carries those exact rates
    and ticket counts, and nobody who only took the tickets is blamed for the reopenings."""
    cases = [TrainingCase("technical", f"t-{n % 4}", False, True, 600.0, f"r-{n % 5}",
                          (n % 5 == 1 and n % 2 == 0) or (n % 5 != 1 and n % 40 == 0))
             for n in range(300)]
    figures = TrainingFigures()
    figures.extend(cases)
    reopen = [f for f in figures.section().findings if f.measure == "reopen_rate"]
    assert [(f.subject, f.tickets, f.value, f.rest_tickets, f.rest_value) for f in reopen] == [
        ("r-1", 60, 0.5, 240, round(8 / 240, 4))]
    assert reopen[0].text.startswith("r-1 sees the technical tickets they resolved reopened ")
