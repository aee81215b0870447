"""Compare: two or more versions side by side (deep link `?commits=SHA1,SHA2[,...]`; the first is the baseline).

Every difference is computed on the problems both versions share, with its 95% CI (paired t over problems, exact
sign-flip test), and "better" or "worse" is only said when it stays beyond noise after Holm's correction across
the benchmarks compared. The paired standard error, the between-version correlation and what each comparison can
detect are in the noise details.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from vibedash.decisions.benchmarks import display_name
from vibedash.decisions.power import power_text
from vibedash.decisions.stats import normal_score_ci, score_ci
from vibedash.registry import queries
from vibedash.ui import charts, deeplink, frame, tables
from vibedash.ui import format as fmt

PARAM = "commits"
SELECT_KEY = "compare_versions"
CHOICES = 300


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_choices(db_url: str, requested: tuple[str, ...]) -> queries.CompareChoices:
    with frame.read_session() as session:
        return queries.compare_choices(session, requested, limit=CHOICES)


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner="Comparing (bootstrap over problems)…")
def load_comparison(db_url: str, shas: tuple[str, ...]) -> tuple[queries.Comparison, dict[str, dict]]:
    """The comparison and each version's per-problem outcomes (benchmark -> problem -> (correct, samples))."""
    with frame.read_session() as session:
        facts = queries.facts_of(session, list(shas))
    per_problem = {f.sha: {b: dict(s.per_problem) for b, s in f.scores.items()} for f in facts}
    return queries.compare_versions(facts), per_problem


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_score_intervals(db_url: str, shas: tuple[str, ...]) -> dict[str, dict[str, tuple[float, float] | None]]:
    """Each version's 95% CI on each benchmark (sha -> benchmark -> (low, high)), for the chart's error bars."""
    with frame.read_session() as session:
        facts = queries.facts_of(session, list(shas))
    return {f.sha: {b: score_interval(s) for b, s in f.scores.items()} for f in facts}


def score_interval(fact) -> tuple[float, float] | None:
    """Bootstrap over problems where per-problem results exist, else the approximation from the problem count."""
    interval = (score_ci(fact.per_problem, n_boot=2000) if fact.per_problem
                else normal_score_ci(fact.score, fact.problems, fact.samples_per_problem))
    return (interval.low, interval.high) if interval is not None else None


def requested_shas() -> tuple[str, ...]:
    raw = st.query_params.get(PARAM) or ""
    return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def deep_link(choices: queries.CompareChoices) -> deeplink.DeepLink:
    """?commits=SHA,SHA[,...] names the versions, the baseline first; the URL always names them (the suggested
    pair, live and the newest, changes as versions come)."""
    def parse(raw: str) -> list[str]:
        # Commits the registry does not know are named in the page's own warnings (choices.problems).
        return list(choices.requested) or list(choices.suggested)

    return deeplink.DeepLink(frame.COMPARE, deeplink.Param(PARAM, SELECT_KEY, list(choices.suggested), parse,
                                                           lambda shas: ",".join(shas or ()), always=True))


def label_of(choices: dict[str, queries.VersionChoice], live_sha: str | None):
    def label(sha: str) -> str:
        choice = choices.get(sha)
        parts = [fmt.short(sha)]
        if sha == live_sha:
            parts.append("live")
        if choice is not None:
            parts += [choice.branch or "", fmt.relative_time(choice.created_at), (choice.message or "")[:60]]
        return " · ".join(p for p in parts if p)
    return label


def scores_section(comparison: queries.Comparison) -> None:
    if not comparison.benchmarks:
        frame.empty_state("None of these versions has results yet: import them with `python -m vibedash import`.")
        return
    tables.show(tables.comparison_table(comparison), key="compare_table")
    st.caption(noise_caption(comparison))
    notes = [f"{display_name(d.benchmark)} ({fmt.short(d.other_sha)}): {d.note}" for d in comparison.diffs if d.note]
    if notes:
        st.caption("Not marked: " + "; ".join(notes) + ".")
    differing = comparison.problem_set_warnings()
    if differing:
        st.warning("Not like with like, so not judged:\n\n" + "\n".join(f"- {w}" for w in differing),
                   icon=":material/rule:")
    noise_details(comparison)
    warnings = comparison.protocol_warnings()
    if warnings:
        st.warning("Measured with different protocols, so the scores are not strictly comparable:\n\n"
                   + "\n".join(f"- {w}" for w in warnings), icon=":material/warning:")


def noise_caption(comparison: queries.Comparison) -> str:
    """How many of the differences that could be judged are within noise; rows without a result on both sides, or
    without an interval, are differences nobody measured and are counted apart."""
    judged = [d for d in comparison.diffs if d.interval is not None]
    noisy = sum(d.verdict == "within noise" for d in judged)
    unjudged = len(comparison.diffs) - len(judged)
    apart = (f"; {unjudged} row{'s' if unjudged != 1 else ''} without a result on both sides or without an "
             "interval are not counted" if unjudged else "")
    return (f"Δ against the baseline {fmt.short(comparison.baseline)}, on the problems both versions share. "
            "Within noise: the 95% CI of the difference includes zero or the exact test cannot reject "
            f"\"no difference\" ({noisy} of {len(judged)} differences here{apart}). ▲/▼ only where the "
            "difference stays beyond noise after Holm's correction across the benchmarks compared, so that "
            "with no true change at most 5% of comparisons show any mark. The CI is a paired t interval over "
            "the shared problems when both have per-problem results, else an approximation from standard "
            "errors or the number of problems.")


