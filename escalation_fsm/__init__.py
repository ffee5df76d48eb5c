"""escalation_fsm: a customer-service escalation procedure as an explicit, guarded state machine.

The public names are re-exported here; the implementation lives in private-by-convention modules.
"""

from .bounds import MIGRATE_TRIGGER
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
