"""The overview's trend: a benchmark's score over recent versions, a line with a dot on every version that went
live, as a Vega-Lite spec written out.

The overview is the first page anyone opens, so it is drawn without Altair: importing Altair (and the JSON
schemas it validates against) costs about a fifth of a second of a cold start, for one small chart. The other
pages' charts, richer and opened later, stay in :mod:`vibedash.ui.charts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from vibedash.decisions.benchmarks import display_name
from vibedash.ui import format as fmt

LIVE_COLOR = "#0b7a75"  # the theme's primary colour (.streamlit/config.toml), as in vibedash.ui.charts
LINE_COLOR = "#888888"
HEIGHT = 220
COLUMNS = ["sha", "short", "branch", "created_at", "score", "went_live"]


def trend_data(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per version: its score, the score as shown, and "went live" for the tooltip."""
    frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
    frame["shown"] = frame["score"].map(fmt.score)
    frame["live"] = frame["went_live"].map({True: "went live", False: ""})
    return frame


def trend_spec(benchmark: str) -> dict[str, Any]:
    name = display_name(benchmark)
    encoding = {
        "x": {"field": "created_at", "type": "temporal", "title": None,
              "axis": {"format": "%-d %b", "labelOverlap": True, "labelFlush": True}},
        "y": {"field": "score", "type": "quantitative", "title": name, "scale": {"zero": False, "nice": True}},
        "tooltip": [{"field": "short", "type": "nominal", "title": "version"},
                    {"field": "branch", "type": "nominal"},
                    {"field": "shown", "type": "nominal", "title": name},
                    {"field": "created_at", "type": "temporal", "title": "created", "format": "%Y-%m-%d %H:%M"},
                    {"field": "live", "type": "nominal", "title": "live"}],
    }
    line = {"mark": {"type": "line", "color": LINE_COLOR, "point": {"size": 25, "opacity": 0.6}},
            "encoding": encoding}
    live = {"mark": {"type": "point", "size": 110, "filled": True, "color": LIVE_COLOR},
            "encoding": encoding, "transform": [{"filter": "datum.went_live"}]}
    return {"height": HEIGHT, "layer": [line, live]}
