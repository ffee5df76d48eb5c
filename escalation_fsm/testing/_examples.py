"""Deterministic example payloads derived from a payload model (no hypothesis needed).

The cover search (:mod:`._cover`) and the fallback of the payload search (:mod:`.strategies`)
need *some* payload that satisfies a trigger's guards. Guards are arbitrary predicates, so the only
generic way to satisfy them is to try candidates and ask the machine (``explain``). The candidates
come from the payload model's field annotations: a few plausible values per field (non-blank text,
each enum member, the bounds of a number, the nested model's own candidates, ``None`` last),
combined in a fixed order. Hosts whose guards need something no generic candidate gives (a ticket
number format, say) pass their own examples per trigger.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["MAX_CANDIDATES", "example_payloads", "flatten_annotated"]

MAX_CANDIDATES = 256
"""How many field combinations are tried per payload model (the product grows fast)."""

_EXAMPLE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_MISSING = object()


def flatten_annotated(annotation: Any, metadata: Sequence[Any] = ()) -> tuple[Any, list[Any]]:
    """``(base type, constraints)``: unwraps ``Annotated`` and pydantic ``FieldInfo`` nesting."""
    found = list(metadata)
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        found.extend(extra)
    flat: list[Any] = []
    for item in found:
        if isinstance(item, FieldInfo):  # ``Annotated[T, Field(gt=...)]`` nests its constraints
            flat.extend(item.metadata)
        else:
            flat.append(item)
    return annotation, flat


def _bounds(metadata: Sequence[Any]) -> tuple[Any, Any, bool, bool]:
    """``(low, high, low_open, high_open)`` from annotated-types constraints (``None``: unbounded)."""
    low: Any = None
    high: Any = None
    low_open = high_open = False
    for item in metadata:
        if isinstance(item, at.Ge):
            low, low_open = item.ge, False
        elif isinstance(item, at.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, at.Le):
            high, high_open = item.le, False
        elif isinstance(item, at.Lt):
            high, high_open = item.lt, True
    return low, high, low_open, high_open


def _numbers(metadata: Sequence[Any], one: Any, zero: Any) -> list[Any]:
    low, high, low_open, high_open = _bounds(metadata)
    start = one if low is None else low + one if low_open else low
    stop = None if high is None else high - one if high_open else high

    def within(value: Any) -> bool:
        above = low is None or (value > low if low_open else value >= low)
        below = high is None or (value < high if high_open else value <= high)
        return above and below

    return list(dict.fromkeys(v for v in (start, start + one, stop, zero)
                              if v is not None and within(v)))


def _text(name: str, metadata: Sequence[Any]) -> list[str]:
    text = f"Example {name.replace('_', ' ')}" if name else "Example text"
    for item in metadata:
        if isinstance(item, at.MinLen) and len(text) < item.min_length:
            text = text.ljust(item.min_length, "x")
        if isinstance(item, at.MaxLen):
            text = text[: item.max_length]
    return [text]


def candidate_values(annotation: Any, metadata: Sequence[Any] = (), name: str = "") -> list[Any]:
    """A few plausible values of ``annotation``, the likeliest to satisfy a guard first."""
    base, meta = flatten_annotated(annotation, metadata)
    origin = get_origin(base)
    if origin in (Union, types.UnionType):
        args = get_args(base)
        values = [v for arg in args if arg is not type(None)
                  for v in candidate_values(arg, meta, name)]
        return values + ([None] if type(None) in args else [])
    if origin is Literal:
        return list(get_args(base))
    if origin in (tuple, list, set, frozenset):
        inner = candidate_values(get_args(base)[0], (), name) if get_args(base) else []
        return [origin(inner[:1]), origin()]
    if isinstance(base, type) and issubclass(base, BaseModel):
        return [base.model_validate(data) for data in _model_examples(base)]
    if isinstance(base, type) and issubclass(base, Enum):
        return list(base)
    simple: dict[Any, Callable[[], list[Any]]] = {
        bool: lambda: [True, False],
        int: lambda: _numbers(meta, 1, 0),
        float: lambda: _numbers(meta, 1.0, 0.0),
        timedelta: lambda: _numbers(meta, timedelta(hours=1), timedelta(0)),
        datetime: lambda: [_EXAMPLE_TIME],
        date: lambda: [_EXAMPLE_TIME.date()],
        str: lambda: _text(name, meta),
    }
    # An unknown type has no candidates: only the field's default (if any) can be used.
    return simple[base]() if base in simple else []


def _model_examples(model: type[BaseModel], limit: int = MAX_CANDIDATES) -> Iterator[dict[str, Any]]:
    """Keyword dicts that validate against ``model``, in a fixed order, at most ``limit`` tried."""
    choices: list[list[tuple[str, Any]]] = []
    for name, field in model.model_fields.items():
        values = [(name, v) for v in candidate_values(field.annotation, field.metadata, name)]
        if not field.is_required():
            values.append((name, _MISSING))
        choices.append(values)
    for combo in itertools.islice(itertools.product(*choices), limit):
        data = {name: value for name, value in combo if value is not _MISSING}
        try:
            model.model_validate(data)
        except ValidationError:
            continue
        yield data


def example_payloads(model: type[BaseModel], extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                     trigger: str = "") -> list[dict[str, Any]]:
    """Candidate keyword payloads for ``model``: the host's examples for ``trigger`` first."""
    given = [dict(p) for p in (extra or {}).get(trigger, ())]
    return given + list(_model_examples(model))
