"""Promote: every candidate's gate verdict against live, and the actions that change what is live.

Promote and rollback go through a confirmation dialog that names what goes live, what it replaces and the
verdict; a failed gate needs an explicit override with a written reason. Every action is audited (the audit
log is at the bottom of the page) and, once done, every page shows the new truth at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from vibedash.actions import deploys as actions
from vibedash.config import Settings
from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS, display_name
from vibedash.decisions.gate import Policy
from vibedash.decisions.policies import gate_policy
from vibedash.netlify.client import NetlifyClient
from vibedash.registry import queries
from vibedash.registry.action_queries import (
    CandidateVerdict,
    EventFilterChoices,
    candidate_verdicts,
    deploy_brief,
    event_filter_choices,
    preferred_candidate,
)
from vibedash.ui import auth, deeplink, dialogs, frame, state, tables
from vibedash.ui import format as fmt
from vibedash.ui.audit_log import audit_section, link_params

PENDING_PROMOTE = "pending_promote"
PENDING_ROLLBACK = "pending_rollback"
CANDIDATE_KEY = "promote_candidate"
BUILD_HOOK_MISSING = ("Set VIBEDASH_BUILD_HOOK_URL to one of the site's build hooks (Netlify: Site configuration "
                      "> Build & deploy > Build hooks) to trigger builds from here.")


@dataclass(frozen=True)
class Context:
    """What every action on this page needs; ``client`` is None when Netlify is not connected."""

    settings: Settings
    engine: Engine
    client: NetlifyClient | None
    policy: Policy
    netlify_problem: str | None

    @property
    def actor(self) -> str:
        return auth.actor()

    @property
    def site_id(self) -> str:
        return self.settings.netlify_site_id


# --- cached reads (state.refresh() after an action drops them) --------------------------------------------

@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_candidates(db_url: str, policy_key: tuple, _policy: Policy) -> list[CandidateVerdict]:
    # The policy object is passed unhashed; its name and rules as text (policy_key) key the cache instead.
    return candidate_verdicts(state.engine(), _policy)


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_best_sha(db_url: str, policy_key: tuple, _policy: Policy) -> str | None:
    """The best candidate as Overview and the CLI define it (queries.best_candidate), to offer it first."""
    with frame.read_session() as session:
        best = queries.best_candidate(session, _policy, queries.lead_benchmark(session))
    return best.sha if best is not None else None


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_live(db_url: str) -> queries.LiveNow | None:
    with frame.read_session() as session:
        return queries.live_now(session)


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_filter_choices(db_url: str) -> EventFilterChoices:
    return event_filter_choices(state.engine())


# --- words and tables ---------------------------------------------------------------------------------------

def live_line(live: queries.LiveNow | None) -> str:
    if live is None:
        return "**Nothing is live** in the registry: promote a candidate, or sync with Netlify."
    parts = [f"**Live now** `{fmt.short(live.sha)}`", live.branch or "no branch", f"deploy `{live.deploy_id}`",
             "locked" if live.locked else "**not locked**: the next production build may replace it"]
    if live.since is not None:
        parts.append(fmt.live_for(live.since))
    return " · ".join(parts)


def candidate_label(candidate: CandidateVerdict) -> str:
    mark = fmt.PASS_MARK if candidate.verdict.passed else fmt.FAIL_MARK
    return (f"{fmt.short(candidate.sha)} · {candidate.branch or 'no branch'} · "
            f"{fmt.relative_time(candidate.created_at)} · {mark} {candidate.verdict.summary()}")


def candidates_table(candidates: list[CandidateVerdict]) -> tables.Table:
    """One row per candidate: its gate outcome, its scores, one column per rule (✓/✗ with the numbers).

    The version stays pinned at the left when the rules' columns make the table scroll sideways."""
    present = {b for c in candidates for b in c.scores}
    benchmarks = [b for b in HEADLINE_BENCHMARKS if b in present] + sorted(present - set(HEADLINE_BENCHMARKS))
    rules = list(dict.fromkeys(fmt.benchmark_words(check.rule) for c in candidates for check in c.verdict.checks))
    rows = []
    for c in candidates:
        row: dict[str, Any] = {
            "version": frame.version_url(c.sha), "branch": c.branch or "", "created": c.created_at,
            "gate": f"{fmt.PASS_MARK if c.verdict.passed else fmt.FAIL_MARK} {c.verdict.summary()}",
        }
        row.update({fmt.benchmark_words(check.rule): f"{check.mark} {fmt.benchmark_words(check.detail)}"
                    for check in c.verdict.checks})
        row.update({bench: c.scores.get(bench) for bench in benchmarks})
        row["deploy"] = c.permalink
        rows.append(row)
    columns = ["version", "gate", *benchmarks, *rules, "branch", "created", "deploy"]
    config: dict[str, Any] = {
        "version": st.column_config.LinkColumn("version", display_text=r"commit=([0-9a-f]{7})", pinned=True,
                                               width=90, help="Open the version's detail page"),
        "gate": st.column_config.TextColumn("gate", width="medium"),
        "created": st.column_config.DatetimeColumn("created", format="distance", help="When the deploy was built"),
        "deploy": st.column_config.LinkColumn("deploy", display_text=":material/open_in_new:",
                                              help="The deploy's permalink (this exact deploy, forever)"),
    }
    config.update({bench: st.column_config.NumberColumn(display_name(bench), format=tables.SCORE_FORMAT,
                                                        width=tables.SCORE_WIDTH_PX)
                   for bench in benchmarks})
    config.update({rule: st.column_config.TextColumn(rule, width="medium") for rule in rules})
    return tables.Table(pd.DataFrame.from_records(rows, columns=columns), config)


