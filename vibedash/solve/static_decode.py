"""Fast decode: a static KV cache, the prompt prefilled once, then one decode step per token; on a GPU each
step is captured once as a CUDA graph and replayed, on a CPU the same loop runs eagerly (and gives the same
tokens as ``model.generate``).

Why by hand rather than ``generate(cache_implementation="static")`` + ``torch.compile``: at batch 1 a 1.5B model's
step is bound by launching a few hundred small kernels and by Python around them, not by the GPU. A captured
graph replays every kernel of the step in one launch. What the loop keeps static for that:

- the inputs (the k tokens just chosen, their position, which cache positions are filled) live in tensors
  written in place before each replay;
- the cache is transformers' static layer (tensors allocated once, positions counted on the device, so replay
  advances them), wrapped so attention reads only a *view* of the first positions: a bucket that doubles from
  256 tokens up to the cache length. Reading the whole preallocated cache each step would cost a 40k-token
  cache read per token for a 2k-token answer. One graph per bucket (a handful per run), all in one memory pool;
- sampling stays on the device: the request's seeded sampler (temperature, top-k, top-p on the logits) and
  argmax; only the k chosen ids come back to the host each step, for streaming, the thinking tracker, budget
  forcing, the answer cap and the Stop button (the same hooks ``generate`` runs; see local_hooks).

All k samples of one request share the prompt, so no padding exists: one position for every row, and a row
that ended keeps stepping with the pad token (its output is cut at its end), as ``generate`` does. Models
with sliding-window or other non-full attention layers take the ``generate`` path instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessorList, PreTrainedModel, StoppingCriteriaList
from transformers.cache_utils import Cache, StaticLayer

WARM_UP_STEPS = 2  # eager steps (real ones) per bucket before its capture: lazy cuBLAS/allocator set-up
FIRST_BUCKET = 256  # the smallest attention view; it doubles from there
CACHE_ROUNDING = 256  # cache lengths round up to this, so later runs of similar length reuse the decoder


def static_decode_unsupported(model: PreTrainedModel) -> str | None:
    """Why the static loop cannot run this model (None when it can)."""
    config = model.config.get_text_config(decoder=True)
    kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
    if kinds != {"full_attention"}:
        return f"layers of kind {', '.join(sorted(kinds - {'full_attention'}))}"
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return f"attention implementation {config._attn_implementation}"
    return None


class ViewedStaticLayer(StaticLayer):
    """A static cache layer whose attention sees only its first ``view`` positions (the rest are empty)."""

    def __init__(self, max_cache_len: int) -> None:
        super().__init__(max_cache_len=max_cache_len)
        self.view = max_cache_len

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        keys, values = super().update(key_states, value_states, *args, **kwargs)
        if self.view >= self.max_cache_len:
            return keys, values
        return keys[:, :, :self.view], values[:, :, :self.view]


def bucket_for(length: int, max_len: int) -> int:
    """The attention view for ``length`` filled positions: FIRST_BUCKET doubled until it holds them."""
    view = FIRST_BUCKET
    while view < length:
        view *= 2
    return min(view, max_len)


def cache_length(prompt_tokens: int, new_tokens: int) -> int:
    needed = prompt_tokens + new_tokens
    return -(-needed // CACHE_ROUNDING) * CACHE_ROUNDING


class StaticDecoder:
    """One model's static cache for ``batch`` rows of up to ``max_len`` tokens, its input buffers and (with
    ``graphs``) the captured decode step per attention bucket. Reusable: :meth:`prefill` starts over."""

    def __init__(self, model: PreTrainedModel, batch: int, max_len: int, *, graphs: bool) -> None:
        config = model.config.get_text_config(decoder=True)
        device = model.device
        self.model, self.batch, self.max_len = model, batch, max_len
        self.graphs = graphs and device.type == "cuda"
        self.layers = [ViewedStaticLayer(max_len) for _ in range(config.num_hidden_layers)]
        self.cache = Cache(layers=self.layers)
        self.tokens = torch.zeros((batch, 1), dtype=torch.long, device=device)
        self.position = torch.zeros((1, 1), dtype=torch.long, device=device)
        self.visible = torch.zeros((1, 1, 1, max_len), dtype=torch.bool, device=device)  # filled positions
        self.length = 0  # positions filled
        self.captured: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._warm: dict[int, int] = {}
        self._pool = torch.cuda.graph_pool_handle() if self.graphs else None
        self.graph_replays = 0  # steps served by a replay (benchmarks and tests read it)

    def cache_bytes(self) -> int:
        return sum(layer.keys.nbytes + layer.values.nbytes for layer in self.layers if layer.is_initialized)

    def fits(self, batch: int, max_len: int) -> bool:
        return self.batch == batch and self.max_len >= max_len

    @torch.inference_mode()
    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The prompt's forward pass, eagerly (its shape changes run to run); the last position's logits."""
        for layer in self.layers:
            layer.view = self.max_len
            if layer.is_initialized:
                layer.cumulative_length.zero_()  # start over: the stale keys are masked and overwritten
        self.visible.zero_()
        prompt = input_ids.shape[1]
        output = self.model(input_ids=input_ids, cache=self.cache, use_cache=True, logits_to_keep=1)
        self.visible[..., :prompt] = True
        self.length = prompt
        return output.logits[:, -1]

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed each row's next token; the logits for the token after it, ``[batch, vocab]``."""
        if self.length >= self.max_len:
            raise RuntimeError(f"the static cache holds {self.max_len} tokens and is full")
        position = self.length
        self.tokens.copy_(tokens.view(-1, 1))
        self.position.fill_(position)
        self.visible[..., position] = True
        view = bucket_for(position + 1, self.max_len)
        for layer in self.layers:
            layer.view = view
        logits = self._graph_step(view) if self.graphs else self._forward(view)
        self.length += 1
        return logits

    def _forward(self, view: int) -> torch.Tensor:
        # A prepared mask mapping skips transformers' mask building (shape checks and host syncs a captured
        # graph cannot hold); the mask is a view of the filled positions, the same storage every step.
        output = self.model(input_ids=self.tokens, position_ids=self.position, cache=self.cache, use_cache=True,
                            attention_mask={"full_attention": self.visible[..., :view]})
        return output.logits[:, -1]

    def _graph_step(self, view: int) -> torch.Tensor:
        entry = self.captured.get(view)
        if entry is not None:
            graph, logits = entry
            graph.replay()
            self.graph_replays += 1
            return logits
        if self._warm.get(view, 0) < WARM_UP_STEPS:  # a real step, run eagerly on a side stream as capture wants
            self._warm[view] = self._warm.get(view, 0) + 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                logits = self._forward(view)
            torch.cuda.current_stream().wait_stream(side)
            return logits
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):  # records the step; nothing runs until replay
            logits = self._forward(view)
        self.captured[view] = (graph, logits)
        graph.replay()
        self.graph_replays += 1
        return logits


