"""What the per-sample importers share: grouping samples into per-problem outcomes and a score, and binary
files (zip, parquet) that the text-based SourceFile cannot hold."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from vibedash.importers.base import ProblemOutcome, ResultFileError, SampleOutcome

ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
_DATE_SUFFIX = re.compile(r"_\d{4}-\d{2}-\d{2}T[\d\-.:]+$")


def magic(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(4)
    except OSError:
        return b""


def task_from_file_name(path: Path, prefix: str) -> str | None:
    """``samples_aime25_2025-11-20T10-31-07.123.jsonl`` -> ``aime25`` (the tool's own file naming)."""
    stem = path.name.split(".jsonl")[0].split(".parquet")[0]
    if not stem.startswith(prefix):
        return None
    return _DATE_SUFFIX.sub("", stem[len(prefix):]) or None


def outcomes_and_score(per_problem: dict[str, tuple[float, int]]) -> tuple[tuple[ProblemOutcome, ...], float]:
    """(outcomes with whole correct counts, score 0-100 = mean per-problem accuracy) from problem id ->
    (correct samples, possibly fractional from a mean metric, samples)."""
    outcomes = tuple(ProblemOutcome(problem_id=p, correct=int(round(c)), samples=n)
                     for p, (c, n) in per_problem.items())
    accuracies = [c / n for c, n in per_problem.values() if n]
    score = 100.0 * sum(accuracies) / len(accuracies) if accuracies else 0.0
    return outcomes, round(score, 10)


def stderr_of(per_problem: dict[str, tuple[float, int]]) -> float | None:
    accuracies = [c / n for c, n in per_problem.values() if n]
    if len(accuracies) < 2:
        return None
    mean = sum(accuracies) / len(accuracies)
    variance = sum((a - mean) ** 2 for a in accuracies) / (len(accuracies) - 1)
    return round(100.0 * math.sqrt(variance / len(accuracies)), 10)


def check_samples(path: Path, samples: Sequence[SampleOutcome]) -> None:
    seen: set[tuple[str, int]] = set()
    for sample in samples:
        key = (sample.problem_id, sample.sample_index)
        if key in seen:
            raise ResultFileError(f"{path}: problem {sample.problem_id} has sample {sample.sample_index} twice; "
                                  "export the evaluation again")
        seen.add(key)


def count_tokens(value: object) -> int | None:
    """A token count from a number or a list of token ids."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def first_present(items: Iterable[object]) -> object | None:
    for item in items:
        if item is not None:
            return item
    return None
