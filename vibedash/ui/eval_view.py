"""The evaluation sections of the pages: the Version page's Evaluate action, its runs with progress, k-curves,
cost of a correct answer and budget sweep; Compare's k-curves and accuracy-vs-tokens frontier; Overview's
running evaluations. Each page calls one function here, so the pages stay thin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from vibedash.decisions.benchmarks import display_name
from vibedash.registry.models import Version
from vibedash.ui import format as fmt
from vibedash.ui import frame, state
from vibedash.ui.eval_runs_view import (  # noqa: F401  (their old home)
    running_section,
    runs_fragment,
    runs_list,
)

NOTICE_KEY = "eval_notice"
CURVE_LABELS = {"pass@k": "pass@k (any of k correct)", "maj@k": "maj@k (majority of k)",
                "pass^k": "pass^k (all k correct)"}


# -- reads -------------------------------------------------------------------------------------------------

@st.cache_data(ttl=frame.READ_TTL_S, show_spinner="Reading the samples…")
def load_version_reports(db_url: str, sha: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from sqlalchemy import select

    from vibedash.eval.reports import budget_sweep, version_reports

    with frame.read_session() as session:
        version_id = session.scalar(select(Version.id).where(Version.sha == sha))
        if version_id is None:
            return [], []
        return version_reports(session, version_id), budget_sweep(session, version_id)


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner="Reading the samples…")
def load_compare(db_url: str, shas: tuple[str, ...]) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    from vibedash.eval.reports import compare_costs, compare_curves

    with frame.read_session() as session:
        costs = compare_costs(session, list(shas))
        benchmarks = sorted({row["benchmark"] for row in costs})
        curves = {b: compare_curves(session, list(shas), b) for b in benchmarks}
    return costs, curves


# -- charts ------------------------------------------------------------------------------------------------

def curve_chart(rows: Sequence[dict[str, Any]], *, color: str = "metric", title: str = "") -> alt.LayerChart:
    data = pd.DataFrame(rows)
    data["label"] = data[color].map(lambda v: CURVE_LABELS.get(v, fmt.short(v) if color == "sha" else v))
    base = alt.Chart(data).encode(x=alt.X("k:Q", title="k (samples)", scale=alt.Scale(type="log", base=2)),
                                  color=alt.Color("label:N", title=None))
    band = base.mark_area(opacity=0.18).encode(y=alt.Y("low:Q", title="score (%)", scale=alt.Scale(domain=[0, 100])),
                                               y2="high:Q")
    line = base.mark_line(point=True).encode(
        y="estimate:Q", tooltip=[alt.Tooltip("label:N", title="curve"), "k:Q",
                                 alt.Tooltip("estimate:Q", format=".1f", title="estimate"),
                                 alt.Tooltip("low:Q", format=".1f", title="95% low"),
                                 alt.Tooltip("high:Q", format=".1f", title="95% high")])
    return (band + line).properties(title=title, height=280)


def frontier_chart(rows: Sequence[dict[str, Any]]) -> alt.LayerChart:
    data = pd.DataFrame([r for r in rows if r.get("mean_output_tokens") is not None])
    data["version"] = data["sha"].map(fmt.short)
    data["place"] = data["on_frontier"].map({True: "on the frontier", False: "beaten on both"})
    points = alt.Chart(data).mark_point(filled=True, size=90).encode(
        x=alt.X("mean_output_tokens:Q", title="mean output tokens per sample"),
        y=alt.Y("score:Q", title="score (%)"), shape=alt.Shape("place:N", title=None),
        color=alt.Color("version:N", title="version"),
        tooltip=["version:N", alt.Tooltip("score:Q", format=".1f"),
                 alt.Tooltip("mean_output_tokens:Q", format=",.0f", title="tokens/sample"),
                 alt.Tooltip("tokens_per_correct:Q", format=",.0f", title="tokens/correct")])
    line = alt.Chart(data[data["on_frontier"]].sort_values("mean_output_tokens")).mark_line(
        strokeDash=[4, 3], color="gray").encode(x="mean_output_tokens:Q", y="score:Q")
    return (line + points).properties(height=280)


def cost_table(reports: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for report in reports:
        cost = report.get("cost")
        if not cost:
            continue
        rows.append({"benchmark": display_name(report["benchmark"]), "metric": report["metric"],
                     "score": report["score"], "samples": cost["samples"], "correct": cost["correct"],
                     "tokens / sample": cost["mean_output_tokens"], "thinking / sample": cost["mean_thinking_tokens"],
                     "tokens / correct": cost["tokens_per_correct"], "seconds / correct": cost["seconds_per_correct"],
                     "joules / correct": cost["joules_per_correct"], "cut by cap": report.get("cut_by_token_cap")})
    return pd.DataFrame(rows)


def _curve_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"metric": metric, **point} for metric, curve in report["k_curves"].items() for point in curve["points"]]


# -- Version page ------------------------------------------------------------------------------------------

def version_section(sha: str, model_ref: str | None) -> None:
    """Evaluate (form, runs with progress, cancel), then k-curves, cost and the budget sweep."""
    st.subheader("Evaluations")
    frame.show_notice(NOTICE_KEY)
    evaluate_form(sha, model_ref)
    runs_fragment(sha)
    reports, sweep = load_version_reports(frame.db_url(), sha)
    if not reports:
        frame.empty_state("No per-sample or per-problem results yet: evaluate this version above, or import "
                          "samples (lm-evaluation-harness samples_*.jsonl, lighteval details, Inspect .eval).")
        return
    with_curves = [r for r in reports if r["k_curves"]]
    if with_curves:
        st.markdown("**k-curves**")
        labels = [display_name(r["benchmark"]) + ("" if r["primary"] else f" ({r['metric']})") for r in with_curves]
        for tab, report in zip(st.tabs(labels), with_curves):
            with tab:
                st.altair_chart(curve_chart(_curve_rows(report)), width="stretch")
                st.caption("pass@k: unbiased estimator (Chen et al. 2021) from per-problem counts; maj@k: majority "
                           "vote over k of the stored answers (ties split); pass^k: all k correct. Bands: 95% "
                           "bootstrap over problems.")
    costs = cost_table(reports)
    if not costs.empty:
        st.markdown("**Cost of a correct answer**")
        st.dataframe(costs, hide_index=True, width="stretch", column_config={
            "score": st.column_config.NumberColumn(format="%.1f"),
            **{name: st.column_config.NumberColumn(format="%.1f") for name in (
                "tokens / sample", "thinking / sample", "tokens / correct", "seconds / correct",
                "joules / correct")}})
        st.caption("Per sample: all output tokens divided by the correct samples. Seconds: the run's generation "
                   "wall time. Joules only where the GPU's energy counter was read (NVML).")
    if sweep:
        st.markdown("**Accuracy against the thinking budget**")
        data = pd.DataFrame(sweep)
        st.altair_chart(alt.Chart(data).mark_line(point=True).encode(
            x=alt.X("budget:Q", title="thinking budget (tokens)", scale=alt.Scale(type="log", base=2)),
            y=alt.Y("score:Q", title="pass@1 (%)"), color=alt.Color("benchmark:N"),
            tooltip=["benchmark:N", "budget:Q", alt.Tooltip("score:Q", format=".1f"),
                     alt.Tooltip("mean_output_tokens:Q", format=",.0f")]).properties(height=240), width="stretch")


def evaluate_form(sha: str, model_ref: str | None) -> None:
    if not model_ref:
        st.caption("Record a model reference for this version (`python -m vibedash record --commit SHA --model "
                   "REF`) to evaluate it here.")
        return
    with st.expander("Evaluate this version", icon=":material/play_circle:"):
        with st.form("evaluate_form"):
            upload = st.file_uploader("Problem set", type=["jsonl", "json", "parquet"],
                                      help="The solve panel's JSONL, or a dataset (JSONL or parquet) with "
                                      "problem/question and answer/solution fields")
            path = st.text_input("…or a problem file on this machine", placeholder="/data/aime25.parquet",
                                 key="eval_problem_path")
            k_col, budget_col, cap_col = st.columns(3)
            k = k_col.number_input("k (samples per problem)", min_value=1, max_value=1024, value=8, key="eval_k")
            budgets = budget_col.text_input("Thinking budget", placeholder="none, or 1024,4096,16384", key="eval_budget",
                                            help="Several values run a budget sweep: one result per budget")
            cap = cap_col.number_input("Max new tokens", min_value=1, max_value=131072, value=40960, key="eval_cap")
            submitted = st.form_submit_button("Evaluate", type="primary", icon=":material/play_arrow:",
                                              key="eval_submit")
        if submitted:
            start_evaluation(sha, upload, path, int(k), budgets, int(cap))


def start_evaluation(sha: str, upload, path: str, k: int, budgets: str, cap: int) -> None:
    from pathlib import Path

    from vibedash.eval import background
    from vibedash.solve.problems import ProblemFileError

    if upload is None and not path.strip():
        st.error("Choose a problem set: upload a file or give a path.", icon=":material/error:")
        return
    try:
        problems = background.save_upload(upload.name, upload.getvalue()) if upload is not None else Path(path.strip())
        started = background.start(state.settings().db_url, sha, problems, k=k, budgets=budgets.strip() or None,
                                   max_new_tokens=cap, actor=state.settings().actor)
    except ProblemFileError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    message = (f"Evaluation started in the background: {len(started.problem_set.problems)} problems × k={k}. "
               "Progress below.")
    st.session_state[NOTICE_KEY] = ("success", message)
    st.rerun()


# -- Compare page ------------------------------------------------------------------------------------------

def compare_section(shas: Sequence[str]) -> None:
    costs, curves = load_compare(frame.db_url(), tuple(shas))
    if not costs and not any(curves.values()):
        return
    st.subheader("k-curves and the cost of a correct answer")
    for benchmark, rows in curves.items():
        if not rows:
            continue
        st.markdown(f"**{display_name(benchmark)}**")
        metrics = [m for m in ("pass@k", "maj@k", "pass^k") if any(r["metric"] == m for r in rows)]
        for tab, metric in zip(st.tabs([CURVE_LABELS[m] for m in metrics]), metrics):
            with tab:
                st.altair_chart(curve_chart([r for r in rows if r["metric"] == metric], color="sha"),
                                width="stretch")
        mine = [r for r in costs if r["benchmark"] == benchmark]
        if mine:
            st.altair_chart(frontier_chart(mine), width="stretch")
            st.dataframe(pd.DataFrame([{
                "version": fmt.short(r["sha"]), "score": r["score"], "tokens / sample": r["mean_output_tokens"],
                "thinking / sample": r["mean_thinking_tokens"], "tokens / correct": r["tokens_per_correct"],
                "seconds / correct": r["seconds_per_correct"], "joules / correct": r["joules_per_correct"],
                "frontier": "yes" if r.get("on_frontier") else ""} for r in mine]), hide_index=True, width="stretch")
    st.caption("Bands: 95% bootstrap over problems. The frontier joins versions no other beats on both accuracy "
               "and tokens per sample.")
