"""``python -m vibedash solve``: one question to one version (or two, side by side), streamed to the terminal.

    python -m vibedash solve --commit 3f2a9c1 --problem math-04
    python -m vibedash solve --commit 3f2a9c1 --prompt "What is 2+2?" --answer 4 --compare 9be11d0 --k 8

Exit codes: 0 the run finished (whatever the grade), 1 a version, problem or model was not found or the run
failed, 2 bad input. Ctrl-C stops generation; the partial run is logged as stopped.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TextIO

from sqlalchemy import Engine

from vibedash.config import Settings
from vibedash.solve.engine import (
    Chunk,
    Failed,
    Finished,
    Progress,
    SolveEngine,
    SolveRequest,
)
from vibedash.solve.errors import ModelLoadError, SolveConfigError, SolveInputError, VersionLookupError
from vibedash.solve.problems import (
    BUILTIN_PROBLEMS,
    KINDS,
    ProblemFileError,
    find_problem,
    load_problems,
)
from vibedash.solve.prompts import DEFAULT_ANSWER_MAX_TOKENS, SamplingSettings
from vibedash.solve.runlog import SolveResult
from vibedash.solve.versions import resolve_version

EXIT_OK, EXIT_NOT_FOUND, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
_DEFAULTS = SamplingSettings()


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "solve", help="put one question to a version (or two side by side), stream, grade and log the answer",
        description="Put one question to a version, stream its answer, grade it and log it (identical "
                    "requests are answered from the log unless --fresh). Sampling follows VibeThinker's "
                    "settings unless changed.")
    parser.add_argument("--commit", required=True, help="commit (4+ hex digits) of the version to ask")
    question = parser.add_mutually_exclusive_group(required=True)
    question.add_argument("--problem", metavar="ID",
                          help="a problem id: built-in (" + ", ".join(p.id for p in BUILTIN_PROBLEMS[:2]) +
                               ", ...) or from --problems")
    question.add_argument("--prompt", metavar="TEXT", help="a free-text question")
    parser.add_argument("--answer", metavar="EXPECTED", help="reference answer for --prompt (math)")
    parser.add_argument("--kind", choices=KINDS, default="math", help="kind of --prompt (default math)")
    parser.add_argument("--problems", metavar="FILE", help="JSONL file of problems to look --problem up in")
    parser.add_argument("--compare", metavar="SHA2", help="a second version to ask at the same time")
    parser.add_argument("--max-new-tokens", type=int, default=_DEFAULTS.max_new_tokens,
                        help=f"token cap per sample (default {_DEFAULTS.max_new_tokens}, VibeThinker's)")
    parser.add_argument("--k", type=int, default=1, help="samples for a self-consistency vote (default 1)")
    parser.add_argument("--temperature", type=float, default=_DEFAULTS.temperature,
                        help=f"0 for greedy (default {_DEFAULTS.temperature})")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="sampling seed (default 0)")
    parser.add_argument("--thinking-budget", type=int, default=None, metavar="N",
                        help="close the thinking after N tokens (budget forcing: </think> and a cue to answer are "
                             "appended) and let the model answer within --answer-max-tokens (default: no budget)")
    parser.add_argument("--answer-max-tokens", type=int, default=None, metavar="N",
                        help=f"token cap on the answer after the thinking closed (default {DEFAULT_ANSWER_MAX_TOKENS} "
                             "with a budget; the total --max-new-tokens cap applies either way)")
    parser.add_argument("--fresh", action="store_true", help="generate even if the log has this exact request")
    return parser


def run(args: argparse.Namespace, settings: Settings, engine: Engine, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        requests = _build_requests(args, engine)
    except (SolveInputError, ProblemFileError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except (VersionLookupError, KeyError) as exc:
        return _fail(exc.args[0] if isinstance(exc, KeyError) else str(exc), EXIT_NOT_FOUND)
    # A version without a model reference is a missing setting: say so before any model loads or output starts.
    for request in requests.values():
        if not request.version.model_ref:
            return _fail(str(ModelLoadError(None, version_sha=request.version.sha)), EXIT_BAD_INPUT)
    try:
        solver = SolveEngine.from_settings(engine, settings)
    except SolveConfigError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    printer = _StreamPrinter(out, {side: request.version.short for side, request in requests.items()}
                             if len(requests) > 1 else None)
    results: dict[str, SolveResult] = {}
    failures: dict[str, Failed] = {}
    stop = threading.Event()
    events = solver.stream_many(requests, stop)
    try:
        for side, event in events:
            if isinstance(event, Chunk) and event.sample == 0:
                printer.write(side, event.text)
            elif isinstance(event, Progress) and event.phase == "cached":
                printer.note(side, "(answered from the solve log; --fresh to generate again)")
            elif isinstance(event, Finished):
                results[side] = event.result
            elif isinstance(event, Failed):
                failures[side] = event
    except KeyboardInterrupt:
        stop.set()
        events.close()  # stops generation; the partial runs are logged as stopped
        printer.flush()
        print("\nstopped", file=out)
        return EXIT_INTERRUPTED
    finally:
        solver.close()
    printer.flush()
    for side, request in requests.items():
        if side in results:
            print(summary_line(results[side], request.version.short), file=out)
        else:
            print(f"{request.version.short}  failed: {failures[side].message}", file=out)
    for failure in failures.values():
        if isinstance(failure.error, SolveConfigError):
            return EXIT_BAD_INPUT
    return EXIT_NOT_FOUND if failures else EXIT_OK


def _build_requests(args: argparse.Namespace, engine: Engine) -> dict[str, SolveRequest]:
    sampling = SamplingSettings(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed,
                                samples=args.k, thinking_budget=getattr(args, "thinking_budget", None),
                                answer_max_tokens=getattr(args, "answer_max_tokens", None))
    version = resolve_version(engine, args.commit)
    versions = {"a": version}
    if args.compare:
        versions["b"] = resolve_version(engine, args.compare)
    if args.problem:
        if args.answer:
            raise SolveInputError("--answer goes with --prompt; a --problem has its own answer")
        problems = list(BUILTIN_PROBLEMS) + (load_problems(args.problems) if args.problems else [])
        problem = find_problem(args.problem, problems)
        return {side: SolveRequest.for_problem(v, problem, sampling, fresh=args.fresh) for side, v in versions.items()}
    if not args.prompt.strip():
        raise SolveInputError("--prompt is empty: write the question")
    if args.kind == "code" and args.answer:
        raise SolveInputError("--answer is for math; a code prompt from the command line has no tests to run")
    return {side: SolveRequest(version=v, question=args.prompt, kind=args.kind, expected=args.answer,
                               settings=sampling, fresh=args.fresh) for side, v in versions.items()}


def summary_line(result: SolveResult, short_sha: str) -> str:
    """Three lines: answer and grade with speed and tokens; the thinking-aware figures; the grade's detail."""
    if result.correct is True:
        verdict = "correct"
    elif result.correct is False:
        verdict = "wrong"
    else:
        verdict = "not graded"
    answer = result.answer if result.answer is None or "\n" not in result.answer else "(program)"
    parts = [f"{short_sha}  answer {answer if answer is not None else '(none)'}  {verdict}"]
    if result.agreement is not None:
        parts.append(f"agreement {result.agreement:.0%}")
    if result.time_to_first_token_s is not None:
        parts.append(f"{result.time_to_first_token_s:.2f} s to first token")
    rate = result.decode_tokens_per_second or result.tokens_per_second
    if rate is not None:
        parts.append(f"{rate:.1f} tokens/s")
    if result.tokens is not None:
        parts.append(f"{result.tokens:,} tokens")
    if result.cached:
        parts.append("cached")
    if result.stopped:
        parts.append("stopped")
    return " · ".join(parts) + f"\n    {figures_line(result)}\n    {result.grade_detail}"


