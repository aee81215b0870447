"""Benchmark result files in, normalised results out.

    results = load_results("results_2025-11-20T10-31-07.json")           # format sniffed
    results = load_results("codegeneration_8_0.6_eval.json", benchmark="lcb_v6")
    results = load_results("scores.json", format="plain_json")

Each format is one module (see FORMATS) with ``detect(source)`` and ``parse(source, benchmark)``.
Every result has a 0-100 score, a canonical benchmark key (vibedash.decisions.benchmarks), its source format,
and exactly one result per benchmark is primary. A file that cannot be imported whole raises
ResultFileError naming the file and what to fix; nothing is returned from a half-read file.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

from vibedash.importers import (
    evalscope,
    inspect_eval,
    lighteval,
    lighteval_details,
    livecodebench,
    lm_eval,
    lm_eval_samples,
    plain_json,
    vibethinker,
)
from vibedash.importers.base import ParsedResult, ProblemOutcome, ResultFileError
from vibedash.importers.common import ResultFormat, SourceFile, read_source
from vibedash.importers.samples_common import PARQUET_MAGIC, ZIP_MAGIC, magic

__all__ = [
    "FORMATS",
    "ParsedResult",
    "ProblemOutcome",
    "ResultFileError",
    "detect_format",
    "load_results",
]

# In detection order: the most specific shapes first, the free-form plain JSON last.
FORMATS: dict[str, ResultFormat] = {
    module.NAME: module
    for module in (vibethinker, livecodebench, lm_eval, lighteval, evalscope, lm_eval_samples, plain_json)
}
# Binary formats, recognised by their first bytes before the text formats are tried.
BINARY_FORMATS = {inspect_eval.NAME: (ZIP_MAGIC, inspect_eval), lighteval_details.NAME: (PARQUET_MAGIC,
                                                                                          lighteval_details)}


def _supported() -> str:
    binary = [(name, module) for name, (_, module) in BINARY_FORMATS.items()]
    return "; ".join(f"{name} ({module.DESCRIPTION})" for name, module in [*FORMATS.items(), *binary])


def detect_format(path: str | os.PathLike[str]) -> str:
    """The name of the format of a result file (a key of FORMATS or BINARY_FORMATS)."""
    binary = _binary_format(Path(path))
    return binary if binary is not None else _detect(read_source(path))


def _binary_format(path: Path) -> str | None:
    head = magic(path) if path.is_file() else b""
    for name, (signature, _) in BINARY_FORMATS.items():
        if head == signature:
            return name
    return None


def _detect(source: SourceFile) -> str:
    for name, module in FORMATS.items():
        if module.detect(source):
            return name
    if source.looks_like_json() and (error := source.json_error()) is not None:
        raise error
    raise source.error(
        f"not a result format vibedash knows; supported: {_supported()}",
        "if it is one of these, pass --format NAME",
    )


def load_results(
    path: str | os.PathLike[str], format: str | None = None, benchmark: str | None = None
) -> list[ParsedResult]:
    """Read every benchmark result of a file.

    ``format`` skips detection (a key of FORMATS). ``benchmark`` names the benchmark of a file that
    holds one: it is required where the file does not say (a LiveCodeBench file without its release
    in the name) and renames otherwise; a file with several benchmarks refuses it.
    """
    wanted = format.strip().lower().replace("-", "_") if format else None
    binary = _binary_format(Path(path))
    if binary is not None and wanted in (None, binary):
        results = BINARY_FORMATS[binary][1].parse_path(Path(path), benchmark)
        _check(SourceFile(Path(path), ""), results)
        return results
    source = read_source(path)
    if format is None:
        name = _detect(source)
    else:
        name = format.strip().lower().replace("-", "_")
        if name not in FORMATS:
            raise source.error(f"unknown format {format!r}", f"choose one of: {', '.join(FORMATS)}")
    results = FORMATS[name].parse(source, benchmark)
    _check(source, results)
    return results


def _check(source: SourceFile, results: list[ParsedResult]) -> None:
    """What every format promises, checked once: a broken file never yields a partial import."""
    if not results:
        raise source.error("holds no benchmark scores", "check that the evaluation finished and wrote its results")
    seen: dict[tuple[str, str], ParsedResult] = {}
    for result in results:
        where = f"{result.benchmark} {result.metric}"
        if not (math.isfinite(result.score) and 0.0 <= result.score <= 100.0):
            raise source.error(f"{where} score is {result.score!r}, outside 0 to 100", "fix the score in the file")
        if result.stderr is not None and not (math.isfinite(result.stderr) and result.stderr >= 0):
            raise source.error(f"{where} standard error is {result.stderr!r}", "fix it in the file")
        previous = seen.setdefault((result.benchmark, result.metric), result)
        if previous is not result:
            tasks = [str(r.settings.get("task")) for r in (previous, result) if r.settings.get("task")]
            origin = f" (from {' and '.join(tasks)})" if len(tasks) == 2 else ""
            raise source.error(
                f"benchmark {result.benchmark} has metric {result.metric} twice{origin}",
                "keep one of them in the file, or import them from separate files",
            )
    # Format module bugs rather than the file's fault: each module marks one primary per benchmark
    # and names its format.
    primaries = Counter(result.benchmark for result in results if result.is_primary)
    for benchmark in dict.fromkeys(result.benchmark for result in results):
        if primaries[benchmark] != 1:
            raise AssertionError(f"{source.path}: {primaries[benchmark]} primary results for {benchmark}")
    if not all(result.source_format in FORMATS or result.source_format in BINARY_FORMATS for result in results):
        raise AssertionError(f"{source.path}: a result without its source format")
