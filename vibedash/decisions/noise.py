"""Like-with-like comparison of two results on one benchmark, and whether the data can decide at all.

Shared by the gate, Compare and the best candidate so that they never disagree: the delta that is
judged is computed on the problems both results share (never the headline scores of two different
problem sets); a comparison over too few shared problems, over problem sets that differ by more than a
tolerance, or between results whose noise is unknown is *undecided*, and says why in plain words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vibedash.decisions.benchmarks import known_problem_count
from vibedash.decisions.facts import ScoreFact
from vibedash.decisions.stats import (
    FROM_STDERR,
    NORMAL_APPROXIMATION,
    DiffInterval,
    Interval,
    diff_ci_from_scores,
    normal_score_ci,
    paired_diff_ci,
    score_ci,
)

# Interval methods that approximate from headline numbers (shown as "approx.")
APPROXIMATE_METHODS = (NORMAL_APPROXIMATION, FROM_STDERR)

DEFAULT_MIN_PROBLEMS = 10
DEFAULT_MAX_UNSHARED = 0.10
NOISE_UNKNOWN = "noise unknown"
TOO_FEW_PROBLEMS = "too few problems"
SETS_DIFFER = "problem sets differ"


@dataclass(frozen=True)
class NoiseSettings:
    """How comparisons treat noise; a gate policy carries one."""

    confidence: float = 0.95
    # below this many paired problems the verdict is "too few problems to judge"
    min_problems: int = DEFAULT_MIN_PROBLEMS
    # the share of problems only one side has (of the larger set) above which results are flagged as different
    max_unshared: float = DEFAULT_MAX_UNSHARED


@dataclass(frozen=True)
class BenchmarkComparison:
    """new - old on one benchmark: the interval (None when noise is unknown) and, when the data cannot decide,
    ``undecided`` ("too few problems", "problem sets differ", "noise unknown") with ``reason`` in words."""

    diff: DiffInterval | None
    headline_delta: float
    undecided: str | None = None
    reason: str = ""
    problems_known_from: str | None = None  # "known benchmark size" when the count was filled in

    @property
    def delta(self) -> float:
        """The delta that is judged: on shared problems when paired, else the headline difference."""
        return self.diff.delta if self.diff is not None else self.headline_delta

    @property
    def direction(self) -> int:
        """+1 / -1 beyond noise, 0 within noise or undecided."""
        if self.undecided or self.diff is None:
            return 0
        return self.diff.direction


def problem_count(fact: ScoreFact) -> tuple[int | None, str | None]:
    """The number of problems behind a score and where it comes from (None: the result; or the known size)."""
    if fact.problems:
        return fact.problems, None
    if fact.per_problem:
        return len(fact.per_problem), None
    known = known_problem_count(fact.benchmark)
    return (known, "known benchmark size") if known else (None, None)


def score_interval(benchmark: str, score: float, *, per_problem: Mapping[str, tuple[int, int]] | None = None,
                   problems: int | None = None, stderr: float | None = None,
                   confidence: float = 0.95) -> Interval | None:
    """The 95% CI of one score: from per-problem outcomes when there are any, else from the imported standard
    error, else conservatively from the number of problems (the result's, or the benchmark's known size);
    None when the noise is unknown."""
    if per_problem:
        return score_ci(per_problem, confidence=confidence)
    count = problems or known_problem_count(benchmark)
    return normal_score_ci(score, count, confidence=confidence, stderr=stderr)


def compare_facts(old: ScoreFact, new: ScoreFact, settings: NoiseSettings = NoiseSettings()) -> BenchmarkComparison:
    """Compare two results on one benchmark, like with like."""
    headline = new.score - old.score
    if old.per_problem and new.per_problem:
        shared = old.per_problem.keys() & new.per_problem.keys()
        if shared:
            diff = paired_diff_ci(old.per_problem, new.per_problem, confidence=settings.confidence)
            diff = _with_headline(diff, headline)
            larger = max(len(old.per_problem), len(new.per_problem))
            if diff.n_common < settings.min_problems:
                return BenchmarkComparison(diff, headline, TOO_FEW_PROBLEMS,
                                           f"too few problems to judge ({diff.n_common} paired; at least "
                                           f"{settings.min_problems} needed)")
            if diff.mismatched > settings.max_unshared * larger:
                return BenchmarkComparison(diff, headline, SETS_DIFFER, sets_differ_text(diff))
            return BenchmarkComparison(diff, headline)
        return BenchmarkComparison(None, headline, SETS_DIFFER,
                                   f"problem sets differ: no problem in common ({len(old.per_problem)} vs "
                                   f"{len(new.per_problem)} problems)")
    n_old, from_old = problem_count(old)
    n_new, from_new = problem_count(new)
    diff = diff_ci_from_scores(old.score, n_old, new.score, n_new, confidence=settings.confidence,
                               stderr_a=old.stderr, stderr_b=new.stderr)
    if diff is None:
        return BenchmarkComparison(None, headline, NOISE_UNKNOWN,
                                   "noise unknown: no per-problem results, no standard error and no known "
                                   "number of problems")
    return BenchmarkComparison(diff, headline, problems_known_from=from_old or from_new)


def sets_differ_text(diff: DiffInterval, limit: int = 5) -> str:
    """"problem sets differ: 10 live problems missing from the candidate (aime25-021, ...)"."""
    parts = []
    for missing, side in ((diff.only_a, "only the baseline has"), (diff.only_b, "only the other has")):
        if missing:
            named = ", ".join(missing[:limit]) + (", …" if len(missing) > limit else "")
            parts.append(f"{len(missing)} {side} ({named})")
    return f"problem sets differ: {'; '.join(parts)}; judged on the {diff.n_common} shared"


def _with_headline(diff: DiffInterval, headline: float) -> DiffInterval:
    from dataclasses import replace

    return replace(diff, headline_delta=headline)