KEEP_DECODER_BYTES = 4 * 1024**3  # a decoder whose cache is larger is freed after its run


def release_if_large(loaded: Any) -> None:
    """Free the loaded model's decoder after a run when its cache is large (k = 64 at a 40k-token cap holds tens of
    GB): kept, it would crowd out other models; a small one is kept for the next run's graphs."""
    decoder = loaded.decoder
    if decoder is not None and decoder.cache_bytes() > KEEP_DECODER_BYTES:
        loaded.decoder = None
        del decoder
        if loaded.plan.device.startswith("cuda"):
            torch.cuda.empty_cache()


def decoder_for(loaded: Any, batch: int, max_len: int) -> StaticDecoder:
    """The loaded model's decoder when it fits, else a new one (the old one's cache and graphs freed first)."""
    current = loaded.decoder
    if current is not None and current.fits(batch, max_len):
        return current
    loaded.decoder = None
    del current
    if loaded.plan.device.startswith("cuda"):
        torch.cuda.empty_cache()
    loaded.decoder = StaticDecoder(loaded.model, batch, max_len, graphs=loaded.plan.graphs)
    return loaded.decoder


@torch.inference_mode()
def decode(decoder: StaticDecoder, input_ids: torch.Tensor, max_new_tokens: int, *,
           processors: LogitsProcessorList, criteria: StoppingCriteriaList, streamer: Any,
           eos_token_ids: Sequence[int], pad_token_id: int) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` per row: ``generate``'s greedy loop (the sampler is a processor) over
    the static decoder. Returns prompt and new tokens, ``[batch, prompt + generated]``, rows that ended padded.

    On a GPU the next step is launched before the host reads the chosen tokens (copied asynchronously), so the
    streaming, thinking and stopping bookkeeping of step n runs while step n + 1 computes. A step launched for
    rows that then turn out to have stopped costs one wasted step at the very end, never a wrong token: what a
    row is fed was chosen on the device before the launch, and the hooks act on the step after."""
    batch, device = input_ids.shape[0], input_ids.device
    on_gpu = device.type == "cuda"
    eos = torch.tensor(sorted(eos_token_ids), dtype=torch.long, device=device)
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    pad = torch.tensor(pad_token_id, dtype=torch.long, device=device)
    generated: list[torch.Tensor] = []
    logits = decoder.prefill(input_ids)
    if streamer is not None:
        streamer.put(input_ids.cpu())  # as generate does: the streamer skips the prompt
    last = input_ids[:, -1:]
    for index in range(max_new_tokens):
        scores = processors(last, logits.to(dtype=torch.float32, copy=True))
        chosen = torch.where(unfinished, scores.argmax(dim=-1), pad)
        generated.append(chosen)
        last = chosen.view(-1, 1)
        unfinished &= ~torch.isin(chosen, eos)
        on_host = chosen.to("cpu", non_blocking=on_gpu)
        chosen_ready = torch.cuda.Event() if on_gpu else None
        if chosen_ready is not None:
            chosen_ready.record()
        more = index + 1 < max_new_tokens
        if more and on_gpu:
            logits = decoder.step(chosen)  # launched now, computed while the host does the bookkeeping below
        if chosen_ready is not None:
            chosen_ready.synchronize()
        if streamer is not None:
            streamer.put(on_host)
        unfinished &= ~criteria(last, scores)
        if not more or not bool(unfinished.any()):
            break
        if not on_gpu:  # a CPU computes at launch: stepping first would only time each token a step late
            logits = decoder.step(chosen)
    if streamer is not None:
        streamer.end()
    new = torch.stack(generated, dim=1) if generated else input_ids.new_zeros((batch, 0))
    return torch.cat([input_ids, new], dim=1)
