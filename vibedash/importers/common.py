"""What the format modules share: the file read once, JSON with line numbers, numbers and scales,
benchmark names, and the choice of each benchmark's headline metric."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from vibedash.decisions.benchmarks import canonical_benchmark
from vibedash.importers.base import ParsedResult, ResultFileError

_FIRST_LINE = re.compile(r"\s*([^\n]*)")


@dataclass(frozen=True)
class SourceFile:
    """A result file, read once; every format module detects and parses from this."""

    path: Path
    text: str

    def error(self, problem: str, fix: str | None = None) -> ResultFileError:
        """A one-line error that names the file, says what is wrong and, when known, what to do."""
        return ResultFileError(f"{self.path}: {problem}" + (f"; {fix}" if fix else ""))

    @cached_property
    def _document(self) -> tuple[Any, ValueError | RecursionError | None]:
        return _parse_json(self.text)

    @property
    def document(self) -> Any:
        """The parsed JSON value, or None when the text is not one JSON document."""
        return self._document[0]

    def require_document(self, expected: str) -> Any:
        """The parsed JSON value; a ResultFileError with line and column when it is not valid JSON."""
        value, exc = self._document
        if exc is not None:
            raise self.error(_json_problem(exc), f"this format expects {expected}")
        return value

    @cached_property
    def _records(self) -> tuple[list[tuple[int, Any]] | None, ResultFileError | None]:
        records: list[tuple[int, Any]] = []
        # JSON Lines separates records by "\n" only: str.splitlines would also split at U+2028 and
        # friends, which JSON allows raw inside strings.
        for line_number, line in enumerate(self.text.split("\n"), start=1):
            if not line.strip():
                continue
            value, exc = _parse_json(line)
            if exc is not None:
                return None, self.error(
                    _json_problem(exc, line_number),
                    "every line of a JSON Lines file must be one complete JSON value",
                )
            records.append((line_number, value))
        return records, None

    @property
    def records(self) -> list[tuple[int, Any]] | None:
        """(line number, value) for each line when the text is JSON Lines, else None."""
        return self._records[0]

    def require_records(self, expected: str) -> list[tuple[int, Any]]:
        records, error = self._records
        if error is not None:
            if self.document is not None:
                raise self.error("is one JSON document, not JSON Lines", f"this format expects {expected}")
            raise error
        if not records:
            raise self.error("has no JSON lines", f"this format expects {expected}")
        return records

    @property
    def first_line(self) -> str:
        """The first line that is not blank (without copying the rest of a large file)."""
        match = _FIRST_LINE.match(self.text)
        return match.group(1).rstrip("\r") if match else ""

    def looks_like_json(self) -> bool:
        return self.first_line.lstrip()[:1] in ("{", "[")

    def json_error(self) -> ResultFileError | None:
        """Why text that was meant to be JSON (or JSON Lines) does not parse; None when it does."""
        exc = self._document[1]
        if exc is None or self.records is not None:
            return None
        if _parse_json(self.first_line)[1] is None:
            # The first line is a whole JSON value: JSON Lines, with a broken line further on.
            return self._records[1]
        return self.error(_json_problem(exc), "fix the file or export it again")


def _parse_json(text: str) -> tuple[Any, ValueError | RecursionError | None]:
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:  # also an integer too long to convert, nesting too deep
        return None, exc


def _json_problem(exc: ValueError | RecursionError, line_number: int | None = None) -> str:
    """Where and why JSON did not parse; `line_number` places a JSON Lines record in its file."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON at line {line_number or exc.lineno}, column {exc.colno} ({exc.msg})"
    return f"not valid JSON{f' at line {line_number}' if line_number else ''} ({exc})"


