"""Replay recorded ticket histories against a spec, and the escalation review report.

``review(log, mapping)`` is the one-call entry point; :class:`Replayer` gives per-case results.
The implementation lives in the submodules; the public names are re-exported here.
"""

from .engine import CaseResult, Deviation, Replayer
from .errors import LogError, MappingError, ReplayError
from .mapping import (
    Columns,
    Condition,
    LogMapping,
    Rule,
    Sequence,
    load_mapping,
    parse_mapping,
)
from .notes import ReadNotes
from .reader import LogStats, RawCase, RawEvent, read_cases
from .render import FORMATS, render_report
from .report import SCHEMA_VERSION, DataNote, ReviewReport, build_report, report_json_schema
from .review import resolve_mapping, review
from .shipped import sample_log, shipped_mapping, shipped_mappings
from .specs import (
    LOG_FIELDS,
    NotObservable,
    logged_procedure_spec,
    observable_guards,
    observable_projection,
)

__all__ = [
    "FORMATS",
    "LOG_FIELDS",
    "SCHEMA_VERSION",
    "CaseResult",
    "Columns",
    "Condition",
    "DataNote",
    "Deviation",
    "LogError",
    "LogMapping",
    "LogStats",
    "MappingError",
    "NotObservable",
    "RawCase",
    "RawEvent",
    "ReadNotes",
    "ReplayError",
    "Replayer",
    "ReviewReport",
    "Rule",
    "Sequence",
    "build_report",
    "load_mapping",
    "logged_procedure_spec",
    "observable_guards",
    "observable_projection",
    "parse_mapping",
    "read_cases",
    "render_report",
    "report_json_schema",
    "resolve_mapping",
    "review",
    "sample_log",
    "shipped_mapping",
    "shipped_mappings",
]
