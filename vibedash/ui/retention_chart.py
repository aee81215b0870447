"""The Retention page's chart: kept and pruned versions across two benchmarks, the Pareto frontier of the two as
a dashed staircase with diamonds, as a Vega-Lite spec written out.

Written out rather than built with Altair: Altair validated the spec against its JSON schemas on every rerun, two
thirds of the page's time, and the page reruns after every pin. The spec is fixed but for the axis titles; the
points travel as one named dataset (Arrow), the frontier's layers filter it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from vibedash.registry.retention.chart import VersionPoint
from vibedash.ui import format as fmt

KEPT_COLOR, PRUNED_COLOR, FRONTIER_COLOR = "#0b7a75", "#c0392b", "#444444"  # kept in the theme's primary colour
HEIGHT = 380
ON_FRONTIER, DOMINATED = "on the frontier", "dominated"
DATASET = "versions"
REASONS_SHOWN = 3  # of a version's reasons, in its tooltip


def frontier_data(points: Sequence[VersionPoint]) -> pa.Table:
    """One row per version drawn: its commit, branch, scores, kept or pruned, frontier or not, and why (an Arrow
    table: what the chart sends, built from the columns without a DataFrame between)."""
    return pa.table({
        "version": [p.sha[:7] for p in points],
        "branch": [p.branch for p in points],
        "x": [p.x for p in points],
        "y": [p.y for p in points],
        "status": [p.status for p in points],
        "frontier": [ON_FRONTIER if p.on_frontier else DOMINATED for p in points],
        "why": [fmt.benchmark_words("; ".join(p.reasons[:REASONS_SHOWN])) for p in points],
    })


def frontier_spec(data: pa.Table, x_title: str, y_title: str) -> dict[str, Any]:
    """The chart of ``data`` (:func:`frontier_data`), its axes titled ``x_title`` and ``y_title``."""
    x = {"field": "x", "type": "quantitative", "title": x_title, "scale": {"zero": False, "nice": True}}
    y = {"field": "y", "type": "quantitative", "title": y_title, "scale": {"zero": False, "nice": True}}
    on_frontier = [{"filter": {"field": "frontier", "equal": ON_FRONTIER}}]
    # the edge of what the frontier's versions beat on both benchmarks: down, then across to the next one
    staircase = {"mark": {"type": "line", "interpolate": "step-before", "strokeDash": [5, 4], "color": FRONTIER_COLOR},
                 "transform": on_frontier,
                 "encoding": {"x": x, "y": y, "order": {"field": "x", "type": "quantitative"}}}
    dots = {"mark": {"type": "circle", "size": 70, "opacity": 0.85},
            "encoding": {
                "x": x, "y": y,
                "color": {"field": "status", "type": "nominal", "title": "version",
                          "scale": {"domain": ["kept", "pruned"], "range": [KEPT_COLOR, PRUNED_COLOR]}},
                "tooltip": [{"field": "version", "type": "nominal"}, {"field": "branch", "type": "nominal"},
                            {"field": "status", "type": "nominal"}, {"field": "frontier", "type": "nominal"},
                            {"field": "x", "type": "quantitative", "title": x_title, "format": ".1f"},
                            {"field": "y", "type": "quantitative", "title": y_title, "format": ".1f"},
                            {"field": "why", "type": "nominal"}]}}
    rings = {"mark": {"type": "point", "shape": "diamond", "size": 260, "strokeWidth": 1.5, "color": FRONTIER_COLOR},
             "transform": on_frontier, "encoding": {"x": x, "y": y}}
    return {"height": HEIGHT, "datasets": {DATASET: data}, "data": {"name": DATASET},
            "layer": [staircase, dots, rings]}
