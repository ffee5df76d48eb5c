"""Type-checked by CI with ``mypy --strict``: the diagrams API as a host (a replay report) uses it.

``render`` is overloaded so that PNG is ``bytes`` and every other format ``str``.
"""

from __future__ import annotations

from collections import Counter

from escalation_fsm import Ticket, default_spec
from escalation_fsm.diagrams import Format, GraphvizUnavailable, render, to_dot, to_mermaid


def report(ticket: Ticket, counts: Counter[tuple[str, str]],
           fmt: Format) -> tuple[str, str, str, bytes, str | bytes]:
    spec = default_spec()
    mermaid: str = to_mermaid(spec, ticket=ticket, counts=counts, show_guards=True)
    dot: str = to_dot(spec, counts=counts, show_roles=True, direction="LR")
    try:
        svg: str = render(spec, "svg", ticket=ticket)
        png: bytes = render(spec, "png", counts=counts)
    except GraphvizUnavailable as missing:
        raise SystemExit(str(missing)) from missing
    anything: str | bytes = render(spec, fmt)
    return mermaid, dot, svg, png, anything
