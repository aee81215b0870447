"""Confidence intervals and paired comparisons over benchmark results (pure functions, 0 to 100 scale).

The unit of uncertainty is the *problem*: a benchmark is a small sample of problems (AIME25 has 30), and
which problems happen to be in it moves a score far more than the sampling noise of 64 generations per
problem. So every interval here resamples problems, never individual generations.

- With per-problem outcomes (problem id -> (correct samples, samples)) we bootstrap: resample problems with
  replacement, score = mean of per-problem accuracies, percentile interval. Two versions are compared
  *paired*: the same resampled problems are applied to both, which cancels problem difficulty and makes the
  interval of the difference much narrower than two separate intervals suggest.
- Without them (a source that only gave a headline number) :func:`normal_score_ci` and
  :func:`diff_ci_from_scores` give a conservative approximation from the score and the number of problems,
  and return ``None`` when the number of problems is unknown: there is nothing honest to say then.

Every function is deterministic for a given seed and independent of the order of the input mappings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

PerProblem = Mapping[str, tuple[int, int]]

BOOTSTRAP = "bootstrap"
PAIRED_BOOTSTRAP = "paired bootstrap"
NORMAL_APPROXIMATION = "normal approximation"

# Cap on resampled values held in memory at once (about 32 MB of indices); larger jobs run in chunks.
_MAX_CELLS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A score and its confidence interval, 0 to 100. ``method`` says how the interval was obtained."""

    low: float
    high: float
    estimate: float
    method: str = BOOTSTRAP


@dataclass(frozen=True)
class DiffInterval:
    """Difference B - A in points with its confidence interval.

    ``n_common`` is the number of problems the paired comparison used; ``None`` for the unpaired
    approximation, which has no problems to pair.
    """

    delta: float
    low: float
    high: float
    within_noise: bool  # the interval includes zero
    n_common: int | None
    method: str = PAIRED_BOOTSTRAP


@dataclass(frozen=True)
class Flips:
    """Problems that changed between two versions, in natural id order."""

    gained: list[str]  # solved by B, not by A
    lost: list[str]  # solved by A, not by B
    n_common: int = 0  # problems both versions have, the only ones that can flip


# ---------------------------------------------------------------------------------------------------------
# Bootstrap intervals from per-problem outcomes


def score_ci(per_problem: PerProblem, *, confidence: float = 0.95, n_boot: int = 10_000,
             seed: int = 0) -> Interval:
    """Bootstrap interval of a score: resample problems, score = mean of per-problem accuracies."""
    _check_bootstrap_args(confidence, n_boot)
    ids = sorted(_validated(per_problem, "per_problem"))
    if not ids:
        raise ValueError("per_problem is empty: a score interval needs at least one problem's outcome")
    accuracy = _accuracies(per_problem, ids)
    means = _bootstrap_means(accuracy, n_boot=n_boot, seed=seed)
    low, high = _percentile_interval(means, confidence)
    return Interval(low=100 * low, high=100 * high, estimate=100 * float(accuracy.mean()), method=BOOTSTRAP)


def paired_diff_ci(a: PerProblem, b: PerProblem, *, confidence: float = 0.95, n_boot: int = 10_000,
                   seed: int = 0) -> DiffInterval:
    """Paired bootstrap of B - A over the problems both have (the same resample applied to both).

    Problems only one side has are left out: they cannot be paired, and the delta reported here is the
    delta on the common problems, which can differ from the difference of the headline scores.
    """
    _check_bootstrap_args(confidence, n_boot)
    common = sorted(_validated(a, "a").keys() & _validated(b, "b").keys())
    if not common:
        raise ValueError(f"the two results have no problem ids in common ({len(a)} vs {len(b)} problems); "
                         "a paired comparison needs results on the same problems")
    # The mean of differences equals the difference of means, so bootstrapping the per-problem
    # differences with one index set is exactly "resample once, apply to both".
    differences = _accuracies(b, common) - _accuracies(a, common)
    means = _bootstrap_means(differences, n_boot=n_boot, seed=seed)
    low, high = _percentile_interval(means, confidence)
    return DiffInterval(delta=100 * float(differences.mean()), low=100 * low, high=100 * high,
                        within_noise=low <= 0.0 <= high, n_common=len(common), method=PAIRED_BOOTSTRAP)


