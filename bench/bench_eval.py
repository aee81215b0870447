"""Eval runner benchmarks: its overhead over the raw backend, and the per-sample registry at scale.

    python bench/bench_eval.py                       # CPU: local batched generate and a loopback server
    python bench/bench_eval.py --registry 10000000   # the per-sample registry with ten million samples
    python bench/bench_eval.py --gpu --k 16 64        # a VibeThinker-shaped random model on CUDA (H200 etc.)

Overhead: the same jobs (problems x k samples, the same seeds and sampling) run through the raw backend
(``backend.generate`` per batch, nothing else) and through the eval runner (grading every sample with the solve
panel's graders, writing samples and counters to the registry as they finish, progress, cancellation watch,
the result at the end). Runs alternate between the two paths; the table shows the medians and the runner's
cost relative to the raw backend (aim: at most 5%), in wall time and in this process's CPU time (the latter is
what to read on a machine shared with other work, where wall time swings by tens of percent).

- local: a small random Qwen2 (hidden 256, 4 layers, no end token, so every sample runs to the cap), batched
  ``generate`` of k samples per problem on CPU;
- loopback: a scripted OpenAI-compatible server on 127.0.0.1 streaming at a fixed token rate, ``concurrency``
  requests in flight, one per sample;
- registry: N samples written through the bulk path (100 versions x 6 benchmarks, samples spread evenly), then
  the reads the pages make: a version's reports (cost and k-curves per result), running evaluations, compare
  costs for two versions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vibedash.eval.problem_sets import ProblemSet  # noqa: E402
from vibedash.eval.runner import EvalRunner, EvalSpec, sample_seed  # noqa: E402
from vibedash.registry.db import open_registry, unit_of_work  # noqa: E402
from vibedash.registry.models import Version  # noqa: E402
from vibedash.solve.generation import GenerationJob  # noqa: E402
from vibedash.solve.grading import Grader  # noqa: E402
from vibedash.solve.problems import Problem  # noqa: E402
from vibedash.solve.prompts import SamplingSettings, build_prompt, chat_messages  # noqa: E402
from vibedash.solve.versions import resolve_version  # noqa: E402

CPU_SHAPE = dict(hidden_size=256, intermediate_size=1024, num_layers=4, num_heads=4, num_kv_heads=2)
VIBETHINKER_SHAPE = dict(hidden_size=1536, intermediate_size=8960, num_layers=28, num_heads=12, num_kv_heads=2,
                         vocab_size=151_936, max_position_embeddings=40_960)
QUESTIONS = ["Find the remainder when $3^{2025}$ is divided by $1000$.",
             "Find the sum of all odd positive divisors of $2016$.",
             "How many ordered pairs $(a, b)$ of positive integers satisfy $1/a + 1/b = 1/12$?",
             "Find $a_{10}$ if $a_1 = 1$, $a_2 = 3$ and $a_n = a_{n-1} + 2a_{n-2}$."]


def problem_set(count: int) -> ProblemSet:
    problems = tuple(Problem(id=f"p{i}", kind="math", prompt=QUESTIONS[i % len(QUESTIONS)] + f" (variant {i})",
                             answer=str(100 + i)) for i in range(count))
    return ProblemSet(problems=problems, source="bench.jsonl", digest=f"bench-{count}", layout="solve jsonl")


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))


def raw_backend(backend, model_ref: str, problems: ProblemSet, k: int, sampling: SamplingSettings,
                concurrency: int, per_sample: bool) -> int:
    """The same generate calls the runner makes, and nothing else. Returns the tokens generated."""
    jobs = []
    for problem in problems.problems:
        messages = tuple(chat_messages(build_prompt(problem.kind, problem.prompt)))
        groups = [[i] for i in range(k)] if per_sample else [list(range(k))]
        for indices in groups:
            settings = sampling.with_(samples=len(indices), seed=sample_seed(sampling.seed, problem.id, indices[0]))
            jobs.append(GenerationJob(messages=messages, settings=settings))
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(lambda job: backend.generate(model_ref, job, lambda event: None, stop), jobs))
    return sum(sum(o.tokens) for o in outcomes)


def overhead_rows(name: str, raw: list[float], runner: list[float], samples: int, tokens: int,
                  raw_cpu: list[float], runner_cpu: list[float]) -> list[str]:
    raw_s, runner_s = statistics.median(raw), statistics.median(runner)
    raw_c, runner_c = statistics.median(raw_cpu), statistics.median(runner_cpu)
    return [name, f"{samples}", f"{tokens:,}", f"{raw_s:.3f} s", f"{runner_s:.3f} s",
            f"{100 * (runner_s / raw_s - 1):+.1f}%", f"{raw_c:.2f} s", f"{runner_c:.2f} s",
            f"{100 * (runner_c / raw_c - 1):+.1f}%"]


def measure(name: str, backend, model_ref: str, workdir: Path, problems: ProblemSet, k: int,
            sampling: SamplingSettings, concurrency: int, reps: int, tokenizer_for=None) -> list[str]:
    per_sample = model_ref.startswith("openai:")
    registry = open_registry(f"sqlite:///{workdir / f'{name}.db'}")
    with unit_of_work(registry) as session:
        session.add(Version(sha="be" * 20, model_ref=model_ref))
    version = resolve_version(registry, "bebebebe")
    grader = Grader()
    runner = EvalRunner(registry, backend, grader, tokenizer_for=tokenizer_for)
    raw_times, runner_times, raw_cpu, runner_cpu, tokens = [], [], [], [], 0
    raw_backend(backend, model_ref, problems, k, sampling, concurrency, per_sample)  # warm-up (model load)
    try:
        for rep in range(reps):
            order = ("raw", "runner") if rep % 2 == 0 else ("runner", "raw")
            for path in order:
                started, cpu = time.perf_counter(), time.process_time()
                if path == "raw":
                    tokens = raw_backend(backend, model_ref, problems, k, sampling, concurrency, per_sample)
                    raw_times.append(time.perf_counter() - started)
                    raw_cpu.append(time.process_time() - cpu)
                else:
                    # a new benchmark name each time: a fresh run, never "already evaluated"
                    spec = EvalSpec(version=version, problem_set=problems, benchmark=f"bench{rep}", k=k,
                                    sampling=sampling, concurrency=concurrency)
                    outcome = runner.run(spec)
                    assert outcome.status == "finished" and outcome.run.samples_done == len(problems.problems) * k
                    runner_times.append(time.perf_counter() - started)
                    runner_cpu.append(time.process_time() - cpu)
    finally:
        grader.close()
    return overhead_rows(name, raw_times, runner_times, len(problems.problems) * k, tokens, raw_cpu, runner_cpu)


def local_overhead(workdir: Path, args) -> list[str]:
    from tiny_model import save_tiny_model

    from vibedash.solve.local import LocalBackend

    model_dir = save_tiny_model(workdir / "cpu-model", seed=0, with_eos=False, **CPU_SHAPE)
    backend = LocalBackend("cpu")
    try:
        return measure("local batched generate (cpu)", backend, str(model_dir), workdir, problem_set(args.problems),
                       args.k[0], SamplingSettings(max_new_tokens=args.tokens), 1, args.reps,
                       tokenizer_for=lambda ref: backend.models.get(ref).tokenizer)
    finally:
        backend.close()


def loopback_overhead(workdir: Path, args) -> list[str]:
    from openai_loopback import ScriptedOpenAIServer

    from vibedash.solve.openai_compat import OpenAICompatBackend

    words = " ".join(f"w{i}" for i in range(args.tokens - 3))
    text = f"<think> {words} </think> \\boxed{{7}}"
    with ScriptedOpenAIServer(lambda body, i: text, token_delay_s=args.token_delay) as server:
        return measure("loopback OpenAI server", OpenAICompatBackend(), server.ref(), workdir,
                       problem_set(args.problems), args.k[0], SamplingSettings(max_new_tokens=args.tokens * 2),
                       args.concurrency, args.reps)


def registry_scale(workdir: Path, samples: int) -> None:
    from sqlalchemy import insert, select

    from vibedash.eval.reports import compare_costs, version_reports
    from vibedash.registry import eval_runs
    from vibedash.registry.models import BenchmarkResult, ProblemResult
    from vibedash.registry.samples import insert_sample_rows

    registry = open_registry(f"sqlite:///{workdir / 'scale.db'}")
    versions, benchmarks, k = 100, 6, 64
    problems = max(1, samples // (versions * benchmarks * k))
    print(f"\nregistry: {versions} versions x {benchmarks} benchmarks x {problems} problems x {k} samples "
          f"= {versions * benchmarks * problems * k:,} samples")
    started = time.perf_counter()
    written = 0
    for v in range(versions):
        with unit_of_work(registry) as session:
            version = Version(sha=f"{v:040x}", model_ref="bench")
            session.add(version)
            session.flush()
            for b in range(benchmarks):
                result = BenchmarkResult(version_id=version.id, benchmark=f"bench{b}", metric="pass@1", score=50.0,
                                         problems=problems, samples_per_problem=k, source_format="bench",
                                         settings={"generation_seconds": 100.0})
                session.add(result)
                session.flush()
                rows, outcomes = [], []
                for p in range(problems):
                    correct = (p * 7 + v) % (k + 1)
                    outcomes.append({"result_id": result.id, "problem_id": f"q{p}", "samples": k, "correct": correct})
                    for i in range(k):
                        rows.append({"result_id": result.id, "run_id": None, "problem_id": f"q{p}", "sample_index": i,
                                     "answer": str(i % 3 if i >= correct else 7), "correct": i < correct,
                                     "output_tokens": 1000 + i, "thinking_tokens": 800 + i, "latency_s": 10.0,
                                     "finish_reason": "stop", "output_z": None})
                session.execute(insert(ProblemResult), outcomes)
                insert_sample_rows(session, rows)
                written += len(rows)
    build_s = time.perf_counter() - started
    print(f"bulk build: {written:,} samples in {build_s:.1f} s ({written / build_s:,.0f} samples/s)")

    def timed(label: str, action, repeat: int = 3) -> list[str]:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            with unit_of_work(registry) as session:
                action(session)
            times.append(time.perf_counter() - started)
        return [label, f"{1000 * statistics.median(times):.1f} ms"]

    last = f"{versions - 1:040x}"
    with unit_of_work(registry) as session:
        version_id = session.scalar(select(Version.id).where(Version.sha == last))
    rows = [timed("Version page: cost + k-curves of 6 results (n_boot 1000)",
                  lambda s: version_reports(s, version_id, n_boot=1_000)),
            timed("Overview: running evaluations", lambda s: eval_runs.active_runs(s)),
            timed("Compare: cost of 2 versions", lambda s: compare_costs(s, [last, f"{0:040x}"])),
            timed("gate facts of one version (cost included)",
                  lambda s: __import__("vibedash.registry.records", fromlist=["x"]).version_facts(
                      s, s.get(Version, version_id)))]
    print_table("page reads (median of 3)", ["read", "time"], rows)
    print(f"database file: {(workdir / 'scale.db').stat().st_size / 1e9:.2f} GB")


def gpu_figures(workdir: Path, args) -> None:
    import torch
    from tiny_model import build_tokenizer, save_tiny_model

    from vibedash.solve.local import LocalBackend

    if not torch.cuda.is_available():
        print("\nno CUDA device: the GPU figures need one (run with --gpu on a machine with a GPU)")
        return
    shape = VIBETHINKER_SHAPE
    model_dir = save_tiny_model(workdir / "vt-shape", seed=0, with_eos=False, dtype=torch.bfloat16, **shape)
    del build_tokenizer
    backend = LocalBackend("cuda")
    rows = []
    try:
        for k in args.k:
            row = measure(f"local k={k} ({torch.cuda.get_device_name(0)})", backend, str(model_dir), workdir,
                          problem_set(args.problems), k, SamplingSettings(max_new_tokens=args.tokens), 1, args.reps,
                          tokenizer_for=lambda ref: backend.models.get(ref).tokenizer)
            tokens = int(row[2].replace(",", ""))
            row.append(f"{tokens / float(row[4].split()[0]):,.0f} tok/s")
            rows.append(row)
    finally:
        backend.close()
    print_table("GPU: VibeThinker-shaped random model (bf16)",
                ["path", "samples", "tokens", "raw wall", "runner wall", "wall overhead", "raw cpu", "runner cpu",
                 "cpu overhead", "runner throughput"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--k", type=int, nargs="+", default=[8])
    parser.add_argument("--tokens", type=int, default=128, help="tokens per sample")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (loopback)")
    parser.add_argument("--token-delay", type=float, default=0.002, help="loopback server seconds per token")
    parser.add_argument("--registry", type=int, metavar="SAMPLES", help="also build a registry of this many samples")
    parser.add_argument("--gpu", action="store_true", help="VibeThinker-shaped model on CUDA at each --k")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--paths", nargs="+", choices=("local", "loopback"), default=["local", "loopback"],
                        help="which overhead measurements to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        if args.gpu:
            gpu_figures(workdir, args)
        elif not args.skip_overhead:
            rows = ([local_overhead(workdir, args)] if "local" in args.paths else []) + (
                [loopback_overhead(workdir, args)] if "loopback" in args.paths else [])
            print_table(f"eval runner vs raw backend ({args.problems} problems x k={args.k[0]}, {args.tokens} tokens "
                        f"per sample, median of {args.reps})",
                        ["path", "samples", "tokens", "raw wall", "runner wall", "wall overhead", "raw cpu",
                         "runner cpu", "cpu overhead"], rows)
        if args.registry:
            registry_scale(workdir, args.registry)


if __name__ == "__main__":
    main()
