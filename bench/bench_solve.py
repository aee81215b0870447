"""Solve throughput benchmarks.

    python bench/bench_solve.py                  # CPU: the solve engine vs plain model.generate
    python bench/bench_solve.py --gpu            # VibeThinker-shaped random model on CUDA (one H200: ~10 min)
    python bench/bench_solve.py --gpu --toy      # the GPU mode's code path at toy size (runs on a CPU)
    python bench/bench_solve.py --pair           # fairness: the same model on both sides vs one side alone

CPU mode: a small random Qwen2 (hidden 256, 4 layers), VibeThinker's sampling settings, the same number of
tokens on both paths (the checkpoint has no end-of-sequence token). Runs alternate between the two paths in
one process; the table shows medians and the engine's cost relative to plain ``generate`` (aim: under 5%).
The engine path is the whole thing a page run does: cache lookup, model cache, streaming on a worker thread,
seeded sampling, grading and the write to the solve log.

Pair mode: the same model on both sides of a side-by-side run (through the engine, as the panel runs it),
each side's own decode tokens/s (time spent waiting for the other side's turn excluded) against a single run
alone on the same threads; with lockstep on (the default) and off (the two generations contending freely).
Aim: the sides within 10% of each other, each within 15% of the single run.

GPU mode: a Qwen2 with VibeThinker-1.5B's shape (hidden 1536, intermediate 8960, 28 layers, 12 heads, 2 KV
heads, vocabulary 151,936, tied embeddings) and random bf16 weights, no download. For k = 1, 16 and 64 samples
of one 1,000-token prompt and 2,000 new tokens (the issue's protocol) it reports decode tokens/s of plain eager
``generate`` and of the local backend's fast path (static KV cache, prefill once, each decode step a replayed
CUDA graph; vibedash/solve/static_decode.py), each as a share of the memory-bandwidth limit (weights read once
per step: about 1,550 tok/s at k=1 for 3.1 GB of bf16 weights at 4.8 TB/s; and with the KV cache reads too).
Aims on one H200: ≥ 500 tok/s single stream, ≥ 4,000 tok/s at k=16. With --toy it runs the same paths on a
CPU at toy size (no graphs there) so the command is known to work before a GPU is spent on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights only: nothing to download

import torch  # noqa: E402
from tiny_model import build_model, build_tokenizer, save_tiny_model  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from vibedash.registry.db import open_registry, unit_of_work  # noqa: E402
from vibedash.registry.models import Version  # noqa: E402
from vibedash.solve.engine import SolveEngine, SolveRequest  # noqa: E402
from vibedash.solve.generation import GenerationJob  # noqa: E402
from vibedash.solve.local import LocalBackend  # noqa: E402
from vibedash.solve.prompts import SamplingSettings, build_prompt, chat_messages  # noqa: E402

QUESTION = "Find the remainder when $3^{2025}$ is divided by $1000$."
MAIN_THREAD = "plain model.generate, main thread"
WORKER_THREAD = "plain model.generate, worker thread"
ENGINE = "solve engine (worker thread)"
CPU_SHAPE = dict(hidden_size=256, intermediate_size=1024, num_layers=4, num_heads=4, num_kv_heads=2)
VIBETHINKER_SHAPE = dict(hidden_size=1536, intermediate_size=8960, num_layers=28, num_heads=12, num_kv_heads=2,
                         vocab_size=151_936, max_position_embeddings=40_960)
TINY_GPU_SHAPE = dict(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
                      vocab_size=1024, max_position_embeddings=4096)


def median_rate(rates: list[float]) -> float:
    return statistics.median(rates) if rates else float("nan")


def interleaved(paths: dict[str, Callable[[int], float]], reps: int) -> dict[str, list[float]]:
    """Run each path ``reps`` times, alternating the order every round so drift hits both alike."""
    rates: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            rates[name].append(paths[name](rep))
    return rates


def _bytes(count: float) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e8 else f"{count / 1e6:.2f} MB"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))


# -- CPU: engine vs plain generate -------------------------------------------------------------------------

def cpu_engine_overhead(workdir: Path, tokens: int, reps: int) -> float:
    model_dir = save_tiny_model(workdir / "cpu-model", seed=0, with_eos=False, **CPU_SHAPE)
    registry = open_registry(f"sqlite:///{workdir / 'bench.db'}")
    with unit_of_work(registry) as session:
        session.add(Version(sha="be" * 20, model_ref=str(model_dir)))
    from vibedash.solve.versions import resolve_version

    version = resolve_version(registry, "bebebebe")
    solver = SolveEngine(registry, device="cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    settings = SamplingSettings(max_new_tokens=tokens)  # VibeThinker's sampling: temperature 0.6, top_p 0.95
    encoded = tokenizer.apply_chat_template(chat_messages(build_prompt("math", QUESTION)), add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)

    def through_engine(rep: int) -> float:
        started = time.perf_counter()
        result = solver.solve(SolveRequest(version=version, question=QUESTION, expected="443",
                                           settings=settings.with_(seed=rep), fresh=True))
        wall = time.perf_counter() - started
        assert result.tokens == tokens, result.tokens
        return result.tokens / wall

    def plain_generate(rep: int) -> float:
        torch.manual_seed(rep)
        started = time.perf_counter()
        output = model.generate(**encoded, do_sample=True, temperature=settings.temperature, top_p=settings.top_p,
                                top_k=None, max_new_tokens=tokens, pad_token_id=tokenizer.pad_token_id)
        wall = time.perf_counter() - started
        generated = output.shape[1] - encoded["input_ids"].shape[1]
        assert generated == tokens, generated
        return generated / wall

    def plain_generate_on_a_thread(rep: int) -> float:
        rate: list[float] = []
        worker = threading.Thread(target=lambda: rate.append(plain_generate(rep)))
        worker.start()
        worker.join()
        return rate[0]

    paths = {MAIN_THREAD: plain_generate, WORKER_THREAD: plain_generate_on_a_thread, ENGINE: through_engine}
    for path in paths.values():
        path(reps)  # warm-up (model load, first allocations), with a seed the measured runs do not use
    rates = interleaved(paths, reps)
    solver.close()
    rows = [[name, f"{median_rate(r):.1f}", f"{min(r):.1f}–{max(r):.1f}", str(len(r))] for name, r in rates.items()]
    ratio = median_rate(rates[ENGINE]) / median_rate(rates[WORKER_THREAD])
    rows.append(["engine / plain on a worker thread", f"{ratio:.3f}", "", f"engine cost {1 - ratio:+.1%}"])
    print_table(f"CPU, random Qwen2 hidden 256 × 4 layers, {tokens} new tokens, temperature 0.6, top_p 0.95",
                ["path", "tokens/s (median)", "range", "runs"], rows)
    print("The engine generates on worker threads (a Streamlit page runs off the main thread too), so its cost is "
          "measured against\nplain generate on a worker thread. Each thread that runs torch gets its own OpenMP "
          "team, and on a small model\non a CPU, teams from two threads of one process slow each other down: "
          "compare the first two rows.")
    return ratio


# -- pair: fairness of two versions side by side ------------------------------------------------------------

def pair_fairness(workdir: Path, tokens: int, reps: int) -> dict[str, float]:
    model_dir = save_tiny_model(workdir / "pair-model", seed=0, with_eos=False, **CPU_SHAPE)
    registry = open_registry(f"sqlite:///{workdir / 'pair.db'}")
    with unit_of_work(registry) as session:
        session.add(Version(sha="a1" * 20, model_ref=str(model_dir)))
        session.add(Version(sha="b2" * 20, model_ref=str(model_dir)))
    from vibedash.solve.engine import Finished
    from vibedash.solve.versions import resolve_version

    versions = {"a": resolve_version(registry, "a1a1a1a1"), "b": resolve_version(registry, "b2b2b2b2")}
    fair = SolveEngine(registry, device="cpu")
    free = SolveEngine(registry, device="cpu", lockstep=False)
    free._local = fair._backend("transformers")  # one loaded model for both engines
    settings = SamplingSettings(max_new_tokens=tokens)

    def request(side: str, rep: int) -> SolveRequest:
        return SolveRequest(version=versions[side], question=QUESTION, settings=settings.with_(seed=rep), fresh=True)

    def single(rep: int) -> float:
        return fair.solve(request("a", rep)).decode_tokens_per_second

    def pair(engine: SolveEngine) -> Callable[[int], tuple[float, float]]:
        def run(rep: int) -> tuple[float, float]:
            results = {side: event.result for side, event in engine.stream_many({s: request(s, rep) for s in versions})
                       if isinstance(event, Finished)}
            return results["a"].decode_tokens_per_second, results["b"].decode_tokens_per_second
        return run

    paths = {"single": single, "pair, lockstep": pair(fair), "pair, free": pair(free)}
    for path in paths.values():
        path(reps)  # warm-up
    measured: dict[str, list] = {name: [] for name in paths}
    for rep in range(reps):
        for name in paths if rep % 2 == 0 else reversed(list(paths)):
            measured[name].append(paths[name](rep))
    fair.close()
    alone = median_rate(measured["single"])
    rows = [["single run alone", f"{alone:.1f}", "", ""]]
    figures = {"single": alone}
    for name in ("pair, lockstep", "pair, free"):
        side_a = median_rate([a for a, _ in measured[name]])
        side_b = median_rate([b for _, b in measured[name]])
        gap = abs(side_a - side_b) / max(side_a, side_b)
        worst = max(abs(side_a - alone), abs(side_b - alone)) / alone
        rows.append([f"{name}: side A", f"{side_a:.1f}", f"A vs B {gap:.1%}", f"worst side vs single {worst:.1%}"])
        rows.append([f"{name}: side B", f"{side_b:.1f}", "", ""])
        figures[f"{name} gap"], figures[f"{name} vs single"] = gap, worst
        figures[f"{name} a"], figures[f"{name} b"] = side_a, side_b
    print_table(f"CPU, {torch.get_num_threads()} threads, same random Qwen2 (hidden 256 × 4 layers) on both sides, "
                f"{tokens} new tokens, {reps} runs", ["path", "decode tokens/s (own, median)", "sides", "vs alone"],
                rows)
    print("Own tokens/s: each side's decode tokens over the time it held the turn (lockstep) or its wall time "
          "(free).\nAims: sides within 10% of each other, each within 15% of the single run.")
    return figures


# -- GPU: eager generate vs the static-cache loop with CUDA graphs, bandwidth, k samples ----------------------

GPU_AIMS = {1: 500.0, 16: 4000.0}  # tokens/s on one H200 (issue: a third of the k=1 bandwidth limit; k=16)


def prompt_of_length(tokenizer, target_tokens: int) -> tuple[dict[str, str], ...]:
    """A user turn whose chat-templated prompt is about ``target_tokens`` long (a problem repeated)."""
    words: list[str] = []
    sentence = (QUESTION + " Show every step, check the arithmetic twice, and explain why each step holds. ").split()
    while True:
        messages = tuple(chat_messages(" ".join(words)))
        # Templated as text, then counted: transformers 5 returns a dict when it tokenizes, whose len() is its keys.
        text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) >= target_tokens:
            return messages
        words.extend(sentence)


def bandwidth_limits(weight_bytes: int, kv_per_sample: float, batches: list[int], bandwidth_tbs: float
                     ) -> dict[int, tuple[float, float]]:
    """Per k: (the weights-only limit, the limit with each sample's mean KV cache read too), in tokens/s. A
    decode step reads every weight once (shared by the k samples of a batch) and each sample's cache so far."""
    bandwidth = bandwidth_tbs * 1e12
    return {k: (k * bandwidth / weight_bytes, k * bandwidth / (weight_bytes + k * kv_per_sample))
            for k in [1, *batches]}


def gpu_fast_path(workdir: Path, tokens: int, reps: int, tiny: bool, bandwidth_tbs: float,
                  prompt_tokens: int = 1000, batches: tuple[int, ...] = (16, 64)) -> dict[str, float]:
    cuda = torch.cuda.is_available()
    if not cuda and not tiny:
        raise SystemExit("--gpu needs a CUDA device; add --toy for a CPU run of the same code path at toy size")
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    shape = TINY_GPU_SHAPE if tiny else VIBETHINKER_SHAPE
    tokenizer = build_tokenizer(with_eos=False)
    model = build_model(tokenizer, seed=0, device=device, dtype=dtype, **shape)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    config = model.config
    model_dir = workdir / "gpu-model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    del model
    if cuda:
        torch.cuda.empty_cache()

    eager = LocalBackend(device, fast_path=False)
    fast = LocalBackend(device, fast_path=True)  # CUDA graphs on CUDA; the same loop, eager steps, on a CPU
    messages = prompt_of_length(tokenizer, prompt_tokens)
    prompt_length = len(tokenizer(tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                                                tokenize=False), add_special_tokens=False)["input_ids"])

    def decode_rate(backend: LocalBackend, samples: int, new_tokens: int = tokens) -> Callable[[int], float]:
        def run(rep: int) -> float:
            job = GenerationJob(messages, SamplingSettings(max_new_tokens=new_tokens, samples=samples, seed=rep))
            outcome = backend.generate(str(model_dir), job, lambda event: None, threading.Event())
            assert outcome.total_tokens == new_tokens * samples, outcome.tokens
            return outcome.decode_tokens_per_second or outcome.total_tokens / outcome.elapsed_s
        return run

    fast_name = "static loop + CUDA graphs" if cuda else "static loop (CPU: no graphs)"
    paths: dict[str, Callable[[int], float]] = {}
    for k in (1, *batches):
        paths[f"generate (eager), k={k}"] = decode_rate(eager, k)
        paths[f"{fast_name}, k={k}"] = decode_rate(fast, k)
    warm_started = time.perf_counter()
    for name, path in paths.items():
        k = int(name.rsplit("=", 1)[1])
        if name.startswith("generate"):
            decode_rate(eager, k, min(tokens, 32))(reps)  # allocator and kernels; a full run teaches it nothing
        else:
            path(reps)  # allocates the static cache and captures a graph per attention bucket
    warm_up_s = time.perf_counter() - warm_started
    rates = {name: median_rate(r) for name, r in interleaved(paths, reps).items()}
    replays = fast.models.get(str(model_dir)).decoder.graph_replays
    eager.close()
    fast.close()

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_bytes_per_position = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * dtype.itemsize
    kv_per_sample = kv_bytes_per_position * (prompt_length + tokens / 2)  # mean context over the run
    limits = bandwidth_limits(weight_bytes, kv_per_sample, list(batches), bandwidth_tbs)
    rows = []
    for name, rate in rates.items():
        k = int(name.rsplit("=", 1)[1])
        aim = f"aim ≥ {GPU_AIMS[k]:,.0f}" if not tiny and k in GPU_AIMS and not name.startswith("generate") else ""
        rows.append([name, f"{rate:,.1f}", f"{rate / limits[k][0]:.1%}", f"{rate / limits[k][1]:.1%}", aim])
    for k, (weights_only, with_kv) in limits.items():
        rows.append([f"bandwidth limit, k={k}", f"{weights_only:,.0f}", f"{with_kv:,.0f} with KV reads",
                     f"{_bytes(weight_bytes)} weights + {_bytes(k * kv_per_sample)} KV per step", ""])
    figures: dict[str, float] = dict(rates)
    for k in (1, *batches):
        ratio = rates[f"{fast_name}, k={k}"] / rates[f"generate (eager), k={k}"]
        rows.append([f"static loop / eager, k={k}", f"{ratio:.2f}×", "", "", ""])
        figures[f"speedup k={k}"] = ratio
    for k in batches:
        gain = rates[f"{fast_name}, k={k}"] / rates[f"{fast_name}, k=1"]
        rows.append([f"k={k} / k=1 throughput (static loop)", f"{gain:.2f}×", "", "", ""])
        figures[f"batch gain k={k}"] = gain
    where = torch.cuda.get_device_name() if cuda else "CPU"
    size = "toy shape" if tiny else "VibeThinker-1.5B shape"
    print_table(f"{where}, random Qwen2 ({size}, {dtype}, {_bytes(weight_bytes)} of weights), "
                f"{prompt_length}-token prompt, {tokens} new tokens per sample, {reps} runs per path, "
                f"warm-up {warm_up_s:.1f} s, {replays:,} graph replays in the last static run",
                ["path", "decode tokens/s (median)", "share of weights-only limit", "share of limit with KV", ""],
                rows)
    print(f"Bandwidth limit: {bandwidth_tbs} TB/s over the bytes one decode step must read (weights once per step, "
          "shared by the k samples;\nplus each sample's KV cache at the run's mean context). Decode tokens/s: "
          "tokens after each sample's first, over the time after the first token.")
    figures["graph_replays"] = replays
    figures["speedup"], figures["batch_gain"] = figures["speedup k=1"], figures[f"batch gain k={batches[0]}"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true",
                        help="VibeThinker-shaped model: eager generate vs the static loop with CUDA graphs")
    parser.add_argument("--prompt-tokens", type=int, default=1000, help="with --gpu: prompt length (default 1000)")
    parser.add_argument("--batch", type=int, action="append", default=None,
                        help="with --gpu: k samples of one prompt, repeatable (default 16 and 64)")
    parser.add_argument("--pair", action="store_true", help="fairness: one model on both sides vs one side alone")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default torch's own; 1 is steadier on a busy machine)")
    parser.add_argument("--toy", "--tiny", dest="tiny", action="store_true",
                        help="with --gpu: toy shape and sizes, runs on a CPU (the same code path)")
    parser.add_argument("--tokens", type=int, default=None,
                        help="new tokens per run (default 256 CPU, 2000 GPU, 48 with --toy)")
    parser.add_argument("--reps", type=int, default=None, help="measured runs per path (default 7, GPU 3)")
    parser.add_argument("--bandwidth-tbs", type=float, default=4.8, help="GPU memory bandwidth (H200: 4.8)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="vibedash-bench-") as workdir:
        if args.pair:
            pair_fairness(Path(workdir), args.tokens or 256, args.reps or 7)
        elif args.gpu:
            toy = args.tiny and not torch.cuda.is_available()
            gpu_fast_path(Path(workdir), args.tokens or (48 if toy else 2000), args.reps or (1 if toy else 3),
                          args.tiny, args.bandwidth_tbs, prompt_tokens=64 if toy else args.prompt_tokens,
                          batches=tuple(args.batch or ((4,) if toy else (16, 64))))
        else:
            cpu_engine_overhead(Path(workdir), args.tokens or 256, args.reps or 7)
    return 0


if __name__ == "__main__":
    sys.exit(main())
