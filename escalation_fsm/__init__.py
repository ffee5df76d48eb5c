"""escalation_fsm: a customer-service escalation procedure as an explicit, guarded state machine.

The public names are re-exported here; the implementation lives in private-by-convention modules.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

# Imported now: it reads and checks ESCALATION_FSM_MAX_TEXT, so a bad value stops the import.
from .bounds import MIGRATE_TRIGGER

if TYPE_CHECKING:  # the names as mypy and readers see them; imported on first use at run time
    from .clock import Clock, ManualClock, SystemClock
    from .errors import (
        CommitOutcomeUnknown,
        ConcurrentUpdate,
        CorruptTicket,
        EscalationError,
        HookFailed,
        IdempotencyConflict,
        InconsistentTicket,
        InvalidArgument,
        InvalidTransition,
        LockTimeout,
        MigrationError,
        PermissionDenied,
        SLAPolicyMismatch,
        SpecError,
        SpecMismatch,
        StaleTicket,
        StoreError,
        StoreReadOnly,
        TicketExists,
        TicketNotFound,
        TransitionRefused,
    )
    from .hooks import Hook, TransitionEvent
    from .identity import SpecDescription, spec_fingerprint
    from .integrity import IntegrityProblem, import_ticket
    from .machine import EscalationMachine
    from .marks import Mark
    from .migration import Migration
    from .migration_check import MigrationCheck, TicketPlan
    from .models import (
        FOLLOW_UP_TRIGGER,
        IMPORT_TRIGGER,
        MAX_TEXT_LENGTH,
        Actor,
        Assessment,
        AuditRecord,
        Category,
        Channel,
        Escalation,
        Feedback,
        FollowUp,
        InteractionDirection,
        Level,
        Notification,
        Role,
        Stage,
        Step,
        Ticket,
        Trigger,
        Urgency,
    )
    from .payloads import Payload
    from .policy import Decision, EscalationPolicy, GuardContext
    from .procedure import default_spec
    from .results import Explanation, TransitionResult
    from .spec import (
        GuardSpec,
        GuardVerdict,
        MachineSpec,
        StageSpec,
        TransitionSpec,
        TriggerSpec,
        evaluate_guards,
    )
    from .spec_diff import SpecDiff, spec_diff
    from .versions import SpecVersions


__all__ = [
    "FOLLOW_UP_TRIGGER",
    "IMPORT_TRIGGER",
    "MAX_TEXT_LENGTH",
    "MIGRATE_TRIGGER",
    "Actor",
    "Assessment",
    "AuditRecord",
    "Category",
    "Channel",
    "Clock",
    "CommitOutcomeUnknown",
    "ConcurrentUpdate",
    "CorruptTicket",
    "Decision",
    "InteractionDirection",
    "Escalation",
    "EscalationError",
    "EscalationMachine",
    "EscalationPolicy",
    "Explanation",
    "Feedback",
    "FollowUp",
    "GuardContext",
    "GuardSpec",
    "GuardVerdict",
    "Hook",
    "HookFailed",
    "IdempotencyConflict",
    "InconsistentTicket",
    "IntegrityProblem",
    "InvalidArgument",
    "InvalidTransition",
    "Level",
    "LockTimeout",
    "MachineSpec",
    "ManualClock",
    "Mark",
    "Migration",
    "MigrationCheck",
    "MigrationError",
    "Notification",
    "Payload",
    "PermissionDenied",
    "Role",
    "SLAPolicyMismatch",
    "SpecDescription",
    "SpecDiff",
    "SpecError",
    "SpecMismatch",
    "SpecVersions",
    "Stage",
    "StageSpec",
    "StaleTicket",
    "Step",
    "StoreError",
    "StoreReadOnly",
    "SystemClock",
    "Ticket",
    "TicketExists",
    "TicketNotFound",
    "TicketPlan",
    "TransitionEvent",
    "TransitionRefused",
    "TransitionResult",
    "TransitionSpec",
    "Trigger",
    "TriggerSpec",
    "Urgency",
    "default_spec",
    "evaluate_guards",
    "import_ticket",
    "spec_diff",
    "spec_fingerprint",
]

__version__ = "0.1.0"


# Where each public name lives: ``import escalation_fsm`` imports none of it (a command or a
# replay that needs a few of them does not pay for all the models, stores and hooks at start-up);
# the first use of a name imports its module (PEP 562).
_LAZY = {
    'Actor': 'models',
    'Assessment': 'models',
    'AuditRecord': 'models',
    'Category': 'models',
    'Channel': 'models',
    'Clock': 'clock',
    'CommitOutcomeUnknown': 'errors',
    'ConcurrentUpdate': 'errors',
    'CorruptTicket': 'errors',
    'Decision': 'policy',
    'Escalation': 'models',
    'EscalationError': 'errors',
    'EscalationMachine': 'machine',
    'EscalationPolicy': 'policy',
    'Explanation': 'results',
    'FOLLOW_UP_TRIGGER': 'models',
    'Feedback': 'models',
    'FollowUp': 'models',
    'GuardContext': 'policy',
    'GuardSpec': 'spec',
    'GuardVerdict': 'spec',
    'Hook': 'hooks',
    'HookFailed': 'errors',
    'IMPORT_TRIGGER': 'models',
    'IdempotencyConflict': 'errors',
    'InconsistentTicket': 'errors',
    'IntegrityProblem': 'integrity',
    'InteractionDirection': 'models',
    'InvalidArgument': 'errors',
    'InvalidTransition': 'errors',
    'Level': 'models',
    'LockTimeout': 'errors',
    'MAX_TEXT_LENGTH': 'models',
    'MachineSpec': 'spec',
    'ManualClock': 'clock',
    'Mark': 'marks',
    'Migration': 'migration',
    'MigrationCheck': 'migration_check',
    'MigrationError': 'errors',
    'Notification': 'models',
    'Payload': 'payloads',
    'PermissionDenied': 'errors',
    'Role': 'models',
    'SLAPolicyMismatch': 'errors',
    'SpecDescription': 'identity',
    'SpecDiff': 'spec_diff',
    'SpecError': 'errors',
    'SpecMismatch': 'errors',
    'SpecVersions': 'versions',
    'Stage': 'models',
    'StageSpec': 'spec',
    'StaleTicket': 'errors',
    'Step': 'models',
    'StoreError': 'errors',
    'StoreReadOnly': 'errors',
    'SystemClock': 'clock',
    'Ticket': 'models',
    'TicketExists': 'errors',
    'TicketNotFound': 'errors',
    'TicketPlan': 'migration_check',
    'TransitionEvent': 'hooks',
    'TransitionRefused': 'errors',
    'TransitionResult': 'results',
    'TransitionSpec': 'spec',
    'Trigger': 'models',
    'TriggerSpec': 'spec',
    'Urgency': 'models',
    'default_spec': 'procedure',
    'evaluate_guards': 'spec',
    'import_ticket': 'integrity',
    'spec_diff': 'spec_diff',
    'spec_fingerprint': 'identity',
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(ModuleType):
    """The package, whose ``spec_diff`` stays the function when its module is imported.

    (Importing a submodule sets it as an attribute of the package; an eager ``from .spec_diff
    import spec_diff`` used to bind the function over it afterwards.)
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