def noise_details(comparison: queries.Comparison) -> None:
    """Per difference: the paired standard error, the between-version correlation, what it can detect."""
    rows = []
    for d in comparison.diffs:
        interval = d.interval
        if interval is None:
            continue
        rows.append({
            "benchmark": display_name(d.benchmark),
            "version": fmt.short(d.other_sha),
            "Δ judged": fmt.delta(interval.delta),
            "headline Δ": fmt.delta(d.other - d.baseline) if d.other is not None and d.baseline is not None else "–",
            "shared problems": interval.n_common if interval.n_common is not None else "unpaired",
            "missing": interval.mismatched,
            "paired SE": f"{interval.se:.2f}" if interval.se is not None else "–",
            "correlation": f"{interval.correlation:.2f}" if interval.correlation is not None else "–",
            "p": f"{interval.p_value:.3g}" if interval.p_value is not None else "–",
            "can detect (80% power)": f"{interval.mde:.1f}" if interval.mde is not None else "–",
            "method": interval.method_text(),
        })
    if not rows:
        return
    with st.expander("Noise details: paired SE, correlation, power"):
        st.dataframe(pd.DataFrame.from_records(rows), hide_index=True, width="stretch",
                     column_config={"benchmark": st.column_config.TextColumn("benchmark", pinned=True)})
        worst = max((d for d in comparison.diffs if d.interval is not None and d.interval.mde is not None),
                    key=lambda d: d.interval.mde, default=None)
        if worst is not None:
            st.caption(f"{display_name(worst.benchmark)}: this comparison {power_text(worst.interval)}. "
                       "Correlation: how alike the two versions are problem by problem; pairing removes that "
                       "shared part of the noise.")


def flips_section(comparison: queries.Comparison, per_problem: dict[str, dict]) -> None:
    st.subheader("Problems that flipped")
    if not comparison.flips:
        frame.empty_state("No per-problem results on both sides, so no problem-level comparison.")
        return
    baseline = comparison.baseline
    for other in comparison.shas[1:]:
        pairs = [(bench, comparison.flips[(other, bench)]) for bench in comparison.benchmarks
                 if (other, bench) in comparison.flips]
        if not pairs:
            continue
        if len(comparison.shas) > 2:
            st.markdown(f"**{fmt.short(other)} against {fmt.short(baseline)}**")
        for bench, flips in pairs:
            with st.expander(f"{display_name(bench)}: {tables.flips_summary(flips)}"):
                gained_col, lost_col = st.columns(2)
                a, b = per_problem[baseline][bench], per_problem[other][bench]
                labels = (f"{fmt.short(baseline)} correct", f"{fmt.short(other)} correct")
                with gained_col:
                    st.markdown(f"**Gained** ({len(flips.gained)}): solved by {fmt.short(other)} only")
                    tables.show(tables.flips_table(flips.gained, a, b, *labels), key=f"gained_{other}_{bench}")
                with lost_col:
                    st.markdown(f"**Lost** ({len(flips.lost)}): solved by {fmt.short(baseline)} only")
                    tables.show(tables.flips_table(flips.lost, a, b, *labels), key=f"lost_{other}_{bench}")


frame.header("Compare", "Two or more versions side by side; the first one is the baseline.")
frame.require_registry()
choices = load_choices(frame.db_url(), requested_shas())
link = deep_link(choices)
link.read()
for problem in choices.problems:
    # The sentence quotes the URL's ?commits=: that part is shown as typed, never as Markdown.
    st.warning(fmt.with_plain(problem, *requested_shas()), icon=":material/search_off:")
if not choices.versions:
    link.write()
    frame.empty_state("The registry has no versions yet: start on the Overview page.")
    st.page_link(frame.OVERVIEW, label="Go to the overview", icon=":material/dashboard:")
else:
    by_sha = {c.sha: c for c in choices.versions}
    selected = st.multiselect("Versions", list(by_sha), format_func=label_of(by_sha, choices.live_sha),
                              key=SELECT_KEY, placeholder="Pick two or more versions",
                              help="The first version is the baseline; the newest "
                              f"{CHOICES} versions are listed (open older ones with ?commits=SHA,SHA).")
    link.write()
    if len(selected) < 2:
        frame.empty_state("Pick at least two versions to compare: the first is the baseline.")
    else:
        comparison, per_problem = load_comparison(frame.db_url(), tuple(selected))
        scores_section(comparison)
        if comparison.benchmarks:
            intervals = load_score_intervals(frame.db_url(), tuple(selected))
            st.altair_chart(charts.comparison_bars(comparison, intervals), width="stretch")
            st.caption("Error bars: each version's 95% CI on the benchmark (bootstrap over problems, or an "
                       "approximation from the number of problems; none when that is unknown).")
            flips_section(comparison, per_problem)
        from vibedash.ui import eval_view

        eval_view.compare_section(selected)
