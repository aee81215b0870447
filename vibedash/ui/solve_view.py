"""Streamlit pieces of the Solve page: the shared solve engine, live columns fed by the engine's events,
the result of a run, and the recent runs table."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from streamlit.delta_generator import DeltaGenerator

from vibedash.solve.answers import THINK_END
from vibedash.solve.engine import (
    Chunk,
    Failed,
    Finished,
    Progress,
    SolveEngine,
    SolveEvent,
    Tick,
)
from vibedash.solve.runlog import RunSummary, SolveResult
from vibedash.ui import state
from vibedash.ui.format import relative_time

LIVE_TAIL_CHARS = 6_000  # the live view shows the end of a long output; the full text is in an expander
REDRAW_EVERY_S = 0.1
_PHASE_TEXT = {"loading": "loading the model", "connecting": "connecting to the server",
               "generating": "generating", "grading": "grading", "cached": "answered from the solve log"}


def _close_engine(engine: SolveEngine) -> None:
    engine.close()


@st.cache_resource(show_spinner=False, on_release=_close_engine)
def _solve_engine(db_url: str, device: str, cache_gb: str, openai_base_url: str | None, _db: Engine) -> SolveEngine:
    settings = state.settings()  # the API key is read here, not passed in, so it never is a cache key
    return SolveEngine.from_settings(_db, settings)


def solve_engine() -> SolveEngine:
    """One engine (loaded models, grading worker) per registry and solve settings, shared by all sessions."""
    settings = state.settings()
    return _solve_engine(settings.db_url, settings.solve_device or "auto", settings.model_cache_gb or "",
                         settings.openai_base_url, _db=state.engine())


def display_text(text: str, tail: int | None = LIVE_TAIL_CHARS) -> str:
    """Model output for the page: the thinking marked off, and only the tail while it is long."""
    if tail is not None and len(text) > tail:
        text = "…" + text[-tail:]
    text = text.replace("<think>", ":material/psychology: *thinking…*\n\n").replace(THINK_END, "\n\n---\n")
    return text


@dataclass
class LiveColumn:
    """The placeholders of one side while it streams."""

    status: DeltaGenerator
    output: DeltaGenerator
    result: DeltaGenerator
    samples: int = 1
    text: str = ""
    phase: str = "starting"
    started: float = field(default_factory=time.monotonic)
    drawn_at: float = 0.0
    finished: bool = False

    def draw_status(self) -> None:
        elapsed = time.monotonic() - self.started
        sample_note = f" · showing sample 1 of {self.samples}" if self.samples > 1 else ""
        self.status.caption(f"{_PHASE_TEXT.get(self.phase, self.phase)} · {elapsed:.1f} s{sample_note}")

    def draw_output(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.drawn_at >= REDRAW_EVERY_S:
            self.output.markdown(display_text(self.text) or "…")
            self.drawn_at = now
            if not force:
                self.draw_status()


def live_columns(headers: dict[str, str], samples: int, height: int = 420) -> dict[str, LiveColumn]:
    columns = st.columns(len(headers), border=True)
    live = {}
    for column, (side, header) in zip(columns, headers.items()):
        with column:
            st.markdown(f"**{header}**")
            status = st.empty()
            with st.container(height=height):
                output = st.empty()
            live[side] = LiveColumn(status=status, output=output, result=st.container(), samples=samples)
    return live


def stream_into(columns: dict[str, LiveColumn], events: Iterator[tuple[str, SolveEvent]],
                partial: MutableMapping[str, str]) -> tuple[dict[str, SolveResult], dict[str, str]]:
    """Draw each side's events into its column as they come. ``partial`` (session state) keeps each side's
    text so a rerun (the Stop button) can still show it. Returns results and failure messages by side."""
    results: dict[str, SolveResult] = {}
    failures: dict[str, str] = {}
    for side, event in events:
        column = columns[side]
        if isinstance(event, Chunk):
            if event.sample == 0:
                column.text += event.text
                partial[side] = column.text
                column.draw_output()
        elif isinstance(event, Progress):
            column.phase = event.phase
            column.draw_status()
        elif isinstance(event, Tick):
            column.draw_status()  # keeps the timer moving and lets Streamlit honour Stop
        elif isinstance(event, Finished):
            results[side] = event.result
            column.text = event.result.sample_outputs[0] if event.result.sample_outputs else event.result.output
            partial.pop(side, None)
            column.status.empty()
            column.draw_output(force=True)
            with column.result:
                show_result(event.result)
        elif isinstance(event, Failed):
            failures[side] = event.message
            partial.pop(side, None)
            column.status.empty()
            column.output.empty()
            with column.result:
                st.error(event.message)
    return results, failures


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "–"


def show_result(result: SolveResult) -> None:
    """Answer, grade and speed of one run, under its column."""
    # Material icons, not emoji: a browser without an emoji font draws every emoji as the same empty box.
    verdict = {True: ":green[:material/check_circle: correct]", False: ":red[:material/cancel: wrong]",
               None: "– not graded"}[result.correct]
    answer = result.answer
    if result.kind == "code":
        answer_text = "program below" if answer else "no program"
    else:
        answer_text = f"`{answer}`" if answer is not None else "no answer"
    badges = []
    if result.cached:
        badges.append(":material/bolt: cached")
    if result.stopped:
        badges.append(":material/stop_circle: stopped")
    st.markdown(f"**Answer** {answer_text} · **{verdict}**" + (" · " + " · ".join(badges) if badges else ""))
    metrics = st.columns(4 if result.agreement is None else 5)
    metrics[0].metric("First token", _seconds(result.time_to_first_token_s))
    metrics[1].metric("Tokens/s", f"{result.tokens_per_second:.1f}" if result.tokens_per_second else "–")
    metrics[2].metric("Tokens", f"{result.tokens:,}" if result.tokens is not None else "–")
    metrics[3].metric("Time", _seconds(result.elapsed_s))
    if result.agreement is not None:
        metrics[4].metric("Agreement", f"{result.agreement:.0%}",
                          help="Share of the samples that agree with the majority answer: a confidence signal")
    st.caption(result.grade_detail + (f" · {result.device}" if result.device else ""))
    if result.kind == "code" and answer:
        with st.expander("Program"):
            st.code(answer, language="python")
    with st.expander("Full output"):
        st.markdown(display_text(result.output, tail=None) or "(empty)")


def show_partial(text: str) -> None:
    with st.container(height=300):
        st.markdown(display_text(text) or "(nothing yet)")


def recent_runs_table(runs: Iterable[RunSummary]) -> None:
    """The solve log, newest first, with how often each run answered a repeated request."""
    rows = [{
        "when": run.created_at, "version": run.version, "problem": run.problem,
        "mode": "single" if run.samples == 1 else f"vote k={run.samples}",
        "answer": run.answer, "correct": {True: "✓ correct", False: "✗ wrong", None: "–"}[run.correct],
        "agreement": run.agreement, "tokens": run.tokens, "tok/s": run.tokens_per_second,
        "first token s": run.time_to_first_token_s, "backend": run.backend,
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
        "served from log": st.column_config.TextColumn(
            help="How often this run answered an identical request (same version, prompt and settings) "
                 "instead of generating again, and when it last did; stopped runs never answer repeats"),
    })


def served_from_log(run: RunSummary, now: datetime | None = None) -> str:
    """'3×, last 2 hours ago' for a run that answered repeats; empty for one that has not (yet)."""
    if run.stopped:
        return "stopped, not reused"
    if not run.cache_hits:
        return ""
    return f"{run.cache_hits}×, last {relative_time(run.last_served_at, now)}"
