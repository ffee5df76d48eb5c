"""Shared paths for the replay tests (fixtures are committed; nothing reads ../shared)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HELPDESK = FIXTURES / "helpdesk_sample.csv"
SERVICENOW = FIXTURES / "servicenow_sample.csv.zip"
