"""The solve engine: one question to one or two versions, streamed, graded, logged, and cached.

Each side (version) runs on its own worker thread: cache lookup, model load, generation, grading, logging.
The caller's thread only iterates events, so a Streamlit script can draw both columns as chunks arrive:

    for side, event in engine.stream_many({"a": request_a, "b": request_b}):
        ...  # Progress, Chunk, Finished or Failed, tagged with the side

A worker's exception reaches the caller as a ``Failed`` event (``stream`` raises it). A side that sends no
event for ``stall_timeout_s`` is given up as stalled. Closing the iterator early (the page was interrupted
by the Stop button, the CLI by Ctrl-C) stops every side within a token; their partial runs are logged as
stopped, which the cache never reuses.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from vibedash.config import Settings
from vibedash.solve import runlog
from vibedash.solve.answers import extract_math_answer, majority_vote
from vibedash.solve.errors import (
    GenerationError,
    ModelLoadError,
    SolveConfigError,
    SolveError,
)
from vibedash.solve.generation import (
    Backend,
    GenerationEvent,
    GenerationJob,
    GenerationOutcome,
    GpuReading,
    LiveFigures,
    Phase,
    TextDelta,
)
from vibedash.solve.grading import Grade, Grader
from vibedash.solve.openai_compat import OpenAICompatBackend, is_openai_ref
from vibedash.solve.pacing import Lockstep
from vibedash.solve.problems import Kind, Problem, TestCase
from vibedash.solve.prompts import SamplingSettings, build_prompt, chat_messages
from vibedash.solve.runlog import SolveResult
from vibedash.solve.versions import VersionRef

if TYPE_CHECKING:
    from vibedash.solve.local import LocalBackend

log = logging.getLogger(__name__)

LOCAL_BACKEND, OPENAI_BACKEND = "transformers", "openai"


@dataclass(frozen=True)
class SolveRequest:
    version: VersionRef
    question: str  # the problem statement or free text, without the kind's instructions
    kind: Kind = "math"
    expected: str | None = None  # math: reference answer
    tests: tuple[TestCase, ...] = ()  # code: stdin/stdout tests
    problem_id: str | None = None
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    fresh: bool = False  # generate even when the log has this exact request

    @classmethod
    def for_problem(cls, version: VersionRef, problem: Problem, settings: SamplingSettings | None = None,
                    fresh: bool = False) -> SolveRequest:
        return cls(version=version, question=problem.prompt, kind=problem.kind, expected=problem.answer,
                   tests=problem.tests, problem_id=problem.id, settings=settings or SamplingSettings(), fresh=fresh)

    @property
    def prompt(self) -> str:
        """The user message actually sent (the question plus the kind's instructions)."""
        return build_prompt(self.kind, self.question)

    @property
    def backend_name(self) -> str:
        return OPENAI_BACKEND if is_openai_ref(self.version.model_ref) else LOCAL_BACKEND


# -- events ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    phase: str  # "cached", "loading", "connecting", "generating", "grading"
    detail: str = ""


@dataclass(frozen=True)
class Chunk:
    text: str
    sample: int = 0


@dataclass(frozen=True)
class Finished:
    result: SolveResult


@dataclass(frozen=True)
class Tick:
    """Nothing new from this side for a while (only with ``tick_s``): lets a page keep its timer and its
    Stop button alive while a model loads."""

    waited_s: float


@dataclass(frozen=True)
class Failed:
    error: BaseException

    @property
    def message(self) -> str:
        if isinstance(self.error, SolveError):
            return str(self.error)
        return f"{type(self.error).__name__}: {self.error}"


# LiveFigures (a run's figures so far) and GpuReading (one NVML sample) come from the backends as they are.
SolveEvent = Progress | Chunk | Tick | Finished | Failed | LiveFigures | GpuReading


# -- the engine --------------------------------------------------------------------------------------------

def parse_cache_budget_gb(value: str | float | None) -> int:
    """VIBEDASH_MODEL_CACHE_GB as bytes."""
    try:
        gib = float(value) if value is not None else 24.0
    except ValueError:
        raise SolveConfigError(f"VIBEDASH_MODEL_CACHE_GB={value!r} is not a number of GiB, e.g. 24") from None
    if gib <= 0:
        raise SolveConfigError(f"VIBEDASH_MODEL_CACHE_GB={value!r} must be more than 0")
    return int(gib * 1024**3)


class SolveEngine:
    """Shared by every page session (thread-safe); holds the loaded models and the math-verify worker.
    Call :meth:`close` when done."""

    def __init__(self, db: Engine, *, device: str = "auto", model_cache_bytes: int = 24 * 1024**3,
                 openai_base_url: str | None = None, openai_api_key: str | None = None,
                 grader: Grader | None = None, local_backend: LocalBackend | None = None,
                 openai_backend: OpenAICompatBackend | None = None, stall_timeout_s: float = 300.0,
                 lockstep: bool = True) -> None:
        """``lockstep``: local generations side by side take turns step by step (fair shares of the machine,
        each side's own tokens/s); False lets them contend freely (for comparison in the benchmark)."""
        self._db = db
        self._device = device
        self._model_cache_bytes = model_cache_bytes
        self._grader = grader or Grader()
        self._local = local_backend
        self._openai = openai_backend or OpenAICompatBackend(openai_base_url, openai_api_key)
        self._backend_lock = threading.Lock()
        self.stall_timeout_s = stall_timeout_s
        self.lockstep = lockstep

    @classmethod
    def from_settings(cls, db: Engine, settings: Settings, **options) -> SolveEngine:
        return cls(db, device=settings.solve_device or "auto",
                   model_cache_bytes=parse_cache_budget_gb(settings.model_cache_gb),
                   openai_base_url=settings.openai_base_url, openai_api_key=settings.openai_api_key, **options)

    def close(self) -> None:
        self._grader.close()
        if self._local is not None:
            self._local.close()

    # -- public API --------------------------------------------------------------------------------------

    def solve(self, request: SolveRequest, stop: threading.Event | None = None) -> SolveResult:
        """Run to the end and return the result (raises the side's error)."""
        for event in self.stream(request, stop):
            if isinstance(event, Finished):
                return event.result
        raise GenerationError("the solve run ended without a result")  # not reached: stream raises first

    def stream(self, request: SolveRequest, stop: threading.Event | None = None) -> Iterator[SolveEvent]:
        """Events of one run; a failure is raised (ModelLoadError, GenerationError, or the worker's own)."""
        with contextlib.closing(self.stream_many({"a": request}, stop)) as events:
            for _, event in events:
                if isinstance(event, Failed):
                    raise event.error
                yield event

    def stream_many(self, requests: Mapping[str, SolveRequest], stop: threading.Event | None = None,
                    tick_s: float | None = None) -> Iterator[tuple[str, SolveEvent]]:
        """Run every request at once (one worker each) and yield ``(side, event)`` as they come. Each side
        ends with exactly one Finished or Failed event. With ``tick_s``, a side silent for that long gets a
        Tick event (again every ``tick_s``)."""
        stop = stop or threading.Event()
        events: queue.SimpleQueue[tuple[str, SolveEvent]] = queue.SimpleQueue()
        side_stops = {side: threading.Event() for side in requests}
        local_sides = [side for side, request in requests.items() if request.backend_name == LOCAL_BACKEND]
        pacer = Lockstep() if self.lockstep and len(local_sides) > 1 else None
        workers = [threading.Thread(target=self._work,
                                    args=(side, request, side_stops[side], events,
                                          pacer if side in local_sides else None),
                                    name=f"vibedash-solve-{side}", daemon=True)
                   for side, request in requests.items()]
        for worker in workers:
            worker.start()
        pending = set(requests)
        last_heard = {side: time.monotonic() for side in requests}
        last_tick = dict(last_heard)
        try:
            while pending:
                if stop.is_set():
                    for side in pending:
                        side_stops[side].set()
                try:
                    side, event = events.get(timeout=min(0.1, tick_s or 0.1))
                except queue.Empty:
                    now = time.monotonic()
                    for side in sorted(pending):
                        if tick_s is not None and now - max(last_heard[side], last_tick[side]) >= tick_s:
                            last_tick[side] = now
                            yield side, Tick(now - last_heard[side])
                        if now - last_heard[side] > self.stall_timeout_s:
                            side_stops[side].set()
                            pending.discard(side)
                            yield side, Failed(GenerationError(
                                f"version {requests[side].version.short} made no progress for "
                                f"{self.stall_timeout_s:g} s and was given up"))
                    continue
                if side not in pending:
                    continue  # a side already given up as stalled
                last_heard[side] = time.monotonic()
                if isinstance(event, (Finished, Failed)):
                    pending.discard(side)
                yield side, event
        finally:
            # Normal end: nothing pending. Early close or error: stop the rest, give them a moment to log.
            for side in pending:
                side_stops[side].set()
            deadline = time.monotonic() + (5.0 if pending else 1.0)
            for worker in workers:
                worker.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- one side, on its worker thread ------------------------------------------------------------------

    def _work(self, side: str, request: SolveRequest, stop: threading.Event,
              events: queue.SimpleQueue[tuple[str, SolveEvent]], pacer: Lockstep | None = None) -> None:
        def emit(event: SolveEvent) -> None:
            events.put((side, event))

        try:
            result = self._run(request, stop, emit, pacer)
        except BaseException as exc:  # handed to the consumer, which raises or shows it
            emit(Failed(exc))  # first: nothing below may keep the consumer waiting
            if not isinstance(exc, SolveError):
                log.exception("solve run on side %s failed", side)
            return
        emit(Finished(result))

    def _run(self, request: SolveRequest, stop: threading.Event, emit: Callable[[SolveEvent], None],
             pacer: Lockstep | None = None) -> SolveResult:
        version = request.version
        if not version.model_ref:
            raise ModelLoadError(None, version_sha=version.sha)
        prompt = request.prompt
        key = runlog.cache_key(version_sha=version.sha, model_ref=version.model_ref, prompt=prompt,
                               settings=request.settings, backend=request.backend_name)
        if not request.fresh:
            cached = runlog.serve_cached(self._db, key)
            if cached is not None:
                emit(Progress("cached", "answered from the solve log"))
                emit(Chunk(cached.output))
                return self._regraded(cached, request)

        def forward(event: GenerationEvent) -> None:
            if isinstance(event, TextDelta):
                emit(Chunk(event.text, event.sample))
            elif isinstance(event, Phase):
                emit(Progress(event.name, event.detail))
            else:  # LiveFigures, GpuReading
                emit(event)

        job = GenerationJob(messages=tuple(chat_messages(prompt)), settings=request.settings, pacer=pacer)
        try:
            outcome = self._backend(request.backend_name).generate(version.model_ref, job, forward, stop)
        except ModelLoadError as exc:
            raise exc.for_version(version.sha) from exc.__cause__
        emit(Progress("grading"))
        result = self._graded_result(request, key, outcome)
        return runlog.save_run(self._db, result)

    def _backend(self, name: str) -> Backend:
        if name == OPENAI_BACKEND:
            return self._openai
        with self._backend_lock:
            if self._local is None:
                from vibedash.solve.local import (
                    LocalBackend,  # torch and transformers: only on this path
                )

                self._local = LocalBackend(self._device, self._model_cache_bytes)
            return self._local

    # -- grading -----------------------------------------------------------------------------------------

    def _graded_result(self, request: SolveRequest, key: str, outcome: GenerationOutcome) -> SolveResult:
        texts = outcome.texts
        agreement: float | None = None
        sample_answers: tuple[str | None, ...] = ()
        if len(texts) == 1:
            grade = self._grader.grade(request.kind, texts[0], expected=request.expected, tests=request.tests)
        elif request.kind == "math":
            sample_answers = tuple(extract_math_answer(text) for text in texts)
            vote = majority_vote(sample_answers)
            agreement = vote.agreement
            if vote.answer is None:
                grade = Grade(False if request.expected else None, None, vote.describe())
            else:
                graded = self._grader.grade_math_answer(vote.answer, request.expected)
                grade = Grade(graded.correct, vote.answer, f"{vote.describe()}; {graded.detail}")
        else:
            grade, agreement = self._code_vote(request, texts)
        return SolveResult(
            cache_key=key, version_id=request.version.id, version_sha=request.version.sha,
            model_ref=request.version.model_ref or "", kind=request.kind, prompt=request.prompt,
            problem_id=request.problem_id, expected=request.expected, settings=request.settings,
            backend=request.backend_name, device=outcome.device, output=runlog.join_samples(texts),
            answer=grade.answer, correct=grade.correct, grade_detail=grade.detail, agreement=agreement,
            stopped=outcome.stopped, time_to_first_token_s=outcome.time_to_first_token_s,
            elapsed_s=outcome.elapsed_s, tokens=outcome.total_tokens, tokens_per_second=outcome.tokens_per_second,
            sample_outputs=tuple(texts), sample_answers=sample_answers, notes=tuple(outcome.notes),
            load_s=outcome.load_s, time_to_first_answer_s=outcome.time_to_first_answer_s, total_s=outcome.total_s,
            thinking_tokens=sum(outcome.thinking_tokens) if outcome.thinking_tokens else None,
            answer_tokens=sum(outcome.answer_tokens) if outcome.answer_tokens else None,
            decode_tokens_per_second=outcome.decode_tokens_per_second, samples_cut=outcome.samples_cut,
            samples_forced=outcome.samples_forced, energy_j=outcome.energy_j,
            gpu_utilisation_pct=outcome.gpu_utilisation_pct, gpu_memory_mb=outcome.gpu_memory_mb,
            gpu_power_w=outcome.gpu_power_w)

    def _regraded(self, cached: SolveResult, request: SolveRequest) -> SolveResult:
        """A cached run graded for this request: the cache key covers what was generated, not what it is
        graded against, so a new reference answer (or another problem with the same text) is graded anew."""
        if (cached.expected, cached.problem_id) == (request.expected, request.problem_id):
            return cached
        if request.kind == "math" and cached.mode == "vote":
            grade = (self._grader.grade_math_answer(cached.answer, request.expected) if cached.answer is not None
                     else Grade(False if request.expected else None, None, "no answer in any sample"))
        elif cached.mode == "vote":
            grade = Grade(None, cached.answer, "this vote was graded against other tests: run it fresh to grade it")
        else:
            grade = self._grader.grade(request.kind, cached.output, expected=request.expected, tests=request.tests)
        return replace(cached, expected=request.expected, problem_id=request.problem_id, answer=grade.answer,
                       correct=grade.correct, grade_detail=grade.detail)

    def _code_vote(self, request: SolveRequest, texts: list[str]) -> tuple[Grade, float | None]:
        """Programs cannot be compared as text, so k code samples vote by verdict: each is run against the
        tests, and the majority verdict (pass or fail) is the answer."""
        grades = [self._grader.grade_code(text, request.tests) for text in texts]
        if not request.tests:
            return Grade(None, grades[0].answer, "no tests to run the programs against"), None
        passing = [grade for grade in grades if grade.correct]
        majority_passes = len(passing) * 2 > len(grades)
        agreeing = len(passing) if majority_passes else len(grades) - len(passing)
        program = (passing[0] if majority_passes else grades[0]).answer
        detail = f"{len(passing)} of {len(grades)} samples pass the tests"
        return Grade(majority_passes, program, detail), agreeing / len(grades)
