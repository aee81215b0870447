"""Overview: what is live, the best candidate and its gate, the trend, recent activity, and the sync state."""

from __future__ import annotations

from typing import Any

import streamlit as st

from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS, display_name
from vibedash.decisions.gate import DEFAULT_POLICY, Policy
from vibedash.decisions.noise import SETS_DIFFER, TOO_FEW_PROBLEMS
from vibedash.decisions.policies import gate_policy
from vibedash.decisions.power import power_text
from vibedash.registry import demo, queries
from vibedash.registry import records as registry
from vibedash.ui import auth, deeplink, frame, state, tables, trend_chart
from vibedash.ui import format as fmt

TREND_VERSIONS = 30
RECENT_EVENTS = 10
METRIC_WIDTH = "content"  # each metric as wide as its label, value and change ("+5.8 (within noise)")
NOTICE_KEY = "overview_notice"


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_overview(db_url: str, policy_key: tuple, _policy: Policy) -> queries.Overview:
    """Everything the page shows, in one read (``policy_key`` keys the cache; ``_policy`` is not hashed)."""
    with frame.read_session() as session:
        return queries.overview(session, _policy, trend_versions=TREND_VERSIONS, recent_events=RECENT_EVENTS)


def load_sample_registry() -> None:
    """Button callback: fill the empty registry with the sample history, audited like `demo-data`."""
    engine = state.engine()
    try:
        summary = demo.load_sample_registry(engine, actor=auth.actor())
    except registry.RegistryError as exc:
        st.session_state[NOTICE_KEY] = ("error", str(exc))
        return
    state.refresh()
    st.session_state[NOTICE_KEY] = (
        "success", f"Loaded the sample registry: {summary['versions']} versions and {summary['deploys']} deploys. "
                   "Everything except the version marked as published is synthetic.")


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        if kind == "success":
            st.success(text, icon=":material/check_circle:")
        else:
            st.error(text, icon=":material/error:")


def first_run() -> None:
    st.subheader("The registry is empty")
    st.write("vibedash keeps every version of the model, its Netlify deploys and its benchmark results. "
             "Start in one of three ways:")
    sample, netlify, results = st.columns(3)
    with sample.container(border=True, height="stretch"):
        st.markdown("**:material/science: Try the sample registry**")
        st.caption(f"{demo.N_VERSIONS} versions around VibeThinker-1.5B's published scores, with deploys, "
                   "promotions and per-problem results. Clearly marked synthetic; you can start a real registry "
                   "later with another VIBEDASH_DB_URL.")
        if auth.may(auth.Action.LOAD_SAMPLE):
            st.button("Load the sample registry", key="load_sample", type="primary", icon=":material/download:",
                      on_click=load_sample_registry)
    with netlify.container(border=True, height="stretch"):
        st.markdown("**:material/cloud: Connect Netlify**")
        st.caption("Set NETLIFY_AUTH_TOKEN (a personal access token) and NETLIFY_SITE_ID in the environment or in "
                   ".streamlit/secrets.toml, reload, then sync: every deploy becomes a version. No account at "
                   "hand? Run the local simulator:")
        st.code("python -m vibedash netlify-sim --seed-demo", language="bash", wrap_lines=True)
        frame.sync_button(key="first_run_sync")
    with results.container(border=True, height="stretch"):
        st.markdown("**:material/upload_file: Import results**")
        st.caption("Record a version and import its evaluation files (lm-evaluation-harness, lighteval, "
                   "EvalScope, LiveCodeBench, VibeThinker's own format or a plain JSON):")
        st.code("SHA=$(git rev-parse HEAD)\n"
                "python -m vibedash record --commit $SHA --branch main\n"
                "python -m vibedash import --commit $SHA results/*.json", language="bash", wrap_lines=True)