def read_source(path: str | os.PathLike[str]) -> SourceFile:
    """Read a result file as text; a ResultFileError when it is missing, unreadable, binary or empty."""
    path = Path(path)
    if not path.exists():
        raise ResultFileError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise ResultFileError(f"{path}: is a folder; give the result file inside it (e.g. results_*.json)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    try:
        text = data.decode("utf-8-sig")  # a BOM from Windows editors is harmless
    except UnicodeDecodeError as exc:
        raise ResultFileError(
            f"{path}: is not UTF-8 text (byte {exc.start}); result files are JSON, JSON Lines or CSV"
        ) from exc
    if not text.strip():
        raise ResultFileError(f"{path}: the file is empty; export the results again or pick another file")
    return SourceFile(path, text)


class ResultFormat(Protocol):
    """What each format module provides (the modules themselves satisfy it)."""

    NAME: str
    DESCRIPTION: str

    def detect(self, source: SourceFile) -> bool: ...

    def parse(self, source: SourceFile, benchmark: str | None = None) -> list[ParsedResult]: ...


def as_number(value: Any) -> float | None:
    """The value as a float when it is a finite JSON number (booleans and strings are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits: no score, whatever the format
        return None
    return number if math.isfinite(number) else None


def first_csv_row(text: str) -> list[str]:
    """The cells of the first CSV line, or [] when it is not CSV a result file could hold (a field longer than
    the csv module's limit, a stray quote): format detection must never fail on an unknown file."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return []


def as_count(value: Any) -> int | None:
    """A positive whole number (1, 64, 64.0), else None."""
    number = as_number(value)
    if number is None or number < 1 or not number.is_integer():
        return None
    return int(number)


def fraction_to_percent(source: SourceFile, value: float, where: str) -> float:
    """A 0-1 fraction as a 0-100 score; a ResultFileError naming `where` when it is outside 0-1."""
    if not 0.0 <= value <= 1.0:
        raise source.error(f"{where} is {value!r}, outside 0 to 1", "this format stores scores as fractions")
    # Rounding removes binary noise (0.74375 * 100 = 74.37499999999999) and nothing a score can show.
    return round(value * 100.0, 10)


def short_repr(value: Any, limit: int = 60) -> str:
    """repr() cut to fit an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def optional_stderr(value: Any) -> float | None:
    """A fraction-scale standard error as 0-100, or None when absent or not a number (lm-eval writes "N/A")."""
    number = as_number(value)
    return None if number is None or number < 0 else round(number * 100.0, 10)


# Metric names whose values are always 0-1 fractions: a value outside 0-1 is a broken file, not a
# metric on another scale (such as BLEU or perplexity, which are left out instead).
_FRACTION_METRIC = re.compile(
    r"(?:^|_)(?:exact_match|em|acc|acc_norm|extractive_match|quasi_exact_match|accuracy)$|pass@|avg@|maj@"
)


def is_fraction_metric(name: str) -> bool:
    return bool(_FRACTION_METRIC.search(name.split(":", 1)[0]))


_PASS_AT = re.compile(r"pass@(\d+)")


def k_of(metric: str) -> int | None:
    """k of a "pass@k"-style metric name ("pass@1", "pass@64", "exact_match" -> None)."""
    match = _PASS_AT.search(metric)
    return int(match.group(1)) if match else None


def benchmark_key(source: SourceFile, raw: str, where: str) -> str:
    """canonical_benchmark, with a ResultFileError naming the file when the name is unusable."""
    try:
        return canonical_benchmark(raw)
    except ValueError as exc:
        raise source.error(f"{where}: {exc}", "give the benchmark a name with letters or digits") from exc


def override_benchmark(
    source: SourceFile, results: Sequence[ParsedResult], benchmark: str | None
) -> list[ParsedResult]:
    """Put the results of a one-benchmark file under the benchmark the caller names."""
    if benchmark is None:
        return list(results)
    key = benchmark_key(source, benchmark, "the benchmark given to import")
    found = list(dict.fromkeys(result.benchmark for result in results))
    if len(found) > 1:
        raise source.error(
            f"--benchmark {benchmark} names one benchmark but the file holds {len(found)} ({', '.join(found)})",
            "leave --benchmark out to import each under its own name",
        )
    return [replace(result, benchmark=key) for result in results]


def mark_primary(results: Sequence[ParsedResult], rank: Callable[[ParsedResult], Any]) -> list[ParsedResult]:
    """Mark, per benchmark, the result with the lowest rank as primary (the earliest on a tie)."""
    best: dict[str, int] = {}
    for index, result in enumerate(results):
        current = best.get(result.benchmark)
        if current is None or rank(result) < rank(results[current]):
            best[result.benchmark] = index
    return [replace(result, is_primary=best[result.benchmark] == index) for index, result in enumerate(results)]


# Where a result file names no problem id, problems are identified by their text: the same problem gets the same
# id in every run, whatever line it is on. Line numbers are never ids: drop one line and every later "pair" would
# compare two different problems.
PROBLEM_TEXT_KEYS = ("problem", "question", "question_content", "prompt", "input")


def problem_text(record: dict[str, Any]) -> str | None:
    """The problem statement of a record: a text field, or the user turns of a chat prompt; None when absent."""
    for key in PROBLEM_TEXT_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list):  # chat messages: [{"role": "user", "content": "..."}]
            turns = [m.get("content") for m in value
                     if isinstance(m, dict) and m.get("role", "user") == "user" and isinstance(m.get("content"), str)]
            if any(turn.strip() for turn in turns):
                return "\n".join(turns)
    return None


def problem_text_id(text: str) -> str:
    """A stable id from a problem's text (whitespace and case normalised): "text-" and 16 hex digits of SHA-256."""
    normalised = " ".join(text.split()).casefold()
    return "text-" + hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def unpaired_id(source: SourceFile, line_number: int) -> str:
    """An id for a problem with neither an id nor a text: unique to this file, so it never pairs with another run."""
    digest = hashlib.sha256(source.text.encode("utf-8")).hexdigest()[:8]
    return f"unpaired-{digest}-line{line_number}"
