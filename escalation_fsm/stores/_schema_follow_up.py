"""The follow-up columns: each ticket's next ladder step (indexed) and who holds it leased.

``next_step_at`` is the instant the ticket's next ladder step comes due (``NULL``: none
pending), folded on every save like ``next_due_at``; ``lease_owner`` and ``lease_until`` say
which worker claimed it and until when (SQLite: seconds since the epoch on the host's clock;
PostgreSQL: the server's ``clock_timestamp()``, one clock for every machine). The partial index
holds only tickets with a pending step, so workers find due steps without scanning.
"""

from __future__ import annotations

__all__ = ["POSTGRES_FOLLOW_UP", "POSTGRES_FOLLOW_UP_MIGRATION", "SQLITE_FOLLOW_UP",
           "SQLITE_FOLLOW_UP_MIGRATION"]

_SQLITE_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_step ON escalation_tickets "
                 "(next_step_at, id) WHERE next_step_at IS NOT NULL")

SQLITE_FOLLOW_UP_MIGRATION = (
    "ALTER TABLE escalation_tickets ADD COLUMN next_step_at TEXT",
    "ALTER TABLE escalation_tickets ADD COLUMN lease_owner TEXT",
    "ALTER TABLE escalation_tickets ADD COLUMN lease_until REAL",
    _SQLITE_INDEX,
)
"""From schema 5: the columns and index (the re-index after a migration fills them)."""

SQLITE_FOLLOW_UP = SQLITE_FOLLOW_UP_MIGRATION
"""In a new database: added to the tickets table the same way."""

_POSTGRES_INDEX = ("CREATE INDEX IF NOT EXISTS escalation_tickets_step ON escalation_tickets "
                   "(next_step_at, id) WHERE next_step_at IS NOT NULL")

POSTGRES_FOLLOW_UP_MIGRATION = (
    "ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS next_step_at timestamptz",
    "ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS lease_owner text",
    "ALTER TABLE escalation_tickets ADD COLUMN IF NOT EXISTS lease_until timestamptz",
    _POSTGRES_INDEX,
)

POSTGRES_FOLLOW_UP = ";\n".join(POSTGRES_FOLLOW_UP_MIGRATION) + ";\n"
