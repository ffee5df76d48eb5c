"""Where the service keeps its tickets: SQLite by default, PostgreSQL with a DSN."""

from __future__ import annotations

import os
from dataclasses import dataclass

from escalation_fsm import EscalationMachine
from escalation_fsm.stores import AsyncPostgresStore, AsyncSQLiteStore, AsyncStoreBase


@dataclass(frozen=True)
class Settings:
    """``dsn`` (PostgreSQL) wins over ``sqlite_path``; both from the environment by default."""

    sqlite_path: str = "helpdesk.db"
    dsn: str | None = None
    pool_size: int = 10

    @classmethod
    def from_environment(cls) -> Settings:
        """``HELPDESK_DSN`` (a PostgreSQL DSN) or ``HELPDESK_DB`` (a SQLite file)."""
        return cls(sqlite_path=os.environ.get("HELPDESK_DB", "helpdesk.db"),
                   dsn=os.environ.get("HELPDESK_DSN") or None,
                   pool_size=int(os.environ.get("HELPDESK_POOL_SIZE", "10")))


def open_store(settings: Settings, machine: EscalationMachine) -> AsyncStoreBase:
    """The store the settings name (not opened yet: the app's lifespan opens it)."""
    if settings.dsn:
        return AsyncPostgresStore(settings.dsn, machine=machine, pool_size=settings.pool_size)
    return AsyncSQLiteStore(settings.sqlite_path, machine=machine)
