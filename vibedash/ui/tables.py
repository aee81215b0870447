"""Tables as the pages show them: a DataFrame plus its column configuration, built from plain query rows.

Each builder returns a :class:`Table`; ``show(table)`` renders it the same way everywhere (no index, full
width, one decimal for scores, relative times). Builders never query: they take what the queries returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from vibedash.decisions.benchmarks import display_name
from vibedash.decisions.noise import APPROXIMATE_METHODS
from vibedash.decisions.stats import DiffInterval, Flips, Interval, natural_key
from vibedash.registry.queries import Comparison, ResultDetail
from vibedash.ui import format as fmt
from vibedash.ui.frame import version_url

SCORE_FORMAT = "%.1f"
# A mark in front of each verdict, so the eye finds "within noise" in a column of numbers.
VERDICT_MARKS = {"better": "▲", "worse": "▼", "within noise": "≈"}


@dataclass
class Table:
    frame: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.frame.empty


def show(table: Table, *, key: str | None = None, height: int | str = "auto", **selection: Any) -> Any:
    """Render a table; ``selection`` passes ``on_select``/``selection_mode`` through for clickable rows.

    A table wider than the page scrolls sideways inside itself; its first column (what the row is: a version,
    a benchmark, a time) is pinned unless the table pins columns of its own, so the row stays recognisable.
    """
    return st.dataframe(table.frame, hide_index=True, width="stretch", height=height, placeholder="–",
                        column_config=with_first_column_pinned(table), column_order=list(table.frame.columns),
                        key=key, **selection)


def with_first_column_pinned(table: Table) -> dict[str, Any]:
    config = dict(table.config)
    if table.frame.columns.empty or any(isinstance(c, Mapping) and c.get("pinned") for c in config.values()):
        return config
    first = str(table.frame.columns[0])
    current = config.get(first)
    if current is None:
        config[first] = st.column_config.Column(pinned=True)
    elif isinstance(current, Mapping):
        config[first] = {**current, "pinned": True}
    return config


# Wide enough for "MATH-500" plus the sort arrow and the column menu a sorted header shows.
SCORE_WIDTH_PX = 104


ROW_HEIGHT_PX = 35  # st.dataframe's default row height, and its header's


def fitted_height(rows: int, max_rows: int) -> int:
    """A table's height in pixels that shows ``rows`` rows (at most ``max_rows``, the rest scroll inside it) and
    no empty space below them: the header, the rows and the border."""
    return ROW_HEIGHT_PX * (min(max(rows, 1), max_rows) + 1) + 3


def _score_column(benchmark: str) -> Any:
    return st.column_config.NumberColumn(display_name(benchmark), format=SCORE_FORMAT, width=SCORE_WIDTH_PX,
                                         help=f"Headline {display_name(benchmark)} score (0 to 100)")


def _time_column(label: str, help: str | None = None) -> Any:
    return st.column_config.DatetimeColumn(label, format="distance", help=help)


def _version_column(label: str = "version") -> Any:
    # The cell holds the link to the version page; the regex shows only the short sha.
    # Pinned: when a wide table scrolls sideways, the version stays in view beside its numbers.
    return st.column_config.LinkColumn(label, display_text=r"commit=([0-9a-f]{7})", pinned=True, width=90,
                                       help="Open the version's detail page")


def _permalink_column(label: str = "deploy") -> Any:
    return st.column_config.LinkColumn(label, display_text=":material/open_in_new:",
                                       help="The deploy's permalink (this exact deploy, forever)")


# --- history ----------------------------------------------------------------------------------------------

def history_table(rows: Sequence[Mapping[str, Any]], benchmarks: Sequence[str]) -> Table:
    """One row per version: link, branch, created, scores per benchmark, its latest deploy."""
    records = []
    for row in rows:
        record: dict[str, Any] = {
            "version": version_url(row["sha"]),
            "branch": row["branch"] or "",
            "created": row["created_at"],
        }
        for bench in benchmarks:
            record[bench] = row.get(bench)
        record.update({
            "deploy": row["permalink"],
            "state": row["state"] or "no deploy",
            "context": row["context"] or "",
            "live": "● live" if row["live"] else "",
            "locked": "locked" if row["live"] and row["locked"] else "",
            "message": (row["message"] or "") + ("  [synthetic]" if row.get("synthetic") else ""),
        })
        records.append(record)
    columns = ["version", "branch", "created", *benchmarks, "deploy", "state", "context", "live", "locked",
               "message"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for bench in benchmarks:  # missing scores are empty cells, not "None"
        frame[bench] = pd.to_numeric(frame[bench], errors="coerce")
    config = {"version": _version_column(), "created": _time_column("created", "When the version was recorded"),
              "deploy": _permalink_column(), "message": st.column_config.TextColumn("message", width="medium")}
    config.update({bench: _score_column(bench) for bench in benchmarks})
    return Table(frame, config)


# --- events -----------------------------------------------------------------------------------------------

def events_table(events: Sequence[Mapping[str, Any]], *, compact: bool = False) -> Table:
    """The audit log as people read it: when, who, what, on which target, how it ended (and why, unless
    ``compact``)."""
    records = [{
        "when": e["started_at"],
        "who": e["actor"],
        "action": e["kind"] + (" (override)" if e.get("override") else ""),
        "target": _target_text(e, with_deploy=not compact),
        "result": e["status"],
        "reason": e.get("reason") or "",
        "error": e.get("error") or "",
    } for e in events]
    columns = ["when", "action", "target", "result", "who"] + ([] if compact else ["reason", "error"])
    frame = pd.DataFrame.from_records(records, columns=columns)
    return Table(frame, {"when": _time_column("when", "When the action started"),
                         "action": st.column_config.TextColumn("action", width="small"),
                         "result": st.column_config.TextColumn("result", width="small"),
                         "reason": st.column_config.TextColumn("reason", width="medium"),
                         "error": st.column_config.TextColumn("error", width="medium")})


def _target_text(event: Mapping[str, Any], *, with_deploy: bool) -> str:
    """The version's short sha (and the deploy acted on, if asked), else whatever the target was."""
    version = event.get("version")
    target = event.get("target")
    if version:
        deploy = f" · deploy {target}" if with_deploy and target and target != version else ""
        return fmt.short(version) + deploy
    return target or ""


