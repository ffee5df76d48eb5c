"""What one transition changed in a ticket's data, as a small JSON patch, and applying it back.

A store writes, per transition, the audit record and this patch, never the whole ticket again:
the bytes written follow the new record, not the ticket's age (a ticket with a thousand steps
does not rewrite them on its thousand-and-first). Reading a ticket is its document as created plus
the patches of the records after it.

A patch maps a field name to one operation:

* ``["=", value]``: the field is now ``value``;
* ``["+", [items...]]``: items appended to a tuple field (the steps, the tags, ...);
* ``["~", {field: operation}]``: a nested model changed in those fields (a notification appended
  to the escalation).

The stage, version and history are not in it: they follow from the records themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import is_
from typing import Any, TypeVar

from pydantic import BaseModel

from ..models import Ticket, evolve, field_adapter

__all__ = ["diff", "patch"]

_DERIVED = frozenset({"stage", "version", "history"})
_M = TypeVar("_M", bound=BaseModel)


def diff(before: Ticket, after: Ticket) -> dict[str, list[Any]]:
    """The patch that turns ``before``'s data into ``after``'s (stage, version, history aside).

    Values are the ticket's own (models, tuples, datetimes): ``pydantic_core.to_json`` writes
    them as the JSON a ticket's dump would hold.
    """
    changes: dict[str, list[Any]] = {}
    old, new = before.__dict__, after.__dict__
    for name, value in new.items():
        if name not in _DERIVED and value is not old[name]:
            found = _diff_value(old[name], value)
            if found is not None:
                changes[name] = found
    return changes


def _diff_value(old: Any, new: Any) -> list[Any] | None:
    # Identity first: effects build new values around the old ones, so comparing whole values
    # (a thousand steps) on every save would cost what the patch is there to save.
    if isinstance(old, tuple) and isinstance(new, tuple) and len(new) >= len(old) \
            and all(map(is_, old, new)):
        return None if len(new) == len(old) else ["+", new[len(old):]]
    if isinstance(old, BaseModel) and type(old) is type(new):
        inner = {name: found for name, value in new.__dict__.items()
                 if value is not old.__dict__[name]
                 and (found := _diff_value(old.__dict__[name], value)) is not None}
        return ["~", inner] if inner else None
    if old == new:
        return None
    return ["=", new]


def patch(model: _M, changes: Mapping[str, Any]) -> _M:
    """``model`` with ``changes`` (a :func:`diff`) applied, each new value validated.

    Raises ``ValueError`` (pydantic's ``ValidationError`` among them) for a patch that does not
    fit the model: an unknown field, an unknown operation, a value of the wrong type.
    """
    fields = type(model).model_fields
    updates: dict[str, Any] = {}
    for name, operation in changes.items():
        if name not in fields or name in _DERIVED:
            raise ValueError(f"a change names field {name!r}, which {type(model).__name__} "
                             f"does not have (or that no change may set)")
        if not isinstance(operation, list) or len(operation) != 2:
            raise ValueError(f"the change of {name!r} is not an [operation, value] pair")
        op, value = operation
        adapter = field_adapter(type(model), name)
        current = getattr(model, name)
        if op == "=":
            updates[name] = adapter.validate_python(value)
        elif op == "+" and isinstance(current, tuple):
            updates[name] = (*current, *adapter.validate_python(value))
        elif op == "~" and isinstance(current, BaseModel) and isinstance(value, Mapping):
            updates[name] = patch(current, value)
        else:
            raise ValueError(f"the change of {name!r} has operation {op!r}, which does not apply "
                             f"to a {type(current).__name__}")
    return evolve(model, updates)