def _s(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "–"


def figures_line(result: SolveResult) -> str:
    """Where the time and the tokens went: load, first answer token, thinking vs answer, caps, energy."""
    samples = result.settings.samples
    per = " per sample" if samples > 1 else ""
    parts = []
    if result.thinking_tokens is not None and result.answer_tokens is not None:
        parts.append(f"thinking {result.thinking_tokens / samples:,.0f} · answer {result.answer_tokens / samples:,.0f} "
                     f"tokens{per}")
    parts += [f"load {_s(result.load_s)}", f"first answer token {_s(result.time_to_first_answer_s)}",
              f"total {_s(result.total_s if result.total_s is not None else result.elapsed_s)}"]
    budget = result.settings.thinking_budget
    if budget is not None:
        forced = result.samples_forced or 0
        parts.append(f"budget {budget:,}: closed by it in {forced} of {samples}" if samples > 1
                     else f"budget {budget:,}" + (" closed the thinking" if forced else " not reached"))
    if result.samples_cut:
        parts.append("cut by the token cap" + (f" in {result.samples_cut} of {samples}" if samples > 1 else ""))
    if result.energy_j is not None:
        parts.append(f"{result.energy_j:,.0f} J on the GPU")
    return " · ".join(parts)


class _StreamPrinter:
    """Writes text as it comes, token by token. With two sides each line is prefixed by the side's short sha;
    a side's text goes out when it reaches a line end, when the other side has been quiet for a moment, or at
    least every ``flush_every_s``, so an answer without newlines still appears as it is written."""

    def __init__(self, out: TextIO, prefixes: dict[str, str] | None, flush_every_s: float = 0.25) -> None:
        self._out = out
        self._prefixes = prefixes
        self._pending: dict[str, str] = {}
        self._flushed_at: dict[str, float] = {}
        self._flush_every_s = flush_every_s
        self._line_side: str | None = None  # the side whose line is open (not ended) on the terminal

    def write(self, side: str, text: str) -> None:
        if self._prefixes is None:
            self._out.write(text)
            self._out.flush()
            return
        self._pending[side] = self._pending.get(side, "") + text
        now = time.monotonic()
        if "\n" in self._pending[side] or self._line_side in (None, side) \
                or now - self._flushed_at.get(side, 0.0) >= self._flush_every_s:
            self._emit(side)
            self._flushed_at[side] = now

    def _emit(self, side: str) -> None:
        text = self._pending.pop(side, "")
        if not text:
            return
        if self._line_side not in (None, side):
            self._out.write("\n")  # the other side's open line ends here; it continues on its next line
            self._line_side = None
        for index, piece in enumerate(text.split("\n")):
            if index:
                self._out.write("\n")
                self._line_side = None
            if piece:
                if self._line_side is None:
                    self._out.write(f"[{self._prefixes[side]}] ")
                    self._line_side = side
                self._out.write(piece)
        self._out.flush()

    def note(self, side: str, text: str) -> None:
        if self._prefixes is None:
            self._out.write(f"{text}\n")
            return
        self._emit(side)
        if self._line_side is not None:
            self._out.write("\n")
        self._out.write(f"[{self._prefixes[side]}] {text}\n")
        self._line_side = None

    def flush(self) -> None:
        if self._prefixes is not None:
            for side in list(self._pending):
                self._emit(side)
        if self._line_side is not None or self._prefixes is None:
            self._out.write("\n")
        self._line_side = None
        self._out.flush()


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
