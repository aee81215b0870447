"""Streamlit pieces of the Solve page: the shared solve engine, live columns fed by the engine's events
(text, thinking-aware figures, GPU readings) and the result of a run. Runs already logged (the recent runs
table, the Version page's solve section) are shown by :mod:`vibedash.ui.solve_runs_view`.

Model output is shown as text: the thinking in a plain text block, only the answer (after ``</think>``)
rendered as Markdown with its math, so underscores and asterisks in code or reasoning stay as written."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field

import streamlit as st
from sqlalchemy import Engine
from streamlit.delta_generator import DeltaGenerator

from vibedash.solve.engine import (
    Chunk,
    Failed,
    Finished,
    Progress,
    SolveEngine,
    SolveEvent,
    Tick,
)
from vibedash.solve.generation import GpuReading, LiveFigures
from vibedash.solve.prompts import THINK_END, THINK_START
from vibedash.solve.runlog import SolveResult
from vibedash.ui import state
from vibedash.ui.solve_runs_view import (  # noqa: F401  (the old home of the runs tables)
    latency_table,
    recent_runs_table,
    served_from_log,
    tokens_text,
    version_runs_table,
    version_solve_section,
)

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


def split_output(text: str) -> tuple[str, str | None]:
    """(thinking, answer) of an output: the answer is what follows the last ``</think>``, None while the
    thinking is still open (or the model never closed it)."""
    end = text.rfind(THINK_END)
    thinking = text if end < 0 else text[:end]
    thinking = thinking.lstrip()
    if thinking.startswith(THINK_START):
        thinking = thinking[len(THINK_START):]
    return thinking.strip("\n"), (None if end < 0 else text[end + len(THINK_END):].strip())


def _tail(text: str, tail: int | None) -> str:
    return "…" + text[-tail:] if tail is not None and len(text) > tail else text


def show_output(thinking_slot: DeltaGenerator, answer_slot: DeltaGenerator, text: str,
                tail: int | None = LIVE_TAIL_CHARS, *, answered_without_thinking: bool = False) -> None:
    """The thinking as plain text (wrapped), the answer as Markdown with math. An output with no
    ``</think>`` is all thinking, unless the run says the model answered without thinking."""
    thinking, answer = split_output(text)
    if answer is None and answered_without_thinking:
        thinking, answer = "", text.strip()
    if thinking:
        thinking_slot.code(_tail(thinking, tail), language=None, wrap_lines=True)
    else:
        thinking_slot.empty()
    if answer is not None:
        answer_slot.markdown(_tail(answer, tail) or "*(empty answer)*")
    else:
        answer_slot.empty()


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "–"


def live_figures_text(figures: LiveFigures) -> str:
    """One wrapped line of a run's figures so far: never cut off, whatever the column's width."""
    phase = "answering" if figures.answering else "thinking"
    rate = f"{figures.decode_tokens_per_second:.1f} tok/s" if figures.decode_tokens_per_second else "– tok/s"
    return (f"{phase} · thinking {tokens_text(figures.thinking_tokens)} · answer {tokens_text(figures.answer_tokens)} "
            f"tokens · {rate} · load {_seconds(figures.load_s)} · first token "
            f"{_seconds(figures.time_to_first_token_s)} · first answer {_seconds(figures.time_to_first_answer_s)}")


def gpu_text(reading: GpuReading) -> str:
    power = f" · {reading.power_w:.0f} W" if reading.power_w is not None else ""
    return (f":material/memory: GPU {reading.utilisation_pct:.0f}% busy · {reading.memory_used_mb / 1024:.1f} of "
            f"{reading.memory_total_mb / 1024:.1f} GiB{power}")


NO_GPU_TEXT = ":material/memory: no GPU: this run is on the CPU (no utilisation, power or energy figures)"
SERVER_GPU_TEXT = ":material/dns: on the server: its GPU is not watched from here"


@dataclass
class LiveColumn:
    """The placeholders of one side while it streams."""

    status: DeltaGenerator
    figures: DeltaGenerator
    gpu: DeltaGenerator
    thinking: DeltaGenerator
    answer: DeltaGenerator
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
            show_output(self.thinking, self.answer, self.text)
            self.drawn_at = now
            if not force:
                self.draw_status()

    def draw_figures(self, figures: LiveFigures) -> None:
        self.figures.caption(live_figures_text(figures))

    def draw_device(self, detail: str) -> None:
        """Under the figures: where the run happens (GPU readings replace this line as they come)."""
        if detail.startswith("cpu"):
            self.gpu.caption(NO_GPU_TEXT)
        elif detail.startswith(("http://", "https://")):
            self.gpu.caption(SERVER_GPU_TEXT)


def live_columns(headers: dict[str, str], samples: int, height: int = 420) -> dict[str, LiveColumn]:
    columns = st.columns(len(headers), border=True)
    live = {}
    for column, (side, header) in zip(columns, headers.items()):
        with column:
            st.markdown(f"**{header}**")
            status, figures, gpu = st.empty(), st.empty(), st.empty()
            with st.container(height=height):
                thinking, answer = st.empty(), st.empty()
            live[side] = LiveColumn(status=status, figures=figures, gpu=gpu, thinking=thinking, answer=answer,
                                    result=st.container(), samples=samples)
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
            if event.phase == "generating":
                column.draw_device(event.detail)
        elif isinstance(event, LiveFigures):
            column.draw_figures(event)
        elif isinstance(event, GpuReading):
            column.gpu.caption(gpu_text(event))
        elif isinstance(event, Tick):
            column.draw_status()  # keeps the timer moving and lets Streamlit honour Stop
        elif isinstance(event, Finished):
            results[side] = event.result
            column.text = event.result.sample_outputs[0] if event.result.sample_outputs else event.result.output
            partial.pop(side, None)
            column.status.empty()
            column.figures.empty()
            if event.result.energy_j is None and not (event.result.device or "").startswith("cpu"):
                column.gpu.empty()
            show_output(column.thinking, column.answer, column.text,
                        answered_without_thinking=event.result.thinking_tokens == 0)
            with column.result:
                show_result(event.result)
        elif isinstance(event, Failed):
            failures[side] = event.message
            partial.pop(side, None)
            column.status.empty()
            column.figures.empty()
            column.gpu.empty()
            column.thinking.empty()
            column.answer.empty()
            with column.result:
                st.error(event.message)
    return results, failures


VERDICTS = {True: ":material/check_circle: correct", False: ":material/cancel: wrong",
            None: ":material/remove: not graded"}


def figures_table(result: SolveResult) -> str:
    """The run's figures as a Markdown table (label, value, label, value): it wraps instead of cutting values
    off, as metric tiles did in narrow columns."""
    samples = result.settings.samples
    per = f" (all {samples} samples)" if samples > 1 else ""
    rate = result.decode_tokens_per_second or result.tokens_per_second
    cut = "no"
    if result.samples_cut:
        cut = "yes" if samples == 1 else f"{result.samples_cut} of {samples} samples"
    budget = "none"
    if result.settings.thinking_budget is not None:
        forced = result.samples_forced or 0
        budget = (f"{result.settings.thinking_budget:,} tokens, closed the thinking"
                  + (f" in {forced} of {samples}" if samples > 1 else "" if forced else " — not reached"))
    cells = [
        ("Load", _seconds(result.load_s)), ("First token", _seconds(result.time_to_first_token_s)),
        ("First answer token", _seconds(result.time_to_first_answer_s)),
        ("Total", _seconds(result.total_s if result.total_s is not None else result.elapsed_s)),
        ("Thinking tokens" + per, tokens_text(result.thinking_tokens)),
        ("Answer tokens" + per, tokens_text(result.answer_tokens)),
        ("Tokens", tokens_text(result.tokens)), ("Tokens/s", f"{rate:.1f}" if rate else "–"),
        ("Cut by token cap", cut), ("Thinking budget", budget),
    ]
    if result.agreement is not None:
        cells.append(("Agreement", f"{result.agreement:.0%}"))
    if result.energy_j is not None:
        per_answer = f"{result.energy_j:,.0f} J"
        gpu = (f"{result.gpu_utilisation_pct:.0f}% busy, {result.gpu_power_w:.0f} W"
               if result.gpu_utilisation_pct is not None and result.gpu_power_w is not None else "")
        cells += [("Energy per answer", per_answer), ("GPU", gpu or "–")]
    if len(cells) % 2:
        cells.append(("", ""))
    rows = ["| | | | |", "|---|---|---|---|"]
    for (label_a, value_a), (label_b, value_b) in zip(cells[::2], cells[1::2]):
        rows.append(f"| {label_a} | **{value_a}** | {label_b} | **{value_b}** |")
    return "\n".join(rows)


def show_result(result: SolveResult) -> None:
    """Answer, grade and the run's figures, under its column."""
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
    st.markdown(f"**Answer** {answer_text} · **{VERDICTS[result.correct]}**"
                + (" · " + " · ".join(badges) if badges else ""))
    st.markdown(figures_table(result))
    st.caption(result.grade_detail + (f" · {result.device}" if result.device else ""))
    if result.kind == "code" and answer:
        with st.expander("Program"):
            st.code(answer, language="python")
    with st.expander("Full output"):
        if not result.output:
            st.caption("(empty)")
        elif result.settings.samples > 1:  # k samples, each under its header: all as text
            st.code(result.output, language=None, wrap_lines=True)
        else:
            show_output(st.empty(), st.empty(), result.output, tail=None,
                        answered_without_thinking=result.thinking_tokens == 0)


def show_partial(text: str) -> None:
    with st.container(height=300):
        if text:
            show_output(st.empty(), st.empty(), text)
        else:
            st.caption("(nothing yet)")
