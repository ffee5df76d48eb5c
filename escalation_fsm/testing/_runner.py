"""Running a stateful test, and turning its failure into a minimal, replayable regression test.

:func:`run` runs the state machine under hypothesis. When it fails, the last run hypothesis
executed (its shrunk example) is a list of recorded steps; the *final pass* replays that list
without hypothesis, removing chunks of steps (halves, quarters, ... single steps) as long as the
same check still fails at its step, which is cheap because a replay draws nothing. The failure is
re-raised as one :class:`~._checker.RunFailed` whose message names the check and the failing step
and ends with the minimal run as a pytest function; hypothesis's own report of the run (with its
``Draw`` lines) is dropped. Timing of each phase is kept on ``failure.stats``.
"""

from __future__ import annotations

import os
import re
import time
import unittest
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

from hypothesis import HealthCheck, Phase
from hypothesis import settings as Settings  # noqa: N812
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from ..spec import MachineSpec
from ._checker import FAILURES, RunFailed
from .coverage import PARTS, CoverageRecorder, CoverageReport
from .snapshot import SpecSnapshot
from .steps import Call, Fire, Open, Step, render_test

if TYPE_CHECKING:
    from .stateful import EscalationStateMachine

__all__ = ["MAX_REPLAYS", "StateMachineTestCase", "TestCaseProperty", "last_recorder", "minimize",
           "recorder_for", "replay", "run", "snapshot_for", "started"]

MAX_REPLAYS = 2_000
"""The final pass stops after this many replays (a bound on work, whatever the run)."""

_RECORDERS: weakref.WeakKeyDictionary[type, CoverageRecorder] = weakref.WeakKeyDictionary()
_LAST: weakref.WeakKeyDictionary[type, list[Step]] = weakref.WeakKeyDictionary()
_SNAPSHOTS: dict[tuple[str, float], SpecSnapshot] = {}


def recorder_for(cls: type, spec: MachineSpec) -> CoverageRecorder:
    """The coverage recorder of ``cls`` (a new one when none exists or the spec changed)."""
    found = _RECORDERS.get(cls)
    if found is None or found.spec != spec:
        found = _RECORDERS[cls] = CoverageRecorder(spec)
    return found


def last_recorder(cls: type) -> CoverageRecorder | None:
    """The recorder the runs of ``cls`` used last, if any ran."""
    return _RECORDERS.get(cls)


def started(cls: type, steps: list[Step]) -> None:
    """Remember the step list of the run ``cls`` just started (the last one is the shrunk one)."""
    _LAST[cls] = steps


def snapshot_for(reference: str | os.PathLike[str] | SpecSnapshot) -> SpecSnapshot:
    """The snapshot itself, or the one committed at a path (read once per file version)."""
    if isinstance(reference, SpecSnapshot):
        return reference
    path = Path(reference)
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _SNAPSHOTS:
        _SNAPSHOTS[key] = SpecSnapshot.load(path)
    return _SNAPSHOTS[key]


def _invariants(machine: EscalationStateMachine) -> list[Any]:
    # The host's plain hypothesis @invariant methods too (hypothesis marks them with this
    # attribute; if it ever changes, only ticket_invariant/outcome_invariant checks replay).
    cls = type(machine)
    marker = "hypothesis_stateful_invariant"
    found = [getattr(machine, name) for name in dir(cls)
             if name != "procedure_holds" and getattr(getattr(cls, name, None), marker, None)]
    return [machine.procedure_holds, *found]


def replay(cls: type[EscalationStateMachine], steps: Sequence[Step]) -> EscalationStateMachine:
    """Run ``steps`` on a fresh ``cls()`` with every check after each, then its teardown."""
    machine = cls()
    checks = _invariants(machine)
    try:
        try:
            for step in steps:
                if isinstance(step, Call):
                    getattr(machine, step.name)(**step.arguments)
                else:
                    machine.run_step(step)
                for check in checks:
                    check()
        finally:
            machine.teardown()
    except RunFailed as exc:
        # What ran, including the steps the end of the run added (driving tickets to a final
        # stage): the failure's step number counts those too.
        exc.steps = tuple(machine.steps)
        raise
    return machine


