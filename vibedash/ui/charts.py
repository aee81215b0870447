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
# Okabe-Ito, reordered so the first four (the default benchmarks, or up to four versions) differ in hue and
# lightness for every common colour-vision deficiency; Streamlit's default palette has two blues and two reds.
SERIES_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#555555"]
MARK_LABEL_ROWS = 4
MARK_LABEL_WIDTH = 0.07  # a "rollback" label takes about this share of the chart's width


def time_axis(start: datetime, end: datetime) -> alt.Axis:
    """Dates that always say the month ("3 Jan"); the hour too when the window is under two days."""
    span = (end - start).total_seconds() if start is not None and end is not None else 0
    if span < 2 * 86400:
        return alt.Axis(format="%-d %b %H:%M", labelOverlap=True)
    return alt.Axis(format="%-d %b", labelOverlap=True)


def label_rows(moments: Sequence[datetime], start: datetime, end: datetime) -> list[int]:
    """A row for each mark's label, so labels of marks close together stack instead of overlapping.

    Greedy: each label takes the first row whose last label ends before it starts (rows cycle when all are
    busy, which only happens with many changes within a few percent of the window).
    """
    width = max((end - start).total_seconds(), 1.0) * MARK_LABEL_WIDTH
    row_ends: list[float] = [float("-inf")] * MARK_LABEL_ROWS
    rows = []
    for i, moment in enumerate(moments):
        at = (moment - start).total_seconds()
        row = next((r for r in range(MARK_LABEL_ROWS) if row_ends[r] <= at), i % MARK_LABEL_ROWS)
        row_ends[row] = at + width
        rows.append(row)
    return rows


def _score_text(frame: pd.DataFrame, column: str = "score") -> pd.Series:
    return frame[column].map(fmt.score)


def _created_tooltip() -> alt.Tooltip:
    return alt.Tooltip("created_at:T", title="created", format="%Y-%m-%d %H:%M")


def on_branch(periods: Sequence[Mapping[str, Any]], changes: Sequence[Mapping[str, Any]],
              branch: str | None) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """A branch's view: when that branch's versions were live and the promotions that made them live, not the
    whole site's history (``branch`` None keeps everything)."""
    if not branch:
        return list(periods), list(changes)
    kept = [p for p in periods if p.get("branch") == branch]
    shas = {p["sha"] for p in kept}
    return kept, [c for c in changes if c.get("sha") in shas]


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
    shown_changes = [c for c in changes if start <= c["at"] <= end]
    rows_of_labels = label_rows([c["at"] for c in shown_changes], start, end)
    marks = pd.DataFrame.from_records(
        [{"at": c["at"], "action": c["kind"] + (" (override)" if c["override"] else ""), "short": c["short"],
          "actor": c["actor"], "when": fmt.exact_time(c["at"]), "label_y": 8 + 12 * row}
         for c, row in zip(shown_changes, rows_of_labels)],
        columns=["at", "action", "short", "actor", "when", "label_y"])

    live_band = alt.Chart(shaded).mark_rect(color=LIVE_COLOR).encode(
        x="start:T", x2="end:T",
        opacity=alt.Opacity("band:N", scale=alt.Scale(domain=[0, 1], range=[0.08, 0.2]), legend=None),
        tooltip=[alt.Tooltip("short:N", title="live"), alt.Tooltip("since:N"), alt.Tooltip("until:N")])
    names = list(dict.fromkeys(scores["name"]))
    lines = alt.Chart(scores).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("created_at:T", title=None, axis=time_axis(start, end)),
        y=alt.Y("score:Q", title="score", scale=SCORE_SCALE),
        color=alt.Color("name:N", title="benchmark", sort=names,
                        scale=alt.Scale(domain=names, range=SERIES_COLORS[:max(len(names), 1)])),
        tooltip=[alt.Tooltip("short:N", title="version"), alt.Tooltip("branch:N"),
                 alt.Tooltip("name:N", title="benchmark"), alt.Tooltip("shown:N", title="score"), _created_tooltip()])
    rules = alt.Chart(marks).mark_rule(strokeDash=[4, 3], color="#555555").encode(
        x="at:T", tooltip=[alt.Tooltip("action:N"), alt.Tooltip("short:N", title="version"),
                           alt.Tooltip("actor:N", title="who"), alt.Tooltip("when:N")])
    labels = alt.Chart(marks).mark_text(align="left", dx=3, baseline="middle", fontSize=10,
                                        color="#555555").encode(x="at:T", y=alt.Y("label_y:Q", scale=None),
                                                                text="action:N")
    return alt.layer(live_band, lines, rules, labels).properties(height=320)


def comparison_bars(comparison: Comparison,
                    intervals: Mapping[str, Mapping[str, tuple[float, float] | None]] | None = None) -> alt.LayerChart:
    """Grouped bars: one group per benchmark, one bar per version (baseline first), each with its 95% CI as an
    error bar where ``intervals`` (sha -> benchmark -> (low, high)) has one."""
    intervals = intervals or {}
    records = []
    for i, sha in enumerate(comparison.shas):
        for bench, score in comparison.scores[sha].items():
            if bench not in comparison.benchmarks:
                continue
            ci = intervals.get(sha, {}).get(bench)
            records.append({"benchmark": display_name(bench), "version": fmt.short(sha), "score": score,
                            "shown": fmt.score(score), "order": i, "low": ci[0] if ci else None,
                            "high": ci[1] if ci else None,
                            "ci": f"{fmt.score(ci[0])} – {fmt.score(ci[1])}" if ci else "–"})
    frame = pd.DataFrame.from_records(records, columns=["benchmark", "version", "score", "shown", "order", "low",
                                                        "high", "ci"])
    versions = [fmt.short(sha) for sha in comparison.shas]
    benchmarks = [display_name(b) for b in comparison.benchmarks]
    x = alt.X("benchmark:N", sort=benchmarks, title=None, axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("version:N", sort=versions)
    tooltip = [alt.Tooltip("version:N"), alt.Tooltip("benchmark:N"), alt.Tooltip("shown:N", title="score"),
               alt.Tooltip("ci:N", title="95% CI")]
    bars = alt.Chart(frame).mark_bar().encode(
        x=x, xOffset=offset, y=alt.Y("score:Q", title="score", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("version:N", sort=versions, title="version",
                        scale=alt.Scale(domain=versions, range=SERIES_COLORS[:len(versions)])),
        tooltip=tooltip)
    # Rules and caps rather than mark_errorbar: the composite mark ignores xOffset, so its whiskers would sit
    # between the bars of a group instead of on each bar.
    with_ci = alt.Chart(frame).transform_filter("isValid(datum.low)")
    y_low = alt.Y("low:Q", title="score", scale=alt.Scale(domain=[0, 100]))
    whiskers = with_ci.mark_rule(color="#222222", strokeWidth=1.5).encode(
        x=x, xOffset=offset, y=y_low, y2="high:Q", tooltip=tooltip)
    caps = alt.layer(*(with_ci.mark_tick(color="#222222", thickness=1.5, size=10).encode(
        x=x, xOffset=offset, y=alt.Y(f"{end}:Q", scale=alt.Scale(domain=[0, 100])), tooltip=tooltip)
        for end in ("low", "high")))
    return alt.layer(bars, whiskers, caps).properties(height=280)
