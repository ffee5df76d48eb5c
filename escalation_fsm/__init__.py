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
    SpecError,
    StoreError,
    TicketExists,
    TicketNotFound,
    TransitionRefused,
)
from .hooks import Hook, TransitionEvent
from .machine import EscalationMachine, Explanation
from .models import (
    Actor,
    Assessment,
    AuditRecord,
    Category,
    Escalation,
    Feedback,
    FollowUp,
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
from .spec import GuardSpec, MachineSpec, StageSpec, TransitionSpec, TriggerSpec

__all__ = [
    "Actor",
    "Assessment",
    "AuditRecord",
    "Category",
    "Clock",
    "ConcurrentUpdate",
    "CorruptTicket",
    "Decision",
    "Escalation",
    "EscalationError",
    "EscalationMachine",
    "EscalationPolicy",
    "Explanation",
    "Feedback",
    "FollowUp",
    "GuardContext",
    "GuardSpec",
    "Hook",
    "HookFailed",
    "InvalidTransition",
    "Level",
    "MachineSpec",
    "ManualClock",
    "Notification",
    "Payload",
    "PermissionDenied",
    "Role",
    "SpecError",
    "Stage",
    "StageSpec",
    "Step",
    "StoreError",
    "SystemClock",
    "Ticket",
    "TicketExists",
    "TicketNotFound",
    "TransitionEvent",
    "TransitionRefused",
    "TransitionSpec",
    "Trigger",
    "TriggerSpec",
    "Urgency",
    "default_spec",
]

__version__ = "0.1.0"
