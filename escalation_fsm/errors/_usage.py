"""Errors of what a caller passed or set up: an argument, a command line, a follow-up worker."""

from __future__ import annotations

from collections.abc import Sequence

from ._base import EscalationError

__all__ = ["FollowUpSetupError", "InvalidArgument", "UsageError"]


class InvalidArgument(EscalationError, ValueError):
    """An argument is not of the kind allowed: a store's filter, id, key or limit, an import's stage.

    ``name`` is the argument, ``value`` a short ``repr`` of what was given and ``allowed`` what
    would be accepted. The same check runs for every store, so a filter means the same thing
    everywhere. Nothing was read or written.
    """

    def __init__(self, *, name: str, value: str, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value} is not allowed: {allowed}")


class UsageError(EscalationError, ValueError):
    """A command-line argument or file that cannot be used; the CLI prints it as one line."""


class FollowUpSetupError(EscalationError, ValueError):
    """A follow-up worker cannot start: ``problems`` lists every reason at once.

    Raised when the worker is built, never when a step comes due: a ladder step that names a
    callback the host did not register, notify steps without a notifier, an unusable lease.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("the follow-up worker cannot start: " + "; ".join(self.problems))
