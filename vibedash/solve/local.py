"""The local backend: a version's checkpoint loaded with transformers + torch, streamed token by token.

Imported lazily (only when a local model is asked for), so other pages never pay for torch.

How a run works:
- the model comes from a :class:`ModelCache` (memory budget, least recently used evicted);
- the prompt goes through the tokenizer's chat template; k samples are k copies of it in one batch;
- sampling is done by :class:`SeededSampler`, which draws from the request's own ``torch.Generator``
  (temperature, top-k, top-p as Hugging Face applies them) and hands ``generate`` a one-hot choice. Two
  versions generating at once on two threads would otherwise share torch's global random state, and a
  seeded request would not be reproducible;
- :class:`StopOnEvent` ends generation within one token of the Stop button;
- :class:`SampleStreamer` turns token ids into text deltas per sample and times the first token.

The GPU fast path (static KV cache + ``torch.compile``, CUDA graphs) runs every generation of a model on one
long-lived thread (:class:`ModelWorker`): captured CUDA graphs belong to the thread that captured them, and
replaying them from another thread fails or corrupts output (pytorch/pytorch#123177). CPU runs eagerly, on
the caller's thread, so two versions can generate at the same time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    CompileConfig,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from vibedash.solve.errors import GenerationError, ModelLoadError, SolveConfigError
from vibedash.solve.generation import (
    Emit,
    GenerationJob,
    GenerationOutcome,
    LiveFigures,
    Phase,
    TextDelta,
    since,
)
from vibedash.solve.gpu_monitor import open_monitor
from vibedash.solve.model_cache import ModelCache
from vibedash.solve.pacing import Seat
from vibedash.solve.prompts import BUDGET_FORCED_TEXT, SamplingSettings
from vibedash.solve.thinking import ThinkingTracker

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "cpu")
T = TypeVar("T")
# transformers' from_pretrained is not thread-safe: it skips weight initialisation through process-wide
# switches, and two loads on two threads left a tied lm_head uninitialised (NaN logits). Loads are
# serialised; generation is not.
_FROM_PRETRAINED_LOCK = threading.Lock()


# -- device ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cpu" or "cuda:0"
    dtype: torch.dtype
    fast_path: bool  # static KV cache, every generation of a model on its own long-lived thread
    compile: bool  # torch.compile the forward (with the fast path; CUDA by default)

    @property
    def label(self) -> str:
        mode = " compiled" if self.compile else " static cache" if self.fast_path else ""
        return f"{self.device} {str(self.dtype).removeprefix('torch.')}{mode}"


def choose_device(setting: str = "auto") -> DevicePlan:
    """CUDA with bf16 (fp16 where bf16 is missing) when present, else CPU in float32."""
    setting = (setting or "auto").strip().lower()
    if setting not in DEVICE_CHOICES:
        raise SolveConfigError(f"VIBEDASH_SOLVE_DEVICE={setting!r} is not one of {', '.join(DEVICE_CHOICES)}")
    has_cuda = torch.cuda.is_available()
    if setting == "cuda" and not has_cuda:
        raise SolveConfigError("VIBEDASH_SOLVE_DEVICE is cuda but torch sees no CUDA device (CPU-only torch build "
                               "or no driver): install a CUDA build of torch or set it to auto or cpu")
    if setting == "cpu" or not has_cuda:
        return DevicePlan("cpu", torch.float32, fast_path=False, compile=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DevicePlan("cuda:0", dtype, fast_path=True, compile=True)


# -- loaded models -----------------------------------------------------------------------------------------

class ModelWorker:
    """One long-lived thread that runs every job for one model, in order. Jobs queued before :meth:`close`
    still run; :meth:`run` after it raises GenerationError."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"vibedash-model-{name}", daemon=True)
        self._thread.start()

    def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the worker thread and wait for it; its exception is raised here."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise GenerationError("the model was unloaded to make room for another one: run it again")
            self._jobs.put((future, job))
        return future.result()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.put(None)

    def _loop(self) -> None:
        while (item := self._jobs.get()) is not None:
            future, job = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # handed to the waiting caller
                    future.set_exception(exc)


