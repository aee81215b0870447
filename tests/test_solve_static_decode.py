"""The fast path's static-cache decode loop, at toy size on the CPU: the same tokens as ``model.generate``
(greedy, and sampled with the same seeded sampler), reproducible, per-row end of sequence, budget forcing, the
attention view buckets, and the decoder reused across runs. The CUDA-graph replay is the same loop with each
step captured; it runs only where torch sees a GPU (tests skip it here)."""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from tiny_model import save_tiny_model
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessorList,
    StoppingCriteriaList,
)

from vibedash.solve.generation import GenerationJob, TextDelta
from vibedash.solve.local import LocalBackend, uses_static_loop
from vibedash.solve.local_hooks import SeededSampler
from vibedash.solve.prompts import SamplingSettings, chat_messages
from vibedash.solve.static_decode import (
    FIRST_BUCKET,
    StaticDecoder,
    bucket_for,
    cache_length,
    decode,
    static_decode_unsupported,
)

QUESTION = tuple(chat_messages("What is 2+2? Let's think step by step."))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    with_eos = save_tiny_model(root / "eos", seed=3)
    without_eos = save_tiny_model(root / "no-eos", seed=4, with_eos=False)
    loaded = {}
    for name, path in (("eos", with_eos), ("no-eos", without_eos)):
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        encoded = tokenizer.apply_chat_template(list(QUESTION), add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)
        loaded[name] = (path, tokenizer, model, encoded["input_ids"])
    return loaded


def plain_generate(model, tokenizer, prompt, tokens, processors=()):
    return model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                          max_new_tokens=tokens, pad_token_id=tokenizer.pad_token_id or 0,
                          logits_processor=LogitsProcessorList(list(processors)), disable_compile=True)


def static(model, tokenizer, prompt, tokens, processors=(), decoder=None):
    decoder = decoder or StaticDecoder(model, prompt.shape[0], cache_length(prompt.shape[1], tokens), graphs=False)
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return decode(decoder, prompt, tokens, processors=LogitsProcessorList(list(processors)),
                  criteria=StoppingCriteriaList([]), streamer=None, eos_token_ids=eos,
                  pad_token_id=tokenizer.pad_token_id or 0), decoder


def test_greedy_gives_generates_tokens_single_and_batched(tiny):
    _, tokenizer, model, prompt = tiny["no-eos"]
    for rows in (1, 4):
        batch = prompt.repeat(rows, 1)
        expected = plain_generate(model, tokenizer, batch, 260)  # past the first attention bucket (256)
        got, decoder = static(model, tokenizer, batch, 260)
        assert torch.equal(got, expected)
        assert decoder.length == prompt.shape[1] + 259  # the last token is chosen, never fed back


def test_sampling_with_the_seeded_sampler_matches_generate_and_reproduces(tiny):
    _, tokenizer, model, prompt = tiny["no-eos"]
    settings = SamplingSettings(seed=5, temperature=0.9, top_p=0.9, top_k=40)
    batch = prompt.repeat(3, 1)
    expected = plain_generate(model, tokenizer, batch, 64, [SeededSampler(settings, "cpu")])
    first, decoder = static(model, tokenizer, batch, 64, [SeededSampler(settings, "cpu")])
    again, _ = static(model, tokenizer, batch, 64, [SeededSampler(settings, "cpu")], decoder=decoder)  # reused
    other, _ = static(model, tokenizer, batch, 64, [SeededSampler(settings.with_(seed=6), "cpu")])
    assert torch.equal(first, expected) and torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first[0], first[1])  # the rows are different samples


def test_rows_end_on_their_own_end_of_sequence(tiny):
    _, tokenizer, model, prompt = tiny["eos"]
    settings = SamplingSettings(seed=1, temperature=1.5, top_p=1.0)
    batch = prompt.repeat(6, 1)
    expected = plain_generate(model, tokenizer, batch, 100, [SeededSampler(settings, "cpu")])
    got, _ = static(model, tokenizer, batch, 100, [SeededSampler(settings, "cpu")])
    assert torch.equal(got, expected)
    new = got[:, prompt.shape[1]:]
    ended = [(row == tokenizer.eos_token_id).nonzero() for row in new]
    assert any(len(e) for e in ended)  # at least one row ended early; after its end it holds padding only
    for row, found in zip(new, ended):
        if len(found):
            end = int(found[0])
            assert set(row[end + 1:].tolist()) <= {tokenizer.pad_token_id or 0}


def test_attention_views_double_from_the_first_bucket():
    assert bucket_for(1, 4096) == FIRST_BUCKET and bucket_for(FIRST_BUCKET, 4096) == FIRST_BUCKET
    assert bucket_for(FIRST_BUCKET + 1, 4096) == 2 * FIRST_BUCKET and bucket_for(5000, 4096) == 4096
    assert cache_length(1000, 2000) == 3072 and cache_length(10, 6) == 256


def test_models_without_full_attention_everywhere_take_generate(tiny):
    _, _, model, _ = tiny["eos"]
    assert static_decode_unsupported(model) is None
    config = model.config
    saved = config.layer_types
    try:
        config.layer_types = ["sliding_attention"] + list(saved[1:])
        assert "sliding_attention" in static_decode_unsupported(model)
    finally:
        config.layer_types = saved