def live_section(live: queries.LiveNow | None) -> None:
    with st.container(border=True):
        st.subheader("Live now")
        if live is None:
            frame.empty_state("Nothing is live yet. Sync from Netlify to see what the site serves, or promote a "
                              "candidate on the Promote page.")
            return
        parts = [f"**`{fmt.short(live.sha)}`**" if live.sha else f"deploy `{live.deploy_id}`", live.branch or "",
                 "locked" if live.locked else "auto-publishing (not locked)"]
        st.markdown(" · ".join(p for p in parts if p), help=live.message or None)
        if live.since is not None:
            st.caption(fmt.live_for(live.since), help=f"since {fmt.exact_time(live.since)}")
        score_metrics(live.scores)
        with st.container(horizontal=True):
            if live.site_url:
                st.link_button("Open site", live.site_url, icon=":material/open_in_new:")
            if live.permalink:
                st.link_button("Permalink", live.permalink, icon=":material/link:")
            if live.sha:
                frame.version_link(live.sha, label="Details", icon=":material/info:")


def score_metrics(scores: dict[str, float], against: dict[str, float] | None = None,
                  candidate: queries.CandidateSummary | None = None) -> None:
    """One metric per benchmark, headline benchmarks first; with ``against``, the change from those scores,
    coloured only where ``candidate`` says it is beyond noise (a green arrow on noise would claim a gain)."""
    shown = [b for b in HEADLINE_BENCHMARKS if b in scores] + sorted(set(scores) - set(HEADLINE_BENCHMARKS))
    if not shown:
        st.caption("No results yet: import them with `python -m vibedash import`.")
        return
    # Fixed-width metrics in a wrapping row: on a narrow window they flow onto a second line instead of being
    # squeezed into "7…".
    row = st.container(horizontal=True, gap="medium")
    for bench in shown:
        change = scores[bench] - against[bench] if against and bench in against else None
        comparison = candidate.comparisons.get(bench) if candidate is not None else None
        if comparison is not None and comparison.diff is not None and comparison.diff.n_common is not None:
            change = comparison.delta  # judged on the problems both share
        beyond = candidate is not None and candidate.beyond_noise(bench)
        if change is None:
            row.metric(display_name(bench), fmt.score(scores[bench]), width=METRIC_WIDTH)
        elif round(change, 1) == 0:  # "+0.0" with a green arrow would claim a gain
            row.metric(display_name(bench), fmt.score(scores[bench]), delta="±0.0", delta_color="off",
                       delta_arrow="off", width=METRIC_WIDTH)
        elif beyond:
            row.metric(display_name(bench), fmt.score(scores[bench]), delta=fmt.delta(change),
                       help="Beyond noise: the 95% CI of the change excludes zero.", width=METRIC_WIDTH)
        else:
            why = comparison.reason if comparison is not None and comparison.undecided else "within noise"
            row.metric(display_name(bench), fmt.score(scores[bench]), delta=f"{fmt.delta(change)} ({why})",
                       delta_color="off", help="Not coloured: the change cannot be told from noise.",
                       width=METRIC_WIDTH)