def _failure(cls: type[EscalationStateMachine], steps: Sequence[Step]) -> BaseException | None:
    try:
        replay(cls, steps)
    except Exception as exc:  # noqa: BLE001 (any failure is compared with the one being minimized)
        return exc
    return None


def _same(found: BaseException | None, failure: BaseException) -> TypeGuard[BaseException]:
    return (found is not None and type(found) is type(failure)
            and getattr(found, "check", None) == getattr(failure, "check", None))


def _cut(steps: list[Step], failure: BaseException) -> list[Step]:
    """The steps the failure ran (with those the end of the run added), up to its failing step."""
    ran = list(getattr(failure, "steps", ()) or steps)
    step = getattr(failure, "step", None)
    return ran[:step] if isinstance(step, int) else ran


def minimize(cls: type[EscalationStateMachine], steps: Sequence[Step], failure: BaseException,
             ) -> tuple[list[Step], BaseException, int]:
    """The shortest step list found that fails ``failure``'s check: ``(steps, failure, replays)``.

    Removes chunks of steps, halves first then smaller, as long as a replay fails the same check
    (same error type and check name), then tries each remaining step with the simplest payload
    (or ticket fields). Returns ``steps`` unchanged (and ``failure``) when a replay does not
    reproduce it (a flaky host, or state outside the steps). At most :data:`MAX_REPLAYS` replays.
    """
    current = _cut(list(steps), failure)
    found = _failure(cls, current)
    if not _same(found, failure):
        return list(steps), failure, 1
    budget = _Budget()
    current, found = _remove(cls, current, found, budget)
    current, found = _simplify(cls, current, found, budget)
    return current, found, budget.used + 1


_SIMPLE_PAYLOADS = 4
"""Example payloads tried in place of each fired payload (the first often fails a guard)."""


class _Budget:
    def __init__(self) -> None:
        self.used = 0

    def spend(self) -> bool:
        self.used += 1
        return self.used <= MAX_REPLAYS


