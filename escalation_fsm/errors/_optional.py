"""Errors of the optional extras: a package or program that is not installed, Graphviz failing."""

from __future__ import annotations

from typing import Literal

from ._base import EscalationError

__all__ = ["GraphvizUnavailable", "HolidaysUnavailable", "PostgresUnavailable", "RenderFailed"]


_INSTALL_PACKAGE = "pip install 'escalation-fsm[svg]'"
_INSTALL_PROGRAM = (
    "install Graphviz so that `dot` is on PATH (Debian/Ubuntu: apt-get install graphviz; "
    "Fedora: dnf install graphviz; macOS: brew install graphviz; Windows: winget install graphviz)"
)


class GraphvizUnavailable(EscalationError, RuntimeError):
    """An SVG or PNG was asked for but the Python ``graphviz`` package or ``dot`` is missing.

    ``missing`` is ``"package"`` or ``"program"``; the message says what to install.
    """

    def __init__(self, fmt: str, missing: Literal["package", "program"], detail: str = "") -> None:
        self.format = fmt
        self.missing = missing
        what = (f"the Python package 'graphviz' is not installed: {_INSTALL_PACKAGE}"
                if missing == "package"
                else f"the Graphviz program `dot` was not found: {_INSTALL_PROGRAM}")
        message = f"cannot render {fmt}: {what}. Mermaid and DOT text need neither."
        super().__init__(f"{message} ({detail})" if detail else message)


class RenderFailed(EscalationError, RuntimeError):
    """Graphviz ``dot`` ran but failed to lay out a diagram; ``detail`` is what it printed."""

    def __init__(self, fmt: str, detail: str) -> None:
        self.format = fmt
        self.detail = detail
        super().__init__(f"Graphviz `dot` failed to render {fmt}: {detail or 'no message'}")


class HolidaysUnavailable(EscalationError, ImportError):
    """A calendar uses public holidays but the optional ``holidays`` package is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "public holidays need the optional 'holidays' package: "
            "pip install 'escalation-fsm[sla]' (or list the dates in BusinessCalendar.holidays)"
        )


class PostgresUnavailable(EscalationError, ImportError):
    """A PostgreSQL store was asked for but the optional ``psycopg`` package is not installed."""

    def __init__(self) -> None:
        super().__init__("PostgreSQL stores need psycopg 3, which is an optional extra: "
                         "pip install 'escalation-fsm[postgres]'")
