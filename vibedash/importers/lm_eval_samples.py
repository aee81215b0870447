"""lm-evaluation-harness ``samples_<task>_<datetime>.jsonl`` (written with ``--log_samples``).

One JSON object per document and filter: ``doc_id``, ``doc``, ``target``, ``arguments``
(``{"gen_args_0": {"arg_0": prompt, "arg_1": generation kwargs}}``), ``resps`` (the raw generations, one list per
request), ``filtered_resps`` (after the filter: the extracted answers), ``filter``, ``metrics`` (the names of the
metrics on the line), the hashes, and one key per metric (``"exact_match": 1.0``). The task comes from the file
name. With ``repeats`` a document has several generations; the per-document metric is then a mean, so its
samples are stored without a per-sample verdict and the problem's correct count is the mean times n.
"""

from __future__ import annotations

from typing import Any

from vibedash.importers.base import ParsedResult, SampleOutcome
from vibedash.importers.common import SourceFile, as_number, benchmark_key, override_benchmark
from vibedash.importers.samples_common import check_samples, outcomes_and_score, stderr_of, task_from_file_name

NAME = "lm_eval_samples"
DESCRIPTION = "lm-evaluation-harness samples_*.jsonl (per-sample, --log_samples)"
_EXPECTED = "an lm-evaluation-harness samples file (JSON Lines with doc_id, resps, filtered_resps)"
_PRIMARY_METRICS = ("exact_match", "acc", "acc_norm", "pass@1")


def detect(source: SourceFile) -> bool:
    records = source.records
    if not records:
        return False
    first = records[0][1]
    return isinstance(first, dict) and "doc_id" in first and ("resps" in first or "filtered_resps" in first)


def parse(source: SourceFile, benchmark: str | None = None) -> list[ParsedResult]:
    records = source.require_records(_EXPECTED)
    task = task_from_file_name(source.path, "samples_")
    filters = list(dict.fromkeys(str(r.get("filter", "none")) for _, r in records if isinstance(r, dict)))
    chosen = "none" if "none" in filters else (filters[0] if filters else "none")
    per_problem: dict[str, tuple[float, int]] = {}
    samples: list[SampleOutcome] = []
    metric_name: str | None = None
    generation: dict[str, Any] = {}
    for line, record in records:
        if not isinstance(record, dict) or "doc_id" not in record:
            raise source.error(f"line {line} is not a samples record (no doc_id)", f"this format expects {_EXPECTED}")
        if str(record.get("filter", "none")) != chosen:
            continue
        metric_name = metric_name or _metric(record)
        if metric_name is None:
            raise source.error(f"line {line} has no metric value", "export the samples with --log_samples again")
        value = as_number(record.get(metric_name))
        if value is None or not 0.0 <= value <= 1.0:
            raise source.error(f"line {line}: {metric_name} is {record.get(metric_name)!r}, not a 0-1 value",
                               "fix the file or export it again")
        problem = str(record["doc_id"])
        outputs = _outputs(record.get("resps"))
        answers = _answers(record.get("filtered_resps"), len(outputs))
        n = max(1, len(outputs))
        per_problem[problem] = (value * n, n)
        generation = generation or _generation_kwargs(record.get("arguments"))
        for index in range(n):
            samples.append(SampleOutcome(
                problem_id=problem, sample_index=index, correct=(value >= 0.5) if n == 1 else None,
                answer=answers[index] if index < len(answers) else None,
                output=outputs[index] if index < len(outputs) else None))
    if not per_problem:
        raise source.error(f"has no samples for filter {chosen!r}", "export the samples with --log_samples again")
    check_samples(source.path, samples)
    outcomes, score = outcomes_and_score(per_problem)
    name = metric_name if chosen == "none" else f"{metric_name},{chosen}"
    n_samples = max(n for _, n in per_problem.values())
    result = ParsedResult(
        benchmark=benchmark_key(source, task or source.path.stem, "task name"), score=score, metric=name,
        stderr=stderr_of(per_problem), problems=len(per_problem), samples_per_problem=n_samples,
        temperature=as_number(generation.get("temperature")) if generation.get("do_sample", True) is not False else 0.0,
        top_p=as_number(generation.get("top_p")),
        max_tokens=int(generation["max_gen_toks"]) if isinstance(generation.get("max_gen_toks"), int) else None,
        settings={"task": task, "filter": chosen}, source_format=NAME, problem_outcomes=outcomes,
        samples=tuple(samples))
    return override_benchmark(source, [result], benchmark)


def _metric(record: dict[str, Any]) -> str | None:
    named = [m for m in record.get("metrics") or [] if isinstance(m, str) and m in record]
    for preferred in _PRIMARY_METRICS:
        if preferred in named:
            return preferred
    if named:
        return named[0]
    for preferred in _PRIMARY_METRICS:
        if preferred in record:
            return preferred
    return None


def _outputs(resps: Any) -> list[str]:
    """resps is [[generation, ...]] for a generate_until request (one inner list per request)."""
    if isinstance(resps, list) and resps and isinstance(resps[0], list):
        return [r for r in resps[0] if isinstance(r, str)]
    if isinstance(resps, list):
        return [r for r in resps if isinstance(r, str)]
    return []


def _answers(filtered: Any, n: int) -> list[str | None]:
    if isinstance(filtered, str):
        return [filtered] if n <= 1 else []
    if isinstance(filtered, list):
        flat = filtered[0] if len(filtered) == 1 and isinstance(filtered[0], list) else filtered
        return [a if isinstance(a, str) else None for a in flat]
    return []


def _generation_kwargs(arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, dict):
        return {}
    first = arguments.get("gen_args_0")
    kwargs = first.get("arg_1") if isinstance(first, dict) else None
    return kwargs if isinstance(kwargs, dict) else {}
