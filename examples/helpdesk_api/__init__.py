"""A reference helpdesk service: escalation_fsm embedded in a FastAPI app on an async store.

``create_app`` builds the app around an async store (``AsyncSQLiteStore`` by default,
``AsyncPostgresStore`` with a DSN); ``python -m examples.helpdesk_api`` serves it. See README.md
here and ``docs/service.md``.
"""

from .app import create_app
from .settings import Settings, open_store

__all__ = ["Settings", "create_app", "open_store"]
