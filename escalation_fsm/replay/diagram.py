"""The one place the replay report touches :mod:`escalation_fsm.diagrams` (imported lazily).

The diagrams package may be absent (an older build, or a branch without it): the report then says
so in its ``diagram.note`` and in every rendered format, instead of silently leaving it out.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from ..spec import MachineSpec
from .report import Diagram

__all__ = ["annotated_diagram"]

DIAGRAMS_MODULE = "escalation_fsm.diagrams"


def annotated_diagram(spec: MachineSpec, counts: Mapping[tuple[str, str], int], *,
                      svg: bool = False) -> Diagram:
    """The state diagram of ``spec`` with each transition annotated by its observed count.

    ``counts`` is keyed by ``(source, trigger)``. Mermaid text always (when the diagrams package
    is available); SVG too when ``svg`` is true and Graphviz can render it.
    """
    try:
        diagrams = importlib.import_module(DIAGRAMS_MODULE)
    except ImportError as exc:
        return Diagram(available=False,
                       note=f"state diagram not included: {DIAGRAMS_MODULE} is not available "
                            f"in this installation ({exc})")
    mermaid = str(diagrams.to_mermaid(spec, counts=dict(counts)))
    if not svg:
        return Diagram(available=True, mermaid=mermaid,
                       note="transitions annotated with how often they were observed")
    try:
        rendered = diagrams.render(spec, "svg", counts=dict(counts))
    except Exception as exc:  # noqa: BLE001 (any renderer failure is shown, never fatal)
        return Diagram(available=True, mermaid=mermaid,
                       note=f"SVG not rendered ({type(exc).__name__}: {exc}); "
                            f"the Mermaid source is shown instead")
    text = rendered.decode("utf-8") if isinstance(rendered, bytes) else str(rendered)
    return Diagram(available=True, mermaid=mermaid, svg=text,
                   note="transitions annotated with how often they were observed")
