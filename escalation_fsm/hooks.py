"""Host hooks: what the host system does when a ticket moves, and how their failures are handled.

Semantics (also in the README):

* ``before`` hooks run after the guards passed and before the transition commits. They see the
  proposed new ticket. If one raises, the transition is **vetoed**: ``fire`` raises
  :class:`~escalation_fsm.errors.HookFailed` (``phase="before"``, the original exception chained)
  and nothing changes; the remaining before-hooks do not run. A before-hook may raise
  :class:`~escalation_fsm.errors.TransitionRefused` itself to refuse with its own reasons.
* ``after`` hooks (per trigger) and ``enter`` hooks (per stage entered) run once the transition is
  committed. **All** of them run even if some fail. If any failed, ``fire`` raises ``HookFailed``
  (``phase="after"``) whose ``.ticket`` is the committed new ticket, so it is never lost and the
  failure is never silent.
* After- and enter-hooks may be ``async def``: an async store (``AsyncSQLiteStore``,
  ``AsyncPostgresStore``) and :meth:`~escalation_fsm.EscalationMachine.run_after_hooks_async`
  await them, in registration order, one at a time. The synchronous ``fire`` and stores cannot
  await: there an async hook is reported as a failure (``HookFailed``, ``phase="after"``) and
  its coroutine is closed without running. Before-hooks are always synchronous (they run inside
  the transition, which an async store computes on the event loop): registering an
  ``async def`` one raises ``TypeError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from .errors import HookFailed, TransitionRefused
from .models import Actor, AuditRecord, Ticket
from .payloads import Payload
from .typing import Hook

__all__ = ["Hook", "HookRegistry", "Phase", "TransitionEvent"]

Phase = Literal["before", "after", "enter"]


@dataclass(frozen=True, slots=True)
class TransitionEvent:
    """What a hook is told: who fired what, with which payload, and the ticket before and after."""

    trigger: str
    source: str
    dest: str
    actor: Actor
    payload: Payload
    before: Ticket
    after: Ticket
    record: AuditRecord


H = TypeVar("H", bound=Hook)


def _checked_key(phase: Phase, key: object, known: tuple[str, ...]) -> str | None:
    kind = "on_enter" if phase == "enter" else phase
    what = "stage" if phase == "enter" else "trigger"
    if key is None:
        return None
    if callable(key) and not isinstance(key, str):
        raise TypeError(f"@machine.{kind} takes a name: write @machine.{kind}() for every "
                        f"{what}, or @machine.{kind}(name)")
    if str(key) not in known:
        raise ValueError(f"cannot register a {kind} hook on unknown {what} {str(key)!r}; "
                         f"the spec's {what}s are: {', '.join(known)}")
    return str(key)


def _name(hook: Hook) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)


class HookRegistry:
    """Hooks registered on one machine, by phase and trigger (or stage, for ``enter``).

    The key ``None`` means "every trigger" (or "every stage entered").
    """

    def __init__(self) -> None:
        self._hooks: dict[tuple[Phase, str | None], list[Hook]] = {}
        self.active = False
        """Whether any hook is registered (a plain attribute: ``fire`` asks on every call)."""

    def __bool__(self) -> bool:
        """Whether any hook is registered (lets ``fire`` skip building hook events)."""
        return self.active

    def add(self, phase: Phase, key: str | None, hook: Hook) -> None:
        """Register ``hook`` for ``phase`` on trigger/stage ``key`` (``None``: all)."""
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got {hook!r}")
        if phase == "before" and inspect.iscoroutinefunction(hook):
            raise TypeError(f"before-hook {_name(hook)} is async; before-hooks must be plain "
                            f"functions (they run inside the transition and may veto it); "
                            f"after- and enter-hooks may be async")
        self._hooks.setdefault((phase, None if key is None else str(key)), []).append(hook)
        self.active = True

    def decorator(self, phase: Phase, key: object, known: tuple[str, ...]) -> Callable[[H], H]:
        """``@registry.decorator("after", name, known)`` registers and returns the function.

        ``key`` must be one of ``known`` (the spec's trigger names, or stage names for
        ``enter``) or ``None`` for all: a typo, or ``@machine.after`` without parentheses, would
        otherwise register a hook that silently never runs.
        """
        name = _checked_key(phase, key, known)

        def register(hook: H) -> H:
            self.add(phase, name, hook)
            return hook
        return register

    def _for(self, phase: Phase, key: str) -> list[Hook]:
        return [*self._hooks.get((phase, None), ()), *self._hooks.get((phase, key), ())]

    def run_before(self, event: TransitionEvent) -> None:
        """Run the before-hooks; the first failure vetoes the transition."""
        for hook in self._for("before", event.trigger):
            try:
                hook(event)
            except TransitionRefused:
                raise
            except Exception as exc:
                raise HookFailed(phase="before", trigger=event.trigger, ticket=event.before,
                                 failures=[(_name(hook), exc)]) from exc

    def _after(self, event: TransitionEvent) -> tuple[Hook, ...]:
        hooks = self._for("enter", event.dest) if event.dest != event.source else []
        return (*hooks, *self._for("after", event.trigger))

    def run_after(self, event: TransitionEvent) -> list[tuple[str, BaseException]]:
        """Run every enter- and after-hook; return the failures instead of stopping at one.

        An ``async def`` hook cannot be awaited here: it counts as failed (``TypeError``).
        """
        failures: list[tuple[str, BaseException]] = []
        for hook in self._after(event):
            try:
                outcome = hook(event)
            except Exception as exc:  # noqa: BLE001 (every after-hook runs; failures are re-raised together)
                failures.append((_name(hook), exc))
                continue
            if inspect.isawaitable(outcome):
                if inspect.iscoroutine(outcome):
                    outcome.close()  # never run: say so, instead of "never awaited" warnings
                failures.append((_name(hook), TypeError(
                    f"{_name(hook)} is async, and a synchronous fire or store cannot await it: "
                    f"use an async store, or machine.run_after_hooks_async")))
        return failures

    async def run_after_async(self, event: TransitionEvent) -> list[tuple[str, BaseException]]:
        """:meth:`run_after` for async callers: awaits hooks that are ``async def``, in order."""
        failures: list[tuple[str, BaseException]] = []
        for hook in self._after(event):
            try:
                outcome = hook(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:  # noqa: BLE001 (every after-hook runs; failures are re-raised together)
                failures.append((_name(hook), exc))
        return failures
