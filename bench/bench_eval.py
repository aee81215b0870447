"""Eval runner benchmarks: its overhead over the raw backend, and the per-sample registry at scale.

    python bench/bench_eval.py                       # CPU: local batched generate and a loopback server
    python bench/bench_eval.py --skip-overhead --registry 100000 10000000   # page reads at 100k and 10M samples
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
- registry: first the public write paths' samples/s (an import, the runner's record + finalize; summaries
  included), then for each --registry size a registry built by the bulk path (bench/eval_scale_data.py:
  versions x 6 benchmarks x 30-400 problems x 64 samples, 100,032 samples a version) and the reads of every
  page that shows samples: Version (cost + k-curves of its six results), Compare (cost chart and curves of two
  versions), Overview (its gate and candidate read costs), gate facts, ``show --json``. The per-version shape
  is the same at every size, so the last column (largest registry / smallest) is the flatness: how much a
  page slows down when the registry holds a hundred times more samples.
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
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


def page_reads(registries: list[tuple[Path, int]], repeat: int) -> list[dict[str, float]]:
    """Milliseconds (median of ``repeat``) of each read a page that shows samples makes, on each registry
    (path, versions). The registries take turns read by read, so a change in the machine's load hits them
    alike. "cold" clears the in-process caches first (the curve caches, the registry generation cache): a
    first visit."""
    import contextlib
    import io

    from eval_scale_data import BENCHMARKS, sha_of
    from sqlalchemy import select

    from vibedash.cli.main import main as cli
    from vibedash.decisions import kcurves
    from vibedash.decisions.gate import DEFAULT_POLICY
    from vibedash.eval import reports
    from vibedash.registry import eval_runs, queries
    from vibedash.registry import records as registry
    from vibedash.registry.generation import CACHE
    from vibedash.solve.latency import version_latency_in

    def cold() -> None:
        reports.CURVES.clear()
        kcurves._exact_majority.cache_clear()
        CACHE.clear()

    def reads(path: Path, versions: int) -> dict[str, tuple]:
        url = f"sqlite:///{path}"
        engine = open_registry(url)
        newest, oldest = sha_of(versions - 1), sha_of(0)
        with unit_of_work(engine) as session:
            version_id = session.scalar(select(Version.id).where(Version.sha == newest))

        def read(action):
            def run() -> None:
                with unit_of_work(engine) as session:
                    action(session)
            return run

        def version_page(session) -> None:
            reports.version_reports(session, version_id, n_boot=1_000)
            reports.budget_sweep(session, version_id)

        def compare_page(session) -> None:
            costs = reports.compare_costs(session, [newest, oldest])
            for benchmark in sorted({row["benchmark"] for row in costs}):
                reports.compare_curves(session, [newest, oldest], benchmark)

        def overview_page(session) -> None:
            queries.overview(session, DEFAULT_POLICY)
            eval_runs.active_runs(session)

        def show_json() -> None:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                assert cli(["--db", url, "show", newest, "--json"]) == 0
            assert '"evaluations"' in out.getvalue()

        return {
            "Version: cost + k-curves of 6 results, cold": (read(version_page), cold),
            "Version: the same, warm (curve cache)": (read(version_page), None),
            f"Compare 2 versions: cost chart + curves of {len(BENCHMARKS)} benchmarks, cold":
                (read(compare_page), cold),
            "Overview (counts, live, best candidate's gate, trend, running evals), cold": (read(overview_page), cold),
            "Version: latency percentiles over its samples, cold": (read(lambda s: version_latency_in(s, version_id)),
                                                                    cold),
            "gate facts of one version (cost included)":
                (read(lambda s: registry.version_facts(s, s.get(Version, version_id))), None),
            "show --json (CLI, in process, cold)": (show_json, cold),
        }

    plans = [reads(path, versions) for path, versions in registries]
    times: list[dict[str, list[float]]] = [{name: [] for name in plan} for plan in plans]
    for name in plans[0]:
        for _ in range(repeat):
            for plan, figures in zip(plans, times):
                action, before = plan[name]
                if before is not None:
                    before()
                else:
                    action()  # warm: the first read fills the caches
                started = time.perf_counter()
                action()
                figures[name].append(time.perf_counter() - started)
    return [{name: 1000 * statistics.median(values) for name, values in figures.items()} for figures in times]


def write_path(workdir: Path, samples: int) -> list[list[str]]:
    """samples/s of the public write paths: an import (import_results with per-sample results) and the eval
    runner's (record_samples a problem's k samples at a time, then finalize), summaries included."""
    from vibedash.importers.base import ParsedResult, SampleOutcome
    from vibedash.registry import eval_runs
    from vibedash.registry import records as registry

    k = 64
    problems = max(1, samples // k)
    outcomes = [SampleOutcome(problem_id=f"p{p}", sample_index=i, correct=(i + p) % 3 == 0, answer=str((i + p) % 5),
                              output_tokens=1000 + i, thinking_tokens=800 + i, latency_s=0.5, finish_reason="stop")
                for p in range(problems) for i in range(k)]
    engine = open_registry(f"sqlite:///{workdir / 'write-path.db'}")
    with unit_of_work(engine) as session:
        version = registry.record_version(session, "feed" * 10)
        version_id = version.id
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        registry.import_results(session, session.get(Version, version_id), [ParsedResult(
            benchmark="bench", score=33.3, samples_per_problem=k, samples=tuple(outcomes))])
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    run_id, _, _ = eval_runs.start_or_resume(engine, version_id=version_id, benchmark="runner", metric="pass@1",
                                             protocol_key="b" * 64, protocol={}, problems_file=None,
                                             problems=problems, samples_total=len(outcomes), actor="bench")
    for p in range(problems):
        eval_runs.record_samples(engine, run_id, outcomes[p * k:(p + 1) * k], elapsed_s=1.0)
    eval_runs.finalize(engine, run_id, settings={}, temperature=0.6, top_p=0.95, max_tokens=4096, k=k,
                       source_file=None)
    runner_s = time.perf_counter() - started
    engine.dispose()
    n = len(outcomes)
    return [["import (import_results, one transaction)", f"{n:,}", f"{import_s:.2f} s", f"{n / import_s:,.0f}"],
            [f"eval runner (record_samples x {problems}, finalize)", f"{n:,}", f"{runner_s:.2f} s",
             f"{n / runner_s:,.0f}"]]


def registry_scale(workdir: Path, sizes: list[int], repeat: int) -> None:
    """Per-sample registries of each size (bulk path), then the page reads on each, small against large."""
    from eval_scale_data import SAMPLES_PER_VERSION, build_sample_registry, versions_for

    print_table("public write paths (summaries written in the same transaction)",
                ["path", "samples", "time", "samples/s"], write_path(workdir, 100_000))
    registries, labels = [], []
    for size in sizes:
        versions = max(2, versions_for(size))  # Compare needs two versions
        path = workdir / f"samples-{versions}v.db"
        build = build_sample_registry(path, versions)
        written = int(build.pop("samples_written"))
        total = sum(build.values())
        print(f"\nregistry: {versions} versions x 6 benchmarks x 30-400 problems x 64 samples "
              f"({SAMPLES_PER_VERSION:,} a version) = {written:,} samples, {path.stat().st_size / 1e9:.2f} GB, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"bulk build: {total:.1f} s ({written / total:,.0f} samples/s): "
              + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in build.items()))
        registries.append((path, versions))
        labels.append(f"{written / 1e6:.2f}M samples")
    columns = page_reads(registries, repeat)
    header = [f"read (median of {repeat}, registries taking turns)", *labels]
    rows = []
    for name in columns[0]:
        row = [name] + [f"{figures[name]:.1f} ms" for figures in columns]
        if len(columns) > 1:
            row.append(f"{columns[-1][name] / columns[0][name]:.2f}x")
        rows.append(row)
    if len(columns) > 1:
        header.append("large / small")
    print_table(f"page reads that show samples (load average {os.getloadavg()[0]:.1f})", header, rows)


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
    parser.add_argument("--registry", type=int, nargs="+", metavar="SAMPLES",
                        help="build per-sample registries of about these many samples (100 versions = 10,003,200) "
                             "with the bulk path and time the page reads on each; the last against the first")
    parser.add_argument("--repeat", type=int, default=3, help="page reads: median of this many")
    parser.add_argument("--workdir", type=Path, help="where the registries are built (default: a temp folder, "
                                                      "removed at the end)")
    parser.add_argument("--gpu", action="store_true", help="VibeThinker-shaped model on CUDA at each --k")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--paths", nargs="+", choices=("local", "loopback"), default=["local", "loopback"],
                        help="which overhead measurements to run")
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
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
            registry_scale(workdir, args.registry, args.repeat)


if __name__ == "__main__":
    main()
