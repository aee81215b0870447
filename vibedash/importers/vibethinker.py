"""VibeThinker's own math/GPQA eval output (eval/math, built on rllm's main_evaluation.py).

Two files per run:

- the summary CSV (pass_<hours>h.csv), one appended row per dataset:
  model_path,dataset,pass@1,pass@<n>,cons@<n>,cutoff_raio,mean_response_tokens,run_hours
  with fractions for the scores and "dataset" the parquet file name ("aime25.parquet");
- the per-problem <dataset>.json, JSON Lines: each input row plus "responses" (the n completions)
  and "correctness" (0/1 per completion); the problem id is "extra_info" -> "index". A line without it is
  identified by a hash of its problem text ("prompt", "problem", ...), so runs pair problem by problem
  whatever the line order; never by line number (drop one line and every later pair would be wrong). A line
  with neither gets an id unique to the file: its run still has a score and an interval, but is not paired.
  The result's settings say which ("problem_ids").

pass@1 (the mean of every 0/1 score) is the primary metric; pass@<n> (any sample correct) and
cons@<n> (majority vote) are kept beside it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from vibedash.decisions.benchmarks import canonical_benchmark, slugify
from vibedash.importers.base import ParsedResult, ProblemOutcome
from vibedash.importers.common import (
    SourceFile,
    as_number,
    benchmark_key,
    first_csv_row,
    fraction_to_percent,
    override_benchmark,
    problem_text,
    problem_text_id,
    short_repr,
    unpaired_id,
)

NAME = "vibethinker"
DESCRIPTION = (
    "VibeThinker eval output: the pass_<hours>h.csv summary, or the per-problem <dataset>.json (JSON Lines)"
)

_EXPECTED_CSV = "VibeThinker's summary CSV with columns model_path,dataset,pass@1,pass@<n>,cons@<n>,..."
_EXPECTED_JSONL = 'VibeThinker\'s per-problem JSON Lines, one problem per line with "responses" and "correctness"'
_REQUIRED_COLUMNS = ("model_path", "dataset", "pass@1")
_SAMPLED_COLUMN = re.compile(r"(pass|cons)@(\d+)")
# Numeric columns kept as settings; "cutoff_raio" [sic] is how the script spells it.
_SETTING_COLUMNS = {
    "cutoff_raio": "cutoff_ratio",
    "mean_response_tokens": "mean_response_tokens",
    "run_hours": "run_hours",
}
# VibeThinker's dataset files are named aime, aime25, hmmt25, gpqa: its "aime" is AIME 2024 and its
# "gpqa" is GPQA-Diamond (198 problems), names that mean something broader elsewhere.
_DATASET_ALIASES = {"aime": "aime24", "gpqa": "gpqa_diamond"}


def dataset_benchmark(name: str) -> str:
    """The canonical key of a VibeThinker dataset name ("aime25.parquet" -> "aime25", "aime" -> "aime24")."""
    key = canonical_benchmark(name)
    return _DATASET_ALIASES.get(key, key)


def detect(source: SourceFile) -> bool:
    return _is_summary_csv(source) or _is_problem_lines(source)


def _is_summary_csv(source: SourceFile) -> bool:
    header = first_csv_row(source.first_line)
    return all(column in header for column in _REQUIRED_COLUMNS)


def _is_problem_lines(source: SourceFile) -> bool:
    records = source.records
    return bool(records) and isinstance(records[0][1], dict) and isinstance(records[0][1].get("correctness"), list)


def parse(source: SourceFile, benchmark: str | None = None) -> list[ParsedResult]:
    if _is_summary_csv(source):
        try:
            summary = _parse_summary(source)
        except csv.Error as exc:  # a field past the csv module's size limit, a broken quote
            raise source.error(f"is not valid CSV ({exc})", f"this format expects {_EXPECTED_CSV}") from None
        return override_benchmark(source, summary, benchmark)
    if source.looks_like_json():
        return _parse_problem_lines(source, benchmark)
    raise source.error("is neither VibeThinker's summary CSV nor its per-problem JSON Lines",
                       f"this format expects {_EXPECTED_CSV}, or {_EXPECTED_JSONL}")


def _parse_summary(source: SourceFile) -> list[ParsedResult]:
    reader = csv.DictReader(io.StringIO(source.text.lstrip()))
    header = list(reader.fieldnames or ())
    # pass@<n> and cons@<n> are named after the run's sample count n.
    sampled = {
        column: match
        for column in header
        if column != "pass@1" and (match := _SAMPLED_COLUMN.fullmatch(column)) is not None
    }
    sample_counts = {int(match.group(2)) for match in sampled.values()}
    if len(sample_counts) > 1:
        raise source.error(
            f"columns {', '.join(sampled)} name different sample counts", "keep one run (one n) per file"
        )
    samples = sample_counts.pop() if sample_counts else None

    results: list[ParsedResult] = []
    rows_by_benchmark: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        if None in row:
            raise source.error(f"row {row_number} has more values than the header has columns", "fix that row")
        dataset = (row.get("dataset") or "").strip()
        if not dataset:
            raise source.error(f"row {row_number} has no dataset", "fill in the dataset column")
        try:
            key = dataset_benchmark(dataset)
        except ValueError as exc:
            raise source.error(f"row {row_number}: {exc}", "fill in the dataset column") from exc
        if key in rows_by_benchmark:
            raise source.error(
                f"rows {rows_by_benchmark[key]} and {row_number} are both {key}",
                "keep the row of the run you want to import",
            )
        rows_by_benchmark[key] = row_number
        settings: dict[str, Any] = {"dataset": dataset}
        if row.get("model_path"):
            settings["model_path"] = row["model_path"]
        for column, setting in _SETTING_COLUMNS.items():
            if row.get(column) not in (None, ""):
                settings[setting] = _csv_number(source, row, column, row_number)
        for column, match in (("pass@1", _SAMPLED_COLUMN.fullmatch("pass@1")), *sampled.items()):
            value = _csv_number(source, row, column, row_number)
            results.append(
                ParsedResult(
                    benchmark=key,
                    score=fraction_to_percent(source, value, f"row {row_number} {column}"),
                    metric=column,
                    samples_per_problem=samples,
                    k=int(match.group(2)) if match and match.group(1) == "pass" else None,
                    settings=dict(settings),
                    source_format=NAME,
                    is_primary=column == "pass@1",
                )
            )
    if not results:
        raise source.error("has a header but no rows", "the evaluation wrote no results; re-run it")
    return results


def _csv_number(source: SourceFile, row: dict[str, str], column: str, row_number: int) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise source.error(f"row {row_number} column {column} is {text!r}, not a number", "fix that cell")
    return value


def _parse_problem_lines(source: SourceFile, benchmark: str | None) -> list[ParsedResult]:
    records = source.require_records(_EXPECTED_JSONL)
    outcomes: list[ProblemOutcome] = []
    seen: set[str] = set()
    id_kinds: set[str] = set()
    first_line = records[0][0]
    for line_number, record in records:
        if not isinstance(record, dict):
            raise source.error(
                f"line {line_number} is not a JSON object", f"this format expects {_EXPECTED_JSONL}"
            )
        correctness = record.get("correctness")
        if not (isinstance(correctness, list) and correctness and all(_is_binary(value) for value in correctness)):
            raise source.error(
                f'line {line_number} "correctness" is {short_repr(correctness)}',
                "it must be a non-empty list of 0/1, one per response",
            )
        responses = record.get("responses")
        if isinstance(responses, list) and len(responses) != len(correctness):
            raise source.error(
                f"line {line_number} has {len(responses)} responses but {len(correctness)} correctness values",
                "grade every response (re-run the grading step)",
            )
        if outcomes and len(correctness) != outcomes[0].samples:
            raise source.error(
                f"line {line_number} has {len(correctness)} samples "
                f"but line {first_line} has {outcomes[0].samples}",
                "every problem of one run has the same number of samples; re-run or remove the partial lines",
            )
        problem_id, kind = _problem_id(source, record, line_number)
        id_kinds.add(kind)
        if problem_id in seen:
            raise source.error(
                f"problem {problem_id} appears twice (line {line_number})", "keep one line per problem"
            )
        seen.add(problem_id)
        outcomes.append(ProblemOutcome(problem_id, correct=int(sum(correctness)), samples=len(correctness)))

    key = (
        benchmark_key(source, benchmark, "the benchmark given to import")
        if benchmark is not None
        else _benchmark_from_file_name(source)
    )
    samples = outcomes[0].samples
    total_correct = sum(outcome.correct for outcome in outcomes)
    shared: dict[str, Any] = {
        "benchmark": key,
        "problems": len(outcomes),
        "samples_per_problem": samples,
        "source_format": NAME,
        "settings": {"problem_ids": "; ".join(_ID_KINDS[kind] for kind in sorted(id_kinds))},
    }
    # pass@1 as main_evaluation.py computes it: the mean of every 0/1 score.
    results = [
        ParsedResult(
            score=fraction_to_percent(source, total_correct / (samples * len(outcomes)), "pass@1"),
            metric="pass@1",
            k=1,
            problem_outcomes=tuple(outcomes),
            **shared,
        )
    ]
    if samples > 1:
        solved = sum(1 for outcome in outcomes if outcome.correct)
        results.append(
            ParsedResult(
                score=fraction_to_percent(source, solved / len(outcomes), f"pass@{samples}"),
                metric=f"pass@{samples}",
                k=samples,
                is_primary=False,
                **shared,
            )
        )
    return results


def _benchmark_from_file_name(source: SourceFile) -> str:
    if not slugify(source.path.stem):
        raise source.error("the file name does not name a benchmark", "pass --benchmark (e.g. --benchmark aime25)")
    return dataset_benchmark(source.path.name)


_ID_KINDS = {
    "index": "extra_info.index",
    "text": "a hash of the problem text (no extra_info.index)",
    "unpaired": "none: no extra_info.index and no problem text, so these problems are not paired with other runs",
}


def _problem_id(source: SourceFile, record: dict[str, Any], line_number: int) -> tuple[str, str]:
    """(problem id, how it was found): extra_info.index, else a hash of the problem text, never the line number."""
    extra_info = record.get("extra_info")
    index = extra_info.get("index") if isinstance(extra_info, dict) else None
    if isinstance(index, (int, str)) and not isinstance(index, bool) and str(index).strip():
        return str(index), "index"
    text = problem_text(record)
    if text is not None:
        return problem_text_id(text), "text"
    return unpaired_id(source, line_number), "unpaired"


def _is_binary(value: Any) -> bool:
    return isinstance(value, bool) or as_number(value) in (0.0, 1.0)
