"""The local transformers backend on a tiny random Qwen2: streaming, seeding, stop, k samples, the static
cache path on its own thread, the model cache, and load errors."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: tests never download

import json
import threading
import time
from dataclasses import dataclass

import pytest
import torch
from tiny_model import build_tokenizer, save_tiny_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from vibedash.solve.errors import GenerationError, ModelLoadError, SolveConfigError
from vibedash.solve.generation import GenerationJob, Phase, TextDelta
from vibedash.solve.local import (
    LocalBackend,
    ModelWorker,
    SampleStreamer,
    choose_device,
)
from vibedash.solve.model_cache import ModelCache
from vibedash.solve.prompts import SamplingSettings, chat_messages

QUESTION = tuple(chat_messages("What is 2+2? Let's think step by step."))


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return save_tiny_model(root / "one", seed=1), save_tiny_model(root / "two", seed=2)


@pytest.fixture(scope="module")
def backend():
    backend = LocalBackend("cpu", emit_interval_s=0)  # every token's text as soon as it is decoded
    yield backend
    backend.close()


def generate(backend, model_dir, stop=None, **settings):
    events = []
    job = GenerationJob(QUESTION, SamplingSettings(**{"max_new_tokens": 24, **settings}))
    outcome = backend.generate(str(model_dir), job, events.append, stop or threading.Event())
    return outcome, events


def streamed_text(events, sample=0):
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.sample == sample)


def test_streams_text_in_order_and_matches_plain_generate(backend, model_dirs):
    outcome, events = generate(backend, model_dirs[0], temperature=0)
    assert [e.name for e in events if isinstance(e, Phase)] == ["loading", "generating"]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3  # arrives piece by piece, not at the end
    assert streamed_text(events) == outcome.texts[0]
    # Greedy through the engine gives exactly what plain transformers gives.
    tokenizer = AutoTokenizer.from_pretrained(model_dirs[0])
    model = AutoModelForCausalLM.from_pretrained(model_dirs[0], dtype=torch.float32)
    encoded = tokenizer.apply_chat_template(list(QUESTION), add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
    plain = model.generate(**encoded, do_sample=False, max_new_tokens=24, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(plain[0, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
    assert outcome.texts[0] == expected
    assert outcome.tokens[0] == plain.shape[1] - encoded["input_ids"].shape[1]
    # Both from the request (elapsed_s starts after the model load, so it is no bound for the first token).
    assert outcome.time_to_first_token_s is not None and outcome.time_to_first_token_s <= outcome.total_s
    assert outcome.total_s - outcome.load_s <= outcome.elapsed_s + 1e-9
    assert outcome.device == "cpu float32"


def test_seeded_sampling_is_reproducible(backend, model_dirs):
    first, _ = generate(backend, model_dirs[0], seed=7)
    again, _ = generate(backend, model_dirs[0], seed=7)
    other, _ = generate(backend, model_dirs[0], seed=8)
    assert first.texts == again.texts
    assert first.texts != other.texts


def test_seeded_sampling_is_reproducible_while_another_model_generates(backend, model_dirs):
    alone, _ = generate(backend, model_dirs[0], seed=3, max_new_tokens=40)
    results = {}
    threads = [threading.Thread(target=lambda d=d: results.setdefault(d, generate(backend, d, seed=3,
                                                                                 max_new_tokens=40)[0]))
               for d in model_dirs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[model_dirs[0]].texts == alone.texts  # no shared random state between the two threads


def test_stop_ends_generation_within_a_token(backend, model_dirs):
    stop = threading.Event()
    events = []

    def emit(event):
        events.append(event)
        if isinstance(event, TextDelta):
            stop.set()  # press Stop as soon as text appears

    job = GenerationJob(QUESTION, SamplingSettings(max_new_tokens=400))
    outcome = backend.generate(str(model_dirs[0]), job, emit, stop)
    assert outcome.stopped
    assert outcome.tokens[0] < 10


def test_k_samples_come_from_one_batch(backend, model_dirs):
    outcome, events = generate(backend, model_dirs[0], samples=4, seed=5)
    assert len(outcome.texts) == 4 and len(set(outcome.texts)) == 4
    assert all(streamed_text(events, sample) == outcome.texts[sample] for sample in range(4))
    assert outcome.total_tokens == sum(outcome.tokens) and all(0 < t <= 24 for t in outcome.tokens)


def test_static_cache_path_runs_on_one_long_lived_thread(model_dirs):
    fast = LocalBackend("cpu", fast_path=True, compile=False)  # the GPU path's structure, without compiling
    try:
        assert fast.plan.label == "cpu float32 static cache"
        threads = set()

        def emit(event):
            if isinstance(event, TextDelta):
                threads.add(threading.current_thread().name)

        job = GenerationJob(QUESTION, SamplingSettings(max_new_tokens=16, seed=11))
        first = fast.generate(str(model_dirs[0]), job, emit, threading.Event())
        second = fast.generate(str(model_dirs[0]), job, emit, threading.Event())
        assert len(threads) == 1 and threads.pop().startswith("vibedash-model-")
        assert first.texts == second.texts
        eager, _ = generate(LocalBackend("cpu"), model_dirs[0], max_new_tokens=16, seed=11)
        assert first.texts == eager.texts  # same sampling, same tokens, whichever path
    finally:
        fast.close()


def test_model_worker_hands_back_exceptions_and_refuses_work_after_close():
    worker = ModelWorker("test")
    assert worker.run(lambda: threading.current_thread().name) == "vibedash-model-test"
    with pytest.raises(ZeroDivisionError):
        worker.run(lambda: 1 / 0)
    worker.close()
    with pytest.raises(GenerationError, match="unloaded"):
        worker.run(lambda: None)


def test_streamer_holds_back_half_characters():
    tokenizer = build_tokenizer()
    text = "é€ ok\nnext line"
    ids = tokenizer.encode(text, add_special_tokens=False)
    deltas = []
    streamer = SampleStreamer(tokenizer, 1, frozenset(), deltas.append, emit_interval_s=0)
    streamer.put(torch.tensor([[0]]))  # the prompt, skipped
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    deltas = [d for d in deltas if isinstance(d, TextDelta)]  # live figures come along too
    assert "".join(d.text for d in deltas) == text
    assert not any("\ufffd" in d.text for d in deltas)
    assert streamer.tokens == [len(ids)]


def test_device_choice():
    assert choose_device("cpu").device == "cpu"
    if not torch.cuda.is_available():
        assert choose_device("auto").device == "cpu"
        with pytest.raises(SolveConfigError, match="torch sees no CUDA device"):
            choose_device("cuda")
    with pytest.raises(SolveConfigError, match="not one of auto, cuda, cpu"):
        choose_device("tpu")


# -- loading and the model cache ---------------------------------------------------------------------------

def test_missing_and_broken_models_give_clear_errors(backend, tmp_path, model_dirs, monkeypatch):
    with pytest.raises(ModelLoadError, match="cannot be found \\(no such folder\\)"):
        generate(backend, tmp_path / "nowhere")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="vibedash-tests/no-such-model cannot be found"):
        generate(backend, "vibedash-tests/no-such-model")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(model_dirs[0]):
        (broken / name).write_bytes((model_dirs[0] / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelLoadError, match="cannot be loaded") as error:
        generate(backend, broken)
    assert "record --commit" in str(error.value)


def test_a_crash_inside_generate_reaches_the_caller(backend, tmp_path):
    # A checkpoint whose vocabulary is smaller than its tokenizer's: the embedding lookup fails mid-generate.
    small = save_tiny_model(tmp_path / "small-vocab", vocab_size=50)
    with pytest.raises(IndexError):
        generate(backend, small)


@dataclass
class Entry:
    name: str
    nbytes: int
    closed: bool = False

    def close(self):
        self.closed = True


def test_cache_evicts_least_recently_used_within_budget():
    loads = []
    cache = ModelCache(250, lambda key: loads.append(key) or Entry(key, 100))
    a, b = cache.get("a"), cache.get("b")
    cache.get("a")  # a is now the most recently used
    c = cache.get("c")  # 300 bytes > 250: b goes
    assert cache.keys() == ["a", "c"] and b.closed and not a.closed and not c.closed
    assert cache.get("a") is a and loads == ["a", "b", "c"]
    huge = ModelCache(50, lambda key: Entry(key, 100))
    assert huge.get("x").nbytes == 100 and huge.keys() == ["x"]  # a lone model over budget still loads


def test_concurrent_requests_for_one_model_load_it_once():
    loads = []

    def slow_loader(key):
        loads.append(key)
        time.sleep(0.2)
        return Entry(key, 1)

    cache = ModelCache(10, slow_loader)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("m"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["m"] and len({id(entry) for entry in got}) == 1


def test_local_backend_evicts_real_models(model_dirs):
    size = LocalBackend("cpu").models.get(str(model_dirs[0])).nbytes
    small = LocalBackend("cpu", cache_budget_bytes=int(size * 1.5))
    try:
        generate(small, model_dirs[0])
        generate(small, model_dirs[1])
        assert small.models.keys() == [str(model_dirs[1])]
    finally:
        small.close()


def test_checkpoint_sampling_defaults_do_not_leak_into_generation(backend, tmp_path):
    # VibeThinker-like generation_config.json (sampling on, temperature 0.6, top_k 20): greedy must stay greedy.
    model_dir = save_tiny_model(tmp_path / "with-defaults", seed=1)
    config_path = model_dir / "generation_config.json"
    config = json.loads(config_path.read_text())
    config.update(do_sample=True, temperature=0.6, top_p=0.95, top_k=20)
    config_path.write_text(json.dumps(config))
    first, _ = generate(backend, model_dir, temperature=0)
    second, _ = generate(backend, model_dir, temperature=0)
    assert first.texts == second.texts


def test_streamer_coalesces_text_between_emits():
    tokenizer = build_tokenizer()
    ids = tokenizer.encode("one two three four five six", add_special_tokens=False)
    deltas = []
    streamer = SampleStreamer(tokenizer, 1, frozenset(), deltas.append, emit_interval_s=3600)
    streamer.put(torch.tensor([[0]]))
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    deltas = [d for d in deltas if isinstance(d, TextDelta)]  # live figures come along too
    # The first piece goes out at once (time to first token), the rest when the interval or the end comes.
    assert len(deltas) == 2 and "".join(d.text for d in deltas) == "one two three four five six"