def candidate_param(candidates: list[CandidateVerdict], offered: CandidateVerdict | None) -> deeplink.Param:
    """?commit=SHA (a prefix will do: links from Overview and Version) names the candidate on show."""
    by_id = {c.deploy_id: c for c in candidates}

    def parse(raw: str) -> str:
        wanted = raw.lower()
        match = next((c for c in candidates if wanted and c.sha.startswith(wanted)), None)
        if match is None:
            raise ValueError("not a candidate: it is live, has no ready deploy, or is no version")
        return match.deploy_id

    return deeplink.Param("commit", CANDIDATE_KEY, offered.deploy_id if offered else None, parse,
                          lambda deploy_id: by_id[deploy_id].sha if deploy_id in by_id else "")


def deep_link(candidates: list[CandidateVerdict], offered: CandidateVerdict | None,
              choices: EventFilterChoices) -> deeplink.DeepLink:
    """What the URL keeps: the candidate on show, the audit log's filters and page."""
    return deeplink.DeepLink(
        frame.PROMOTE, candidate_param(candidates, offered), *link_params(choices))


# --- dialogs --------------------------------------------------------------------------------------------------

def promote_dialog(ctx: Context, deploy_id: str) -> None:
    try:
        # Asks Netlify what is live now: the registry may be behind, and this is what will be replaced.
        preview = actions.preview_promote(ctx.engine, ctx.client, ctx.site_id, deploy_id, ctx.policy)
    except dialogs.EXPECTED_FAILURES as exc:
        st.error(f"Cannot prepare this promotion: {dialogs.describe_failure(exc)}")
        dialogs.cancel_button(PENDING_PROMOTE, label="Close")
        return
    verdict = preview.verdict
    target = deploy_brief(ctx.engine, preview.deploy_id)
    st.markdown(f"**Goes live:** `{fmt.short(preview.sha)}` · deploy `{preview.deploy_id}`"
                + (f" · {target.branch}" if target and target.branch else "")
                + (f" · built {fmt.relative_time(target.created_at)}" if target else ""))
    if preview.live_deploy_id:
        st.markdown(f"**Replaces:** live `{fmt.short(preview.live_sha)}` · deploy `{preview.live_deploy_id}` "
                    "(Netlify's published deploy now)")
    else:
        st.markdown("**Replaces:** nothing, no deploy is live on Netlify now")
    st.caption("It goes live locked, so the next production build does not replace it.")
    against = f"against live `{fmt.short(verdict.live_sha)}`" if verdict.live_sha else "(nothing live to compare)"
    st.markdown(f"**{dialogs.verdict_headline(verdict).capitalize()}** {against}")
    st.markdown(dialogs.verdict_lines(verdict))

    if verdict.passed:
        override = False
        reason = st.text_input("Reason (kept in the audit log)", value=f"passes the gate ({verdict.summary()})",
                               key=f"promote_reason_{deploy_id}")
        label = f"Promote {fmt.short(preview.sha)}"
    else:
        st.warning("The gate fails. Going live anyway is an **override**: tick it and write why; the audit log "
                   "keeps the reason next to the verdict.", icon=":material/gpp_maybe:")
        override = st.checkbox("Override the failed gate", key=f"promote_override_{deploy_id}")
        reason = st.text_area("Override reason (required)", key=f"promote_override_reason_{deploy_id}",
                              placeholder="Why this version should go live despite the gate")
        label = f"Promote {fmt.short(preview.sha)} with override"

    with st.container(horizontal=True):
        clicked = st.button(label, type="primary", key="promote_confirm")
        dialogs.cancel_button(PENDING_PROMOTE)
    if not clicked:
        return
    problem = ("Tick “Override the failed gate” to go live despite it." if not verdict.passed and not override
               else "Write a reason first: the audit log keeps it." if not reason.strip() else None)
    if problem:
        st.error(f"Not promoted. {problem}")
        return
    # expected_live: refused if Netlify's live deploy is no longer the one this dialog showed and judged against.
    dialogs.perform(lambda: actions.promote(ctx.engine, ctx.client, ctx.site_id, preview.deploy_id, actor=ctx.actor,
                                            reason=reason, policy=ctx.policy, override=override,
                                            expected_live=preview.live_deploy_id),
                    close=PENDING_PROMOTE)


