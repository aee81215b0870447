"""``python -m vibedash eval``: run a problem set on a version and record the result with every sample.

    python -m vibedash eval --commit 3f2a9c1 --problems aime25.jsonl --k 8
    python -m vibedash eval --commit 3f2a9c1 --problems aime25.parquet --k 16 --thinking-budget 1024,4096,16384

Exit codes: 0 recorded (or already recorded with this protocol), 1 version not found or the run failed,
2 bad input (an unreadable problem file, a bad setting), 130 interrupted (the samples so far are kept: run
the same command again to continue).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TextIO

from sqlalchemy import Engine

from vibedash.cli.output import EXIT_FAILED, EXIT_OK, CliError, _dump_json
from vibedash.config import Settings

EXIT_INTERRUPTED = 130


def register(sub: argparse._SubParsersAction) -> None:
    from vibedash.solve.prompts import SamplingSettings

    defaults = SamplingSettings()
    p = sub.add_parser("eval", help="Evaluate a version on a problem set: k samples per problem, graded, recorded "
                       "with every sample (resumable).",
                       description="Run a problem set on a version's backend (local checkpoint: batched generate; "
                       "openai: model: concurrent requests), grade every sample with the solve panel's graders and "
                       "record a benchmark result with its per-problem and per-sample results and its protocol. "
                       "Interrupted runs continue where they stopped when the same command is run again.")
    p.set_defaults(handler=cmd_eval, needs_db=True)
    p.add_argument("--commit", required=True, metavar="SHA", help="the version to evaluate (4+ hex digits)")
    p.add_argument("--problems", required=True, metavar="FILE", help="problem set: the solve panel's JSONL, or a "
                   "dataset as JSONL or parquet with problem/question and answer/solution fields")
    p.add_argument("--benchmark", metavar="NAME", help="benchmark name (default: the file name, e.g. aime25)")
    p.add_argument("--k", type=int, default=8, help="samples per problem (default 8)")
    p.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens,
                   help=f"token cap per sample (default {defaults.max_new_tokens}, VibeThinker's)")
    p.add_argument("--thinking-budget", metavar="N[,N...]", help="thinking budget in tokens; several values run "
                   "a budget sweep, one result per budget")
    p.add_argument("--concurrency", type=int, help="batches or requests in flight (default 1 for a local "
                   "model, 16 for an OpenAI-compatible server)")
    p.add_argument("--temperature", type=float, default=defaults.temperature,
                   help=f"sampling temperature, 0 for greedy (default {defaults.temperature})")
    p.add_argument("--top-p", type=float, default=defaults.top_p, help=f"nucleus sampling (default {defaults.top_p})")
    p.add_argument("--seed", type=int, default=defaults.seed, help="sampling seed (default 0)")
    p.add_argument("--keep-outputs", action="store_true", help="also store every full output (compressed)")
    p.add_argument("--fresh", action="store_true", help="evaluate again even if this protocol was evaluated (or "
                   "half evaluated) before; the new result replaces the old")
    p.add_argument("--json", action="store_true", help="print the recorded results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def parse_budgets(text: str | None) -> list[int | None]:
    if text is None or not text.strip():
        return [None]
    budgets = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or int(part) < 1:
            raise CliError(f"--thinking-budget {text!r}: give whole numbers of tokens, e.g. 1024 or 1024,4096,16384")
        budgets.append(int(part))
    return sorted(set(budgets))


class ProgressPrinter:
    """One progress line, rewritten in place on a terminal; on a pipe, a line every few seconds."""

    def __init__(self, out: TextIO, label: str, interval_s: float = 5.0) -> None:
        self.out, self.label, self.interval_s = out, label, interval_s
        self.tty = hasattr(out, "isatty") and out.isatty()
        self._last = 0.0

    def __call__(self, progress) -> None:
        now = time.monotonic()
        final = progress.done >= progress.total
        if self.tty:
            self.out.write(f"\r{self.label}: {progress.line()}\033[K" + ("\n" if final else ""))
            self.out.flush()
        elif final or now - self._last >= self.interval_s:
            print(f"{self.label}: {progress.line()}", file=self.out, flush=True)
            self._last = now


def cmd_eval(args: argparse.Namespace, settings: Settings, engine: Engine, out: TextIO | None = None) -> int:
    from vibedash.decisions.benchmarks import canonical_benchmark
    from vibedash.eval.problem_sets import load_problem_set
    from vibedash.eval.runner import EvalError, EvalSpec, format_duration, with_budget
    from vibedash.registry.audit import record_event
    from vibedash.registry.eval_runs import EvalRunBusy
    from vibedash.solve.errors import SolveConfigError, SolveError, VersionLookupError
    from vibedash.solve.problems import ProblemFileError
    from vibedash.solve.prompts import SamplingSettings
    from vibedash.solve.versions import resolve_version

    out = out or sys.stdout
    try:
        problem_set = load_problem_set(args.problems)
        sampling = SamplingSettings(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                                    seed=args.seed)
        benchmark = canonical_benchmark(args.benchmark or problem_set.name)
        budgets = parse_budgets(args.thinking_budget)
    except (ProblemFileError, SolveError) as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        version = resolve_version(engine, args.commit)
    except VersionLookupError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    except SolveError as exc:
        raise CliError(str(exc)) from None
    try:
        for budget in budgets:
            with_budget(sampling, budget)  # a budget this build cannot force is refused before anything runs
        specs = [EvalSpec(version=version, problem_set=problem_set, benchmark=benchmark, k=args.k,
                          sampling=sampling, thinking_budget=budget, concurrency=args.concurrency,
                          keep_outputs=args.keep_outputs) for budget in budgets]
    except EvalError as exc:
        raise CliError(str(exc)) from None
    try:
        runner, close = build_runner(engine, settings, version.model_ref)
    except SolveConfigError as exc:
        raise CliError(str(exc)) from None
    recorded = []
    cancel = threading.Event()
    try:
        for number, spec in enumerate(specs, start=1):
            budget = f", thinking budget {spec.thinking_budget}" if spec.thinking_budget else ""
            label = f"{version.short} {spec.benchmark}{budget}"
            if not args.quiet:
                print(f"evaluating {label}: {len(problem_set.problems)} problems x k={spec.k} "
                      f"({problem_set.layout}, {spec.backend_name}, {spec.workers} in flight)"
                      + (f" [{number}/{len(specs)}]" if len(specs) > 1 else ""), file=sys.stderr)
            try:
                outcome = runner.run(spec, on_progress=None if args.quiet else ProgressPrinter(sys.stderr, label),
                                     cancel=cancel, primary=number == len(specs), fresh=args.fresh)
            except EvalRunBusy as exc:
                raise CliError(str(exc)) from None
            except KeyboardInterrupt:
                print("\ninterrupted: the samples recorded so far are kept; run the same command again to "
                      "continue", file=sys.stderr)
                return EXIT_INTERRUPTED
            except EvalError as exc:
                raise CliError(str(exc)) from None
            except SolveError as exc:
                raise CliError(str(exc), EXIT_FAILED) from None
            run = outcome.run
            if outcome.status == "cancelled":
                print(f"cancelled: {run.samples_done} of {run.samples_total} samples recorded; run the same "
                      "command again to continue", file=sys.stderr)
                return EXIT_INTERRUPTED
            if outcome.status == "already" and not args.quiet:
                print(f"{label}: already evaluated with this protocol (run {run.id}); nothing to do",
                      file=sys.stderr)
            elif outcome.resumed and not args.quiet:
                print(f"{label}: continued an interrupted run: {outcome.resumed} samples reused, "
                      f"{outcome.generated} generated", file=sys.stderr)
            recorded.append((spec, run))
            if outcome.status == "finished":
                record_event(engine, kind="eval", actor=settings.actor, target=version.sha, version_sha=version.sha,
                             detail={"benchmark": spec.benchmark, "metric": spec.metric, "run": run.id,
                                     "samples": run.samples_total, "seconds": round(run.elapsed_s, 3)})
    finally:
        close()
    summaries = [result_summary(engine, run.result_id) for _, run in recorded]
    if args.json:
        _dump_json([s for s in summaries if s])
        return EXIT_OK
    for (spec, run), summary in zip(recorded, summaries):
        if summary is None:
            continue
        print(format_summary(version.short, summary, format_duration))
    return EXIT_OK


def build_runner(engine: Engine, settings: Settings, model_ref: str | None):
    """The runner on the version's backend, and a function that releases it."""
    from vibedash.eval.runner import EvalRunner
    from vibedash.solve.engine import parse_cache_budget_gb
    from vibedash.solve.grading import Grader
    from vibedash.solve.openai_compat import OpenAICompatBackend, is_openai_ref

    grader = Grader()
    if is_openai_ref(model_ref):
        backend = OpenAICompatBackend(settings.openai_base_url, settings.openai_api_key)
        runner = EvalRunner(engine, backend, grader, actor=settings.actor)
        return runner, grader.close
    from vibedash.solve.local import LocalBackend

    local = LocalBackend(settings.solve_device or "auto", parse_cache_budget_gb(settings.model_cache_gb))
    runner = EvalRunner(engine, local, grader, actor=settings.actor,
                        tokenizer_for=lambda ref: local.models.get(ref).tokenizer)

    def close() -> None:
        grader.close()
        local.close()

    return runner, close


