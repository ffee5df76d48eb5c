"""The pytest plugin, loaded the way a host's pytest loads it: through the pytest11 entry point.

Our own run disables the entry point (``-p no:escalation_fsm`` in pyproject.toml, see the comment
there), so these tests run an inner pytest with pytester, which loads installed entry points.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).resolve().parent.parent
# ```py blocks of docs/testing.md are pytest files (they need fixtures); ```python blocks run in
# tests/test_docs.py.
PYTEST_BLOCK = re.compile(r"^```py\n(.*?)^```", re.DOTALL | re.MULTILINE)

FIXTURE_TESTS = '''
from datetime import UTC, datetime

from escalation_fsm import EscalationMachine, ManualClock, MachineSpec, Ticket


def test_defaults(escalation_spec, escalation_machine, escalation_clock, escalation_actors,
                  escalation_policy):
    assert isinstance(escalation_spec, MachineSpec) and escalation_spec.name.startswith("customer")
    assert isinstance(escalation_machine, EscalationMachine)
    assert escalation_machine.clock is escalation_clock and escalation_machine.policy is escalation_policy
    assert escalation_clock.now() == escalation_clock.now() == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert sorted(escalation_actors) == ["agent", "customer", "supervisor", "system", "tier2"]
    assert escalation_actors["tier2"].id == "tier2-1"


def test_ticket_factory(escalation_ticket_factory, escalation_machine):
    fresh = escalation_ticket_factory()
    assert fresh.stage == "identified" and fresh.version == 0
    assert escalation_ticket_factory().id != fresh.id
    custom = escalation_ticket_factory(details="Printer on fire", customer_id="C-7")
    assert custom.details == "Printer on fire" and custom.customer_id == "C-7"
    for stage in escalation_machine.spec.stage_names:
        ticket = escalation_ticket_factory(stage)
        assert ticket.stage == stage and ticket.version == len(ticket.history)
    assert escalation_ticket_factory("identified").version == 0
'''

OVERRIDE = '''
import pytest

from escalation_fsm import StageSpec, TransitionSpec, TriggerSpec, default_spec


@pytest.fixture
def escalation_spec():
    return default_spec().extend(
        stages=[StageSpec(name="feedback", description="Feedback."),
                StageSpec(name="closed", description="Closed.", final=True)],
        triggers=[TriggerSpec(name="close", description="Close.")],
        transitions=[TransitionSpec(trigger="close", source="feedback", dest="closed",
                                    roles={"archivist"})])


def test_overridden_spec(escalation_ticket_factory, escalation_actors):
    assert escalation_ticket_factory("closed").history[-1].actor_role == "archivist"
    assert "archivist" in escalation_actors
'''


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_host=source)
    # A subprocess: a host's pytest, with nothing of our own configuration or plugins loaded.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")


def test_fixtures_are_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    """Without any conftest, a host's tests get the fixtures and they behave as documented."""
    run(pytester, FIXTURE_TESTS).assert_outcomes(passed=2)


def test_hosts_override_the_spec_fixture(pytester: pytest.Pytester) -> None:
    """Overriding escalation_spec changes the machine, actors and factory built on it."""
    run(pytester, OVERRIDE).assert_outcomes(passed=1)


def test_the_documented_pytest_example_runs(pytester: pytest.Pytester) -> None:
    """The ```py blocks of docs/testing.md run as a host's test file."""
    blocks = PYTEST_BLOCK.findall((ROOT / "docs" / "testing.md").read_text(encoding="utf-8"))
    assert blocks, "docs/testing.md lost its pytest example"
    source = "\n".join(blocks)
    run(pytester, source).assert_outcomes(passed=len(re.findall(r"^def test_", source, re.MULTILINE)))


SNAPSHOT_TEST = '''
from pathlib import Path

from escalation_fsm import default_spec
from escalation_fsm.testing import check_snapshot


def test_procedure_is_approved():
    check_snapshot(default_spec(), Path(__file__).parent / "procedure.json")
'''


def test_the_snapshot_option_writes_what_check_snapshot_compares(pytester: pytest.Pytester) -> None:
    """Without the option a missing snapshot fails; with it, it is written, then the test passes."""
    from escalation_fsm.pytest_plugin import UPDATE_SNAPSHOTS_ENV
    from escalation_fsm.testing.snapshot import UPDATE_ENV

    assert UPDATE_SNAPSHOTS_ENV == UPDATE_ENV
    pytester.makepyfile(test_host=SNAPSHOT_TEST)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(failed=1)
    assert not (pytester.path / "procedure.json").exists()
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--update-escalation-snapshots"
                                  ).assert_outcomes(passed=1)
    assert (pytester.path / "procedure.json").exists()
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_module_imports_no_hypothesis() -> None:
    """It is loaded in every pytest run of a host, also without the testing extra."""
    code = ("import sys, escalation_fsm.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith(('hypothesis', 'escalation_fsm.testing'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fixture_bodies_in_process(pytester: pytest.Pytester) -> None:
    """The same fixtures in-process, so that coverage sees the plugin's code run."""
    pytester.makepyfile(test_host=FIXTURE_TESTS)
    # The inner in-process run loads the entry point itself (our -p no: is not in its config).
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
