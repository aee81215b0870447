"""Solve: one question put to two versions at once, streamed side by side, graded, logged and cached.

Deep links: ``?a=SHA&b=SHA`` (commit prefixes) picks the versions, ``&problem=ID`` the problem (``question=free``:
a question of one's own), ``mode``, ``k``, ``tokens``, ``temperature``, ``seed``, ``budget`` and ``cap`` the
settings; the URL follows every choice.
The Stop button works by interrupting the run: Streamlit reruns the page, the engine's stream is closed,
generation stops within a token, and the partial runs are logged as stopped.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from vibedash.solve.engine import SolveRequest
from vibedash.solve.errors import SolveError
from vibedash.solve.problems import (
    BUILTIN_PROBLEMS,
    KINDS,
    Problem,
    ProblemFileError,
    parse_problems,
)
from vibedash.solve.prompts import DEFAULT_ANSWER_MAX_TOKENS, VIBETHINKER_MAX_NEW_TOKENS, SamplingSettings
from vibedash.solve.runlog import recent_runs
from vibedash.solve.versions import VersionRef, list_versions
from vibedash.ui import deeplink, frame, solve_runs_view, solve_view, state

PAGE_DEFAULT_MAX_NEW_TOKENS = 4096  # VibeThinker allows 40,960; a page run should come back in minutes
NO_VERSION = ""
FREE_TEXT, PROBLEM = "Free text", "Problem"
RECORD_HINT = "`python -m vibedash record --commit SHA --model PATH_OR_HUB_ID`"
DEFAULT_TEMPERATURE, DEFAULT_K, DEFAULT_THINKING_BUDGET = 0.6, 8, 1024
SHA_IN_URL = 12  # characters of a version's sha in the URL: short, and unambiguous in any real registry


def _version_param(name: str, key: str, versions: list[VersionRef], default: str, *,
                   optional: bool = False) -> deeplink.Param:
    """A version named by a commit prefix (``b=`` may be empty: no second version)."""
    def parse(raw: str) -> str:
        if optional and raw in ("", "none"):
            return NO_VERSION
        matches = [v.sha for v in versions if raw and v.sha.startswith(raw.lower())]
        if len(matches) != 1:
            raise ValueError("not a version in the registry" if not matches else "more than one version starts so")
        return matches[0]

    return deeplink.Param(name, key, default, parse,
                          lambda sha: sha[:SHA_IN_URL] if sha else "none" if optional else "")


def _budget_param() -> deeplink.Param:
    """``budget=N``: budget forcing on, N thinking tokens at most; absent: off."""
    limits = deeplink.number("budget", "solve_budget", DEFAULT_THINKING_BUDGET, low=0,
                             high=VIBETHINKER_MAX_NEW_TOKENS)

    def parse(raw: str) -> bool:
        st.session_state["solve_budget"] = limits.parse(raw)
        return True

    return deeplink.Param("budget", "solve_budget_on", False, parse,
                          lambda on: limits.text(st.session_state.get("solve_budget")) if on else "")


def _deep_link(versions: list[VersionRef], problems: list[Problem]) -> deeplink.DeepLink:
    runnable = [v.sha for v in versions if v.model_ref]
    first = runnable[0] if runnable else versions[0].sha
    second = next((sha for sha in runnable if sha != first), NO_VERSION)
    return deeplink.DeepLink(
        frame.SOLVE,
        _version_param("a", "solve_a", versions, first),
        _version_param("b", "solve_b", versions, second, optional=True),
        deeplink.Param("question", "solve_source", PROBLEM,
                       lambda raw: FREE_TEXT if raw == "free" else _invalid("not “free”"),
                       lambda source: "free" if source == FREE_TEXT else ""),
        deeplink.choice("problem", "solve_problem", [p.id for p in problems], what="a problem on offer"),
        deeplink.choice("mode", "solve_mode", ["single", "vote"], what="one of", listed=True),
        deeplink.number("k", "solve_k", DEFAULT_K, low=2, high=16),
        deeplink.number("tokens", "solve_max_tokens", PAGE_DEFAULT_MAX_NEW_TOKENS, low=1,
                        high=VIBETHINKER_MAX_NEW_TOKENS),
        deeplink.number("temperature", "solve_temperature", DEFAULT_TEMPERATURE, low=0, high=2, kind=float),
        deeplink.number("seed", "solve_seed", 0, low=0),
        _budget_param(),
        deeplink.number("cap", "solve_answer_cap", DEFAULT_ANSWER_MAX_TOKENS, low=1, high=VIBETHINKER_MAX_NEW_TOKENS))


def _invalid(reason: str):
    raise ValueError(reason)


def _version_pickers(versions: list[VersionRef]) -> tuple[VersionRef, VersionRef | None]:
    by_sha = {v.sha: v for v in versions}
    left, right = st.columns(2)
    sha_a = left.selectbox("Version A", [v.sha for v in versions], format_func=lambda sha: by_sha[sha].label,
                           key="solve_a")
    sha_b = right.selectbox("Version B", [NO_VERSION] + [v.sha for v in versions],
                            format_func=lambda sha: by_sha[sha].label if sha else "— none —", key="solve_b")
    for column, sha in ((left, sha_a), (right, sha_b)):
        if sha and not by_sha[sha].model_ref:
            column.warning(f"{by_sha[sha].short} has no model reference: set it with {RECORD_HINT}")
        elif sha:
            column.caption(f"model: `{by_sha[sha].model_ref}`")
    return by_sha[sha_a], by_sha[sha_b] if sha_b else None


def _imported_problems() -> list[Problem]:
    with st.expander("Import problems (JSONL)"):
        st.caption('One problem per line: {"id", "kind": "math", "prompt", "answer"} or '
                   '{"id", "kind": "code", "prompt", "tests": [{"input", "output"}]}')
        upload = st.file_uploader("Problem file", type=["jsonl", "json"], key="solve_upload")
        if upload is not None:
            try:
                text = upload.getvalue().decode("utf-8")
                st.session_state["solve_imported"] = parse_problems(text.splitlines(), source=upload.name)
            except UnicodeDecodeError:
                st.error(f"{upload.name} is not UTF-8 text; save it as UTF-8 JSONL")
            except ProblemFileError as exc:
                st.error(str(exc))
    return st.session_state.get("solve_imported", [])


def _question_inputs(problems: list[Problem]) -> tuple[Problem | None, str, str, str | None]:
    """(problem or None, question, kind, expected answer)."""
    source = st.radio("Question", [PROBLEM, FREE_TEXT], horizontal=True, key="solve_source")
    if source == PROBLEM:
        by_id = {p.id: p for p in problems}
        problem_id = st.selectbox("Problem", list(by_id), format_func=lambda pid: by_id[pid].label,
                                  key="solve_problem")
        problem = by_id[problem_id]
        with st.container(border=True):
            st.markdown(problem.prompt)
            if problem.kind == "math":
                st.caption(f"reference answer: {problem.answer}")
            else:
                st.caption(f"{len(problem.tests)} stdin/stdout tests")
        return problem, problem.prompt, problem.kind, problem.answer
    question = st.text_area("Your question", key="solve_question", height=120,
                            placeholder="What is the remainder when 2^100 is divided by 7?")
    kind = st.radio("Kind", KINDS, horizontal=True, key="solve_kind",
                    help="math: graded by its final \\boxed{} answer; code: the program is shown, not run")
    expected = None
    if kind == "math":
        expected = st.text_input("Reference answer (optional)", key="solve_expected").strip() or None
    return None, question, kind, expected


def _sampling_inputs() -> tuple[SamplingSettings, bool] | None:
    mode_col, k_col = st.columns([2, 1])
    mode = mode_col.radio("Mode", ["single", "vote"], horizontal=True, key="solve_mode",
                          format_func=lambda m: "single answer" if m == "single" else "k-sample vote")
    samples = 1
    if mode == "vote":
        samples = int(k_col.number_input("Samples (k)", min_value=2, max_value=16, key="solve_k",
                                         help="k samples in one batch; the majority answer wins"))
    with st.expander("Settings (VibeThinker's defaults)"):
        columns = st.columns(3)
        max_new_tokens = columns[0].number_input(
            "Max new tokens", min_value=1, max_value=VIBETHINKER_MAX_NEW_TOKENS, step=256, key="solve_max_tokens",
            help="VibeThinker's protocol allows 40,960; an answer cut off before its \\boxed{} counts as wrong")
        temperature = columns[1].number_input("Temperature", min_value=0.0, max_value=2.0, step=0.1,
                                              key="solve_temperature", help="0 for greedy decoding")
        seed = columns[2].number_input("Seed", min_value=0, step=1, key="solve_seed",
                                       help="Same seed and settings: the same answer, served from the log")
        st.session_state.setdefault("solve_budget", DEFAULT_THINKING_BUDGET)
        budget_on = st.toggle("Thinking budget", key="solve_budget_on",
                              help="Budget forcing: after this many thinking tokens without </think>, the engine "
                                   "closes the thinking and the model answers within the answer cap")
        thinking_budget = answer_max_tokens = None
        if budget_on:
            budget_col, cap_col = st.columns(2)
            thinking_budget = int(budget_col.number_input(
                "Thinking tokens at most", min_value=0, max_value=VIBETHINKER_MAX_NEW_TOKENS, step=256,
                key="solve_budget", help="0: answer at once, without thinking"))
            answer_max_tokens = int(cap_col.number_input(
                "Answer tokens at most", min_value=1, max_value=VIBETHINKER_MAX_NEW_TOKENS, step=256,
                key="solve_answer_cap",
                help="The answer's own cap once the thinking is closed; max new tokens still caps everything"))
        fresh = st.checkbox("Fresh run (ignore the log's answer for an identical request)", key="solve_fresh")
    try:
        return SamplingSettings(temperature=float(temperature), max_new_tokens=int(max_new_tokens), seed=int(seed),
                                samples=samples, thinking_budget=thinking_budget,
                                answer_max_tokens=answer_max_tokens), fresh
    except SolveError as exc:
        st.error(str(exc))
        return None


def _not_ready_reason(version_a: VersionRef, version_b: VersionRef | None, question: str,
                      sampling: tuple[SamplingSettings, bool] | None) -> str | None:
    """Why Run cannot go ahead, in words; None when it can."""
    missing = [v.short for v in (version_a, version_b) if v is not None and not v.model_ref]
    if missing:
        return (f"{' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no model reference; pick "
                "another version or set one with `record --model`")
    if not question.strip():
        return "write a question or pick a problem"
    if sampling is None:
        return "fix the settings above"
    return None


def _run(requests: dict[str, SolveRequest]) -> None:
    try:
        solver = solve_view.solve_engine()
    except SolveError as exc:
        st.error(str(exc))
        return
    samples = next(iter(requests.values())).settings.samples
    columns = solve_view.live_columns({side: r.version.label for side, r in requests.items()}, samples)
    partial: dict[str, str] = st.session_state.setdefault("solve_partial", {})
    partial.clear()
    events = solver.stream_many(requests, tick_s=0.5)
    # Closing the stream (also when Stop interrupts this script) stops generation on every side.
    with contextlib.closing(events):
        results, failures = solve_view.stream_into(columns, events, partial)
    st.session_state["solve_last"] = {"headers": {side: r.version.label for side, r in requests.items()},
                                      "results": results, "failures": failures}


def _show_last() -> None:
    last = st.session_state.get("solve_last")
    if not last:
        return
    columns = st.columns(len(last["headers"]), border=True)
    for column, (side, header) in zip(columns, last["headers"].items()):
        with column:
            st.markdown(f"**{header}**")
            if side in last["results"]:
                solve_view.show_result(last["results"][side])
            elif side in last["failures"]:
                st.error(last["failures"][side])


def _show_interrupted(partial: dict[str, str]) -> None:
    st.warning("Stopped. The partial runs are in the solve log, marked stopped; they are never reused for repeats.")
    columns = st.columns(len(partial), border=True)
    for column, text in zip(columns, partial.values()):
        with column:
            solve_view.show_partial(text)
    partial.clear()


def main() -> None:
    st.title("Solve")
    st.caption("One question, two versions, streamed side by side: graded, logged, and answered from the log "
               "when asked again with the same settings.")
    engine = state.engine()
    versions = list_versions(engine)
    if not versions:
        st.info(f"No versions in the registry yet. Record one with {RECORD_HINT}.")
        return
    if not any(v.model_ref for v in versions):
        st.info(f"No version has a model reference yet, so none can answer. Give one a model with {RECORD_HINT} "
                "(a local folder, a hub id, or openai:MODEL@http://host:8000/v1).", icon=":material/info:")
    problems = list(BUILTIN_PROBLEMS)
    builtin_ids = {p.id for p in problems}
    # Problems imported earlier in this session can be named by a link too (the upload itself cannot).
    link = _deep_link(versions, problems + [p for p in st.session_state.get("solve_imported", [])
                                            if p.id not in builtin_ids])
    link.read()
    version_a, version_b = _version_pickers(versions)
    imported = _imported_problems()
    clashing = sorted({p.id for p in imported} & builtin_ids)
    if clashing:
        st.warning(f"Imported problems with built-in ids were skipped: {', '.join(clashing)}; rename them")
    problems += [p for p in imported if p.id not in clashing]
    problem, question, kind, expected = _question_inputs(problems)
    sampling = _sampling_inputs()
    link.write()

    run_col, stop_col, reason_col = st.columns([1, 1, 6], vertical_alignment="center")
    reason = _not_ready_reason(version_a, version_b, question, sampling)
    run = run_col.button("Run", type="primary", disabled=reason is not None, key="solve_run",
                         icon=":material/play_arrow:", help=reason)
    stop = stop_col.button("Stop", key="solve_stop", icon=":material/stop:")
    if reason:
        reason_col.caption(f"Run is off: {reason}")

    if run and sampling is not None:
        settings, fresh = sampling
        sides = {"a": version_a} | ({"b": version_b} if version_b else {})
        if problem is not None:
            requests = {side: SolveRequest.for_problem(v, problem, settings, fresh=fresh) for side, v in sides.items()}
        else:
            requests = {side: SolveRequest(version=v, question=question, kind=kind, expected=expected,
                                           settings=settings, fresh=fresh) for side, v in sides.items()}
        _run(requests)
    elif partial := st.session_state.get("solve_partial"):  # a run was interrupted (Stop, or another click)
        _show_interrupted(partial)
    else:
        if stop:
            st.info("Nothing is running.")
        _show_last()

    st.subheader("Recent solve runs")
    solve_runs_view.recent_runs_table(recent_runs(engine, limit=20))


main()
