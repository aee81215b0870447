"""Version: one version in full (deep link `?commit=SHA`): deploys, results with 95% CIs, per-problem results,
audit events and solve runs."""

from __future__ import annotations

import streamlit as st

from vibedash.decisions.benchmarks import display_name
from vibedash.decisions.noise import score_interval
from vibedash.decisions.stats import Interval
from vibedash.registry import queries
from vibedash.registry import records as registry
from vibedash.ui import format as fmt
from vibedash.solve.latency import VersionLatency, version_latency_in
from vibedash.solve.runlog import RunSummary, runs_of_version
from vibedash.ui import deeplink, frame, solve_runs_view, tables


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner="Reading the version…")
def load_detail(db_url: str, sha: str) -> tuple[queries.VersionDetail, dict[int, Interval | None], str | None]:
    """The version, the 95% CI of each result (by position), and the live version's sha."""
    with frame.read_session() as session:
        detail = queries.version_detail(session, sha)
        live = queries.live_now(session)
    return detail, {i: result_interval(r) for i, r in enumerate(detail.results)}, live.sha if live else None


def result_interval(result: queries.ResultDetail) -> Interval | None:
    """Over problems when per-problem results exist, else from the imported stderr or the number of problems."""
    return score_interval(result.benchmark, result.score, per_problem=result.per_problem, problems=result.problems,
                          stderr=result.stderr)


TAB_KEY = "version_problems_tab"
COMMIT_KEY = "version_commit"


def tab_label(result: queries.ResultDetail) -> str:
    return display_name(result.benchmark) + ("" if result.headline else f" ({result.metric})")


def tab_token(result: queries.ResultDetail) -> str:
    """The open per-problem tab as the URL names it: the benchmark's key (and the metric, when not the headline)."""
    return result.benchmark if result.headline else f"{result.benchmark}:{result.metric}"


def deep_link(commit: str, with_problems: list[queries.ResultDetail]) -> deeplink.DeepLink:
    """The URL keeps the version (?commit=) and the open per-problem tab (?problems=)."""
    st.session_state[COMMIT_KEY] = commit  # the URL's commit, as given (a prefix stays one), is what is shown
    params = [deeplink.Param("commit", COMMIT_KEY, "")]
    if with_problems:
        labels = {tab_token(r): tab_label(r) for r in with_problems}
        tokens = {label: token for token, label in labels.items()}

        def parse(raw: str) -> str:
            if raw not in labels:
                raise ValueError("not a benchmark with per-problem results for this version")
            return labels[raw]

        params.append(deeplink.Param("problems", TAB_KEY, tab_label(with_problems[0]), parse,
                                     lambda label: tokens.get(label, "")))
    return deeplink.DeepLink(frame.VERSION, *params)


def ask_for_version() -> None:
    frame.header("Version")
    st.info("Open a version from History, or give its commit sha.", icon=":material/commit:")
    sha = st.text_input("Commit sha", key="version_sha", placeholder="e.g. 3f2a9c1 (7 to 40 hex characters)")
    if sha.strip():
        st.query_params["commit"] = sha.strip()
        st.rerun()
    st.page_link(frame.HISTORY, label="Back to History", icon=":material/arrow_back:")


def not_found(message: str) -> None:
    frame.header("Version")
    # The sentence quotes ?commit=: that part is shown as typed, never as Markdown (a link, an image, an icon).
    st.warning(fmt.with_plain(message, (st.query_params.get("commit") or "").strip()), icon=":material/search_off:")
    st.page_link(frame.HISTORY, label="Back to History", icon=":material/arrow_back:")


def summary(detail: queries.VersionDetail, live_sha: str | None) -> None:
    frame.header(f"Version {fmt.short(detail.sha)}", detail.message or "no commit message")
    with st.container(horizontal=True, vertical_alignment="center"):
        if detail.branch:
            st.badge(detail.branch, icon=":material/call_split:", color="gray")
        if detail.sha == live_sha:
            st.badge("live", icon=":material/public:", color="green")
        if detail.synthetic:
            st.badge("synthetic", icon=":material/science:", color="orange",
                     help="Made up by the sample registry, not a real checkpoint")
        st.caption(f"recorded {fmt.relative_time(detail.created_at)}", help=fmt.exact_time(detail.created_at),
                   width="content")
    st.code(detail.sha, language=None)
    if detail.model_ref:
        st.markdown(f"Model reference: `{detail.model_ref}`")
    else:
        st.caption("No model reference: record one (`python -m vibedash record --commit SHA --model REF`) to solve "
                   "problems with this version.")
    with st.container(horizontal=True):
        if live_sha and live_sha != detail.sha:
            st.page_link(frame.COMPARE, label="Compare with live", icon=":material/compare_arrows:",
                         query_params={"commits": f"{live_sha},{detail.sha}"})
        st.page_link(frame.SOLVE, label="Solve with it", icon=":material/calculate:",
                     query_params={"a": detail.sha})
        st.page_link(frame.HISTORY, label="History", icon=":material/history:")


