"""Images through Graphviz: the optional ``svg`` extra and the ``dot`` program.

Both are looked up only when an image is asked for, so ``import escalation_fsm.diagrams`` (and
Mermaid or DOT text) works without them. When either is missing the call raises
:class:`GraphvizUnavailable` saying what to install; it never falls back to another format,
because a caller that asked for SVG and silently got DOT text would publish a broken page.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from ..errors import GraphvizUnavailable, RenderFailed

__all__ = ["GraphvizUnavailable", "ImageFormat", "dot_to_image"]

ImageFormat = Literal["svg", "png"]


def _graphviz(fmt: str) -> Any:
    # Imported by name and typed Any: the package ships no type information, and it is optional.
    try:
        return importlib.import_module("graphviz")
    except ImportError as exc:
        raise GraphvizUnavailable(fmt, "package") from exc


def dot_to_image(source: str, fmt: ImageFormat) -> bytes:
    """Lay out DOT ``source`` with Graphviz ``dot`` and return the ``fmt`` image's bytes."""
    graphviz = _graphviz(fmt)
    try:
        image: bytes = graphviz.pipe("dot", fmt, source.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizUnavailable(fmt, "program") from exc
    except graphviz.CalledProcessError as exc:
        # Our DOT is generated and escaped, so this is a Graphviz failure, not bad input.
        stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        raise RenderFailed(fmt, stderr.strip()) from exc
    return image
