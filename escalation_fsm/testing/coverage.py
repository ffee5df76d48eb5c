"""What a stateful run or a set of covers exercised: transitions, guard outcomes, denied roles.

A property test that passes says nothing about what it never tried. The recorder counts, for every
attempt, what the machine did with it; the report compares that with the spec: every transition
committed, every guard of every transition seen both passing and refusing, every role the spec
knows denied on every transition it may not fire, and how many refusals of each kind there were.
``report.check()`` (or ``require_coverage`` on the stateful base) fails the test when something
was never exercised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..errors import HookFailed, InvalidTransition, InvariantViolated, PermissionDenied, TransitionRefused
from ..policy import EscalationPolicy
from ..spec import MachineSpec

if TYPE_CHECKING:
    from ._cover import CoverPath
    from ._negative import RefusalPath

__all__ = ["PARTS", "REFUSAL_KINDS", "CoverageIncomplete", "CoverageRecorder", "CoverageReport",
           "cover_report", "refusal_kind"]

PARTS = ("transitions", "guards", "roles")
"""What :meth:`CoverageReport.check` can require."""

REFUSAL_KINDS = ("guard", "forbidden_role", "invalid_payload", "undefined", "hook_veto",
                 "hook_failed_after", "other")
"""How an attempt can fail: a guard said no, the role may not, the payload model refused it, the
trigger is not defined from the stage, a before-hook vetoed, an after-hook failed (the
transition still committed), or anything else."""

Key = tuple[str, str]
"""``(source stage, trigger)``: one transition."""


class CoverageIncomplete(InvariantViolated):
    """Something in the spec was never exercised; ``missing`` lists it."""

    def __init__(self, message: str, missing: Iterable[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(message)


def refusal_kind(error: BaseException) -> str:
    """The :data:`REFUSAL_KINDS` entry for ``error``."""
    if isinstance(error, TransitionRefused):
        return "guard" if error.failed_guards else "hook_veto"
    if isinstance(error, HookFailed):
        return "hook_veto" if error.phase == "before" else "hook_failed_after"
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (PermissionDenied, "forbidden_role"), (ValidationError, "invalid_payload"),
        (InvalidTransition, "undefined"))
    return next((kind for cls, kind in kinds if isinstance(error, cls)), "other")


def _goal(spec: MachineSpec, key: Key) -> str:
    move = spec.transition(*key)
    target = key[0] if move is None else move.target
    return f"{key[0]} --{key[1]}--> {target}"


@dataclass(frozen=True)
class CoverageReport:
    """Counts per transition, guard outcome, denied role and refusal kind (zeros included).

    ``transitions[(source, trigger)]`` is how often it committed; ``guards[(source, trigger,
    guard)]`` is ``(passed, refused)``; ``roles[(source, trigger, role)]`` how often that role was
    denied; ``refusals[kind]`` how many attempts failed that way. ``str(report)`` is the summary
    printed at the end of a run.
    """

    spec: MachineSpec = field(repr=False)
    runs: int
    attempts: int
    transitions: dict[Key, int]
    guards: dict[tuple[str, str, str], tuple[int, int]]
    roles: dict[tuple[str, str, str], int]
    refusals: dict[str, int]

    def missing(self, parts: Collection[str] = PARTS) -> list[str]:
        """What was never exercised, one sentence each (only the ``parts`` asked for)."""
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown coverage part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
        found: list[str] = []
        if "transitions" in parts:
            found += [f"transition {_goal(self.spec, key)} never committed"
                      for key, count in self.transitions.items() if not count]
        if "guards" in parts:
            for (source, trigger, guard), (passed, refused) in self.guards.items():
                never = [word for word, count in (("passed", passed), ("refused", refused)) if not count]
                if never:
                    found.append(f"guard {guard} of {_goal(self.spec, (source, trigger))} never "
                                 f"{' nor '.join(never)}")
        if "roles" in parts:
            found += [f"role {role} never denied {_goal(self.spec, (source, trigger))}"
                      for (source, trigger, role), count in self.roles.items() if not count]
        return found

    def check(self, parts: Collection[str] = PARTS) -> None:
        """Raise :class:`CoverageIncomplete` if anything in ``parts`` was never exercised."""
        missing = self.missing(parts)
        if missing:
            raise CoverageIncomplete(f"{len(missing)} thing(s) in spec {self.spec.name!r} were never "
                                     f"exercised:\n" + "\n".join(f"  - {m}" for m in missing)
                                     + f"\n{self}", missing)

    def __str__(self) -> str:
        def ratio(counts: Iterable[object]) -> str:
            values = list(counts)
            return f"{sum(1 for v in values if v)}/{len(values)}"
        both = [passed and refused for passed, refused in self.guards.values()]
        kinds = " | ".join(f"{kind} {self.refusals.get(kind, 0):,}" for kind in REFUSAL_KINDS
                           if self.refusals.get(kind) or kind in REFUSAL_KINDS[:4])
        lines = [f"coverage of spec {self.spec.name!r}: {self.runs:,} run(s), {self.attempts:,} attempts",
                 f"  transitions committed:          {ratio(self.transitions.values())}",
                 f"  guard outcomes (passed+refused): {ratio(both)}",
                 f"  roles denied per transition:    {ratio(self.roles.values())}",
                 f"  refusals: {kinds}"]
        missing = self.missing()
        if missing:
            lines.append("  never exercised:")
            lines += [f"    - {line}" for line in missing[:20]]
            if len(missing) > 20:
                lines.append(f"    ... and {len(missing) - 20} more")
        return "\n".join(lines)


class CoverageRecorder:
    """Counts what attempts did; :meth:`report` compares the counts with the spec."""

    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self.runs = 0
        self.attempts = 0
        self.committed: Counter[Key] = Counter()
        self.passed: Counter[tuple[str, str, str]] = Counter()
        self.refused: Counter[tuple[str, str, str]] = Counter()
        self.denied: Counter[tuple[str, str, str]] = Counter()
        self.refusals: Counter[str] = Counter()

    def attempt(self, stage: str, trigger: str, role: str, error: BaseException | None, *,
                committed: bool) -> None:
        """Count one attempt: committed or not, and the error it raised (if any)."""
        self.attempts += 1
        key = (stage, trigger)
        move = self.spec.transition(stage, trigger)
        if committed:
            self.committed[key] += 1
        if error is not None:
            kind = refusal_kind(error)
            self.refusals[kind] += 1
            if kind == "forbidden_role":
                self.denied[(stage, trigger, role)] += 1
        if move is None:
            return
        failed: Collection[str] = ()
        if isinstance(error, TransitionRefused):
            failed = error.failed_guards
        elif error is not None and not committed and not isinstance(error, HookFailed):
            return  # refused before the guards were asked (role, payload)
        for guard in move.guards:
            (self.refused if guard in failed else self.passed)[(stage, trigger, guard)] += 1

    def report(self) -> CoverageReport:
        """The counts so far, with a zero for everything in the spec never exercised."""
        spec = self.spec
        roles = sorted({role for t in spec.transitions for role in t.roles})
        return CoverageReport(
            spec=spec, runs=self.runs, attempts=self.attempts,
            transitions={t.key: self.committed[t.key] for t in spec.transitions},
            guards={(t.source, t.trigger, g): (self.passed[(t.source, t.trigger, g)],
                                               self.refused[(t.source, t.trigger, g)])
                    for t in spec.transitions for g in t.guards},
            roles={(t.source, t.trigger, r): self.denied[(t.source, t.trigger, r)]
                   for t in spec.transitions for r in roles if r not in t.roles},
            refusals=dict(self.refusals),
        )


_DECLARED = (InvalidTransition, PermissionDenied, TransitionRefused, ValidationError, HookFailed)


def cover_report(spec: MachineSpec, *covers: Iterable[CoverPath | RefusalPath],
                 policy: EscalationPolicy | None = None) -> CoverageReport:
    """What the cover paths exercise, as the report a stateful run ends with.

    Replays every path of ``covers`` (from :func:`~escalation_fsm.testing.transition_cover`,
    :func:`~escalation_fsm.testing.guard_cover`, :func:`~escalation_fsm.testing.role_cover`) on
    a machine without hooks and counts each step and each refused attempt; ``runs`` is the
    number of paths.
    """
    from ._cover import cover_machine  # noqa: PLC0415 (the covers need this module's report)

    machine = cover_machine(spec, policy)
    recorder = CoverageRecorder(spec)
    for cover in covers:
        for path in cover:
            recorder.runs += 1
            ticket = path.start
            attempt = getattr(path, "attempt", None)
            for step in (*path.steps, *([attempt] if attempt is not None else [])):
                try:
                    new = step.fire(machine, ticket)
                except _DECLARED as exc:
                    recorder.attempt(ticket.stage, step.trigger, step.role, exc, committed=False)
                    break
                recorder.attempt(ticket.stage, step.trigger, step.role, None, committed=True)
                ticket = new
    return recorder.report()
