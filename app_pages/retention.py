"""Retention: which deploys to keep and which to prune, and why; pins; applying the plan on Netlify.

The plan is computed from the registry by the policy in force (vibedash.decisions.retention); nothing is deleted until
"Apply…" is confirmed in a dialog that lists every deploy that goes. Deleted deploys stay in the registry as
expired, with their versions, scores and history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from vibedash.actions import deploys as actions
from vibedash.actions.retention_apply import apply_plan, current_plan
from vibedash.config import Settings
from vibedash.decisions.benchmarks import display_name
from vibedash.decisions.policies import policy_source, retention_policy
from vibedash.decisions.retention import BriefDecision, Decision, PlanView, RetentionPolicy
from vibedash.netlify.client import NetlifyClient
from vibedash.registry.action_queries import (
    PinnedDeploy,
    decisions_page,
    pin_choices,
    pinned_deploys,
    plan_benchmarks,
    plan_token,
    version_points,
)
from vibedash.ui import auth, deeplink, dialogs, frame, retention_chart, state, tables
from vibedash.ui import format as fmt

PENDING_APPLY = "pending_apply"
SHOW_CHOICES = ("all", "keep", "prune", "expired")
LEAD_BENCHMARK = "aime25"
TABLE_ROWS = 100  # deploys per page of the plan's table (a page a person reads; the History page shows 50)
PIN_CHOICES = 500  # deploys offered to pin (pruned first); the CLI's `pin` takes any
SHOW_KEY, PAGE_KEY, X_KEY, Y_KEY = "retention_show", "retention_page", "retention_x", "retention_y"
KEEP = "session"  # the view survives a visit to another page and back, as History's filters do


@dataclass(frozen=True)
class Context:
    """What the page's actions need; ``client`` is None when Netlify is not connected."""

    settings: Settings
    engine: Engine
    client: NetlifyClient | None
    policy: RetentionPolicy
    netlify_problem: str | None

    @property
    def actor(self) -> str:
        return auth.actor()


# --- cached reads (state.refresh() after an action drops them) --------------------------------------------

def load_plan(db_url: str, policy_key: str, _policy: RetentionPolicy) -> PlanView:
    # Not st.cache_data: current_plan already keeps the plan per registry generation and policy, exact after
    # any change (its counts and verdicts in memory, its decisions read a page at a time).
    with st.spinner("Planning retention…", show_time=True):
        return current_plan(state.engine(), state.settings(), policy=_policy)


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_pins(db_url: str) -> list[PinnedDeploy]:
    return pinned_deploys(state.engine())


# --- words, tables, the chart ---------------------------------------------------------------------------------

def decisions_table(decisions: Sequence[Decision], benchmarks: list[str]) -> tables.Table:
    """One row per deploy: the decision, its reasons, the version's scores on ``benchmarks``."""
    rows = []
    for d in decisions:
        row: dict[str, Any] = {
            "action": d.action, "version": frame.version_url(d.sha) if d.sha else None, "deploy": d.netlify_id,
            "branch": d.branch or "", "created": d.created_at, "state": d.state,
            "why": fmt.benchmark_words("; ".join(d.reasons)), "for": fmt.benchmark_words(", ".join(d.tags)),
        }
        row.update({bench: d.scores.get(bench) for bench in benchmarks})
        rows.append(row)
    # What a person scans first (the decision, the version, the short reason) before the details.
    columns = ["action", "version", "for", "why", *benchmarks, "deploy", "branch", "created", "state"]
    config: dict[str, Any] = {
        "action": st.column_config.TextColumn("action", width="small", pinned=True),
        "version": st.column_config.LinkColumn("version", display_text=r"commit=([0-9a-f]{7})", pinned=True,
                                               width=90, help="Open the version's detail page"),
        "created": st.column_config.DatetimeColumn("created", format="distance", help="When the deploy was built"),
        "why": st.column_config.TextColumn("why", width="large",
                                           help="Every rule's reason, keep or prune (hover a cell to read it all)"),
        "for": st.column_config.TextColumn("for", help="Short labels of the reasons, for scanning"),
    }
    config.update({bench: st.column_config.NumberColumn(display_name(bench), format=tables.SCORE_FORMAT,
                                                        width=tables.SCORE_WIDTH_PX)
                   for bench in benchmarks})
    return tables.Table(pd.DataFrame.from_records(rows, columns=columns), config)