def rollback_dialog(ctx: Context, target_id: str) -> None:
    target = deploy_brief(ctx.engine, target_id)
    current = load_live(frame.db_url())
    short_target = fmt.short(target.sha) if target and target.sha else target_id
    st.markdown(f"**Goes live again:** `{short_target}` · deploy `{target_id}`"
                + (f" · last live {fmt.relative_time(target.published_at)}" if target and target.published_at
                   else ""))
    if current is not None:
        st.markdown(f"**Replaces:** live `{fmt.short(current.sha)}` · deploy `{current.deploy_id}`")
    st.caption("A rollback skips the gate (it restores a version that was live before) and goes live locked.")
    reason = st.text_input("Reason (required, kept in the audit log)", key=f"rollback_reason_{target_id}",
                           placeholder="e.g. wrong answers reported on the live demo")
    with st.container(horizontal=True):
        clicked = st.button(f"Roll back to {short_target}", type="primary", key="rollback_confirm")
        dialogs.cancel_button(PENDING_ROLLBACK)
    if not clicked:
        return
    if not reason.strip():
        st.error("Not rolled back. Write a reason first: the audit log keeps it.")
        return
    # To the deploy this dialog names, even if Netlify's idea of "the previous one" differs.
    dialogs.perform(lambda: actions.rollback(ctx.engine, ctx.client, ctx.site_id, actor=ctx.actor, reason=reason,
                                             to=target_id),
                    close=PENDING_ROLLBACK)


# --- sections -------------------------------------------------------------------------------------------------

def offered_first(candidates: list[CandidateVerdict], best_sha: str | None) -> CandidateVerdict:
    """The shared best candidate (the one Overview and the CLI name); else the newest that passes the gate; else
    the newest with results. Never a version with no results while one with results is on offer."""
    best = next((c for c in candidates if c.sha == best_sha), None)
    if best is not None:
        return best
    preferred = preferred_candidate(candidates)
    if preferred is not None and (preferred.verdict.passed or preferred.scores):
        return preferred
    return next((c for c in candidates if c.scores), candidates[0])


def candidate_section(ctx: Context, live: queries.LiveNow | None, candidates: list[CandidateVerdict],
                      offered: CandidateVerdict | None) -> CandidateVerdict | None:
    """The candidate on show (``offered`` unless one was chosen) and its verdict, rule by rule; returns it (None
    when there is none)."""
    if not candidates:
        frame.empty_state("No candidates: every ready deploy is live or expired. Trigger a build, or sync if "
                          "Netlify has deploys the registry has not seen.")
        return None
    by_id = {c.deploy_id: c for c in candidates}
    if st.session_state.get(CANDIDATE_KEY) not in by_id:  # promoted, expired or synced away since it was chosen
        st.session_state[CANDIDATE_KEY] = offered.deploy_id
    chosen_id = st.selectbox("Candidate", list(by_id), format_func=lambda d: candidate_label(by_id[d]),
                             key=CANDIDATE_KEY,
                             help=f"Ready deploys that are not live, newest first ({fmt.PASS_MARK}: the gate passes)")
    chosen = by_id[chosen_id]
    replaces = f"replaces live {fmt.short(live.sha)}" if live is not None else "nothing is live yet"
    st.subheader(f"candidate {fmt.short(chosen.sha)} → {replaces}")
    if chosen.message:
        st.caption(chosen.message)
    st.markdown(f"**{dialogs.verdict_headline(chosen.verdict).capitalize()}** · policy “{ctx.policy.name}”")
    st.markdown(dialogs.verdict_lines(chosen.verdict))
    return chosen