def result_summary(engine: Engine, result_id: int | None) -> dict | None:
    """A recorded result with its cost of a correct answer and its k-curves' headline points."""
    if result_id is None:
        return None
    from vibedash.eval.reports import result_report
    from vibedash.registry.db import unit_of_work

    with unit_of_work(engine) as session:
        return result_report(session, result_id)


def format_summary(short: str, summary: dict, format_duration) -> str:
    cost = summary.get("cost") or {}
    parts = [f"{short}  {summary['benchmark']:<10} {summary['metric']:<20} {summary['score']:5.1f}"]
    if summary.get("stderr") is not None:
        parts.append(f"± {summary['stderr']:.1f}")
    parts.append(f"({summary['problems']} problems x {summary['samples_per_problem']} samples)")
    curves = summary.get("k_curves") or {}
    for metric in ("pass@k", "maj@k"):
        curve = curves.get(metric)
        if curve and curve["points"]:
            last = curve["points"][-1]
            parts.append(f"{metric.replace('k', str(last['k']))} {last['estimate']:.1f}")
    if cost.get("mean_output_tokens") is not None:
        parts.append(f"{cost['mean_output_tokens']:,.0f} tokens/sample")
    if cost.get("tokens_per_correct") is not None:
        parts.append(f"{cost['tokens_per_correct']:,.0f} tokens/correct")
    seconds = cost.get("seconds_per_correct")
    if seconds is not None:
        parts.append(f"{format_duration(seconds) if seconds >= 1 else f'{seconds:.2f} s'}/correct")
    return "  ".join(parts)