def candidate_section(candidate: queries.CandidateSummary | None, live: queries.LiveNow | None,
                      policy_problem: str | None) -> None:
    with st.container(border=True):
        st.subheader("Best candidate")
        if policy_problem:
            st.error(f"The gate policy cannot be read: {policy_problem}", icon=":material/error:")
            return
        if candidate is None:
            frame.empty_state("No candidate: no version has a ready deploy that is not live. New builds appear "
                              "here after a sync.")
            return
        st.markdown(f"**`{fmt.short(candidate.sha)}`** · {candidate.branch or 'no branch'}",
                    help=candidate.message or None)
        frame.moment("created ", candidate.created_at)
        score_metrics(candidate.scores, live.scores if live is not None else None, candidate)
        if candidate.selection_note:
            st.caption(candidate.selection_note)
        if candidate.lead_benchmark and candidate.lead_diff is not None:
            diff = candidate.lead_diff
            noise = "within noise" if diff.direction == 0 else "beyond noise"
            power = power_text(diff)
            st.caption(f"{display_name(candidate.lead_benchmark)} against live: "
                       f"{fmt.delta(diff.delta)}, 95% CI {fmt.interval(diff.low, diff.high)}, {noise} "
                       f"({diff.method_text()}){'; ' + power if power else ''}")
        differing = [f"{display_name(b)}: {c.reason}" for b, c in candidate.comparisons.items()
                     if c.undecided in (SETS_DIFFER, TOO_FEW_PROBLEMS)]
        if differing:
            st.warning("Not like with like:\n\n" + "\n".join(f"- {line}" for line in differing),
                       icon=":material/warning:")
        verdict = candidate.verdict
        icon = ":material/check_circle:" if verdict.passed else ":material/cancel:"
        st.markdown(f"{icon} **gate {verdict.summary()}**" + (f" (policy {verdict.policy})" if verdict.policy else ""))
        st.markdown(fmt.verdict_lines(verdict))
        with st.container(horizontal=True):
            if live is not None and live.sha:
                st.page_link(frame.COMPARE, label="Compare with live", icon=":material/compare_arrows:",
                             query_params={"commits": f"{live.sha},{candidate.sha}"})
            if auth.may(auth.Action.PROMOTE):
                st.page_link(frame.PROMOTE, label="Promote…", icon=":material/rocket_launch:",
                             query_params={"commit": candidate.sha})
            frame.version_link(candidate.sha, label="Details", icon=":material/info:")


def trend_section(trend: list[dict[str, Any]], lead: str | None) -> None:
    with st.container(border=True):
        if not lead or not trend:
            st.subheader("Trend")
            frame.empty_state("No scores yet: the trend appears once versions have results.")
            return
        st.subheader(f"{display_name(lead)} over the last {len(trend)} versions")
        st.vega_lite_chart(trend_chart.trend_data(trend), trend_chart.trend_spec(lead), width="stretch")
        st.caption("Filled dots: versions that went live.")


def activity_section(events: list[dict[str, Any]]) -> None:
    with st.container(border=True):
        st.subheader("Recent activity")
        if not events:
            frame.empty_state("No activity yet: promotions, rollbacks, syncs and imports are logged here.")
            return
        tables.show(tables.events_table(events, compact=True), key="overview_events")
        st.page_link(frame.PROMOTE, label="Full audit log", icon=":material/list_alt:")


def current_policy() -> tuple[Policy, str | None]:
    """The gate policy in force, or the defaults plus the reason the configured one cannot be read."""
    try:
        return gate_policy(state.settings()), None
    except ValueError as exc:  # gate.PolicyError: the configured file cannot be used as a policy
        return DEFAULT_POLICY, str(exc)


def footer(counts: registry.RegistryCounts) -> None:
    with st.container(horizontal=True, vertical_alignment="center"):
        synced = (f"synced {fmt.relative_time(counts.last_synced_at)}" if counts.last_synced_at
                  else "never synced with Netlify")
        exact = f"last sync {fmt.exact_time(counts.last_synced_at)}" if counts.last_synced_at else None
        st.markdown(f"{counts.versions:,} versions · {counts.deploys:,} deploys · {counts.results:,} results · "
                    f"{synced}", help=exact, width="content")
        frame.sync_button(key="overview_sync")


frame.header("Overview")
frame.require_registry()
deeplink.own_only(frame.OVERVIEW)  # nothing to keep: drop what the previous page left
show_notice()
policy, policy_problem = current_policy()
data = load_overview(frame.db_url(), policy.settings_key(), policy)

if data.counts.versions == 0:
    first_run()
else:
    left, right = st.columns([3, 2])
    with left:
        live_section(data.live)
        candidate_section(data.candidate, data.live, policy_problem)
    with right:
        from vibedash.ui import eval_runs_view

        eval_runs_view.running_section()
        trend_section(data.trend, data.lead_benchmark)
    activity_section(data.events)  # full width: a narrow column would squeeze its columns out of view
    footer(data.counts)
