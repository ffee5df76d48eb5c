"""The SQLite file's schema bookkeeping: its version, and the checks made when it is opened.

The version lives in ``escalation_meta``; a newer file is refused before anything is written to it.

Plain functions over a connection, so that :class:`~escalation_fsm.stores.SQLiteStore` keeps to
tickets; the version text is read as PostgreSQL's is (``_schema.schema_version_of``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ..errors import StoreError
from ._codec import SCHEMA_VERSION
from ._schema import schema_version_of

__all__ = ["check_version", "meta", "retry_locked", "schema_version"]

_OPEN_RETRY = 0.05
"""Pause between tries of the first statements while another process creates the file."""


def meta(db: sqlite3.Connection, key: str) -> str | None:
    """One value of ``escalation_meta`` (None when the key is absent)."""
    row = db.execute("SELECT value FROM escalation_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def schema_version(db: sqlite3.Connection, where: str) -> int | None:
    """The file's schema version; None for a file without escalation_fsm's tables."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'escalation_meta'").fetchone()
    if exists is None:
        return None
    return schema_version_of(meta(db, "schema_version"), where)


def check_version(found: int | None, path: str, *, readonly: bool) -> None:
    """Refuse a file this release cannot use, saying what to do about it."""
    if found == SCHEMA_VERSION:
        return
    if found is None:
        raise StoreError(f"{path!r} has no escalation_fsm tables to read")
    if found < SCHEMA_VERSION and readonly:
        raise StoreError(f"SQLite database {path!r} has schema version {found}; open it "
                         f"once writable (or run escalation-fsm reindex) to upgrade it to "
                         f"version {SCHEMA_VERSION} before reading it read-only")
    raise StoreError(f"SQLite database {path!r} has schema version {found}; this release "
                     f"reads version {SCHEMA_VERSION} (upgrade escalation-fsm to open it)")


def retry_locked(action: Callable[[], Any], timeout: float) -> None:
    """Run ``action``, retrying while SQLite says "locked", up to ``timeout`` seconds.

    Switching to WAL takes a lock that the busy handler does not wait for, so a process opening
    a file that another process is creating sees "database is locked" until it is done.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(_OPEN_RETRY)
