"""A payload model's fields as canonical JSON data, for spec fingerprints.

Built by the library rather than taken from pydantic's JSON Schema, whose layout may change
between pydantic releases (a fingerprint must not). See :func:`payload_schema`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["canonical", "payload_schema"]


def canonical(value: Any) -> str:
    """``value`` as canonical JSON: keys sorted, no whitespace, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

_SCALARS: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
    (datetime, "datetime"), (date, "date"), (time, "time"), (timedelta, "duration"),
    (Decimal, "decimal"), (bytes, "bytes"), (UUID, "uuid"),
)
"""Scalar types by name, in this order (``bool`` before ``int``, ``datetime`` before ``date``)."""


def _plain(value: Any) -> Any:
    """A constraint's or default's value as JSON data (durations in seconds, the rest as text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # the exact value, never a rounding of json's float output
    if isinstance(value, timedelta):
        return {"seconds": repr(value.total_seconds())}
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [_plain(item) for item in value]
        return items if isinstance(value, (tuple, list)) else sorted(items, key=canonical)
    return f"<{type(value).__name__}>"


def _constraints(metadata: Iterable[Any]) -> list[Any]:
    """Field metadata as JSON data; a ``Field(...)`` inside ``Annotated`` gives its constraints."""
    found = []
    for meta in metadata:
        if isinstance(meta, FieldInfo):
            found += _constraints(meta.metadata)
        else:
            found.append(_constraint(meta))
    return found


def _constraint(meta: Any) -> Any:
    """One piece of field metadata (``annotated_types.Ge(1)``, pydantic's ``Strict()``, ...)."""
    if dataclasses.is_dataclass(meta) and not isinstance(meta, type):
        fields = {f.name: _plain(getattr(meta, f.name)) for f in dataclasses.fields(meta)}
        return {type(meta).__name__: fields}
    if hasattr(meta, "__dict__"):
        fields = {k: _plain(v) for k, v in sorted(vars(meta).items()) if not k.startswith("_")}
        return {type(meta).__name__: fields}
    return {type(meta).__name__: _plain(meta)}


def _type(annotation: Any, seen: tuple[type, ...]) -> Any:
    """A type annotation as canonical JSON data (never a ``repr``, which Python versions change)."""
    if get_origin(annotation) is not None:
        return _generic(get_origin(annotation), get_args(annotation), seen)
    if annotation is None or annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type):
        return _class(annotation, seen)
    alias = getattr(annotation, "__value__", None)  # a `type X = ...` alias (pydantic's JsonValue)
    name = getattr(annotation, "__name__", type(annotation).__name__)
    return {"alias": name} if alias is not None else {"other": name}


def _generic(origin: Any, args: tuple[Any, ...], seen: tuple[type, ...]) -> Any:
    """``X[...]``: annotated types, unions, literals, tuples, lists, sets and mappings."""
    if origin is Annotated:
        return {"type": _type(args[0], seen), "constraints": _constraints(args[1:])}
    if origin in (Union, UnionType):
        options = {canonical(kind): kind for kind in (_type(arg, seen) for arg in args)}
        return {"anyOf": [options[key] for key in sorted(options)]}
    if origin is Literal:
        return {"const": sorted((_plain(arg) for arg in args), key=canonical)}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"array": _type(args[0], seen)}
    if origin is tuple or len(args) != 2:
        name = "tuple" if origin is tuple else "array" if origin is list else "set"
        return {name: [_type(arg, seen) for arg in args]}
    return {"map": [_type(args[0], seen), _type(args[1], seen)]}  # dict, Mapping and the like


def _class(annotation: type, seen: tuple[type, ...]) -> Any:
    """A plain class: an enum, a nested model, a scalar, or (else) its qualified name."""
    if issubclass(annotation, Enum):
        return {"enum": sorted((_plain(m.value) for m in annotation), key=canonical)}
    if issubclass(annotation, BaseModel):
        if annotation in seen:  # a model that contains itself
            return {"model": annotation.__name__}
        return {"object": _fields(annotation, (*seen, annotation))}
    for kind, name in _SCALARS:
        if issubclass(annotation, kind):
            return name
    return {"class": f"{annotation.__module__}.{annotation.__qualname__}"}


def _fields(model: type[BaseModel], seen: tuple[type, ...]) -> list[dict[str, Any]]:
    found = []
    for name, field in sorted(model.model_fields.items()):
        annotation = field.annotation
        kind = _type(annotation, seen)
        if field.metadata:
            kind = {"type": kind, "constraints": _constraints(field.metadata)}
        entry: dict[str, Any] = {"name": name, "type": kind, "required": field.is_required()}
        if not field.is_required():
            entry["default"] = ("<factory>" if field.default_factory is not None
                                else _plain(field.default))
        found.append(entry)
    return found


def payload_schema(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A payload model's fields as canonical JSON data: name, type, constraints, required, default.

    Built by the library rather than taken from pydantic's JSON Schema, whose layout may change
    between pydantic releases (a fingerprint must not).
    """
    return _fields(model, (model,))