# --- one version ------------------------------------------------------------------------------------------

def deploys_table(deploys: Sequence[Mapping[str, Any]]) -> Table:
    records = [{
        "deploy id": d["deploy_id"],
        "state": d["state"],
        "context": d["context"] or "",
        "created": d["created_at"],
        "permalink": d["permalink"],
        "live": "● live" if d["live"] else "",
        "locked": "locked" if d["locked"] else "",
        "pinned": (f"pinned: {d['pin_reason']}" if d.get("pin_reason") else "pinned") if d["pinned"] else "",
        "expired": "expired" if d["expired"] else "",
        "error": d.get("error") or "",
    } for d in deploys]
    columns = ["deploy id", "state", "context", "created", "permalink", "live", "locked", "pinned", "expired",
               "error"]
    return Table(pd.DataFrame.from_records(records, columns=columns),
                 {"created": _time_column("created"), "permalink": _permalink_column("permalink")})


def results_table(results: Sequence[ResultDetail], intervals: Mapping[int, Interval | None]) -> Table:
    """Results with their protocol and 95% CI; ``intervals`` is keyed by position in ``results``."""
    records = []
    for i, r in enumerate(results):
        interval = intervals.get(i)
        if interval is None:
            ci = "–"
        else:
            ci = f"{fmt.score(interval.low)} – {fmt.score(interval.high)}"
            if interval.method in APPROXIMATE_METHODS:
                ci += " (approx.)"
        records.append({
            "benchmark": display_name(r.benchmark),
            "metric": r.metric,
            "score": r.score,
            "95% CI": ci,
            "per-problem": "yes" if r.per_problem else "no per-problem results",
            "protocol": protocol_text(r),
            "headline": "headline" if r.headline else "extra",
            "source": r.source_format + (f" · {r.source_file}" if r.source_file else ""),
            "imported": r.imported_at,
        })
    columns = ["benchmark", "metric", "score", "95% CI", "per-problem", "protocol", "headline", "source", "imported"]
    return Table(pd.DataFrame.from_records(records, columns=columns), {
        "score": st.column_config.NumberColumn("score", format=SCORE_FORMAT),
        "95% CI": st.column_config.TextColumn("95% CI", help="Over problems; '(approx.)' when only the score and "
                                                            "its stderr or number of problems are known"),
        "imported": _time_column("imported")})