def _remove(cls: type[EscalationStateMachine], current: list[Step], found: BaseException,
            budget: _Budget) -> tuple[list[Step], BaseException]:
    size = max(1, len(current) // 2)
    while True:
        changed = False
        start = len(current) - size
        while start >= 0 and budget.spend():
            candidate = current[:start] + current[start + size:]
            attempt = _failure(cls, candidate)
            # Strictly shorter: a replay may add steps at its end (driving tickets to a final stage).
            if _same(attempt, found) and len(ran := _cut(candidate, attempt)) < len(current):
                current, found, changed = ran, attempt, True
                start = min(start - size, len(current) - size)
            else:
                start -= size
        if budget.used > MAX_REPLAYS or (size == 1 and not changed):
            return current, found
        if not changed or size > 1:
            size = max(1, size // 2)


def _simplify(cls: type[EscalationStateMachine], current: list[Step], found: BaseException,
              budget: _Budget) -> tuple[list[Step], BaseException]:
    probe = cls()
    try:
        spec, chooser = probe.machine.spec, probe.chooser
        simple_ticket = {"customer_id": "C-1", "category": "other", "details": "Example details"}
        for index, step in enumerate(current):
            options: list[Step] = []
            if isinstance(step, Fire) and spec.has_trigger(step.trigger):
                options = [Fire(step.ticket_id, step.trigger, step.role, p)
                           for p in chooser.candidates(step.trigger)[:_SIMPLE_PAYLOADS]]
            elif isinstance(step, Open):
                options = [Open(step.ticket_id, **{**step.fields, **simple_ticket})]
            for option in options:
                if option == step or not budget.spend():
                    continue
                candidate = [*current[:index], option, *current[index + 1:]]
                attempt = _failure(cls, candidate)
                if _same(attempt, found) and len(ran := _cut(candidate, attempt)) <= len(current):
                    current, found = ran, attempt
                    break
    finally:
        probe.teardown()
    return current, found


def _slug(check: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", check.lower()).strip("_")[:50] or "failure"


def run(cls: type[EscalationStateMachine], settings: Settings | None = None) -> CoverageReport:
    """Run ``cls`` as a property test (see :meth:`EscalationStateMachine.run`)."""
    _RECORDERS.pop(cls, None)
    FAILURES.pop(cls, None)
    chosen = settings if settings is not None else cls.TestCase.settings
    # The explain phase only annotates hypothesis's report, which is replaced; shrinking is the
    # final pass's job unless the class asks for hypothesis's (see shrink_with_hypothesis).
    phases = [p for p in chosen.phases if p is not Phase.explain
              and (cls.shrink_with_hypothesis or p is not Phase.shrink)]
    began = time.perf_counter()
    try:
        run_state_machine_as_test(cls, settings=Settings(chosen, report_multiple_bugs=False,
                                                         phases=phases))
    except HypothesisException:
        raise  # hypothesis's own errors (flaky, unsatisfiable, health checks) say what they say
    except Exception as exc:  # noqa: BLE001 (whatever failed the run is minimized and reported)
        failure = _reported(cls, exc, began)
        raise failure from failure.__cause__
    report = cls.coverage()
    required = cls.require_coverage
    if required:
        report.check(PARTS if required is True else required)
    return report


def _reported(cls: type[EscalationStateMachine], exc: Exception, began: float) -> RunFailed:
    shrunk = list(_LAST.get(cls, []))
    found_at, found_steps = FAILURES.pop(cls, (time.perf_counter(), len(shrunk)))
    searched = time.perf_counter()
    if not isinstance(exc, RunFailed):
        original: BaseException = exc
        exc = RunFailed(f"{type(exc).__name__} raised", len(shrunk), f"{type(exc).__name__}: {exc}")
        exc.__cause__ = original
    steps, found, replays = minimize(cls, shrunk, exc)
    final = found if isinstance(found, RunFailed) else exc
    done = time.perf_counter()
    failure = RunFailed(final.check, final.step, final.detail)
    # The host's exception (a hook's, an invariant's assertion), not hypothesis's noted copy.
    failure.__cause__ = final.__cause__
    failure.steps = tuple(steps)
    failure.stats = {
        "found_s": found_at - began, "found_steps": found_steps,
        "shrink_s": searched - found_at, "shrunk_steps": len(shrunk),
        "final_pass_s": done - searched, "final_steps": len(steps), "replays": replays,
    }
    failure.test_source = render_test(
        cls, steps, name=f"test_{_slug(final.check)}_regression",
        doc=f"Found by {cls.__name__}.run(): check {final.check!r} failed at step {final.step}.")
    fires = sum(1 for s in steps if type(s).__name__ == "Fire")
    how = "shrunk by hypothesis to" if cls.shrink_with_hypothesis else "found by hypothesis in"
    failure.args = (f"{failure.args[0]}\n\nMinimal run: {len(steps)} steps ({fires} triggers; "
                    f"{how} a run of {len(shrunk)} steps, cut by replaying to {len(steps)} in "
                    f"{replays} replays). As a regression test:\n\n{failure.test_source}\n",)
    return failure


class StateMachineTestCase(unittest.TestCase):
    """The base of every ``MyMachine.TestCase``: its ``settings`` are what :func:`run` uses."""

    settings: ClassVar[Settings]


class TestCaseProperty:
    """``MyMachine.TestCase``: a ``unittest.TestCase`` that pytest collects; it calls :func:`run`.

    Its ``settings`` can be assigned (``MyMachine.TestCase.settings = settings(...)``); the
    coverage report is printed (``pytest -s`` or ``-rP`` shows it).
    """

    def __get__(self, obj: object, owner: type | None = None) -> type[StateMachineTestCase]:
        cls: Any = type(obj) if obj is not None else owner
        cached: type[StateMachineTestCase] | None = cls.__dict__.get("_escalation_test_case")
        if cached is not None:
            return cached

        class TestCase(StateMachineTestCase):
            settings = Settings(deadline=None, suppress_health_check=list(HealthCheck))

            def runTest(self) -> None:  # noqa: N802 (unittest's name)
                print(run(cls, self.settings))

        TestCase.__name__ = f"{cls.__name__}.TestCase"
        TestCase.__qualname__ = f"{cls.__qualname__}.TestCase"
        type.__setattr__(cls, "_escalation_test_case", TestCase)
        return TestCase
