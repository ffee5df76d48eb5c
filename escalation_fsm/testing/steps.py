"""The steps of a stateful run as plain data, and a run printed as a ready pytest function.

Every rule of :class:`~escalation_fsm.testing.EscalationStateMachine` records one step before it
acts: :class:`Open` (a new ticket), :class:`Fire` (a trigger by a role with a payload) or
:class:`Call` (one of the host's own rules, see :func:`~escalation_fsm.testing.host_rule`). A list
of steps replays without hypothesis (``MyMachine.replay(steps)``) with every check of a run, which
is how a failure becomes a regression test, and how the final pass of the runner removes the steps
a failure does not need. ``repr(step)`` is the Python source that rebuilds it; values are JSON data
(strings, numbers, lists, dicts), so the printed test needs no other import.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["Call", "Fire", "Open", "Step", "render_test"]


def _kwargs(values: Mapping[str, Any]) -> str:
    if all(k.isidentifier() and not keyword.iskeyword(k) for k in values):
        return ", ".join(f"{k}={v!r}" for k, v in values.items())
    return f"**{dict(values)!r}"


class Open:
    """Open ticket ``ticket_id`` with ``fields`` (JSON values of :class:`~escalation_fsm.Ticket`)."""

    __slots__ = ("fields", "ticket_id")

    def __init__(self, ticket_id: str, **fields: Any) -> None:
        self.ticket_id = ticket_id
        self.fields: dict[str, Any] = fields

    def __repr__(self) -> str:
        rest = _kwargs(self.fields)
        return f"Open({self.ticket_id!r}{', ' + rest if rest else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Open) and (self.ticket_id, self.fields) == (other.ticket_id, other.fields)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking payloads: not hashable


class Fire:
    """Fire ``trigger`` on ``ticket_id`` as the toolkit's actor of ``role``, with ``payload``."""

    __slots__ = ("payload", "role", "ticket_id", "trigger")

    def __init__(self, ticket_id: str, trigger: str, role: str,
                 payload: Mapping[str, Any] | None = None) -> None:
        self.ticket_id = ticket_id
        self.trigger = trigger
        self.role = role
        self.payload: dict[str, Any] = dict(payload or {})

    def __repr__(self) -> str:
        rest = f", {self.payload!r}" if self.payload else ""
        return f"Fire({self.ticket_id!r}, {self.trigger!r}, {self.role!r}{rest})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fire) and (self.ticket_id, self.trigger, self.role, self.payload) == (
            other.ticket_id, other.trigger, other.role, other.payload)

    __hash__ = None  # type: ignore[assignment]


class Call:
    """Call the host rule ``name`` (a :func:`~escalation_fsm.testing.host_rule`) with ``arguments``."""

    __slots__ = ("arguments", "name")

    def __init__(self, name: str, **arguments: Any) -> None:
        self.name = name
        self.arguments: dict[str, Any] = arguments

    def __repr__(self) -> str:
        rest = _kwargs(self.arguments)
        return f"Call({self.name!r}{', ' + rest if rest else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and (self.name, self.arguments) == (other.name, other.arguments)

    __hash__ = None  # type: ignore[assignment]


Step: TypeAlias = Open | Fire | Call
"""One recorded step of a stateful run."""


def render_test(machine_class: type, steps: Sequence[Step], *, name: str, doc: str) -> str:
    """``steps`` as the source of a pytest function that replays them on ``machine_class``."""
    kinds = sorted({type(step).__name__ for step in steps}) or ["Open"]
    module, qualname = machine_class.__module__, machine_class.__qualname__
    lines = [f"from escalation_fsm.testing import {', '.join(kinds)}"]
    if module not in ("__main__", "builtins") and not module.startswith("doc:"):
        lines.append(f"from {module} import {qualname.split('.')[0]}")
    lines += ["", "", f"def {name}() -> None:", f'    """{doc}"""',
              f"    {qualname}.replay(["]
    lines += [f"        {step!r}," for step in steps]
    lines.append("    ])")
    return "\n".join(lines)
