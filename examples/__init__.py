"""Examples of escalation_fsm embedded in applications (not part of the installed package)."""
