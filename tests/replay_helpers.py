"""Shared paths for the replay tests: the samples shipped in the package (nothing reads ../shared)."""

from __future__ import annotations

from escalation_fsm.replay import sample_log

HELPDESK = sample_log("helpdesk")
SERVICENOW = sample_log("servicenow")
