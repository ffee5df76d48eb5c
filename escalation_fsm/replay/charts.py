"""Small inline SVG charts for the HTML report: no script, no network, readable without colour.

* :func:`rate_chart`: conformance and escalation rate by month (two lines, 0-100 %);
* :func:`histogram_chart`: how long resolved tickets took (bars per duration bin).
"""

from __future__ import annotations

from html import escape

from .schema import Breakdown, HistogramBin

__all__ = ["histogram_chart", "rate_chart"]

_W, _H = 760, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 16, 16, 44
_STYLE = 'font-family="system-ui,sans-serif" font-size="11" fill="#1d2330"'


def _frame(title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" '
            f'height="{_H}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def rate_chart(months: list[Breakdown]) -> str | None:
    """Conformance rate (solid) and escalation rate (dashed) per month; ``None`` under 2 months."""
    if len(months) < 2:
        return None
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    step = width / (len(months) - 1)

    def y(rate: float) -> float:
        return _TOP + height * (1 - rate)

    body = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                    f'stroke="#e3e6eb"/><text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" '
                    f'text-anchor="end" {_STYLE}>{tick:.0%}</text>')
    every = max(1, len(months) // 8)
    for index, month in enumerate(months):
        if index % every == 0:
            body.append(f'<text x="{_LEFT + index * step:.1f}" y="{_H - _BOTTOM + 16}" '
                        f'text-anchor="middle" {_STYLE}>{escape(month.key)}</text>')
    series = (("conformance", "#2563eb", "", [m.kpis.conformance_rate for m in months]),
              ("escalation", "#b45309", ' stroke-dasharray="6 4"',
               [m.kpis.escalation_rate for m in months]))
    for _, colour, dash, values in series:
        points = " ".join(f"{_LEFT + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values)
                          if v is not None)
        if points:
            body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                        f'stroke-width="2"{dash}/>')
    legend_y = _H - 10
    body.append(f'<line x1="{_LEFT}" x2="{_LEFT + 24}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
                f'stroke="#2563eb" stroke-width="2"/><text x="{_LEFT + 30}" y="{legend_y}" '
                f'{_STYLE}>followed the procedure (of finished tickets)</text>')
    body.append(f'<line x1="{_LEFT + 300}" x2="{_LEFT + 324}" y1="{legend_y - 4}" '
                f'y2="{legend_y - 4}" stroke="#b45309" stroke-width="2" stroke-dasharray="6 4"/>'
                f'<text x="{_LEFT + 330}" y="{legend_y}" {_STYLE}>escalated (of all tickets)</text>')
    return _frame("Conformance and escalation rate by month", body)


def histogram_chart(bins: list[HistogramBin]) -> str | None:
    """Resolved tickets per time-to-resolution bin; ``None`` when nothing was resolved."""
    total = sum(b.cases for b in bins)
    if not total:
        return None
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    slot = width / len(bins)
    most = max(b.cases for b in bins)
    body = []
    for index, item in enumerate(bins):
        bar = height * item.cases / most
        x = _LEFT + index * slot
        body.append(f'<rect x="{x + 4:.1f}" y="{_TOP + height - bar:.1f}" width="{slot - 8:.1f}" '
                    f'height="{bar:.1f}" fill="#2563eb"><title>{escape(item.label)}: '
                    f'{item.cases:,} tickets</title></rect>')
        body.append(f'<text x="{x + slot / 2:.1f}" y="{_TOP + height - bar - 4:.1f}" '
                    f'text-anchor="middle" {_STYLE}>{item.cases / total:.0%}</text>')
        body.append(f'<text x="{x + slot / 2:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle" '
                    f'{_STYLE}>{escape(item.label)}</text>')
    return _frame("Time to resolution of resolved tickets", body)
