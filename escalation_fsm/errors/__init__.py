"""The exception hierarchy of escalation_fsm.

Every error the library raises on purpose derives from :class:`EscalationError`, carries its
context as attributes, and where it makes sense also subclasses the builtin a caller would
already catch (``ValueError``, ``PermissionError``, ``RuntimeError``).

The errors are defined in one private module per concern (firing a trigger, the caller's
arguments, the procedure's versions, the stores, the replay, the optional extras) and imported
from here. None of them imports anything else from the package, so that any module may import
this one.
"""

from __future__ import annotations

from ._base import EscalationError, InvariantViolated
from ._base import _restore as _restore  # pickles made before the split name errors._restore
from ._optional import GraphvizUnavailable, HolidaysUnavailable, PostgresUnavailable, RenderFailed
from ._replay import LogError, MappingError, ReplayError
from ._specs import MigrationError, SpecError, SpecMismatch
from ._stores import (
    CommitOutcomeUnknown,
    ConcurrentUpdate,
    CorruptTicket,
    IdempotencyConflict,
    LockTimeout,
    SLAPolicyMismatch,
    StaleTicket,
    StoreError,
    StoreReadOnly,
    TicketExists,
    TicketNotFound,
)
from ._transitions import (
    HookFailed,
    InconsistentTicket,
    InvalidTransition,
    PermissionDenied,
    TransitionRefused,
)
from ._usage import FollowUpSetupError, InvalidArgument, UsageError

__all__ = [
    "CommitOutcomeUnknown",
    "ConcurrentUpdate",
    "CorruptTicket",
    "EscalationError",
    "FollowUpSetupError",
    "GraphvizUnavailable",
    "HolidaysUnavailable",
    "HookFailed",
    "IdempotencyConflict",
    "InconsistentTicket",
    "InvalidArgument",
    "InvalidTransition",
    "InvariantViolated",
    "LockTimeout",
    "LogError",
    "MappingError",
    "MigrationError",
    "PermissionDenied",
    "PostgresUnavailable",
    "RenderFailed",
    "ReplayError",
    "SLAPolicyMismatch",
    "SpecError",
    "SpecMismatch",
    "StaleTicket",
    "StoreError",
    "StoreReadOnly",
    "TicketExists",
    "TicketNotFound",
    "TransitionRefused",
    "UsageError",
]