def frontier_chart(plan: PlanView, x: str, y: str) -> dict[str, Any] | None:
    """Kept and pruned versions across two benchmarks, the Pareto frontier of the two as a dashed staircase."""
    points = version_points(plan, x, y)
    if not points:
        return None
    return retention_chart.frontier_spec(retention_chart.frontier_data(points), display_name(x), display_name(y))


def pin_label(d: BriefDecision) -> str:
    return f"{d.short_sha or 'no version'} · {d.netlify_id} · {d.branch or 'no branch'} · {d.action}"


def unpin_label(pin: PinnedDeploy) -> str:
    who = f"pinned by {pin.pinned_by}" if pin.pinned_by else "pinned"
    when = f" {fmt.relative_time(pin.pinned_at)}" if pin.pinned_at else ""
    return f"{fmt.short(pin.sha)} · {pin.deploy_id} · {who}{when}: {pin.reason or 'no reason'}"


# --- the apply dialog -----------------------------------------------------------------------------------------

def apply_dialog(ctx: Context, shown_token: tuple) -> None:
    # The plan of the registry as it is now (a new plan after any change): what this dialog lists is exactly
    # what its button deletes.
    fresh = current_plan(ctx.engine, ctx.settings, policy=ctx.policy)
    count = fresh.count("prune")
    prune = decisions_page(fresh, "prune", 1, TABLE_ROWS)
    token = plan_token(fresh)
    if not count:
        st.info("Nothing to prune any more: the plan keeps every deploy.")
        dialogs.cancel_button(PENDING_APPLY, label="Close")
        return
    st.markdown(f"These **{count} deploys** will be deleted on Netlify, one audited action each. Their "
                "versions, scores and history stay in the registry (marked expired); a deleted deploy cannot be "
                "restored on Netlify.")
    listed = decisions_table(prune, [])
    listed.frame = listed.frame.drop(columns=["action", "for"])
    tables.show(listed, key="apply_list", height=min(400, 38 + 35 * len(prune)))
    if count > len(prune):
        st.caption(f"The first {len(prune):,} of {count:,}, newest first; the Plan's table (Show: prune) lists "
                   "them all.")
    for warning in fresh.warnings:
        st.warning(fmt.benchmark_words(warning), icon=":material/warning:")
    changed = token != tuple(shown_token)
    if changed:
        # Someone pinned, synced or promoted since the list was shown: confirm the new list, not the old one.
        st.session_state[PENDING_APPLY] = token
        st.warning("The plan changed since this dialog opened; review the list above and confirm again.")
    with st.container(horizontal=True):
        clicked = st.button(f"Delete {count} deploys", type="primary", key="apply_confirm")
        dialogs.cancel_button(PENDING_APPLY)
    if not clicked or changed:
        return
    progress = st.progress(0.0, text="Deleting…")
    try:
        report = apply_plan(ctx.engine, ctx.client, ctx.settings.netlify_site_id, fresh, actor=ctx.actor,
                            progress=lambda done, total, deploy_id: progress.progress(
                                done / total, text=f"Deleted {deploy_id} ({done} of {total})"))
    except dialogs.EXPECTED_FAILURES as exc:
        dialogs.finish(dialogs.Outcome("error", f"Retention was not applied: {dialogs.describe_failure(exc)}"),
                       close=PENDING_APPLY)
        return
    details = [f"deleted {d}" for d in report.deleted] + [f"not done: {d}" for d in report.not_done]
    dialogs.finish(dialogs.Outcome("success" if report.complete else "error", report.summary().capitalize(),
                                   tuple(details)), close=PENDING_APPLY)


# --- sections -------------------------------------------------------------------------------------------------

def policy_section(ctx: Context) -> None:
    st.subheader("Policy in force")
    st.caption(policy_source(ctx.settings, "retention"))
    st.markdown("\n".join(f"- {fmt.benchmark_words(line)}" for line in ctx.policy.describe()))


