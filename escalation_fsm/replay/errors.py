"""Errors of log replay: a bad mapping file or a bad log (defined in :mod:`escalation_fsm.errors`)."""

from ..errors import LogError, MappingError, ReplayError

__all__ = ["LogError", "MappingError", "ReplayError"]
