"""LiveCodeBench output/<model>/<scenario>_<n>_<temperature>_eval.json and ..._eval_all.json.

_eval.json is LiveCodeBench's [metrics, results, metadata]: metrics has "pass@1" (and "pass@5" when
n >= 5) as fractions plus a per-problem "detail"; results maps a problem index to one list of test
outcomes per generation (true = passed, negative codes = failures). A generation is correct when
every outcome is > 0, as in lcb_runner's extract_instance_results.
_eval_all.json is a list of problems with "question_id", "contest_date" and "graded_list" (one
bool per generation); pass@1 is the mean over problems of the fraction correct.

Neither file says which release (v5, v6) it scores. In order, the benchmark comes from the caller,
a "release_v6" / "lcb_v6" / "livecodebench_v6" in the file or folder name (a bare "v6" is not
enough: model versions are named that way too), or, for _eval_all.json, from the contest dates
when they all fall in one release's window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from vibedash.decisions.benchmarks import slugify
from vibedash.importers.base import ParsedResult, ProblemOutcome
from vibedash.importers.common import (
    SourceFile,
    as_number,
    benchmark_key,
    fraction_to_percent,
    short_repr,
)

NAME = "livecodebench"
DESCRIPTION = "LiveCodeBench *_eval.json or *_eval_all.json"

_EXPECTED_EVAL = "LiveCodeBench's _eval.json: a list of [metrics, per-problem results, metadata]"
_EXPECTED_EVAL_ALL = 'LiveCodeBench\'s _eval_all.json: a list of problems with "question_id" and "graded_list"'

# Contest-date windows of the releases as the VibeThinker report evaluates them (eval/code/README.md):
# v5 is release_v5 from 2024-08-01 (279 problems, to January 2025); v6 is release_v6 from 2025-02-01
# (131 problems, to May 2025). End dates are exclusive.
_RELEASE_WINDOWS: tuple[tuple[str, date, date], ...] = (
    ("lcb_v5", date(2024, 8, 1), date(2025, 2, 1)),
    ("lcb_v6", date(2025, 2, 1), date(2025, 6, 1)),
)
# LiveCodeBench names its files "{scenario}_{n}_{temperature}_eval[_all].json".
_RUN_NAME = re.compile(r"_(\d+)_(\d+(?:\.\d+)?)_eval(?:_all)?$")
_RELEASE_IN_NAME = re.compile(r"(?:^|_)(?:release|lcb|livecodebench)_v(\d+)(?:_|$)")
# Checking pass@1 against the per-problem results: they come from the same counts, so only float
# noise may separate them.
_TOLERANCE = 1e-6


def detect(source: SourceFile) -> bool:
    return _is_eval(source.document) or _is_eval_all(source.document)


def _is_eval(document: Any) -> bool:
    return (
        isinstance(document, list)
        and len(document) == 3
        and isinstance(document[0], dict)
        and isinstance(document[1], dict)
        and ("detail" in document[0] or "pass@1" in document[0])
    )


def _is_eval_all(document: Any) -> bool:
    return (
        isinstance(document, list)
        and bool(document)
        and isinstance(document[0], dict)
        and "graded_list" in document[0]
    )


def parse(source: SourceFile, benchmark: str | None = None) -> list[ParsedResult]:
    document = source.require_document(f"{_EXPECTED_EVAL}, or {_EXPECTED_EVAL_ALL}")
    if _is_eval(document):
        return _parse_eval(source, document, benchmark)
    if _is_eval_all(document):
        return _parse_eval_all(source, document, benchmark)
    raise source.error(
        "is not a LiveCodeBench evaluation file", f"this format expects {_EXPECTED_EVAL}, or {_EXPECTED_EVAL_ALL}"
    )


def _parse_eval(source: SourceFile, document: list[Any], benchmark: str | None) -> list[ParsedResult]:
    metrics, per_problem, _metadata = document
    pass_at_1 = as_number(metrics.get("pass@1"))
    if pass_at_1 is None:
        raise source.error(
            f'"pass@1" is {metrics.get("pass@1")!r}, not a number', f"this format expects {_EXPECTED_EVAL}"
        )
    if not per_problem:
        raise source.error("has no per-problem results", "re-run the evaluation with --evaluate")
    outcomes = tuple(
        _graded_generations(source, problem_id, per_problem[problem_id])
        for problem_id in sorted(per_problem, key=_index_order)
    )
    recomputed = sum(outcome.correct / outcome.samples for outcome in outcomes) / len(outcomes)
    if abs(recomputed - pass_at_1) > _TOLERANCE:
        raise source.error(
            f"pass@1 {pass_at_1!r} disagrees with its per-problem results ({recomputed!r})",
            "the file was merged or edited; re-run the evaluation or import the _eval_all.json file",
        )
    key = _benchmark(source, benchmark, dates=[])
    common = _run_fields(source, outcomes)
    results = [
        ParsedResult(
            benchmark=key,
            score=fraction_to_percent(source, pass_at_1, "pass@1"),
            metric="pass@1",
            k=1,
            problem_outcomes=outcomes,
            **common,
        )
    ]
    for name, raw in metrics.items():
        match = re.fullmatch(r"pass@(\d+)", name)
        if match is None or name == "pass@1":
            continue
        value = as_number(raw)
        if value is None:
            raise source.error(f'"{name}" is {raw!r}, not a number', f"this format expects {_EXPECTED_EVAL}")
        results.append(
            ParsedResult(
                benchmark=key,
                score=fraction_to_percent(source, value, name),
                metric=name,
                k=int(match.group(1)),
                is_primary=False,
                **common,
            )
        )
    return results


def _parse_eval_all(source: SourceFile, document: list[Any], benchmark: str | None) -> list[ParsedResult]:
    outcomes: list[ProblemOutcome] = []
    dates: list[date] = []
    seen: set[str] = set()
    for index, problem in enumerate(document):
        if not isinstance(problem, dict) or not isinstance(problem.get("graded_list"), list):
            raise source.error(
                f'problem {index} has no "graded_list"', f"this format expects {_EXPECTED_EVAL_ALL}"
            )
        problem_id = str(problem.get("question_id", index))
        if problem_id in seen:
            raise source.error(f"question_id {problem_id!r} appears twice", "keep one evaluation per problem")
        seen.add(problem_id)
        graded = problem["graded_list"]
        if not graded or not all(isinstance(grade, bool) for grade in graded):
            raise source.error(
                f'problem {problem_id!r} "graded_list" is {short_repr(graded)}',
                "it must hold one true/false per generation",
            )
        outcomes.append(ProblemOutcome(problem_id, correct=graded.count(True), samples=len(graded)))
        if (contest_date := _contest_date(problem.get("contest_date"))) is not None:
            dates.append(contest_date)
    pass_at_1 = sum(outcome.correct / outcome.samples for outcome in outcomes) / len(outcomes)
    # The window the scores cover: a release is defined by its contest dates.
    window = (
        {"contest_date_from": min(dates).isoformat(), "contest_date_to": max(dates).isoformat()} if dates else {}
    )
    return [
        ParsedResult(
            benchmark=_benchmark(source, benchmark, dates),
            score=fraction_to_percent(source, pass_at_1, "pass@1"),
            metric="pass@1",
            k=1,
            problem_outcomes=tuple(outcomes),
            settings=window,
            **_run_fields(source, outcomes),
        )
    ]


def _graded_generations(source: SourceFile, problem_id: str, generations: Any) -> ProblemOutcome:
    if not isinstance(generations, list) or not generations:
        raise source.error(f"problem {problem_id} has no generations", f"this format expects {_EXPECTED_EVAL}")
    correct = 0
    for tests in generations:
        if not isinstance(tests, list) or not all(_is_outcome(test) for test in tests):
            raise source.error(
                f"problem {problem_id} has test results {short_repr(tests)}",
                "each generation must be a list of true/false or numeric outcome codes",
            )
        # lcb_runner's rule, kept exactly so the scores match its own (an empty list counts as passed).
        correct += all(test > 0 for test in tests)
    return ProblemOutcome(str(problem_id), correct=correct, samples=len(generations))


def _is_outcome(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


def _index_order(problem_id: str) -> tuple[int, int | str]:
    return (0, int(problem_id)) if str(problem_id).isdigit() else (1, str(problem_id))


def _contest_date(raw: Any) -> date | None:
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _run_fields(source: SourceFile, outcomes: Sequence[ProblemOutcome]) -> dict[str, Any]:
    """Fields every result of the file shares: problems, samples per problem, temperature, format."""
    sample_counts = {outcome.samples for outcome in outcomes}
    fields: dict[str, Any] = {
        "problems": len(outcomes),
        "samples_per_problem": sample_counts.pop() if len(sample_counts) == 1 else None,
        "source_format": NAME,
    }
    if match := _RUN_NAME.search(source.path.stem):
        fields["temperature"] = float(match.group(2))
    return fields


def _benchmark(source: SourceFile, override: str | None, dates: list[date]) -> str:
    if override is not None:
        return benchmark_key(source, override, "the benchmark given to import")
    for name in (source.path.stem, source.path.parent.name):
        if match := _RELEASE_IN_NAME.search(slugify(name)):
            return f"lcb_v{int(match.group(1))}"
    if dates:
        for key, start, end in _RELEASE_WINDOWS:
            if start <= min(dates) and max(dates) < end:
                return key
    window = f" (contests {min(dates)} to {max(dates)})" if dates else ""
    raise source.error(
        f"cannot tell which LiveCodeBench release this file scores{window}",
        "pass --benchmark lcb_v5 or lcb_v6, or put release_v5 / release_v6 in the file or folder name",
    )