def plan_section(ctx: Context, plan: PlanView) -> None:
    st.subheader("Plan")
    summary = plan.summary()
    keep_col, prune_col, expired_col, apply_col = st.columns([1, 1, 1, 2], vertical_alignment="center")
    keep_col.metric("Keep", summary["keep"])
    prune_col.metric("Prune", summary["prune"])
    expired_col.metric("Already expired", summary["expired"])
    apply_problem = ctx.netlify_problem or (None if summary["prune"] else "The plan prunes nothing.")
    if auth.may(auth.Action.RETENTION):
        apply_col.button(f"Apply… (delete {summary['prune']} deploys)", type="primary", key="apply_open",
                         disabled=bool(apply_problem), help=apply_problem or "Review the deploys to delete, then "
                         "confirm.", on_click=dialogs.request, args=(PENDING_APPLY, plan_token(plan)))
    st.markdown(summary["text"][0].upper() + summary["text"][1:] + ".")
    if ctx.netlify_problem:
        st.info(f"Applying the plan is disabled. {ctx.netlify_problem}", icon=":material/link_off:")
    for warning in plan.warnings:
        st.warning(fmt.benchmark_words(warning), icon=":material/warning:")


def chart_section(ctx: Context, plan: PlanView, benchmarks: list[str]) -> None:
    st.subheader("Kept and pruned versions")
    if len(benchmarks) < 2:
        frame.empty_state("The chart needs two benchmarks with scores.")
        return
    x_col, y_col = st.columns(2)
    x = x_col.selectbox("Across", benchmarks, format_func=display_name, key=X_KEY, persist_state=KEEP)
    y_options = [b for b in benchmarks if b != x]
    if st.session_state.get(Y_KEY) not in y_options:  # the same benchmark on both axes: the next preferred one
        st.session_state[Y_KEY] = next(b for b in preferred_axes(ctx.policy, benchmarks) if b != x)
    y = y_col.selectbox("and", y_options, format_func=display_name, key=Y_KEY, persist_state=KEEP)
    chart = frontier_chart(plan, x, y)
    if chart is None:
        frame.empty_state(f"No version still on Netlify has scores on both {display_name(x)} and {display_name(y)}.")
        return
    st.vega_lite_chart(spec=chart, width="stretch")
    spans = (", ".join(display_name(b) for b in ctx.policy.benchmarks) if ctx.policy.benchmarks
             else "every benchmark with scores")
    st.caption("One dot per version still on Netlify (kept when any of its deploys is kept). Diamonds and the dashed "
               f"staircase: the Pareto frontier of these two benchmarks; the plan's own frontier spans {spans}.")


def decisions_section(plan: PlanView, benchmarks: list[str]) -> None:
    st.subheader("Every deploy")
    if not plan.count("all"):
        frame.empty_state("No deploys in the registry yet: sync from Netlify (Settings) or load the sample registry "
                          "(Overview). The plan lists every deploy once there are some.")
        return
    show = st.segmented_control("Show", SHOW_CHOICES, key=SHOW_KEY, persist_state=KEEP,
                                on_change=first_page) or "all"
    shown_count = plan.count(show)
    if not shown_count:
        frame.empty_state(f"No deploy is marked {show}." if show != "expired" else "No deploy has expired.")
        return
    # A page of rows at a time, read from the registry: a table of a million deploys is neither readable nor
    # quick to draw.
    pages = max(1, -(-shown_count // TABLE_ROWS))
    if st.session_state.get(PAGE_KEY, 1) > pages:  # the plan shrank, or another filter, since the page was chosen
        st.session_state[PAGE_KEY] = pages
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages:,}, {TABLE_ROWS} deploys each)", min_value=1, max_value=pages,
                                   step=1, key=PAGE_KEY, persist_state=KEEP))
    tables.show(decisions_table(decisions_page(plan, show, page, TABLE_ROWS), benchmarks), key="retention_plan")


def first_page() -> None:
    """Another filter: what was page 7 may not exist any more, start again at page 1."""
    st.session_state[PAGE_KEY] = 1


def preferred_axes(policy: RetentionPolicy, benchmarks: list[str]) -> list[str]:
    """The chart's axes by preference: the policy's benchmarks, then the dashboard's lead one, then the rest."""
    return list(dict.fromkeys([*(b for b in policy.benchmarks if b in benchmarks),
                               *([LEAD_BENCHMARK] if LEAD_BENCHMARK in benchmarks else []), *benchmarks]))