def protocol_text(result: ResultDetail) -> str:
    """'30 problems · 8 samples · T 0.6 · top-p 0.95'."""
    parts = []
    if result.problems:
        parts.append(f"{result.problems} problems")
    if result.samples_per_problem:
        parts.append(f"{result.samples_per_problem} samples")
    if result.temperature is not None:
        parts.append(f"T {result.temperature:g}")
    if result.top_p is not None:
        parts.append(f"top-p {result.top_p:g}")
    if result.k is not None:
        parts.append(f"k {result.k}")
    if result.max_tokens is not None:
        parts.append(f"max {result.max_tokens:,} tokens")
    return " · ".join(parts) or "protocol not recorded"


def per_problem_table(per_problem: Mapping[str, tuple[int, int]]) -> Table:
    ids = sorted(per_problem, key=natural_key)
    records = [{"problem": pid, "correct": per_problem[pid][0], "samples": per_problem[pid][1],
                "accuracy": per_problem[pid][0] / per_problem[pid][1]} for pid in ids]
    frame = pd.DataFrame.from_records(records, columns=["problem", "correct", "samples", "accuracy"])
    return Table(frame, {"accuracy": st.column_config.ProgressColumn("accuracy", format="percent", min_value=0.0,
                                                                     max_value=1.0)})


# --- comparing --------------------------------------------------------------------------------------------

def comparison_table(comparison: Comparison) -> Table:
    """Benchmark rows; each version's score; per other version Δ, its 95% CI and the verdict."""
    baseline = comparison.baseline
    others = comparison.shas[1:]
    by_key = {(d.other_sha, d.benchmark): d for d in comparison.diffs}
    records = []
    for bench in comparison.benchmarks:
        record: dict[str, Any] = {"benchmark": display_name(bench)}
        for sha in comparison.shas:
            record[fmt.short(sha)] = comparison.scores[sha].get(bench)
        for sha in others:
            diff = by_key[(sha, bench)]
            interval = fmt.interval(diff.interval.low, diff.interval.high) if diff.interval else "–"
            if len(others) == 1:
                record["Δ"] = fmt.delta(diff.delta)
                record["95% CI of Δ"] = interval
                record["verdict"] = verdict_label(diff.verdict)
                record["CI method"] = interval_method(diff.interval)
            else:
                # Three or more versions: Δ and its interval share a cell, so every version's columns fit.
                approx = " approx." if diff.interval is not None and diff.interval.n_common is None else ""
                record[f"Δ {fmt.short(sha)} [95% CI]"] = (f"{fmt.delta(diff.delta)} {interval}{approx}"
                                                          if diff.delta is not None else "–")
                record[f"verdict {fmt.short(sha)}"] = verdict_label(diff.verdict)
        records.append(record)
    config: dict[str, Any] = {fmt.short(sha): st.column_config.NumberColumn(
        fmt.short(sha) + (" (baseline)" if sha == baseline else ""), format=SCORE_FORMAT, width=SCORE_WIDTH_PX)
        for sha in comparison.shas}
    config["benchmark"] = st.column_config.TextColumn("benchmark", pinned=True, width="small")
    if len(others) > 1:
        config.update({f"Δ {fmt.short(sha)} [95% CI]": st.column_config.TextColumn(
            help=f"{fmt.short(sha)} minus the baseline {fmt.short(baseline)}, with the 95% CI of the difference "
                 "(paired bootstrap over common problems; 'approx.' where only scores are known)")
            for sha in others})
    return Table(pd.DataFrame.from_records(records), config)


def verdict_label(verdict: str) -> str:
    """'≈ within noise', '▲ better', '▼ worse'; other verdicts (no result, no interval) as they are."""
    mark = VERDICT_MARKS.get(verdict)
    return f"{mark} {verdict}" if mark else verdict


def interval_method(interval: DiffInterval | None) -> str:
    if interval is None:
        return "–"
    return interval.method_text()


def flips_table(problem_ids: Sequence[str], baseline: Mapping[str, tuple[int, int]],
                other: Mapping[str, tuple[int, int]], baseline_label: str, other_label: str) -> Table:
    records = [{"problem": pid,
                baseline_label: f"{baseline[pid][0]}/{baseline[pid][1]}",
                other_label: f"{other[pid][0]}/{other[pid][1]}"} for pid in problem_ids]
    return Table(pd.DataFrame.from_records(records, columns=["problem", baseline_label, other_label]))


def flips_summary(flips: Flips) -> str:
    return (f"{len(flips.gained)} gained, {len(flips.lost)} lost of {flips.n_common} problems "
            "(solved = a majority of samples correct)")
