"""The score chart: a tool's panel and community ship % over its timeline, as inline SVG.

Rendered on the server (no script, no image request) from the timeline points the views keep,
one step per point, each step a link to the event behind it. Panel and community differ in line
style and marker shape as well as colour, so the chart reads in greyscale too."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup
from markupsafe import escape as _escape

from api.site.xml_text import NOT_XML

Point = Mapping[str, Any]

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 54, 10, 12, 32  # room for "100%" at 16 units (phones)
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
SERIES = ("panel", "community")


def escape(value: object) -> Markup:
    """Escaped for XML and HTML alike, without the control characters neither allows."""
    return _escape(NOT_XML.sub("\ufffd", str(value)))


def score_chart(
    points: Sequence[Point], href: Callable[[Point], str], *, chart_id: str, title: str
) -> Markup:
    """SVG markup for `points` (oldest first, shaped as the views' timeline points);
    `href(point)` is where that step links."""
    n = max(1, len(points))
    step = PLOT_W / n
    mark = min(3.5, step / 3)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{escape(chart_id)}-title">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        *_axes(points),
    ]
    for name in SERIES:
        values = [_pct(p, name) for p in points]
        parts.append(f'<path class="line {name}" d="{_steps(values, step)}"/>')
    for i, point in enumerate(points):
        x = LEFT + i * step
        parts.append(f'<a class="step" href="{escape(href(point))}">')
        parts.append(f"<title>{escape(_describe(point))}</title>")
        parts.append(
            f'<rect class="hit" x="{x:.2f}" y="{TOP}" width="{step:.2f}" height="{PLOT_H}"/>'
        )
        panel, community = _pct(point, "panel"), _pct(point, "community")
        if panel is not None:
            side = 2 * mark
            parts.append(
                f'<rect class="mark panel" x="{x - mark:.2f}" y="{_y(panel) - mark:.2f}" '
                f'width="{side:.2f}" height="{side:.2f}"/>'
            )
        if community is not None:
            parts.append(
                f'<circle class="mark community" cx="{x:.2f}" cy="{_y(community):.2f}" '
                f'r="{mark:.2f}"/>'
            )
        parts.append("</a>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped or a number


def _pct(point: Point, series: str) -> int | None:
    figures = point.get(series) or {}
    value = figures.get("ship_pct")
    return int(value) if value is not None else None


def _y(pct: float) -> float:
    return TOP + PLOT_H * (1 - pct / 100)


def _steps(values: Sequence[int | None], step: float) -> str:
    """A step line: flat across each point's column, vertical between columns, and a gap
    wherever the figure is "—" (no verdicts or no votes yet)."""
    d: list[str] = []
    drawing = False
    for i, value in enumerate(values):
        if value is None:
            drawing = False
            continue
        x0, x1, y = LEFT + i * step, LEFT + (i + 1) * step, _y(value)
        d.append(f"V{y:.2f}H{x1:.2f}" if drawing else f"M{x0:.2f} {y:.2f}H{x1:.2f}")
        drawing = True
    return "".join(d) or f"M{LEFT} {TOP + PLOT_H}"


def _axes(points: Sequence[Point]) -> list[str]:
    parts = []
    for pct in (0, 25, 50, 75, 100):
        y = _y(pct)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        if pct % 50 == 0:
            parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">')
            parts.append(f"{pct}%</text>")
    if points:
        base = HEIGHT - BOTTOM + 18
        first, last = str(points[0].get("at", ""))[:10], str(points[-1].get("at", ""))[:10]
        parts.append(f'<text class="axis" x="{LEFT}" y="{base}">{escape(first)}</text>')
        parts.append(
            f'<text class="axis" x="{WIDTH - RIGHT}" y="{base}" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    return parts


def _figure(point: Point, series: str, unit: str) -> str:
    figures = point.get(series) or {}
    pct = figures.get("ship_pct")
    shown = "—" if pct is None else f"{pct}%"
    return f"{series} {shown} ({figures.get('ship', 0)} of {figures.get('total', 0)} {unit})"


def _describe(point: Point) -> str:
    """What a step's tooltip and accessible name say."""
    what = point.get("correction") or point.get("kind")
    return (
        f"Log position {point.get('position')}: {what} by {point.get('actor')}; "
        f"{_figure(point, 'panel', 'verdicts')}, {_figure(point, 'community', 'votes')}"
    )
