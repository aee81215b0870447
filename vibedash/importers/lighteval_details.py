"""lighteval details: ``details/{model}/{timestamp}/details_{task}_{timestamp}.parquet`` (``--save-details``).

One row per document with three struct columns: ``doc`` (``query``, ``choices``, ``gold_index``, ``task_name``,
``id``, ...), ``model_response`` (``text``: the n generations, ``output_tokens``: their token ids or counts,
``input_tokens``, ...) and ``metric`` (the per-document metric values, e.g. ``{"extractive_match": 1.0}`` or
``{"pass@k:k=1&n=16": 0.5625}``). Older files name them ``__doc__``, ``__model_response__``, ``__metric__``. A
per-document value of a sampled metric is the share of correct samples, so with n > 1 the samples are stored
without a per-sample verdict and the problem's correct count is that share times n.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vibedash.decisions.benchmarks import canonical_benchmark
from vibedash.importers.base import ParsedResult, ResultFileError, SampleOutcome
from vibedash.importers.samples_common import (
    check_samples,
    count_tokens,
    outcomes_and_score,
    stderr_of,
    task_from_file_name,
)

NAME = "lighteval_details"
DESCRIPTION = "lighteval details_*.parquet (per-sample, --save-details)"


def _column(row: dict[str, Any], name: str) -> Any:
    return row.get(name, row.get(f"__{name}__"))


def _primary_metric(names: list[str]) -> str:
    for name in names:  # a pass@1 estimate from the most samples first, as for lighteval results files
        if name.startswith(("pass@k:k=1", "pass@1", "avg@n", "math_pass@1")):
            return name
    for preferred in ("extractive_match", "exact_match", "em", "quasi_exact_match", "acc"):
        if preferred in names:
            return preferred
    return names[0]


def parse_path(path: Path, benchmark: str | None = None) -> list[ParsedResult]:
    try:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    except ImportError:
        raise ResultFileError(f"{path}: reading lighteval details needs pyarrow (pip install pyarrow)") from None
    except Exception as exc:
        raise ResultFileError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0][:200]})") from None
    if not rows or _column(rows[0], "metric") is None:
        raise ResultFileError(f"{path}: has no lighteval detail rows (columns doc, model_response, metric)")
    metric = _primary_metric(sorted(_column(rows[0], "metric")))
    per_problem: dict[str, tuple[float, int]] = {}
    samples: list[SampleOutcome] = []
    task_name = None
    for number, row in enumerate(rows):
        doc = _column(row, "doc") or {}
        response = _column(row, "model_response") or {}
        values = _column(row, "metric") or {}
        value = values.get(metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ResultFileError(f"{path}: row {number + 1}: {metric} is {value!r}, not a 0-1 value")
        task_name = task_name or doc.get("task_name")
        problem = str(doc.get("id") if doc.get("id") not in (None, "") else number)
        texts = [t for t in (response.get("text") or []) if isinstance(t, str)]
        tokens = response.get("output_tokens") or []
        n = max(1, len(texts))
        per_problem[problem] = (float(value) * n, n)
        for index in range(n):
            samples.append(SampleOutcome(
                problem_id=problem, sample_index=index, correct=(value >= 0.5) if n == 1 else None,
                output_tokens=count_tokens(tokens[index]) if index < len(tokens) else None,
                output=texts[index] if index < len(texts) else None))
    check_samples(path, samples)
    outcomes, score = outcomes_and_score(per_problem)
    task = task_name or task_from_file_name(path, "details_") or path.stem
    return [ParsedResult(
        benchmark=canonical_benchmark(benchmark or task), score=score, metric=metric, stderr=stderr_of(per_problem),
        problems=len(per_problem), samples_per_problem=max(n for _, n in per_problem.values()),
        settings={"task": task}, source_format=NAME, problem_outcomes=outcomes, samples=tuple(samples))]