def export_every_eval_ever(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    """`export --format every-eval-ever --commit SHA [-o FILE]`: the aggregate JSON (stdout or FILE) and, where
    samples exist and FILE is given, FILE's stem + ``.samples.jsonl`` with one record per sample."""
    import json
    from pathlib import Path

    from vibedash.eval.every_eval_ever import aggregate, instances, sha256_text
    from vibedash.registry import records as registry
    from vibedash.registry.db import unit_of_work

    if not args.commit:
        raise CliError("--format every-eval-ever exports one version: add --commit SHA")
    with unit_of_work(engine) as session:
        version = registry.find_version(session, args.commit)
        lines: list[str] = []
        instances_name = None
        if args.output:
            output = Path(args.output)
            instances_name = output.with_name(output.name.removesuffix(".json") + ".samples.jsonl").name
            probe = aggregate(session, version, instances_file=None, instance_rows=0, checksum=None)
            lines = [json.dumps(r, ensure_ascii=False) for r in instances(session, version, probe["evaluation_id"])]
            retrieved = float(probe["retrieved_timestamp"])
        else:
            retrieved = None
        text = "\n".join(lines) + ("\n" if lines else "")
        document = aggregate(session, version, instances_file=instances_name if lines else None,
                             instance_rows=len(lines), checksum=sha256_text(text) if lines else None,
                             retrieved=retrieved)
    payload = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        output = Path(args.output)
        output.write_text(payload, encoding="utf-8")
        if lines:
            (output.parent / instances_name).write_text(text, encoding="utf-8")
            print(f"wrote {output} and {output.parent / instances_name} ({len(lines)} samples)", file=sys.stderr)
        else:
            print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(payload)
    return EXIT_OK
