"""``python -m examples.helpdesk_api``: serve the app on http://127.0.0.1:8000 (SQLite by default)."""

from __future__ import annotations

import os

import uvicorn

from .app import create_app


def main() -> None:
    """Serve until interrupted; ``HELPDESK_DSN`` for PostgreSQL, ``HELPDESK_DB`` for the file."""
    uvicorn.run(create_app(), host=os.environ.get("HELPDESK_HOST", "127.0.0.1"),
                port=int(os.environ.get("HELPDESK_PORT", "8000")))


if __name__ == "__main__":
    main()
