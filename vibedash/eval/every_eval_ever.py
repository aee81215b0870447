"""Export a version's results in the Every Eval Ever schema (EvalEval Coalition, schema 0.2.2).

One aggregate JSON object (``eval.schema.json``: model, source, library, one entry per result with its metric,
protocol and uncertainty: standard error and a 95% bootstrap interval over problems) and, where samples exist,
one instance-level record per sample (``instance_level_eval.schema.json``) in a companion JSON Lines file named
by ``detailed_evaluation_results``. Scores are proportions (0-1), as the schema's examples use.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vibedash import __version__
from vibedash.decisions.stats import score_ci
from vibedash.registry.models import BenchmarkResult, ProblemResult, SampleResult, Version
from vibedash.registry.samples import decompress_output

SCHEMA_VERSION = "0.2.2"
INSTANCE_SCHEMA_VERSION = "instance_level_eval_0.2.2"
EXTRACTION = "last \\boxed{} after </think>"
N_BOOT = 10_000


def _strings(values: dict[str, Any]) -> dict[str, str]:
    """additional_details objects take string values only."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()
            if value is not None}


def model_id(version: Version) -> str:
    ref = version.model_ref or ""
    if ref.startswith("openai:"):
        ref = ref[len("openai:"):].split("@", 1)[0]
    return ref if ref and not ref.startswith(("/", ".", "~")) else f"vibedash/{version.sha[:12]}"


def aggregate(session: Session, version: Version, *, instances_file: str | None, instance_rows: int,
              checksum: str | None, retrieved: float | None = None) -> dict[str, Any]:
    retrieved = time.time() if retrieved is None else retrieved
    mid = model_id(version)
    results = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id)
                              .order_by(BenchmarkResult.benchmark, BenchmarkResult.metric)).all()
    entries = []
    for result in results:
        per_problem = {p: (c, n) for p, c, n in session.execute(
            select(ProblemResult.problem_id, ProblemResult.correct, ProblemResult.samples)
            .where(ProblemResult.result_id == result.id))}
        uncertainty: dict[str, Any] = {}
        if result.stderr is not None:
            uncertainty["standard_error"] = {"value": result.stderr / 100, "method": "analytic"}
        if per_problem:
            interval = score_ci(per_problem, n_boot=N_BOOT)
            uncertainty["confidence_interval"] = {"lower": interval.low / 100, "upper": interval.high / 100,
                                                  "confidence_level": 0.95,
                                                  "method": "percentile bootstrap over problems"}
            uncertainty["num_samples"] = len(per_problem)
            uncertainty["num_bootstrap_samples"] = N_BOOT
        settings = dict(result.settings or {})
        protocol = settings.pop("protocol", None) or {}
        generation_args: dict[str, Any] = {"reasoning": True}
        for key, value in (("temperature", result.temperature), ("top_p", result.top_p),
                           ("top_k", protocol.get("top_k")), ("max_tokens", result.max_tokens)):
            if value is not None:
                generation_args[key] = value
        if result.max_tokens:
            generation_args["eval_limits"] = {"token_limit": result.max_tokens}
        parameters = {"k": result.k or 1}
        if result.samples_per_problem:
            parameters["n"] = result.samples_per_problem
        entries.append({
            "evaluation_result_id": f"{result.benchmark}/{result.metric}",
            "evaluation_name": result.benchmark,
            "source_data": {"dataset_name": result.benchmark, "source_type": "other",
                            **({"source_id": result.source_file} if result.source_file else {})},
            "evaluation_timestamp": result.imported_at.isoformat(),
            "metric_config": {
                "evaluation_description": f"{result.metric} on {result.benchmark}, from {result.source_format}",
                "metric_id": "pass_at_k" if result.metric.startswith("pass@") else "accuracy",
                "metric_name": result.metric, "metric_kind": "pass_rate", "metric_unit": "proportion",
                "metric_parameters": parameters, "lower_is_better": False, "score_type": "continuous",
                "min_score": 0.0, "max_score": 1.0,
                "additional_details": _strings({"headline": result.is_primary, "source_format": result.source_format}),
            },
            "score_details": {"score": result.score / 100,
                              **({"uncertainty": uncertainty} if uncertainty else {})},
            "generation_config": {"generation_args": generation_args,
                                  "additional_details": _strings({**protocol, **{
                                      k: v for k, v in settings.items() if k in (
                                          "thinking_budget", "generation_seconds", "energy_joules", "device")}})},
        })
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "evaluation_id": f"vibedash/{mid}/{int(retrieved)}",
        "retrieved_timestamp": str(int(retrieved)),
        "source_metadata": {"source_name": "vibedash registry", "source_type": "evaluation_run",
                            "source_organization_name": "vibedash", "evaluator_relationship": "first_party",
                            "additional_details": _strings({"commit": version.sha, "branch": version.branch})},
        "eval_library": {"name": "vibedash", "version": __version__,
                         "additional_details": _strings({"source_formats": ", ".join(sorted(
                             {r.source_format for r in results}))})},
        "model_info": {"name": f"{version.sha[:7]}" + (f" ({version.branch})" if version.branch else ""), "id": mid,
                       "additional_details": _strings({"commit": version.sha, "model_ref": version.model_ref})},
        "evaluation_results": entries,
    }
    if results:
        document["evaluation_timestamp"] = max(r.imported_at for r in results).isoformat()
    if instances_file and instance_rows:
        document["detailed_evaluation_results"] = {"format": "jsonl", "file_path": instances_file,
                                                   "hash_algorithm": "sha256", "checksum": checksum or "",
                                                   "total_rows": instance_rows}
    return document


def instances(session: Session, version: Version, evaluation_id: str) -> Iterator[dict[str, Any]]:
    """One instance-level record per stored sample, streamed (a result may have hundreds of thousands)."""
    mid = model_id(version)
    results = session.execute(select(BenchmarkResult.id, BenchmarkResult.benchmark, BenchmarkResult.metric)
                              .where(BenchmarkResult.version_id == version.id)).all()
    for result_id, benchmark, metric in results:
        rows = session.execute(select(SampleResult).where(SampleResult.result_id == result_id)
                               .order_by(SampleResult.problem_id, SampleResult.sample_index)
                               .execution_options(yield_per=2_000)).scalars()
        for sample in rows:
            output = decompress_output(sample.output_z)
            details = _strings({"output_tokens": sample.output_tokens, "thinking_tokens": sample.thinking_tokens,
                                "finish_reason": sample.finish_reason})
            record: dict[str, Any] = {
                "schema_version": INSTANCE_SCHEMA_VERSION, "evaluation_id": evaluation_id, "model_id": mid,
                "evaluation_name": benchmark, "evaluation_result_id": f"{benchmark}/{metric}",
                "sample_id": sample.problem_id, "interaction_type": "single_turn",
                "input": {"raw": f"{benchmark} problem {sample.problem_id}", "reference": []},
                "output": {"raw": [output] if output is not None else []},
                "answer_attribution": ([{"turn_idx": 0, "source": "output.raw", "extracted_value": sample.answer,
                                         "extraction_method": EXTRACTION, "is_terminal": True}]
                                       if sample.answer is not None else []),
                "evaluation": {"score": 1.0 if sample.correct else 0.0, "is_correct": bool(sample.correct)},
                "performance": {"latency_ms": None if sample.latency_s is None else round(sample.latency_s * 1000, 3),
                                "additional_details": details},
                "metadata": _strings({"sample_index": str(sample.sample_index),
                                      "graded": "yes" if sample.correct is not None else "no"}),
            }
            yield record


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