def flipped_problems(a: PerProblem, b: PerProblem, threshold: float = 0.5) -> Flips:
    """Problems whose solved/unsolved status differs between A and B, over the problems both have.

    A problem counts as *solved* when its accuracy (correct / samples) is strictly above ``threshold``:
    with the default 0.5, a strict majority of samples must be correct (32 of 64 is not solved; with a
    single sample, solved means that sample was correct).
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1) (got {threshold}); 0.5 means a majority of samples")
    a, b = _validated(a, "a"), _validated(b, "b")

    def solved(outcome: tuple[int, int]) -> bool:
        correct, samples = outcome
        return correct > threshold * samples

    common = a.keys() & b.keys()
    gained = [p for p in common if solved(b[p]) and not solved(a[p])]
    lost = [p for p in common if solved(a[p]) and not solved(b[p])]
    return Flips(gained=sorted(gained, key=natural_key), lost=sorted(lost, key=natural_key),
                 n_common=len(common))


# ---------------------------------------------------------------------------------------------------------
# Approximations from headline numbers only


def normal_score_ci(score: float, problems: int | None, samples_per_problem: int | None = None, *,
                    confidence: float = 0.95) -> Interval | None:
    """Approximate interval of a score known only as a number: a Wilson score interval over problems.

    This is an approximation, and a deliberately conservative one. A per-problem accuracy in [0, 1] whose
    mean is p has variance at most p(1 - p), reached when every problem is either always or never solved;
    treating each problem as one pass/fail trial therefore bounds the real uncertainty from above, whatever
    the number of samples per problem. Counting problems x samples as independent trials would instead be
    up to sqrt(samples) times too narrow, because problem difficulty, not sampling, dominates. The Wilson
    form keeps the interval inside [0, 100] and non-degenerate at 0 and 100.

    ``samples_per_problem`` is part of the protocol callers have at hand; it is validated, but cannot
    narrow the bound without per-problem outcomes. Returns ``None`` when ``problems`` is unknown.
    """
    _check_confidence(confidence)
    _check_score(score, "score")
    if samples_per_problem is not None and samples_per_problem < 1:
        raise ValueError(f"samples_per_problem must be at least 1 (got {samples_per_problem})")
    if problems is None:
        return None
    if problems < 1:
        raise ValueError(f"problems must be at least 1 (got {problems})")
    low, high = _wilson(score / 100, problems, _z(confidence))
    return Interval(low=100 * low, high=100 * high, estimate=float(score), method=NORMAL_APPROXIMATION)


def diff_ci_from_scores(score_a: float, problems_a: int | None, score_b: float, problems_b: int | None, *,
                        confidence: float = 0.95) -> DiffInterval | None:
    """Approximate, unpaired interval of B - A from headline scores only (Newcombe's hybrid Wilson method).

    Each side gets the conservative interval of :func:`normal_score_ci`, and they are combined as if the
    two results were independent. Results on the same problems are in fact positively correlated, so this
    is wider than a paired bootstrap would be: it can call a real difference "within noise", but should not
    call noise a difference. Returns ``None`` when either number of problems is unknown.
    """
    interval_a = normal_score_ci(score_a, problems_a, confidence=confidence)
    interval_b = normal_score_ci(score_b, problems_b, confidence=confidence)
    if interval_a is None or interval_b is None:
        return None
    pa, pb = score_a / 100, score_b / 100
    la, ua, lb, ub = (v / 100 for v in (interval_a.low, interval_a.high, interval_b.low, interval_b.high))
    delta = pb - pa
    low = delta - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2)
    high = delta + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    return DiffInterval(delta=100 * delta, low=100 * low, high=100 * high, within_noise=low <= 0.0 <= high,
                        n_common=None, method=NORMAL_APPROXIMATION)


# ---------------------------------------------------------------------------------------------------------
# Helpers


def natural_key(problem_id: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders embedded numbers by value: "aime-2" before "aime-10"."""
    # re.split with a capture group alternates text, number, text, ...: even positions are always text and
    # odd positions always numbers, so any two keys compare position by position without type errors.
    parts = re.split(r"(\d+)", problem_id)
    return tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)), problem_id


def _validated(per_problem: PerProblem, name: str) -> PerProblem:
    for problem_id, outcome in per_problem.items():
        if not isinstance(problem_id, str):
            raise ValueError(f"{name} has problem id {problem_id!r}; problem ids must be strings")
        try:
            correct, samples = outcome
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{problem_id!r}] must be a (correct, samples) pair, "
                             f"got {outcome!r}") from None
        if not (_is_int(correct) and _is_int(samples)):
            raise ValueError(f"{name}[{problem_id!r}] must hold whole numbers (correct, samples), got {outcome!r}")
        if samples < 1 or not 0 <= correct <= samples:
            raise ValueError(f"{name}[{problem_id!r}] = {outcome!r} is impossible: need samples >= 1 and "
                             "0 <= correct <= samples")
    return per_problem


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _accuracies(per_problem: PerProblem, ids: list[str]) -> np.ndarray:
    outcomes = np.array([per_problem[i] for i in ids], dtype=np.float64).reshape(len(ids), 2)
    return outcomes[:, 0] / outcomes[:, 1]


def _bootstrap_means(values: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``, vectorised in bounded chunks."""
    rng = np.random.default_rng(seed)
    n = len(values)
    rows_per_chunk = max(1, _MAX_CELLS_PER_CHUNK // n)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_boot)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def _percentile_interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _wilson(p: float, n: int, z: float) -> tuple[float, float]:
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, e.g. 0.95 (got {confidence})")


def _check_bootstrap_args(confidence: float, n_boot: int) -> None:
    _check_confidence(confidence)
    if not _is_int(n_boot) or n_boot < 100:
        raise ValueError(f"n_boot must be a whole number of at least 100 resamples (got {n_boot!r})")


def _check_score(score: float, name: str) -> None:
    if not (isinstance(score, (int, float)) and math.isfinite(score) and 0.0 <= score <= 100.0):
        raise ValueError(f"{name} must be a number from 0 to 100 (got {score!r})")
