"""The roots of the hierarchy, and the helpers every error module shares."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["EscalationError", "InvariantViolated"]


def _listing(items: Iterable[str]) -> str:
    names = sorted(str(item) for item in items)
    return ", ".join(names) if names else "none"


def _bullets(items: Iterable[str]) -> str:
    """One ``  - item`` line per item: how an error lists its problems or reasons."""
    return "\n".join(f"  - {item}" for item in items)


def _restore(cls: type[BaseException], args: tuple[object, ...],
             state: dict[str, object]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class EscalationError(Exception):
    """Base class of every error raised by escalation_fsm."""

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take keyword-only context, so the default (cls(*args)) cannot rebuild them;
        # task queues and process pools pickle exceptions, so rebuild from args and attributes.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class InvariantViolated(AssertionError):
    """A guarantee of the procedure was broken in a property test (:mod:`escalation_fsm.testing`).

    An ``AssertionError`` (a test failure, not a library error): the message says which
    guarantee, on which ticket.
    """
