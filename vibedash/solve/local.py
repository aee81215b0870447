"""The local backend: a version's checkpoint loaded with transformers + torch, streamed token by token.

Imported lazily (only when a local model is asked for), so other pages never pay for torch.

How a run works:
- the model comes from a :class:`ModelCache` (memory budget, least recently used evicted; local_models);
- the prompt goes through the tokenizer's chat template; k samples are k copies of it in one batch;
- each decode step runs the hooks of local_hooks: seeded sampling, budget forcing, the answer cap, Stop,
  streaming per sample, turns with the other side of a side-by-side run;
- the steps themselves: on the fast path (CUDA by default) the static-cache loop of static_decode, each step a
  replayed CUDA graph; otherwise ``model.generate`` with its dynamic cache (a CPU's default: the static cache
  would allocate the whole token cap up front, and a CPU gains nothing from graphs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from vibedash.solve.errors import GenerationError
from vibedash.solve.generation import (
    Emit,
    GenerationJob,
    GenerationOutcome,
    Phase,
    since,
)
from vibedash.solve.gpu_monitor import open_monitor
from vibedash.solve.local_hooks import (
    AnswerCap,
    BudgetForcer,
    SampleStreamer,
    SeededSampler,
    StopOnEvent,
    TakeTurns,
)
from vibedash.solve.local_models import (
    DEVICE_CHOICES,
    DevicePlan,
    LoadedModel,
    ModelWorker,
    choose_device,
    load_model,
)
from vibedash.solve.model_cache import ModelCache
from vibedash.solve.prompts import BUDGET_FORCED_TEXT, SamplingSettings
from vibedash.solve.static_decode import (
    cache_length,
    decode,
    decoder_for,
    release_if_large,
    static_decode_unsupported,
)

__all__ = ["DEVICE_CHOICES", "AnswerCap", "BudgetForcer", "DevicePlan", "LoadedModel", "LocalBackend", "ModelWorker",
           "SampleStreamer", "SeededSampler", "StopOnEvent", "TakeTurns", "choose_device", "encode_prompt",
           "forced_token_ids", "generate_with", "generation_cap", "generation_config", "load_model"]


class LocalBackend:
    """Generates with transformers on this machine. Thread-safe: concurrent requests for different models
    run concurrently (eager); requests for one fast-path model queue on its worker thread."""

    name = "transformers"

    def __init__(self, device: str = "auto", cache_budget_bytes: int = 24 * 1024**3, *,
                 fast_path: bool | None = None, graphs: bool | None = None, compile: bool | None = None,
                 emit_interval_s: float = 0.02) -> None:
        """``fast_path`` (the static-cache loop) and ``graphs`` (CUDA graph replay, CUDA only) default to the
        device's choice: on for CUDA, off for CPU. Tests and benchmarks may force the loop on a CPU.
        ``compile`` is the older name of ``graphs``."""
        plan = choose_device(device)
        fast = plan.fast_path if fast_path is None else fast_path
        wanted = graphs if graphs is not None else compile
        replay = (plan.graphs if wanted is None else wanted) and fast and plan.device.startswith("cuda")
        self.plan = DevicePlan(plan.device, plan.dtype, fast_path=fast, graphs=replay)
        self.emit_interval_s = emit_interval_s
        self.models: ModelCache[LoadedModel] = ModelCache(cache_budget_bytes, lambda ref: load_model(ref, self.plan))

    def generate(self, model_ref: str, job: GenerationJob, emit: Emit, stop: threading.Event) -> GenerationOutcome:
        requested_at = time.monotonic()
        emit(Phase("loading", model_ref))
        loaded = self.models.get(model_ref)
        model_load_s = time.monotonic() - requested_at
        emit(Phase("generating", self.plan.label))

        def run() -> GenerationOutcome:
            return generate_with(loaded, job, emit, stop, emit_interval_s=self.emit_interval_s,
                                 requested_at=requested_at)

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


def generation_config(loaded: LoadedModel, job: GenerationJob, max_new_tokens: int | None = None) -> GenerationConfig:
    """``generate``'s settings for the plain path (dynamic cache, nothing compiled)."""
    settings = job.settings
    return GenerationConfig(
        do_sample=False,  # sampling is SeededSampler's job (or greedy when temperature is 0)
        max_new_tokens=max_new_tokens or settings.max_new_tokens,
        eos_token_id=sorted(loaded.eos_token_ids) or None,
        pad_token_id=loaded.pad_token_id,
        # transformers' global defaults (unused without do_sample): left unset, a checkpoint's own sampling
        # defaults (e.g. temperature 0.6, top_k 20) would be merged in and warned about.
        temperature=1.0, top_p=1.0, top_k=50, disable_compile=True,
    )


def uses_static_loop(loaded: LoadedModel) -> bool:
    """The fast path's loop where the model allows it (full attention only), ``generate`` otherwise."""
    return loaded.plan.fast_path and static_decode_unsupported(loaded.model) is None


def forced_token_ids(tokenizer: Any) -> list[int]:
    """The budget's forced text as token ids (the end-of-thinking marker first, at a token boundary)."""
    return list(tokenizer.encode(BUDGET_FORCED_TEXT, add_special_tokens=False))


def generate_with(loaded: LoadedModel, job: GenerationJob, emit: Emit, stop: threading.Event,
                  emit_interval_s: float = 0.02, requested_at: float | None = None) -> GenerationOutcome:
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
        if uses_static_loop(loaded):
            decoder = decoder_for(loaded, settings.samples, cache_length(prompt_length, cap))
            output = decode(decoder, inputs["input_ids"], cap, processors=LogitsProcessorList(processors),
                            criteria=StoppingCriteriaList(criteria), streamer=streamer,
                            eos_token_ids=loaded.eos_token_ids, pad_token_id=loaded.pad_token_id)
        else:
            output = loaded.model.generate(**inputs, generation_config=generation_config(loaded, job, cap),
                                           logits_processor=LogitsProcessorList(processors),
                                           stopping_criteria=StoppingCriteriaList(criteria), streamer=streamer)
    except torch.cuda.OutOfMemoryError as exc:
        raise GenerationError(f"the GPU ran out of memory generating {settings.samples} sample(s) of up to "
                              f"{cap} tokens: lower k or max new tokens, or set a smaller "
                              "VIBEDASH_MODEL_CACHE_GB so fewer models stay loaded") from exc
    finally:
        if seat is not None:
            seat.leave()
        if loaded.decoder is not None:
            release_if_large(loaded)
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
