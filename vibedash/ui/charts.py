"""Altair charts built from plain query rows. Pure: data in, chart out (nothing is drawn here).

Time is the x axis everywhere (when a version was recorded), so live periods and promotions line up with
the scores of the versions around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import altair as alt
import pandas as pd

from vibedash.decisions.benchmarks import display_name
from vibedash.registry.queries import Comparison
from vibedash.ui import format as fmt

LIVE_COLOR = "#0b7a75"  # the theme's primary colour (.streamlit/config.toml): "live" looks the same everywhere
SCORE_SCALE = alt.Scale(zero=False, nice=True)


def _score_text(frame: pd.DataFrame, column: str = "score") -> pd.Series:
    return frame[column].map(fmt.score)


def _created_tooltip() -> alt.Tooltip:
    return alt.Tooltip("created_at:T", title="created", format="%Y-%m-%d %H:%M")


def trend_chart(rows: Sequence[Mapping[str, Any]], benchmark: str) -> alt.LayerChart:
    """The benchmark's score over recent versions: a line, with a dot on every version that went live."""
    frame = pd.DataFrame.from_records(rows, columns=["sha", "short", "branch", "created_at", "score", "went_live"])
    frame["shown"] = _score_text(frame)
    frame["live"] = frame["went_live"].map({True: "went live", False: ""})
    name = display_name(benchmark)
    base = alt.Chart(frame).encode(
        x=alt.X("created_at:T", title=None),
        y=alt.Y("score:Q", title=name, scale=SCORE_SCALE),
        tooltip=[alt.Tooltip("short:N", title="version"), alt.Tooltip("branch:N"),
                 alt.Tooltip("shown:N", title=name), _created_tooltip(), alt.Tooltip("live:N", title="live")])
    line = base.mark_line(point=alt.OverlayMarkDef(size=25, opacity=0.6), color="#888888")
    live = base.transform_filter(alt.datum.went_live).mark_point(size=110, filled=True, color=LIVE_COLOR)
    return alt.layer(line, live).properties(height=220)


def timeline_chart(rows: Sequence[Mapping[str, Any]], periods: Sequence[Mapping[str, Any]],
                   changes: Sequence[Mapping[str, Any]], *, now: datetime | None = None) -> alt.LayerChart:
    """One line per benchmark across versions; live periods shaded; promotions and rollbacks marked.

    ``rows`` come from ``registry.score_timeline``, ``periods`` from ``registry.live_periods`` and ``changes``
    from ``queries.live_changes``. Periods and changes outside the versions' time window are left out, so the
    chart keeps the scale of the versions shown.
    """
    now = now or datetime.now(timezone.utc)
    scores = pd.DataFrame.from_records(rows, columns=["sha", "short", "created_at", "branch", "benchmark", "score"])
    scores["name"] = scores["benchmark"].map(display_name)
    scores["shown"] = _score_text(scores)
    if scores.empty:
        start, end = now, now
    else:
        start, end = scores["created_at"].min(), max(scores["created_at"].max(), now)
    shown_periods = [p for p in periods if (p["end"] or now) >= start and p["start"] <= end]
    shaded = pd.DataFrame.from_records(
        [{"start": max(p["start"], start), "end": min(p["end"] or now, end), "short": p["short"] or p["deploy_id"],
          "since": fmt.exact_time(p["start"]), "until": fmt.exact_time(p["end"]) if p["end"] else "now",
          "band": i % 2}  # alternate shades: back-to-back live periods stay distinguishable
         for i, p in enumerate(shown_periods)],
        columns=["start", "end", "short", "since", "until", "band"])
    marks = pd.DataFrame.from_records(
        [{"at": c["at"], "action": c["kind"] + (" (override)" if c["override"] else ""), "short": c["short"],
          "actor": c["actor"], "when": fmt.exact_time(c["at"])} for c in changes if start <= c["at"] <= end],
        columns=["at", "action", "short", "actor", "when"])

    live_band = alt.Chart(shaded).mark_rect(color=LIVE_COLOR).encode(
        x="start:T", x2="end:T",
        opacity=alt.Opacity("band:N", scale=alt.Scale(domain=[0, 1], range=[0.08, 0.2]), legend=None),
        tooltip=[alt.Tooltip("short:N", title="live"), alt.Tooltip("since:N"), alt.Tooltip("until:N")])
    lines = alt.Chart(scores).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("created_at:T", title=None),
        y=alt.Y("score:Q", title="score", scale=SCORE_SCALE),
        color=alt.Color("name:N", title="benchmark", sort=list(dict.fromkeys(scores["name"]))),
        tooltip=[alt.Tooltip("short:N", title="version"), alt.Tooltip("branch:N"),
                 alt.Tooltip("name:N", title="benchmark"), alt.Tooltip("shown:N", title="score"), _created_tooltip()])
    rules = alt.Chart(marks).mark_rule(strokeDash=[4, 3], color="#555555").encode(
        x="at:T", tooltip=[alt.Tooltip("action:N"), alt.Tooltip("short:N", title="version"),
                           alt.Tooltip("actor:N", title="who"), alt.Tooltip("when:N")])
    labels = alt.Chart(marks).mark_text(align="left", dx=3, dy=-4, fontSize=10, color="#555555").encode(
        x="at:T", y=alt.value(8), text="action:N")
    return alt.layer(live_band, lines, rules, labels).properties(height=320)


def comparison_bars(comparison: Comparison) -> alt.Chart:
    """Grouped bars: one group per benchmark, one bar per version (baseline first)."""
    records = [{"benchmark": display_name(bench), "version": fmt.short(sha), "score": score,
                "shown": fmt.score(score), "order": i}
               for i, sha in enumerate(comparison.shas)
               for bench, score in comparison.scores[sha].items() if bench in comparison.benchmarks]
    frame = pd.DataFrame.from_records(records, columns=["benchmark", "version", "score", "shown", "order"])
    versions = [fmt.short(sha) for sha in comparison.shas]
    benchmarks = [display_name(b) for b in comparison.benchmarks]
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("benchmark:N", sort=benchmarks, title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("version:N", sort=versions),
        y=alt.Y("score:Q", title="score", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("version:N", sort=versions, title="version"),
        tooltip=[alt.Tooltip("version:N"), alt.Tooltip("benchmark:N"), alt.Tooltip("shown:N", title="score")],
    ).properties(height=280)