@dataclass
class LoadedModel:
    model_ref: str
    model: PreTrainedModel
    tokenizer: Any
    plan: DevicePlan
    nbytes: int
    eos_token_ids: frozenset[int]
    pad_token_id: int
    worker: ModelWorker | None = None  # the fast path's dedicated thread

    def close(self) -> None:
        """Called on eviction. Generations already running keep their reference to the model; its memory is
        freed when the last of them ends."""
        if self.worker is not None:
            self.worker.close()
        if self.plan.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _looks_like_path(model_ref: str) -> bool:
    return model_ref.startswith(("/", "./", "../", "~")) or Path(model_ref).expanduser().exists()


def load_model(model_ref: str, plan: DevicePlan) -> LoadedModel:
    """Load tokenizer and model from a local folder or the Hugging Face cache / hub."""
    if _looks_like_path(model_ref) and not Path(model_ref).expanduser().is_dir():
        raise ModelLoadError(model_ref, "no such folder")
    source = str(Path(model_ref).expanduser()) if _looks_like_path(model_ref) else model_ref
    try:
        with _FROM_PRETRAINED_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=plan.dtype, device_map=plan.device if plan.device != "cpu" else None)
    except OSError as exc:  # not found locally, not in the cache, hub unreachable or offline
        raise ModelLoadError(model_ref, _first_line(exc)) from exc
    except Exception as exc:  # a checkpoint that exists but is broken (config, weights, architecture)
        raise ModelLoadError(model_ref, f"{type(exc).__name__}: {_first_line(exc)}", missing=False) from exc
    model.eval()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=0)
    nbytes = model.get_memory_footprint()
    log.info("loaded %s on %s (%.2f GiB)", model_ref, plan.label, nbytes / 1024**3)
    return LoadedModel(model_ref=model_ref, model=model, tokenizer=tokenizer, plan=plan, nbytes=nbytes,
                       eos_token_ids=frozenset(eos_ids), pad_token_id=int(pad),
                       worker=ModelWorker(Path(model_ref).name or model_ref) if plan.fast_path else None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


# -- generation pieces -------------------------------------------------------------------------------------

class SeededSampler(LogitsProcessor):
    """Samples the next token with the request's own generator and returns a one-hot score row, so that
    ``generate`` (in greedy mode) takes exactly that token."""

    def __init__(self, settings: SamplingSettings, device: str) -> None:
        self.generator = torch.Generator(device=device).manual_seed(settings.seed)
        self.warpers: list[LogitsProcessor] = [TemperatureLogitsWarper(settings.temperature)]
        if settings.top_k:
            self.warpers.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(settings.top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probabilities = torch.softmax(scores.float(), dim=-1)
        chosen = torch.multinomial(probabilities, num_samples=1, generator=self.generator)
        one_hot = torch.full_like(scores, float("-inf"))
        return one_hot.scatter_(1, chosen, 0.0)


class StopOnEvent(StoppingCriteria):
    """Stops every sample once ``event`` is set. Runs every step, so it answers with one of two tensors made
    once (transformers combines criteria out of place and never writes to them)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self._answers: dict[bool, torch.BoolTensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        stop = self.event.is_set()
        answer = self._answers.get(stop)
        if answer is None or answer.shape[0] != input_ids.shape[0]:
            answer = torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
            self._answers[stop] = answer
        return answer


class SampleStreamer(BaseStreamer):
    """Text deltas per sample (batch row) as tokens arrive; each sample's thinking and answer tracked by a
    :class:`ThinkingTracker`, live figures sent a few times a second.

    Detokenization is incremental (as in vLLM and text-generation-inference): each new token is decoded
    together with the few tokens before it, and only the text it adds is kept. A step then costs the same at
    token 40,000 as at token 1, and tokenizers that drop a leading space at the start of a decode keep their
    spaces. Text ending in half a character (U+FFFD) waits for the next token.

    Deltas reach ``emit`` at most every ``emit_interval_s`` per sample, and at the end: waking the consumer
    thread for every token costs more than the token itself on a small model, and no one reads faster."""

    _MAX_UNDECODED = 64  # give up waiting for a character to complete after this many tokens
    FIGURES_EVERY_S = 0.25

    def __init__(self, tokenizer: Any, samples: int, eos_token_ids: frozenset[int], emit: Emit,
                 emit_interval_s: float = 0.02, *, requested_at: float | None = None,
                 load_s: float | None = None, seat: Seat | None = None) -> None:
        self._tokenizer = tokenizer
        self._eos = eos_token_ids
        self._emit = emit
        self._interval = emit_interval_s
        self._prompt_skipped = False
        self._ids: list[list[int]] = [[] for _ in range(samples)]
        self._prefix_offset = [0] * samples  # start of the context decoded with new tokens
        self._read_offset = [0] * samples  # tokens before this are already turned into text
        self._pending: list[list[str]] = [[] for _ in range(samples)]
        self._emitted_at = [float("-inf")] * samples  # the first text goes out at once
        self.finished = [False] * samples  # ended: end-of-sequence, or the answer cap (see AnswerCap)
        self.ended_on_its_own = [False] * samples  # ended by end-of-sequence
        self.trackers = [ThinkingTracker() for _ in range(samples)]
        self.requested_at = requested_at if requested_at is not None else time.monotonic()
        self.load_s = load_s
        self.seat = seat
        self.own_time_at_first_token: float | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self._figures_at = float("-inf")

    @property
    def tokens(self) -> list[int]:
        return [tracker.tokens for tracker in self.trackers]

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate first puts the prompt ids
            self._prompt_skipped = True
            return
        now = time.monotonic()
        if self.first_token_at is None:
            self.first_token_at = now
            self.own_time_at_first_token = self.seat.own_time_now() if self.seat is not None else None
        self.last_token_at = now
        for row, token in enumerate(value.reshape(len(self.trackers), -1)[:, -1].tolist()):
            if self.finished[row]:
                continue  # padding after this sample ended
            tracker = self.trackers[row]
            if token in self._eos:
                tracker.observe("", now)
                self.finished[row] = self.ended_on_its_own[row] = True
                self._decode_new(row, final=True)
                self._send(row, now)
                continue
            self._ids[row].append(token)
            tracker.observe(self._decode_new(row, final=False), now)
            if now - self._emitted_at[row] >= self._interval:
                self._send(row, now)
        if now - self._figures_at >= self.FIGURES_EVERY_S:
            self._figures_at = now
            self._emit(self.figures(now))

    def end(self) -> None:
        now = time.monotonic()
        for row in range(len(self.trackers)):
            self._decode_new(row, final=True)
            self._send(row, now)
        self._emit(self.figures(now))

    def own_decode_s(self, now: float | None = None) -> float | None:
        """Generation time after the first token that was this run's own (turns held, with a Lockstep)."""
        if self.first_token_at is None:
            return None
        if self.seat is not None and self.own_time_at_first_token is not None:
            return self.seat.own_time_now() - self.own_time_at_first_token
        return (now or self.last_token_at or self.first_token_at) - self.first_token_at

    def figures(self, now: float) -> LiveFigures:
        decoded = sum(max(0, t.tokens - 1) for t in self.trackers)
        own = self.own_decode_s(now)
        answers = [t.first_answer_at for t in self.trackers if t.first_answer_at is not None]
        return LiveFigures(
            elapsed_s=now - self.requested_at, load_s=self.load_s,
            time_to_first_token_s=self.first_token_at - self.requested_at if self.first_token_at else None,
            time_to_first_answer_s=min(answers) - self.requested_at if answers else None,
            thinking_tokens=sum(t.thinking_tokens for t in self.trackers),
            answer_tokens=sum(t.answer_tokens for t in self.trackers),
            decode_tokens_per_second=decoded / own if own and decoded else None,
            answering=self.trackers[0].closed)

    def _decode_new(self, row: int, final: bool) -> str:
        """Decode what the row's new tokens add; returns the text added now ("" while a character waits)."""
        ids, prefix, read = self._ids[row], self._prefix_offset[row], self._read_offset[row]
        if read >= len(ids):
            return ""
        prefix_text = self._tokenizer.decode(ids[prefix:read], skip_special_tokens=True)
        new_text = self._tokenizer.decode(ids[prefix:], skip_special_tokens=True)
        complete = not new_text.endswith("\ufffd") or len(ids) - read >= self._MAX_UNDECODED
        added = ""
        if final or (complete and len(new_text) > len(prefix_text)):
            if len(new_text) > len(prefix_text):
                added = new_text[len(prefix_text):]
                self._pending[row].append(added)
            self._prefix_offset[row], self._read_offset[row] = read, len(ids)
        return added

    def _send(self, row: int, now: float) -> None:
        if self._pending[row]:
            self._emit(TextDelta(sample=row, text="".join(self._pending[row])))
            self._pending[row].clear()
            self._emitted_at[row] = now


class BudgetForcer(LogitsProcessor):
    """Budget forcing: a sample that has thought ``budget`` tokens without closing its thinking is given the
    forced text (end-of-thinking marker and answer cue), one token per step, whatever it would have chosen.
    Runs after sampling (it overrides the sampler's one-hot choice), per batch row, so k samples are forced
    each at its own moment."""

    def __init__(self, streamer: SampleStreamer, budget: int, forced_ids: Sequence[int]) -> None:
        self.streamer = streamer
        self.budget = budget
        self.forced_ids = list(forced_ids)
        self._queues: list[list[int]] = [[] for _ in streamer.trackers]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, tracker in enumerate(self.streamer.trackers):
            if self.streamer.finished[row]:
                continue
            queue_ = self._queues[row]
            if not tracker.closed and not tracker.forced and tracker.thinking_tokens >= self.budget:
                tracker.forced, tracker.forced_at = True, tracker.tokens
                queue_.extend(self.forced_ids)
            if queue_:
                scores[row].fill_(float("-inf"))
                scores[row, queue_.pop(0)] = 0.0
                if not queue_:
                    tracker.forced_text_end = tracker.tokens + 1  # once this last forced token is counted
        return scores


class AnswerCap(StoppingCriteria):
    """Ends a sample once its answer (after the thinking closed, and after a forced cue) reaches ``cap``."""

    def __init__(self, streamer: SampleStreamer, cap: int) -> None:
        self.streamer = streamer
        self.cap = cap

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = []
        for row, tracker in enumerate(self.streamer.trackers):
            reached = (not self.streamer.finished[row] and tracker.closed
                       and (not tracker.forced or tracker.forced_text_end is not None)
                       and tracker.answer_tokens_after_close() >= self.cap)
            if reached:
                tracker.cut = True
                self.streamer.finished[row] = True
            done.append(self.streamer.finished[row] and not self.streamer.ended_on_its_own[row])
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TakeTurns(StoppingCriteria):
    """With a Lockstep: after each decode step, hand the turn to the other side and wait for the next one.
    Never stops anything."""

    def __init__(self, seat: Seat) -> None:
        self.seat = seat
        self._answer: torch.BoolTensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        self.seat.step()
        if self._answer is None or self._answer.shape[0] != input_ids.shape[0]:
            self._answer = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return self._answer


# -- the backend -------------------------------------------------------------------------------------------

class LocalBackend:
    """Generates with transformers on this machine. Thread-safe: concurrent requests for different models
    run concurrently (eager); requests for one fast-path model queue on its worker thread."""

    name = "transformers"

    def __init__(self, device: str = "auto", cache_budget_bytes: int = 24 * 1024**3, *,
                 fast_path: bool | None = None, compile: bool | None = None,
                 compile_backend: str = "inductor", emit_interval_s: float = 0.02) -> None:
        """``fast_path`` and ``compile`` default to the device's choice (on for CUDA, off for CPU); tests and
        benchmarks may force them, e.g. the static cache path on CPU without compiling."""
        plan = choose_device(device)
        fast = plan.fast_path if fast_path is None else fast_path
        compiled = (plan.compile if compile is None else compile) and fast
        self.plan = DevicePlan(plan.device, plan.dtype, fast_path=fast, compile=compiled)
        self.compile_backend = compile_backend
        self.emit_interval_s = emit_interval_s
        self.models: ModelCache[LoadedModel] = ModelCache(cache_budget_bytes, lambda ref: load_model(ref, self.plan))

    def generate(self, model_ref: str, job: GenerationJob, emit: Emit, stop: threading.Event) -> GenerationOutcome:
        requested_at = time.monotonic()
        emit(Phase("loading", model_ref))
        loaded = self.models.get(model_ref)
        model_load_s = time.monotonic() - requested_at
        emit(Phase("generating", self.plan.label))

        def run() -> GenerationOutcome:
            return generate_with(loaded, job, emit, stop, compile_backend=self.compile_backend,
                                 emit_interval_s=self.emit_interval_s, requested_at=requested_at)

        outcome = loaded.worker.run(run) if loaded.worker is not None else run()
        outcome.model_load_s = model_load_s
        return outcome

    def close(self) -> None:
        self.models.clear()


def encode_prompt(loaded: LoadedModel, messages: Sequence[dict[str, str]], samples: int) -> dict[str, torch.Tensor]:
    tokenizer = loaded.tokenizer
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)
    else:  # a base model without a chat template: the user turn as plain text
        encoded = tokenizer("\n\n".join(m["content"] for m in messages), return_tensors="pt")
    inputs = {name: encoded[name] for name in ("input_ids", "attention_mask") if name in encoded}
    # k samples: k copies of the prompt in one batch (greedy generate has no num_return_sequences > 1).
    return {name: tensor.repeat(samples, 1).to(loaded.plan.device) for name, tensor in inputs.items()}


def generation_cap(settings: SamplingSettings, forced_tokens: int) -> int:
    """Tokens a sample may take: the total cap, lowered to budget + forced text + answer cap with a budget."""
    if settings.thinking_budget is None:
        return settings.max_new_tokens
    return min(settings.max_new_tokens, settings.thinking_budget + forced_tokens + (settings.answer_cap or 0))


def generation_config(loaded: LoadedModel, job: GenerationJob, compile_backend: str = "inductor",
                      max_new_tokens: int | None = None) -> GenerationConfig:
    settings = job.settings
    options: dict[str, Any] = dict(
        do_sample=False,  # sampling is SeededSampler's job (or greedy when temperature is 0)
        max_new_tokens=max_new_tokens or settings.max_new_tokens,
        eos_token_id=sorted(loaded.eos_token_ids) or None,
        pad_token_id=loaded.pad_token_id,
        # transformers' global defaults (unused without do_sample): left unset, a checkpoint's own sampling
        # defaults (e.g. temperature 0.6, top_k 20) would be merged in and warned about.
        temperature=1.0, top_p=1.0, top_k=50,
    )
    if loaded.plan.fast_path:
        options["cache_implementation"] = "static"
    if loaded.plan.compile:
        # transformers compiles the forward itself when the cache is static. CUDA graphs ("reduce-overhead")
        # are an inductor mode; other backends (e.g. "eager", to exercise this path cheaply on a CPU) take none.
        compile_config = CompileConfig(backend=compile_backend,
                                       mode="reduce-overhead" if compile_backend == "inductor" else None)
        if not loaded.plan.device.startswith("cuda"):
            compile_config._compile_all_devices = True  # transformers' switch for compiling off CUDA (benchmarks)
        options["compile_config"] = compile_config
    else:
        options["disable_compile"] = True
    return GenerationConfig(**options)


def forced_token_ids(tokenizer: Any) -> list[int]:
    """The budget's forced text as token ids (the end-of-thinking marker first, at a token boundary)."""
    return list(tokenizer.encode(BUDGET_FORCED_TEXT, add_special_tokens=False))


def generate_with(loaded: LoadedModel, job: GenerationJob, emit: Emit, stop: threading.Event,
                  compile_backend: str = "inductor", emit_interval_s: float = 0.02,
                  requested_at: float | None = None) -> GenerationOutcome:
    settings = job.settings
    requested_at = requested_at if requested_at is not None else time.monotonic()
    forced_ids = forced_token_ids(loaded.tokenizer) if settings.thinking_budget is not None else []
    cap = generation_cap(settings, len(forced_ids))
    inputs = encode_prompt(loaded, job.messages, settings.samples)
    prompt_length = inputs["input_ids"].shape[1]
    seat = job.pacer.seat() if job.pacer is not None else None
    started = time.monotonic()
    streamer = SampleStreamer(loaded.tokenizer, settings.samples, loaded.eos_token_ids, emit, emit_interval_s,
                              requested_at=requested_at, load_s=started - requested_at, seat=seat)
    processors: list[LogitsProcessor] = [] if settings.greedy else [SeededSampler(settings, loaded.plan.device)]
    if settings.thinking_budget is not None:
        processors.append(BudgetForcer(streamer, settings.thinking_budget, forced_ids))
    criteria: list[StoppingCriteria] = [StopOnEvent(stop)]
    if settings.answer_cap is not None:
        criteria.append(AnswerCap(streamer, settings.answer_cap))
    if seat is not None:
        criteria.append(TakeTurns(seat))
    monitor = open_monitor(loaded.plan.device, on_reading=emit)
    gpu = None
    try:
        if seat is not None:
            seat.acquire()  # the prompt's forward pass takes a turn too
        output = loaded.model.generate(**inputs, generation_config=generation_config(loaded, job, compile_backend,
                                                                                     max_new_tokens=cap),
                                       logits_processor=LogitsProcessorList(processors),
                                       stopping_criteria=StoppingCriteriaList(criteria),
                                       streamer=streamer)
    except torch.cuda.OutOfMemoryError as exc:
        raise GenerationError(f"the GPU ran out of memory generating {settings.samples} sample(s) of up to "
                              f"{cap} tokens: lower k or max new tokens, or set a smaller "
                              "VIBEDASH_MODEL_CACHE_GB so fewer models stay loaded") from exc
    finally:
        if seat is not None:
            seat.leave()
        if monitor is not None:
            gpu = monitor.stop()
    finished_at = time.monotonic()
    elapsed = finished_at - started
    generated = output[:, prompt_length:].tolist()
    texts = []
    for row, ids in enumerate(generated):
        kept = ids[:streamer.tokens[row]]  # drop the padding after the sample ended
        texts.append(loaded.tokenizer.decode(kept, skip_special_tokens=True))
    for row, tracker in enumerate(streamer.trackers):
        if not streamer.finished[row] and tracker.tokens >= cap:
            tracker.cut = True
    samples = [tracker.finish(ended_on_its_own=streamer.ended_on_its_own[row])
               for row, tracker in enumerate(streamer.trackers)]
    first = streamer.first_token_at
    answers = [sample.first_answer_at for sample in samples if sample.first_answer_at is not None]
    # Stopped: the Stop button cut a sample short (not merely pressed after every sample had ended).
    cut_short = any(not done and not sample.cut for done, sample in zip(streamer.finished, samples))
    outcome = GenerationOutcome(
        texts=texts, tokens=[sample.tokens for sample in samples], device=loaded.plan.label,
        time_to_first_token_s=(first - requested_at) if first is not None else None,
        elapsed_s=elapsed, stopped=stop.is_set() and cut_short, load_s=started - requested_at,
        time_to_first_answer_s=(min(answers) - requested_at) if answers else None,
        total_s=(streamer.last_token_at or finished_at) - requested_at,
        thinking_tokens=[sample.thinking_tokens for sample in samples],
        answer_tokens=[sample.answer_tokens for sample in samples],
        samples_cut=sum(sample.cut for sample in samples), samples_forced=sum(sample.forced for sample in samples),
        own_decode_s=streamer.own_decode_s(),
        sample_first_token_s=[since(sample.first_token_at, requested_at) for sample in samples],
        sample_first_answer_s=[since(sample.first_answer_at, requested_at) for sample in samples],
        sample_last_token_s=[since(sample.last_token_at, requested_at) for sample in samples])
    if gpu is not None:
        outcome.energy_j, outcome.gpu_utilisation_pct = gpu.energy_j, gpu.utilisation_pct
        outcome.gpu_memory_mb, outcome.gpu_power_w = gpu.memory_mb, gpu.power_w
    return outcome
