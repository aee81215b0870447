"""The eval runner: a problem set put to one version k times per problem on the version's own backend, every
sample graded with the solve panel's graders and recorded as it finishes, the whole run recorded as a
benchmark result with its protocol.

- Local checkpoints: batched ``generate`` (a problem's missing samples are one batch), ``concurrency`` problems
  at a time (default 1: the batch already fills the device).
- ``openai:`` versions (vLLM, SGLang, any OpenAI-compatible server): one request per sample, ``concurrency``
  requests in flight (default 16), so a multi-GPU server is kept busy.
- Resumable: samples are written as each batch or request finishes (those finishing while other requests stream
  go in together, at most ``SAVE_EVERY_S`` apart); a rerun with the same protocol (same
  version, problem set, k, sampling, token cap, budget, backend) skips every recorded sample. Each problem's
  samples are seeded from (seed, problem id, sample index), so a resumed run draws what the first would have.
- Cancellable: ``cancel`` (Ctrl-C in the CLI, Cancel on the page through the registry) stops generation within
  a token; the samples recorded so far stay for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import Engine

from vibedash.eval.energy import EnergyMeter
from vibedash.eval.problem_sets import ProblemSet
from vibedash.eval.progress import Progress, format_duration  # noqa: F401  (also named from here)
from vibedash.eval.sample_measures import (
    DeltaCounter,
    sample_seed,
    sample_times,
    thinking_tokens,
)
from vibedash.importers.base import SampleOutcome
from vibedash.registry import eval_runs
from vibedash.solve.answers import extract_math_answer
from vibedash.solve.generation import Backend, GenerationJob, GenerationOutcome
from vibedash.solve.grading import Grader
from vibedash.solve.openai_compat import is_openai_ref
from vibedash.solve.problems import Problem
from vibedash.solve.prompts import (
    MAX_SAMPLES,
    SamplingSettings,
    build_prompt,
    chat_messages,
)
from vibedash.solve.versions import VersionRef

GRADER_NAME = "vibedash: last \\boxed{} after </think>, math-verify equivalence; code: sandboxed stdin/stdout tests"
PROMPT_NAME = "VibeThinker: question + \\boxed{} instruction, one user turn, no system message"
DEFAULT_LOCAL_CONCURRENCY = 1
DEFAULT_OPENAI_CONCURRENCY = 16
SAVE_EVERY_S = 1.0  # finished samples are recorded at least this often...
SAVE_EVERY_SAMPLES = 256  # ...and as soon as this many wait


class EvalError(RuntimeError):
    """The evaluation cannot run; the message says what to fix."""


@dataclass(frozen=True)
class EvalSpec:
    version: VersionRef
    problem_set: ProblemSet
    benchmark: str
    k: int = 8
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    thinking_budget: int | None = None
    concurrency: int | None = None
    keep_outputs: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 1024:
            raise EvalError(f"k {self.k} is out of range: use 1 to 1024 samples per problem")
        if self.thinking_budget is not None and self.thinking_budget < 1:
            raise EvalError(f"thinking budget {self.thinking_budget} must be at least 1 token")
        if self.concurrency is not None and not 1 <= self.concurrency <= 1024:
            raise EvalError(f"concurrency {self.concurrency} is out of range: use 1 to 1024")

    @property
    def backend_name(self) -> str:
        return "openai" if is_openai_ref(self.version.model_ref) else "transformers"

    @property
    def metric(self) -> str:
        return "pass@1" if self.thinking_budget is None else f"pass@1:budget={self.thinking_budget}"

    @property
    def workers(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        return DEFAULT_OPENAI_CONCURRENCY if self.backend_name == "openai" else DEFAULT_LOCAL_CONCURRENCY

    def protocol(self) -> dict[str, Any]:
        """Everything that decides the samples: recorded with the result and hashed into the resume key."""
        s = self.sampling
        return {"k": self.k, "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                "max_new_tokens": s.max_new_tokens, "thinking_budget": self.thinking_budget, "seed": s.seed,
                "backend": self.backend_name, "model": self.version.model_ref, "grader": GRADER_NAME,
                "prompt": PROMPT_NAME, "problem_set": self.problem_set.name,
                "problem_set_sha256": self.problem_set.digest, "problems": len(self.problem_set.problems)}

    def protocol_key(self) -> str:
        text = json.dumps({**self.protocol(), "benchmark": self.benchmark}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class EvalOutcome:
    run: eval_runs.RunView
    status: str  # finished, cancelled, already (an identical evaluation was finished before)
    resumed: int = 0  # samples taken from an earlier, interrupted run
    generated: int = 0  # samples generated now


def with_budget(settings: SamplingSettings, budget: int | None) -> SamplingSettings:
    """Sampling settings carrying the thinking budget, for backends that force it (the solve panel's
    ``thinking_budget`` setting). A budget for a build of the solve panel without one is refused clearly."""
    if budget is None:
        return settings
    if "thinking_budget" not in {f.name for f in fields(settings)}:
        raise EvalError("this vibedash's backends cannot force a thinking budget yet (SamplingSettings has no "
                        "thinking_budget): run without --thinking-budget")
    return replace(settings, thinking_budget=budget)


# -- the runner --------------------------------------------------------------------------------------------

@dataclass
class _Work:
    problem: Problem
    indices: list[int]


class EvalRunner:
    """Runs evaluations into the registry. ``backend`` is the version's backend (local or OpenAI-compatible);
    ``grader`` the solve panel's. Not thread-safe: one run at a time per runner."""

    def __init__(self, db: Engine, backend: Backend, grader: Grader, *, actor: str | None = None,
                 tokenizer_for: Callable[[str], Any] | None = None, poll_s: float = 1.0) -> None:
        self._db = db
        self._backend = backend
        self._grader = grader
        self._actor = actor
        self._tokenizer_for = tokenizer_for
        self._poll_s = poll_s

    def run(self, spec: EvalSpec, *, on_progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None, primary: bool = True, fresh: bool = False) -> EvalOutcome:
        cancel = cancel or threading.Event()
        model_ref = spec.version.model_ref
        if not model_ref:
            raise EvalError(f"version {spec.version.short} has no model to run: record it with "
                            f"`python -m vibedash record --commit {spec.version.sha} --model PATH_OR_HUB_ID`")
        sampling = with_budget(spec.sampling, spec.thinking_budget)
        problems = spec.problem_set.problems
        total = len(problems) * spec.k
        run_id, done, finished = eval_runs.start_or_resume(
            self._db, version_id=spec.version.id, benchmark=spec.benchmark, metric=spec.metric,
            protocol_key=spec.protocol_key(), protocol=spec.protocol(), problems_file=spec.problem_set.source,
            problems=len(problems), samples_total=total, actor=self._actor, fresh=fresh)
        if finished is not None:
            return EvalOutcome(run=finished, status="already")
        resumed = len(done)
        work = [_Work(p, [i for i in range(spec.k) if (p.id, i) not in done]) for p in problems]
        work = [w for w in work if w.indices]
        if spec.backend_name == "openai":  # one request per sample
            work = [_Work(w.problem, [i]) for w in work for i in w.indices]
        else:  # batches of at most MAX_SAMPLES rows
            work = [_Work(w.problem, w.indices[start:start + MAX_SAMPLES]) for w in work
                    for start in range(0, len(w.indices), MAX_SAMPLES)]
        run = eval_runs.run_view(self._db, run_id)
        previous_elapsed = run.elapsed_s
        state = _State(done=resumed, correct=run.samples_correct, total=total, resumed=resumed,
                       energy_before=run.energy_joules)  # a resumed run adds this session's energy
        meter = EnergyMeter.start()
        started = time.monotonic()
        watcher = threading.Thread(target=self._watch_cancel, args=(run_id, cancel, state), daemon=True)
        watcher.start()
        try:
            self._generate_all(spec, sampling, model_ref, work, run_id, cancel, state, started, previous_elapsed,
                               meter, on_progress)
        except BaseException as exc:
            state.finished = True
            status = eval_runs.CANCELLED if isinstance(exc, KeyboardInterrupt) else eval_runs.FAILED
            eval_runs.end_run(self._db, run_id, status, None if status == eval_runs.CANCELLED else
                              f"{type(exc).__name__}: {exc}"[:500])
            raise
        finally:
            state.finished = True
        if cancel.is_set() and state.done < total:
            eval_runs.end_run(self._db, run_id, eval_runs.CANCELLED)
            return EvalOutcome(run=eval_runs.run_view(self._db, run_id), status="cancelled", resumed=resumed,
                               generated=state.done - resumed)
        settings = {"protocol": spec.protocol(), "problem_set": spec.problem_set.source,
                    "thinking_budget": spec.thinking_budget, "backend": spec.backend_name, "eval_run": run_id,
                    "device": state.device}
        view = eval_runs.finalize(self._db, run_id, settings=settings, temperature=sampling.temperature,
                                  top_p=sampling.top_p, max_tokens=sampling.max_new_tokens, k=spec.k,
                                  source_file=spec.problem_set.name, primary=primary)
        return EvalOutcome(run=view, status="finished", resumed=resumed, generated=state.done - resumed)

    # -- internals -----------------------------------------------------------------------------------------

    def _watch_cancel(self, run_id: int, cancel: threading.Event, state: _State) -> None:
        """Polls the registry for a Cancel pressed on a page, so generation stops within a token."""
        while not state.finished and not cancel.is_set():
            time.sleep(self._poll_s)
            try:
                if not state.finished and eval_runs.cancel_requested(self._db, run_id):
                    cancel.set()
            except Exception:  # a busy database now and then: try again next poll
                continue

    def _generate_all(self, spec: EvalSpec, sampling: SamplingSettings, model_ref: str, work: Sequence[_Work],
                      run_id: int, cancel: threading.Event, state: _State, started: float, previous_elapsed: float,
                      meter: EnergyMeter, on_progress: Callable[[Progress], None] | None) -> None:
        pending: set[Future] = set()
        queue = list(work)
        with ThreadPoolExecutor(max_workers=spec.workers, thread_name_prefix="vibedash-eval") as pool:
            try:
                self._drive(spec, sampling, model_ref, queue, pending, pool, run_id, cancel, state, started,
                            previous_elapsed, meter, on_progress)
            except BaseException:
                cancel.set()  # Ctrl-C or a failure: the batches in flight stop within a token
                for future in pending:
                    future.cancel()
                raise

    def _drive(self, spec: EvalSpec, sampling: SamplingSettings, model_ref: str, queue: list[_Work],
               pending: set[Future], pool: ThreadPoolExecutor, run_id: int, cancel: threading.Event, state: _State,
               started: float, previous_elapsed: float, meter: EnergyMeter,
               on_progress: Callable[[Progress], None] | None) -> None:
        unsaved: list[SampleOutcome] = []
        last_saved = time.monotonic()

        def save() -> None:
            # While other requests stream, finished samples go in together, at most SAVE_EVERY_S apart: a
            # transaction per finished request would cost the streams more than it keeps (a resume repeats at
            # most that second's samples).
            nonlocal unsaved, last_saved
            batch, unsaved, last_saved = unsaved, [], time.monotonic()
            if not batch:
                return
            session_elapsed = time.monotonic() - started
            asked = eval_runs.record_samples(
                self._db, run_id, batch, elapsed_s=previous_elapsed + session_elapsed,
                keep_outputs=spec.keep_outputs,
                energy_joules=meter.joules(previous=state.energy_before) if meter.available else None)
            state.done += len(batch)
            state.correct += sum(1 for s in batch if s.correct)
            if asked:
                cancel.set()
            if on_progress is not None:
                on_progress(state.progress(session_elapsed))

        try:
            while (queue or pending) and not cancel.is_set():
                while queue and len(pending) < spec.workers and not cancel.is_set():
                    item = queue.pop(0)
                    pending.add(pool.submit(self._one, item, sampling, model_ref, cancel))
                finished, _ = wait(pending, timeout=SAVE_EVERY_S, return_when=FIRST_COMPLETED)
                pending -= finished
                for future in finished:
                    samples, device = future.result()
                    state.device = state.device or device
                    # A batch cut short by a cancel is generated again on resume (same seed, same draws).
                    unsaved += [s for s in samples if s.finish_reason != "cancelled"]
                # Nothing else generating (one batch at a time): save each batch as it ends.
                if (not pending or len(unsaved) >= SAVE_EVERY_SAMPLES
                        or time.monotonic() - last_saved >= SAVE_EVERY_S):
                    save()
            save()
        except BaseException:
            with contextlib.suppress(Exception):
                save()  # what finished before a failure or Ctrl-C is kept for the resume
            raise
        if cancel.is_set():
            for future in pending:
                future.cancel()
            # Batches already generating end within a token; what they finished is recorded.
            for future in pending:
                if future.cancelled():
                    continue
                samples, _ = future.result()
                unsaved += [s for s in samples if s.finish_reason != "cancelled"]
            save()

    def _one(self, item: _Work, sampling: SamplingSettings, model_ref: str,
             cancel: threading.Event) -> tuple[list[SampleOutcome], str]:
        problem, indices = item.problem, item.indices
        settings = replace(sampling, samples=len(indices), seed=sample_seed(sampling.seed, problem.id, indices[0]))
        job = GenerationJob(messages=tuple(chat_messages(build_prompt(problem.kind, problem.prompt))),
                            settings=settings)
        counter = DeltaCounter(len(indices))
        outcome = self._backend.generate(model_ref, job, counter, cancel)
        tokenizer = self._tokenizer_for(model_ref) if self._tokenizer_for is not None else None
        return [self._sample(problem, index, row, outcome, settings, counter, tokenizer)
                for row, index in enumerate(indices)], outcome.device

    def _sample(self, problem: Problem, index: int, row: int, outcome: GenerationOutcome,
                settings: SamplingSettings, counter: DeltaCounter, tokenizer: Any) -> SampleOutcome:
        text = outcome.texts[row] if row < len(outcome.texts) else ""
        tokens = outcome.tokens[row] if row < len(outcome.tokens) else None
        if tokens is None and len(outcome.tokens) == 1 and len(outcome.texts) == 1:
            tokens = outcome.tokens[0]
        cap = getattr(settings, "generation_cap", settings.max_new_tokens)  # lowered by a thinking budget
        answer_cap = getattr(settings, "answer_cap", None)
        answered = getattr(outcome, "answer_tokens", None)
        answer_tokens = answered[row] if isinstance(answered, list) and row < len(answered) else None
        if tokens is not None and (tokens >= cap or (answer_cap and answer_tokens is not None
                                                      and answer_tokens >= answer_cap)):
            finish = "length"
        elif outcome.stopped:
            finish = "cancelled"
        else:
            finish = "stop"
        backend_thinking = getattr(outcome, "thinking_tokens", None)
        counted = (backend_thinking[row] if isinstance(backend_thinking, list) and row < len(backend_thinking)
                   else None if tokenizer is not None else counter.thinking[row])
        grade = self._grader.grade(problem.kind, text, expected=problem.answer, tests=problem.tests)
        # Math answers are what a majority vote counts; programs are not voted on.
        answer = (grade.answer or extract_math_answer(text)) if problem.kind == "math" else None
        first_token_s, first_answer_s, last_token_s = sample_times(outcome, row)
        return SampleOutcome(problem_id=problem.id, sample_index=index, correct=grade.correct, answer=answer,
                             output_tokens=tokens,
                             thinking_tokens=None if tokens is None else thinking_tokens(
                                 text, tokens, tokenizer=tokenizer, counted=counted),
                             latency_s=last_token_s if last_token_s is not None else round(outcome.elapsed_s, 6),
                             finish_reason=finish, output=text, first_token_s=first_token_s,
                             first_answer_s=first_answer_s)


@dataclass
class _State:
    done: int
    correct: int
    total: int
    resumed: int
    device: str | None = None
    finished: bool = False
    energy_before: float | None = None

    def progress(self, session_elapsed: float) -> Progress:
        made = self.done - self.resumed
        rate = made / session_elapsed if session_elapsed > 0 and made else None
        eta = (self.total - self.done) / rate if rate else None
        return Progress(done=self.done, total=self.total, correct=self.correct, elapsed_s=session_elapsed,
                        rate=rate, eta_s=eta, resumed=self.resumed)