def test_backend_fast_path_uses_the_loop_with_every_hook(tiny):
    """Through the backend: streaming, per-sample thinking figures and budget forcing on the static loop give
    what the generate path gives."""
    path = str(tiny["no-eos"][0])
    fast, plain = LocalBackend("cpu", fast_path=True), LocalBackend("cpu")
    try:
        loaded = fast.models.get(path)
        assert uses_static_loop(loaded) and fast.plan.label == "cpu float32 static cache"
        settings = SamplingSettings(max_new_tokens=40, seed=2, samples=4, thinking_budget=5, answer_max_tokens=8)
        outcomes = []
        for backend in (fast, plain):
            deltas: dict[int, str] = {}

            def emit(event, deltas=deltas):
                if isinstance(event, TextDelta):
                    deltas[event.sample] = deltas.get(event.sample, "") + event.text

            outcome = backend.generate(path, GenerationJob(QUESTION, settings), emit, threading.Event())
            assert [deltas.get(i, "") for i in range(4)] == outcome.texts
            outcomes.append(outcome)
        loop, eager = outcomes
        assert loop.texts == eager.texts and loop.tokens == eager.tokens
        assert loop.thinking_tokens == eager.thinking_tokens == [5, 5, 5, 5]  # the budget closed each at 5
        assert loop.samples_forced == 4 and all("</think>" in text for text in loop.texts)
        assert all(first is not None and first <= last for first, last in
                   zip(loop.sample_first_answer_s, loop.sample_last_token_s))
        assert loaded.decoder is not None and loaded.decoder.graph_replays == 0  # no CUDA here: eager steps
    finally:
        fast.close()
        plain.close()


def test_stop_ends_the_loop_within_a_token(tiny):
    path = str(tiny["no-eos"][0])
    fast = LocalBackend("cpu", fast_path=True)
    stop = threading.Event()
    seen = []

    def emit(event):
        if isinstance(event, TextDelta):
            seen.append(event)
            stop.set()

    try:
        outcome = fast.generate(path, GenerationJob(QUESTION, SamplingSettings(max_new_tokens=500, seed=1)), emit,
                                stop)
    finally:
        fast.close()
    assert outcome.stopped and outcome.tokens[0] < 500


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_replay_gives_the_eager_tokens(tiny):  # pragma: no cover - runs on a GPU machine only
    _, tokenizer, model, prompt = tiny["no-eos"]
    model = copy.deepcopy(model).to("cuda")  # the module's CPU model stays where the other tests want it
    batch = prompt.repeat(4, 1).to("cuda")
    eager, _ = static(model, tokenizer, batch, 300)
    decoder = StaticDecoder(model, 4, cache_length(prompt.shape[1], 300), graphs=True)
    replayed, decoder = static(model, tokenizer, batch, 300, decoder=decoder)
    assert torch.equal(replayed, eager) and decoder.graph_replays > 250 and len(decoder.captured) == 2


def test_the_decode_step_has_no_host_decision_so_a_graph_can_hold_it(tiny):
    """CUDA graph capture fails on a host sync or a Python branch on tensor values inside the step. Dynamo's
    fullgraph tracing refuses the same things, and runs here on the CPU: the step traces as one graph, and
    that graph gives the eager step's logits."""
    _, _, model, prompt = tiny["no-eos"]
    batch = prompt.repeat(2, 1)
    eager_decoder = StaticDecoder(model, 2, 512, graphs=False)
    traced_decoder = StaticDecoder(model, 2, 512, graphs=False)
    with torch.inference_mode():
        token = eager_decoder.prefill(batch).argmax(-1)
        traced_decoder.prefill(batch)
        expected = eager_decoder.step(token)
        traced = torch.compile(traced_decoder._forward, fullgraph=True, backend="eager", dynamic=False)
        position = traced_decoder.length
        traced_decoder.tokens.copy_(token.view(-1, 1))
        traced_decoder.position.fill_(position)
        traced_decoder.visible[..., position] = True
        for layer in traced_decoder.layers:
            layer.view = bucket_for(position + 1, 512)
        got = traced(bucket_for(position + 1, 512))
    assert torch.allclose(got, expected, atol=1e-5)


def test_a_large_decoder_is_freed_after_its_run_and_a_small_one_kept(tiny, monkeypatch):
    from vibedash.solve import static_decode

    path = str(tiny["no-eos"][0])
    fast = LocalBackend("cpu", fast_path=True)
    job = GenerationJob(QUESTION, SamplingSettings(max_new_tokens=8, seed=1, samples=2))
    try:
        fast.generate(path, job, lambda event: None, threading.Event())
        loaded = fast.models.get(path)
        kept = loaded.decoder
        assert kept is not None and kept.cache_bytes() > 0
        fast.generate(path, job, lambda event: None, threading.Event())
        assert loaded.decoder is kept  # same shapes: the cache (and on a GPU its graphs) reused
        monkeypatch.setattr(static_decode, "KEEP_DECODER_BYTES", kept.cache_bytes() - 1)
        fast.generate(path, job, lambda event: None, threading.Event())
        assert loaded.decoder is None
    finally:
        fast.close()
