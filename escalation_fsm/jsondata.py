"""JSON data as audit records hold it: read-only all the way down, bounded in depth.

A record's payload is the validated payload dumped to JSON data and frozen (:class:`FrozenDict`,
tuples), so that no hook can rewrite the history every later ticket shares.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from .bounds import MAX_JSON_DEPTH

__all__ = ["FrozenDict", "freeze_json", "nested_json", "thaw_json", "validation_reasons"]


class FrozenDict(dict[str, Any]):
    """A read-only dict: audit payloads are history, and records are shared between tickets.

    Every committed ticket reuses the records of the ticket it came from, so a writable payload
    would let one hook rewrite the history of every ticket (and of store caches) at once.
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("audit record payloads are read-only: history is never edited")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        # copy, deepcopy and pickle rebuild through the constructor, not item by item.
        return (FrozenDict, (dict(self),))


def freeze_json(value: Any) -> Any:
    """JSON-ready data made read-only all the way down.

    Dicts become :class:`FrozenDict` and lists become tuples.
    """
    if isinstance(value, dict):
        return FrozenDict({key: freeze_json(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze_json(item) for item in value)
    return value



def nested_json(payload: BaseModel) -> Any:
    """The JSON dump of a validated payload, made read-only.

    A pydantic ``ValidationError`` if it cannot be dumped as JSON or nests deeper than
    :data:`MAX_JSON_DEPTH` (stores and reports read it back).
    """
    try:
        dumped = payload.model_dump(mode="json")
    except (RecursionError, ValueError) as exc:
        raise _payload_error(payload, "json_unserializable", "the payload cannot be written as "
                             "JSON: {reason}", {"reason": str(exc)}) from exc
    if _depth(dumped, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _payload_error(payload, "json_too_deep", "the payload nests objects and arrays more "
                             "than {limit} levels deep", {"limit": MAX_JSON_DEPTH})
    return freeze_json(dumped)


def _payload_error(payload: BaseModel, kind: str, template: str,
                   context: dict[str, Any]) -> ValidationError:
    return ValidationError.from_exception_data(type(payload).__name__, [
        {"type": PydanticCustomError(kind, template, context), "loc": (), "input": "..."}])


def _depth(value: Any, budget: int) -> int:
    """How deeply ``value`` nests (counting stops past ``budget``)."""
    if budget < 0 or not isinstance(value, (dict, list)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, budget - 1) for item in items), default=0)


def validation_reasons(exc: ValidationError) -> tuple[str, ...]:
    """One short line per error of ``exc``: where (shortened when deep) and what is wrong."""
    reasons = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        where = ".".join(loc if len(loc) <= 6 else [*loc[:3], "...", *loc[-2:]])
        reasons.append(f"{where or 'payload'}: {error['msg']}")
    return tuple(reasons)


def thaw_json(value: Any) -> Any:
    """The plain JSON data (dicts and lists) of a frozen value."""
    if isinstance(value, dict):
        return {key: thaw_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw_json(item) for item in value]
    return value