def deploys_section(detail: queries.VersionDetail) -> None:
    st.subheader("Deploys")
    if not detail.deploys:
        frame.empty_state("No deploy of this version in the registry: sync from Netlify, or record one with "
                          "`python -m vibedash record --commit SHA --deploy-id ID`.")
        return
    tables.show(tables.deploys_table(detail.deploys), key="version_deploys")


def results_section(detail: queries.VersionDetail, intervals: dict[int, Interval | None]) -> None:
    st.subheader("Results")
    if not detail.results:
        frame.empty_state("No results yet: import them with "
                          f"`python -m vibedash import --commit {fmt.short(detail.sha)} FILE...`.")
        return
    tables.show(tables.results_table(detail.results, intervals), key="version_results")
    st.caption("95% CI: Student's t over problems (a Wilson interval when every problem has the same accuracy). "
               "Where a source gave only a score, the interval comes from its standard error, or conservatively "
               "from the number of problems (a known benchmark's size when the file does not say); none when "
               "the noise is unknown.")
    with_problems = [r for r in detail.results if r.per_problem]
    if not with_problems:
        st.caption("No per-problem results for this version.")
        return
    st.markdown("**Per-problem results**")
    labels = [tab_label(r) for r in with_problems]
    if st.session_state.get(TAB_KEY) not in labels:
        st.session_state[TAB_KEY] = labels[0]
    for tab, result in zip(st.tabs(labels, key=TAB_KEY, on_change="rerun"), with_problems):
        with tab:
            solved = sum(correct / samples for correct, samples in result.per_problem.values())
            st.caption(f"{tables.protocol_text(result)} · mean accuracy "
                       f"{fmt.score(100 * solved / len(result.per_problem))}")
            tables.show(tables.per_problem_table(result.per_problem), key=f"version_problems_{result.benchmark}_"
                        f"{result.metric}", height=320)


def events_section(detail: queries.VersionDetail) -> None:
    st.subheader("Audit events")
    if not detail.events:
        frame.empty_state("Nothing has happened to this version yet (promotions, rollbacks, pins, imports).")
        return
    tables.show(tables.events_table(detail.events), key="version_events")


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_solve_figures(db_url: str, sha: str) -> tuple[VersionLatency, list[RunSummary]]:
    """Latency percentiles over the version's solve runs and eval samples, and its newest runs with their
    figures."""
    with frame.read_session() as session:
        version = registry.find_version(session, sha)
        return version_latency_in(session, version.id), runs_of_version(session, version.id)


def solve_section(detail: queries.VersionDetail) -> None:
    st.subheader("Solve runs")
    no_runs = "No solve runs with this version yet: try one on the Solve page."
    latency, runs = load_solve_figures(frame.db_url(), detail.sha)
    if not detail.solve_runs and latency.empty:
        frame.empty_state(no_runs)
        return
    solve_runs_view.version_solve_section(latency, runs)  # eval samples' latency shows even without solve runs
    if not detail.solve_runs:
        frame.empty_state(no_runs)


frame.require_registry()
commit = (st.query_params.get("commit") or "").strip()
if not commit:
    deeplink.own_only(frame.VERSION)
    ask_for_version()
else:
    try:
        detail, intervals, live_sha = load_detail(frame.db_url(), commit)
    except (registry.NotFound, registry.RegistryError) as exc:
        deep_link(commit, []).read()
        not_found(str(exc))
    else:
        link = deep_link(commit, [r for r in detail.results if r.per_problem])
        link.read()
        summary(detail, live_sha)
        deploys_section(detail)
        results_section(detail, intervals)
        from vibedash.ui import eval_view

        eval_view.version_section(detail.sha, detail.model_ref)
        events_section(detail)
        solve_section(detail)
        link.write()
