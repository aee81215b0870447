"""Evaluations in progress and recent ones: the overview's "Running evaluations" and the Version page's runs,
refreshed by fragments. Light on purpose (no chart library): the overview, the first page opened, shows it."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from vibedash.decisions.benchmarks import display_name
from vibedash.eval.progress import format_duration
from vibedash.registry import eval_runs
from vibedash.registry.models import Version
from vibedash.ui import format as fmt
from vibedash.ui import frame, state


def runs_of(sha: str | None) -> list[eval_runs.RunView]:
    """The version's ten newest evaluations; ``None``: every evaluation running now."""
    from sqlalchemy import select

    with frame.read_session() as session:
        if sha is None:
            return eval_runs.active_runs(session)
        version_id = session.scalar(select(Version.id).where(Version.sha == sha))
        return eval_runs.version_runs(session, version_id, limit=10) if version_id else []


@st.fragment(run_every=3)
def runs_fragment(sha: str) -> None:
    runs = runs_of(sha)
    if runs:
        runs_list(runs, cancel=True)
        if not any(run.status == eval_runs.RUNNING for run in runs):
            st.caption("No evaluation running.")


def runs_list(runs: Sequence[eval_runs.RunView], *, cancel: bool, show_version: bool = False) -> None:
    for run in runs:
        with st.container(border=True):
            budget = run.protocol.get("thinking_budget")
            title = (f"`{fmt.short(run.sha)}` · " if show_version else "") + (
                f"**{display_name(run.benchmark)}** · k={run.protocol.get('k')}"
                + (f" · budget {budget}" if budget else "") + f" · {run.protocol.get('backend', '')}")
            status = "stalled (no progress for 10 min)" if run.stalled else run.status
            st.markdown(f"{title} · {status}")
            if run.status == eval_runs.RUNNING:
                eta = f", about {format_duration(run.eta_s)} left" if run.eta_s is not None else ""
                st.progress(min(1.0, run.fraction), text=f"{run.samples_done}/{run.samples_total} samples"
                            f"{eta}")
                if cancel and not run.cancel_requested:
                    st.button("Cancel", key=f"cancel_run_{run.id}", icon=":material/stop:",
                              on_click=eval_runs.request_cancel, args=(state.engine(), run.id))
                elif run.cancel_requested:
                    st.caption("Cancelling…")
            else:
                done = f"{run.samples_done}/{run.samples_total} samples"
                when = fmt.relative_time(run.finished_at) if run.finished_at else ""
                extra = f" · {run.error}" if run.error else ""
                tip = " · run the same evaluation again to continue" if run.status == eval_runs.CANCELLED else ""
                st.caption(f"{done} · {when}{extra}{tip}")


@st.fragment(run_every=5)
def running_section() -> None:
    runs = runs_of(None)
    if not runs:
        return
    with st.container(border=True):
        st.subheader("Running evaluations")
        runs_list(runs, cancel=False, show_version=True)
