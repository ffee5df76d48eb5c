"""The decorators a host marks its own checks and rules with, in a stateful test.

:func:`ticket_invariant` and :func:`outcome_invariant` mark methods the base calls after every
step (per open ticket, per fired trigger); :func:`host_rule` makes a method a rule of the run whose
every call is recorded as a :class:`~.steps.Call` step, so that runs using it still replay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis.stateful import rule

from .steps import Call

if TYPE_CHECKING:
    from hypothesis import strategies as st

__all__ = ["host_rule", "outcome_checks", "outcome_invariant", "ticket_checks", "ticket_invariant"]

F = TypeVar("F", bound=Callable[..., Any])
_TICKET_CHECK = "_escalation_ticket_invariant"
_OUTCOME_CHECK = "_escalation_outcome_invariant"


def ticket_invariant(check: F) -> F:
    """Mark a method ``check(self, ticket)`` to run on every open ticket after every step."""
    setattr(check, _TICKET_CHECK, True)
    return check


def outcome_invariant(check: F) -> F:
    """Mark a method ``check(self, outcome: Outcome)`` to run after every fired trigger."""
    setattr(check, _OUTCOME_CHECK, True)
    return check


def host_rule(**arguments: st.SearchStrategy[Any]) -> Callable[[F], F]:
    """Make a method a rule of the run: advance the clock, reopen the store, a host action, ...

    ``arguments`` are hypothesis strategies for its keyword arguments, as for hypothesis's
    ``@rule``. Every call is recorded as a :class:`~.steps.Call` step, so runs that use it still
    replay (and shrink) from a list of steps; draw JSON-like values (numbers, text) so that the
    printed regression test is plain Python.
    """
    def decorate(method: F) -> F:
        @functools.wraps(method)
        def recorded(self: Any, **kwargs: Any) -> None:  # an EscalationStateMachine
            self.steps.append(Call(method.__name__, **kwargs))
            self._clean = False
            method(self, **kwargs)
            self._clean = True
        make_rule: Any = rule  # its overloads cannot type a **arguments call
        marked: F = make_rule(**arguments)(recorded)
        return marked
    return decorate



def _marked(cls: type, marker: str) -> list[Callable[..., None]]:
    members = [getattr(cls, name) for name in dir(cls)]
    return [m for m in members if getattr(m, marker, False)]


def ticket_checks(cls: type) -> list[Callable[..., None]]:
    """The methods of ``cls`` marked :func:`ticket_invariant`."""
    return _marked(cls, _TICKET_CHECK)


def outcome_checks(cls: type) -> list[Callable[..., None]]:
    """The methods of ``cls`` marked :func:`outcome_invariant`."""
    return _marked(cls, _OUTCOME_CHECK)