def action_bar(ctx: Context, live: queries.LiveNow | None, chosen: CandidateVerdict | None) -> None:
    """Promote…, Roll back…, Trigger build…, Lock, Unlock: each disabled with its reason when it cannot run."""
    problem = ctx.netlify_problem
    rollback_to = actions.rollback_target(ctx.engine, live.deploy_id if live else None)
    rollback_brief = deploy_brief(ctx.engine, rollback_to)
    hook_problem = problem or (None if ctx.settings.build_hook_url else BUILD_HOOK_MISSING)
    lock_problem = problem or (None if live else "Nothing is live.")
    locked = bool(live and live.locked)

    promote_col, rollback_col, trigger_col, lock_col, unlock_col = st.columns([2, 2, 2, 1, 1])
    with promote_col:
        st.button(f"Promote {fmt.short(chosen.sha)}…" if chosen else "Promote…", type="primary", key="promote_open",
                  disabled=bool(problem) or chosen is None, help=problem, width="stretch",
                  on_click=dialogs.request, args=(PENDING_PROMOTE, chosen.deploy_id if chosen else None))
    with rollback_col:
        shown = fmt.short(rollback_brief.sha) if rollback_brief and rollback_brief.sha else rollback_to
        st.button(f"Roll back to {shown}…" if rollback_to else "Roll back…", key="rollback_open",
                  disabled=bool(problem) or rollback_to is None, width="stretch",
                  help=problem or (None if rollback_to else "No earlier live deploy is known to roll back to."),
                  on_click=dialogs.request, args=(PENDING_ROLLBACK, rollback_to))
    with trigger_col:
        with st.popover("Trigger build…", disabled=bool(hook_problem), help=hook_problem, width="stretch"):
            if not hook_problem:
                trigger_form(ctx)
    with lock_col:
        if st.button("Lock", key="lock", disabled=bool(lock_problem) or locked, width="stretch",
                     help=lock_problem or ("Already locked." if locked else
                                           "Stop auto publishing: the next build will not replace the live deploy.")):
            dialogs.perform(lambda: actions.set_lock(ctx.engine, ctx.client, ctx.site_id, locked=True,
                                                     actor=ctx.actor))
    with unlock_col:
        if st.button("Unlock", key="unlock", disabled=bool(lock_problem) or not locked, width="stretch",
                     help=lock_problem or ("Not locked." if not locked else
                                           "Resume auto publishing: the next production build goes live.")):
            dialogs.perform(lambda: actions.set_lock(ctx.engine, ctx.client, ctx.site_id, locked=False,
                                                     actor=ctx.actor))


def trigger_form(ctx: Context) -> None:
    branch = st.text_input("Branch", key="trigger_branch", placeholder="empty: the hook's own branch")
    reason = st.text_input("Reason (optional)", key="trigger_reason")
    if st.button("Trigger build", type="primary", key="trigger_confirm"):
        dialogs.perform(lambda: actions.trigger_build(ctx.engine, ctx.client, ctx.settings.build_hook_url,
                                                      actor=ctx.actor, branch=branch.strip() or None,
                                                      reason=reason.strip() or None))


# --- the page ---------------------------------------------------------------------------------------------------

frame.header("Promote", "Make a candidate live, roll back, trigger a build, lock the live deploy; every action "
             "is audited.")
dialogs.show_outcome()
current = state.settings()
netlify_problem = state.netlify_status(current)
if netlify_problem:
    st.info(f"Promote, roll back, trigger and lock are disabled. {netlify_problem}", icon=":material/link_off:")
try:
    policy = gate_policy(current)
except ValueError as exc:  # PolicyError is one; a policy file that does not exist is another
    st.error(f"The gate policy cannot be used: {exc}", icon=":material/error:")
    st.stop()
context = Context(settings=current, engine=state.engine(), client=state.netlify_client(), policy=policy,
                  netlify_problem=netlify_problem)

live_now = load_live(frame.db_url())
st.markdown(live_line(live_now))
all_candidates = load_candidates(frame.db_url(), policy.settings_key(), policy)
offered = (offered_first(all_candidates, load_best_sha(frame.db_url(), policy.settings_key(), policy))
           if all_candidates else None)
filter_choices = load_filter_choices(frame.db_url())
link = deep_link(all_candidates, offered, filter_choices)
link.read()
offered_candidate = candidate_section(context, live_now, all_candidates, offered)
if auth.may(auth.Action.PROMOTE, auth.Action.ROLLBACK, auth.Action.LOCK, auth.Action.TRIGGER):
    action_bar(context, live_now, offered_candidate)
if all_candidates:
    st.subheader("Candidates")
    tables.show(candidates_table(all_candidates), key="promote_candidates")
audit_section(filter_choices)
link.write()

if auth.may(auth.Action.PROMOTE, auth.Action.ROLLBACK):
    dialogs.show_pending(PENDING_PROMOTE, "Promote to live?", partial(promote_dialog, context))
    dialogs.show_pending(PENDING_ROLLBACK, "Roll back?", partial(rollback_dialog, context))
