"""Streamlit pieces that show solve runs already logged: the Solve page's recent runs, and the Version page's
solve section (latency percentiles per source, mean thinking, the version's runs). Nothing here loads a model
or imports the solve engine, so the Version page never does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import streamlit as st

from vibedash.solve.latency import PERCENTILES, VersionLatency
from vibedash.solve.runlog import RunSummary
from vibedash.ui.format import relative_time


def tokens_text(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "–"


def recent_runs_table(runs: Iterable[RunSummary]) -> None:
    """The solve log, newest first, with how often each run answered a repeated request."""
    rows = [{
        "when": run.created_at, "version": run.version, "problem": run.problem,
        "mode": "single" if run.samples == 1 else f"vote k={run.samples}",
        "answer": run.answer, "correct": {True: "✓", False: "✗", None: "–"}[run.correct],
        "agreement": run.agreement, "tokens": run.tokens, "thinking": run.thinking_tokens,
        "answer tokens": run.answer_tokens,
        "tok/s": run.decode_tokens_per_second or run.tokens_per_second,
        "first token s": run.time_to_first_token_s, "first answer s": run.time_to_first_answer_s,
        "total s": run.total_s, "cut": _cut(run), "budget": run.thinking_budget, "backend": run.backend,
        "served from log": served_from_log(run),
    } for run in runs]
    if not rows:
        st.caption("No solve runs yet.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "when": st.column_config.DatetimeColumn(format="distance", pinned=True),  # stays in view when it scrolls
        "agreement": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
        "tok/s": st.column_config.NumberColumn(format="%.1f"),
        "first token s": st.column_config.NumberColumn(format="%.2f"),
        "first answer s": st.column_config.NumberColumn(format="%.2f", help="Seconds from the request to the "
                                                         "first token after </think> (model load included)"),
        "total s": st.column_config.NumberColumn(format="%.2f"),
        "thinking": st.column_config.NumberColumn(help="Thinking tokens (all samples)"),
        "budget": st.column_config.NumberColumn(help="Thinking budget in tokens; empty: none"),
        "served from log": st.column_config.TextColumn(
            help="How often this run answered an identical request (same version, prompt and settings) "
                 "instead of generating again, and when it last did; stopped runs never answer repeats"),
    })


def _cut(run: RunSummary) -> str:
    if run.samples_cut is None:
        return ""
    if not run.samples_cut:
        return "no"
    return "yes" if run.samples == 1 else f"{run.samples_cut} of {run.samples}"


def served_from_log(run: RunSummary, now: datetime | None = None) -> str:
    """'3×, last 2 hours ago' for a run that answered repeats; empty for one that has not (yet)."""
    if run.stopped:
        return "stopped, not reused"
    if not run.cache_hits:
        return ""
    return f"{run.cache_hits}×, last {relative_time(run.last_served_at, now)}"


def latency_table(latency: VersionLatency) -> pd.DataFrame:
    """P50/P95/P99 of the time to the first answer token and of the total time, one row each per source (solve
    runs, eval samples, imported samples): their clocks differ, so they are never pooled."""
    rows = []
    if latency.runs:
        for label, values, count in (("first answer token", latency.first_answer_s, latency.answered_runs),
                                     ("total time", latency.total_s, latency.runs)):
            rows.append({"latency": label, "source": "solve runs", **{f"P{q} s": values[q] for q in PERCENTILES},
                         "over": f"{count:,} run{'s' if count != 1 else ''}"})
    for source in latency.samples:
        for label, values, count in (("first answer token", source.first_answer_s, source.answered),
                                     ("total time", source.total_s, source.timed)):
            if count:
                rows.append({"latency": label, "source": source.source,
                             **{f"P{q} s": values[q] for q in PERCENTILES}, "over": f"{count:,} samples"})
    return pd.DataFrame(rows)


def version_solve_section(latency: VersionLatency, runs: list[RunSummary]) -> None:
    """The Version page's solve runs: latency percentiles and mean thinking, then the runs themselves."""
    if latency.empty:
        st.caption("No solve runs with latency figures yet (runs logged before they were measured have none), "
                   "and no eval samples.")
    else:
        if latency.runs:
            thinking = tokens_text(latency.mean_thinking_tokens)
            answer = tokens_text(latency.mean_answer_tokens)
            energy = f" · {latency.mean_energy_j:,.0f} J per answer" if latency.mean_energy_j is not None else ""
            st.markdown(f"Mean per sample: **{thinking}** thinking tokens, **{answer}** answer tokens{energy} "
                        f"· over {latency.runs} run{'s' if latency.runs != 1 else ''} (stopped runs left out)")
        for source in latency.samples:
            ignored = f"; {source.untimed:,} without a time ignored" if source.untimed else ""
            st.markdown(f"{source.source.capitalize()}: **{tokens_text(source.mean_thinking_tokens)}** thinking tokens "
                        f"per sample · {source.samples:,} samples{ignored}")
        mean, count = latency.mean_thinking_all
        if latency.samples and mean is not None:
            st.markdown(f"Over every source: **{tokens_text(mean)}** thinking tokens per sample ({count:,} samples)")
        st.dataframe(latency_table(latency), hide_index=True, width="stretch", column_config={
            f"P{q} s": st.column_config.NumberColumn(format="%.2f") for q in PERCENTILES})
        if latency.samples:
            st.caption("Solve runs are timed from the request with model load included, as a person waits; eval "
                       "samples from the request with the model already loaded, each sharing its decode steps "
                       "with its batch or the server's other requests; imported samples as their harness "
                       "recorded them. So each source has its own rows.")
    if runs:
        version_runs_table(runs)


def version_runs_table(runs: list[RunSummary]) -> None:
    """One version's runs with where their time and tokens went."""
    rows = [{
        "when": run.created_at, "problem": run.problem,
        "mode": "single" if run.samples == 1 else f"vote k={run.samples}", "answer": run.answer or "",
        "grade": {True: "✓", False: "✗", None: "not graded"}[run.correct],
        "first token s": run.time_to_first_token_s, "first answer s": run.time_to_first_answer_s,
        "total s": run.total_s, "thinking": run.thinking_tokens, "answer tokens": run.answer_tokens,
        "tokens": run.tokens, "tok/s": run.decode_tokens_per_second or run.tokens_per_second, "cut": _cut(run),
        "budget": run.thinking_budget, "energy J": run.energy_j,
        "backend": run.backend + (f" · {run.device}" if run.device else ""),
        "stopped": "stopped" if run.stopped else "",
    } for run in runs]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="version_solve_runs", column_config={
        "when": st.column_config.DatetimeColumn(format="distance", pinned=True),  # stays in view when it scrolls
        **{name: st.column_config.NumberColumn(format="%.2f") for name in ("first token s", "first answer s",
                                                                           "total s")},
        "tok/s": st.column_config.NumberColumn(format="%.0f"),
        "energy J": st.column_config.NumberColumn(format="%.0f", help="GPU energy of the run (NVML)"),
    })
