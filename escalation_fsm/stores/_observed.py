"""A store's ``apply`` as an observed call (:mod:`escalation_fsm.observe`), sync and async.

The decorators wrap ``apply`` only when the store's machine has observers: each attempt's
transition, the commit and the outcome are then recorded on one :class:`ObservedCall` by the
machine's own public phases, which the store calls anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from ..machine import EscalationMachine
from ..observe import ObservedCall, observing

__all__ = ["observed_apply", "observed_apply_async"]

_F = TypeVar("_F", bound=Callable[..., Any])


class _HasMachine(Protocol):
    @property
    def machine(self) -> EscalationMachine: ...


def _call(store: _HasMachine, machine: EscalationMachine, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> ObservedCall:
    ticket_id, trigger = (*args, None, None)[:2]
    return ObservedCall("apply", str(ticket_id), str(trigger), kwargs.get("actor"),  # type: ignore[arg-type]
                        machine, store=type(store).__name__)


def observed_apply(apply: _F) -> _F:
    """``StoreBase.apply``, observed when the store's machine has observers."""
    @functools.wraps(apply)
    def observed(store: _HasMachine, *args: Any, **kwargs: Any) -> Any:
        machine = store.machine
        if not (machine.observers and machine.watched()):
            return apply(store, *args, **kwargs)
        with observing(machine.observers, _call(store, machine, args, kwargs)):
            return apply(store, *args, **kwargs)
    return cast("_F", observed)


def observed_apply_async(apply: _F) -> _F:
    """``AsyncStoreBase.apply``, observed when the store's machine has observers."""
    @functools.wraps(apply)
    async def observed(store: _HasMachine, *args: Any, **kwargs: Any) -> Any:
        machine = store.machine
        if not (machine.observers and machine.watched()):
            return await apply(store, *args, **kwargs)
        with observing(machine.observers, _call(store, machine, args, kwargs)):
            return await apply(store, *args, **kwargs)
    return cast("_F", observed)
