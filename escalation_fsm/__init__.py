"""escalation_fsm: a customer-service escalation procedure as an explicit, guarded state machine.

The public names are re-exported here; the implementation lives in private-by-convention modules.
"""

from .clock import Clock, ManualClock, SystemClock
from .errors import (
    ConcurrentUpdate,
    CorruptTicket,
    EscalationError,
    HookFailed,
    InvalidTransition,
    PermissionDenied,
    SLAPolicyMismatch,
    SpecError,
    StoreError,
    StoreReadOnly,
    TicketExists,
    TicketNotFound,
    TransitionRefused,
)
from .hooks import Hook, TransitionEvent
from .machine import EscalationMachine, Explanation, TransitionResult
from .marks import Mark
from .models import (
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
from .spec import (
    GuardSpec,
    GuardVerdict,
    MachineSpec,
    StageSpec,
    TransitionSpec,
    TriggerSpec,
    evaluate_guards,
)

__all__ = [
    "Actor",
    "Assessment",
    "AuditRecord",
    "Category",
    "Channel",
    "Clock",
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
    "InvalidTransition",
    "Level",
    "MachineSpec",
    "ManualClock",
    "Mark",
    "Notification",
    "Payload",
    "PermissionDenied",
    "Role",
    "SLAPolicyMismatch",
    "SpecError",
    "Stage",
    "StageSpec",
    "Step",
    "StoreError",
    "StoreReadOnly",
    "SystemClock",
    "Ticket",
    "TicketExists",
    "TicketNotFound",
    "TransitionEvent",
    "TransitionRefused",
    "TransitionResult",
    "TransitionSpec",
    "Trigger",
    "TriggerSpec",
    "Urgency",
    "default_spec",
    "evaluate_guards",
]

__version__ = "0.1.0"