def deep_link(policy: RetentionPolicy, plan: PlanView, benchmarks: list[str]) -> deeplink.DeepLink:
    """What the URL keeps: the table's filter and page, the chart's two benchmarks."""
    params = [deeplink.choice("show", SHOW_KEY, SHOW_CHOICES, what="one of", listed=True),
              deeplink.page_number("page", PAGE_KEY, max(1, -(-plan.count("all") // TABLE_ROWS)))]
    if len(benchmarks) >= 2:
        preferred = preferred_axes(policy, benchmarks)
        params += [deeplink.choice("x", X_KEY, benchmarks, preferred[0], what="a benchmark with scores"),
                   deeplink.choice("y", Y_KEY, benchmarks, next(b for b in preferred if b != preferred[0]),
                                   what="a benchmark with scores")]
    return deeplink.DeepLink(frame.RETENTION, *params)


def pins_section(ctx: Context, plan: PlanView) -> None:
    st.subheader("Pins")
    st.caption("A pinned deploy is always kept, whatever the policy says. Pins are local to the registry and "
               "audited.")
    pins = load_pins(frame.db_url())
    pinned_ids = {p.deploy_id for p in pins}
    pin_col, unpin_col = st.columns(2)
    with pin_col:
        # Pruned deploys first: those are the ones a pin saves.
        pinnable = pin_choices(plan, frozenset(pinned_ids), PIN_CHOICES)
        if not pinnable and not (plan.count("keep") or plan.count("prune")):
            st.caption("No deploy to pin yet: pins apply to deploys still on Netlify.")
        elif not pinnable:
            st.caption("Every deploy still on Netlify is pinned.")
        else:
            by_id = {d.netlify_id: d for d in pinnable}
            deploy_id = st.selectbox("Deploy to pin", list(by_id), format_func=lambda i: pin_label(by_id[i]),
                                     key="pin_deploy")
            reason = st.text_input("Reason (required)", key="pin_reason", placeholder="e.g. the version in the paper")
            if st.button("Pin", key="pin", icon=":material/keep:"):
                if not reason.strip():
                    st.error("Not pinned. Write a reason first: the plan shows it.")
                else:
                    dialogs.perform(lambda: actions.set_pin(ctx.engine, deploy_id, pinned=True, actor=ctx.actor,
                                                            reason=reason))
    with unpin_col:
        if not pins:
            st.caption("No pinned deploys.")
        else:
            pins_by_id = {p.deploy_id: p for p in pins}
            pinned_id = st.selectbox("Pinned deploy", list(pins_by_id),
                                     format_func=lambda i: unpin_label(pins_by_id[i]), key="unpin_deploy")
            if st.button("Unpin", key="unpin", icon=":material/keep_off:"):
                dialogs.perform(lambda: actions.set_pin(ctx.engine, pinned_id, pinned=False, actor=ctx.actor))


# --- the page ---------------------------------------------------------------------------------------------------

def show_page() -> None:
    # In a function, not at the script's top level: each run's script namespace is a reference cycle (its
    # functions hold it), so a plan kept there would outlive its run until the cycle collector came by, one
    # whole plan per write on a big registry.
    frame.header("Retention", "Which deploys to keep and which to prune, and why. Nothing is deleted until you apply "
                 "the plan.")
    dialogs.show_outcome()
    current = state.settings()
    try:
        policy = retention_policy(current)
    except ValueError as exc:  # RetentionPolicyError is one; a policy file that does not exist is another
        st.error(f"The retention policy cannot be used: {exc}", icon=":material/error:")
        st.stop()
    context = Context(settings=current, engine=state.engine(), client=state.netlify_client(), policy=policy,
                      netlify_problem=state.netlify_status(current))
    retention_plan = load_plan(frame.db_url(), repr(policy), policy)
    scored = plan_benchmarks(retention_plan)
    link = deep_link(policy, retention_plan, scored)
    link.read()

    policy_section(context)
    plan_section(context, retention_plan)
    chart_section(context, retention_plan, scored)
    decisions_section(retention_plan, scored)
    link.write()
    if auth.may(auth.Action.PIN):
        pins_section(context, retention_plan)

    if auth.may(auth.Action.RETENTION):
        dialogs.show_pending(PENDING_APPLY, "Apply the retention plan?", partial(apply_dialog, context), width="large")


show_page()
