"""The score chart: inline SVG from timeline points, one linked step per point."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.site.charts import HEIGHT, LEFT, PLOT_H, PLOT_W, TOP, WIDTH, score_chart

SVG = "{http://www.w3.org/2000/svg}"
KINDS = ("Tool.Listed", "Panel.VerdictPublished", "Panel.VerdictAmended", "Ballot.Cast")


def figures(ship: int, total: int) -> dict[str, Any]:
    pct = None if total == 0 else (200 * ship + total) // (2 * total)
    return {"ship": ship, "skip": total - ship, "total": total, "ship_pct": pct}


tallies = st.integers(0, 50).flatmap(lambda t: st.builds(figures, st.integers(0, t), st.just(t)))
points = st.lists(
    st.builds(
        lambda i, kind, actor, panel, community: {
            "position": i,
            "size": i,
            "at": f"2025-06-{1 + i % 28:02d}T10:00:00+00:00",
            "kind": kind,
            "actor": actor,
            "panel": panel,
            "community": community,
        },
        st.integers(1, 10**6),
        st.sampled_from(KINDS),
        st.text(max_size=20),  # any text: the chart must escape it
        tallies,
        tallies,
    ),
    max_size=40,
)


def href(point: dict[str, Any]) -> str:
    return f"/v1/tools/t?as_of={point['size']}&x=<'\">"


def render(pts: list[dict[str, Any]], title: str = "Scores") -> ET.Element:
    svg = str(score_chart(pts, href, chart_id="chart-t", title=title))
    return ET.fromstring(svg)  # noqa: S314 - our own output, the thing under test


@given(points, st.text(max_size=30))
def test_svg_parses_and_has_one_linked_step_per_point(pts: list[Any], title: str) -> None:
    """Whatever the points and title say, the SVG is well-formed XML with one link per point,
    in order, each pointing where `href` says and named by its title."""
    svg = render(pts, title)
    assert svg.tag == f"{SVG}svg"
    assert svg.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    links = svg.findall(f"{SVG}a")
    assert [a.get("href") for a in links] == [href(p) for p in pts]
    for a, p in zip(links, pts, strict=True):
        name = a.findtext(f"{SVG}title") or ""
        assert name.startswith(f"Log position {p['position']}: {p['kind']}")


@given(points)
def test_markers_only_where_a_figure_exists(pts: list[Any]) -> None:
    """A square per point with panel verdicts, a circle per point with votes, none for "—"."""
    svg = render(pts)
    squares = svg.findall(f".//{SVG}rect[@class='mark panel']")
    circles = svg.findall(f".//{SVG}circle[@class='mark community']")
    assert len(squares) == sum(p["panel"]["ship_pct"] is not None for p in pts)
    assert len(circles) == sum(p["community"]["ship_pct"] is not None for p in pts)


@given(points)
def test_steps_stay_inside_the_plot(pts: list[Any]) -> None:
    """Every coordinate of both lines lies within the plot area."""
    for path in render(pts).findall(f"{SVG}path"):
        for command, numbers in re.findall(r"([MHV])([-\d. ]+)", path.get("d") or ""):
            values = [float(n) for n in numbers.split()]
            xs = values[:1] if command in "MH" else []
            ys = values[1:] if command == "M" else values if command == "V" else []
            assert all(LEFT - 1e-6 <= x <= LEFT + PLOT_W + 1e-6 for x in xs)
            assert all(TOP - 1e-6 <= y <= TOP + PLOT_H + 1e-6 for y in ys)


def test_a_gap_where_the_community_has_no_votes() -> None:
    """Votes, then a retraction to none, then votes again: the dashed line breaks in two."""
    tallies_in_order = [figures(1, 1), figures(0, 0), figures(2, 2)]
    pts = [
        {
            "position": i,
            "size": i,
            "at": "2025-06-01T10:00:00+00:00",
            "kind": "Ballot.Cast",
            "actor": "voter:v",
            "panel": figures(3, 4),
            "community": community,
        }
        for i, community in enumerate(tallies_in_order, start=1)
    ]
    svg = render(pts)
    community = svg.find(f"{SVG}path[@class='line community']")
    panel = svg.find(f"{SVG}path[@class='line panel']")
    assert community is not None and panel is not None
    assert (community.get("d") or "").count("M") == 2
    assert (panel.get("d") or "").count("M") == 1
