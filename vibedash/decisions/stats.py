"""Confidence intervals, tests and paired comparisons over benchmark results (pure functions, 0 to 100 scale).

The unit of uncertainty is the *problem*: a benchmark is a small sample of problems (AIME25 has 30), and
which problems happen to be in it moves a score far more than the sampling noise of 64 generations per
problem. So every interval here treats problems as the sample, never individual generations.

- Two versions are compared *paired*, over the problems both have (never the headline scores of two
  different problem sets): per-problem differences d_i = acc_B - acc_A cancel problem difficulty. The
  interval is Student's t with n - 1 degrees of freedom over the d_i, its variance floored by the
  within-problem binomial variance (Jeffreys-smoothed, so it is never zero: 30/30 against 30/30 is not
  "exactly equal"). Whether the difference is beyond noise is also tested exactly: a paired sign-flip
  permutation test, which at one sample per problem is the exact McNemar test. A difference is *beyond
  noise* only when both agree.
- A single score with per-problem outcomes gets the same t interval; at the edges (every problem solved,
  or none) a Wilson interval over problems.
- Without per-problem outcomes (a source that only gave a headline number) :func:`normal_score_ci` and
  :func:`diff_ci_from_scores` approximate from imported standard errors, or conservatively from the score
  and the number of problems, and return ``None`` when neither is known: the noise is then unknown.

The percentile bootstrap (:mod:`vibedash.decisions.bootstrap`) is kept as an independent cross-check. Every function is deterministic and independent of the order of the input mappings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vibedash.decisions.distributions import (
    normal_quantile,
    normal_sf,
    t_quantile,
)

PerProblem = Mapping[str, tuple[int, int]]

BOOTSTRAP = "bootstrap"
PAIRED_BOOTSTRAP = "paired bootstrap"
NORMAL_APPROXIMATION = "normal approximation"
T_INTERVAL = "t interval over problems"
WILSON_OVER_PROBLEMS = "Wilson interval over problems"
PAIRED_T = "paired t interval"
FROM_STDERR = "from imported standard errors"
EXACT_SIGN_FLIP = "exact sign-flip test"
EXACT_MCNEMAR = "exact McNemar test"
NORMAL_SIGN_FLIP = "sign-flip test (normal approximation)"

POWER = 0.80  # the power at which a minimum detectable effect is quoted

# Exact sign-flip distributions are enumerated up to this many differing problems; beyond it the normal
# approximation of the same permutation distribution is accurate to well under 0.1% in the tail.
_EXACT_MAX_NONZERO = 80
_EXACT_MAX_RANGE = 400_000


@dataclass(frozen=True)
class Interval:
    """A score and its confidence interval, 0 to 100. ``method`` says how the interval was obtained."""

    low: float
    high: float
    estimate: float
    method: str = BOOTSTRAP


@dataclass(frozen=True)
class DiffInterval:
    """Difference B - A in points with its confidence interval, judged on the problems both share.

    ``n_common`` is the number of paired problems; ``None`` for the unpaired approximation from headline
    numbers. ``se`` is the standard error (points), ``p_value`` the two-sided p-value of "no difference"
    (``test`` names the test), ``mde`` the smallest true difference detected with 80% power at this
    confidence (t quantiles times ``se``, plus the exact test's continuity correction), ``correlation`` the between-version correlation of per-problem accuracies. ``only_a`` /
    ``only_b`` name the problems one side lacks; ``headline_delta`` is the difference of the stored
    headline scores, which differs from ``delta`` when the problem sets differ.
    """

    delta: float
    low: float
    high: float
    within_noise: bool  # the interval includes zero, or the exact test cannot reject "no difference"
    n_common: int | None
    method: str = PAIRED_T
    se: float | None = None
    p_value: float | None = None
    test: str | None = None
    df: float | None = None
    mde: float | None = None
    correlation: float | None = None
    confidence: float = 0.95
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()
    headline_delta: float | None = None
    samples_per_problem: float | None = None  # mean samples per problem over both sides
    within_share: float | None = None  # share of the variance of the d_i that more samples would remove

    @property
    def direction(self) -> int:
        """+1 better beyond noise, -1 worse beyond noise, 0 within noise."""
        if self.within_noise:
            return 0
        return 1 if self.low > 0 else -1

    @property
    def mismatched(self) -> int:
        """How many problems only one side has."""
        return len(self.only_a) + len(self.only_b)

    def method_text(self) -> str:
        """E.g. "paired t interval (df 29) over 30 problems, exact McNemar test p = 0.125"."""
        parts = [self.method]
        if self.df is not None and self.method == PAIRED_T:
            parts[0] += f" (df {self.df:g})"
        if self.n_common is not None:
            parts[0] += f" over {self.n_common} problem{'s' if self.n_common != 1 else ''}"
        if self.p_value is not None and self.test:
            parts.append(f"{self.test} p {_p_text(self.p_value)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Flips:
    """Problems that changed between two versions, in natural id order."""

    gained: list[str]  # solved by B, not by A
    lost: list[str]  # solved by A, not by B
    n_common: int = 0  # problems both versions have, the only ones that can flip


# ---------------------------------------------------------------------------------------------------------
# Scores and paired differences from per-problem outcomes


def score_ci(per_problem: PerProblem, *, confidence: float = 0.95, n_boot: int = 10_000,
             seed: int = 0) -> Interval:
    """Interval of a score: Student's t over per-problem accuracies with a within-problem variance floor;
    a Wilson interval over problems when every problem has the same accuracy (all solved, none solved).

    ``n_boot`` and ``seed`` are accepted for compatibility (see :func:`bootstrap_score_ci`).
    """
    _check_bootstrap_args(confidence, n_boot)
    ids = sorted(_validated(per_problem, "per_problem"))
    if not ids:
        raise ValueError("per_problem is empty: a score interval needs at least one problem's outcome")
    correct, samples = _counts(per_problem, ids)
    accuracy = correct / samples
    n = len(ids)
    mean = float(accuracy.mean())
    if n < 2 or float(np.ptp(accuracy)) == 0.0:
        low, high = _wilson(mean, n, normal_quantile(0.5 + confidence / 2))
        return Interval(low=100 * low, high=100 * high, estimate=100 * mean, method=WILSON_OVER_PROBLEMS)
    variance = max(float(accuracy.var(ddof=1)) / n, float(_within_variance(correct, samples).sum()) / n**2)
    half = t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(variance)
    return Interval(low=100 * max(0.0, mean - half), high=100 * min(1.0, mean + half), estimate=100 * mean,
                    method=T_INTERVAL)


def paired_diff_ci(a: PerProblem, b: PerProblem, *, confidence: float = 0.95, n_boot: int = 10_000,
                   seed: int = 0) -> DiffInterval:
    """B - A over the problems both have: paired t interval, exact sign-flip test, power.

    Problems only one side has are left out, named in ``only_a`` / ``only_b``: the delta judged is the
    delta on the common problems. ``n_boot`` and ``seed`` only steer the rare Monte Carlo fallback of the
    sign-flip test (problems with differing sample counts and very many distinct differences).
    """
    _check_bootstrap_args(confidence, n_boot)
    a, b = _validated(a, "a"), _validated(b, "b")
    common = sorted(a.keys() & b.keys())
    if not common:
        raise ValueError(f"the two results have no problem ids in common ({len(a)} vs {len(b)} problems); "
                         "a paired comparison needs results on the same problems")
    correct_a, samples_a = _counts(a, common)
    correct_b, samples_b = _counts(b, common)
    acc_a, acc_b = correct_a / samples_a, correct_b / samples_b
    differences = acc_b - acc_a
    n = len(common)
    mean = float(differences.mean())
    observed = float(differences.var(ddof=1)) if n > 1 else 0.0
    within_each = _within_variance(correct_a, samples_a) + _within_variance(correct_b, samples_b)
    variance = max(observed / n, float(within_each.sum()) / n**2)
    se = math.sqrt(variance)
    df = max(n - 1, 1)
    alpha = 1 - confidence
    half = t_quantile(1 - alpha / 2, df) * se
    low, high = max(-1.0, mean - half), min(1.0, mean + half)
    p_value, test = sign_flip_p_value(correct_a, samples_a, correct_b, samples_b, seed=seed)
    beyond = (low > 0 or high < 0) and p_value < alpha
    unbiased_within = float(np.mean(_unbiased_within(correct_a, samples_a) + _unbiased_within(correct_b, samples_b)))
    within_share = min(1.0, unbiased_within / observed) if observed > 0 else None
    return DiffInterval(
        delta=100 * mean, low=100 * low, high=100 * high, within_noise=not beyond, n_common=n, method=PAIRED_T,
        se=100 * se, p_value=p_value, test=test, df=float(df),
        mde=100 * (detectable_effect(se, df, confidence) + _lattice_correction(n, samples_a, samples_b)),
        correlation=_correlation(acc_a, acc_b), confidence=confidence,
        only_a=tuple(sorted(a.keys() - b.keys(), key=natural_key)),
        only_b=tuple(sorted(b.keys() - a.keys(), key=natural_key)),
        samples_per_problem=float(np.mean(np.concatenate([samples_a, samples_b]))), within_share=within_share)


def _lattice_correction(n: int, samples_a: np.ndarray, samples_b: np.ndarray) -> float:
    """Half a step of the exact test's lattice, in accuracy units: the sum of per-problem differences moves in
    steps of 2 / k under a sign flip, so the exact test needs about 1 / (n k) more than a continuous one (the
    continuity correction); it matters at one sample per problem (3.3 points at n = 30) and fades with k."""
    return 1.0 / (n * float(np.mean(np.concatenate([samples_a, samples_b]))))


def detectable_effect(se: float, df: float, confidence: float = 0.95, power: float = POWER) -> float:
    """The true difference a two-sided test at ``confidence`` detects with probability ``power``,
    for a standard error ``se`` (same units): (t_{1-alpha/2} + t_{power}) * se."""
    return (t_quantile(0.5 + confidence / 2, df) + t_quantile(power, df)) * se


def sign_flip_p_value(correct_a: np.ndarray, samples_a: np.ndarray, correct_b: np.ndarray, samples_b: np.ndarray,
                      *, seed: int = 0) -> tuple[float, str]:
    """Two-sided p-value of "the versions are exchangeable on every problem": the paired sign-flip
    permutation test of the sum of per-problem differences. Exact by enumeration of the distribution
    (at one sample per problem this is the exact McNemar test), or its normal approximation when very
    many problems differ. Returns (p, name of the test)."""
    scale = math.lcm(*(int(k) for k in np.concatenate([samples_a, samples_b])))
    numerators = np.rint(scale * (correct_b / samples_b - correct_a / samples_a)).astype(np.int64)
    nonzero = np.abs(numerators[numerators != 0])
    if nonzero.size == 0:
        return 1.0, EXACT_SIGN_FLIP
    observed = int(abs(numerators.sum()))
    total = int(nonzero.sum())
    one_sample = bool(np.all(samples_a == 1) and np.all(samples_b == 1))
    if nonzero.size <= _EXACT_MAX_NONZERO and 2 * total + 1 <= _EXACT_MAX_RANGE:
        # The distribution of sum(s_i * x_i) over random signs s_i, by convolution: index j is the sum j - total.
        distribution = np.zeros(2 * total + 1)
        distribution[total] = 1.0
        for x in nonzero:
            shifted = np.zeros_like(distribution)
            shifted[x:] += distribution[:-x]
            shifted[:-x] += distribution[x:]
            distribution = 0.5 * shifted
        values = np.abs(np.arange(-total, total + 1))
        p = float(distribution[values >= observed].sum())
        return min(1.0, p), EXACT_MCNEMAR if one_sample else EXACT_SIGN_FLIP
    # Normal approximation of the same permutation distribution (variance sum x_i^2), continuity-corrected.
    z = max(0.0, observed - 0.5) / math.sqrt(float((nonzero.astype(np.float64) ** 2).sum()))
    return min(1.0, 2 * normal_sf(z)), NORMAL_SIGN_FLIP


def holm(p_values: Sequence[float | None], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected with family-wise error at most ``alpha``
    (``None`` entries are not tested and never rejected)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    rejected = [False] * len(p_values)
    for rank, (p, i) in enumerate(tested):
        if p > alpha / (len(tested) - rank):
            break
        rejected[i] = True
    return rejected


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
                    confidence: float = 0.95, stderr: float | None = None) -> Interval | None:
    """Approximate interval of a score known only as a number.

    With an imported standard error (points), score ± z * stderr inside [0, 100]. Otherwise a Wilson
    score interval over problems, deliberately conservative: a per-problem accuracy in [0, 1] whose mean
    is p has variance at most p(1 - p), reached when every problem is either always or never solved, so
    treating each problem as one pass/fail trial bounds the real uncertainty from above whatever the
    number of samples per problem. The Wilson form stays inside [0, 100] and is not degenerate at 0 or 100.

    Returns ``None`` when neither a standard error nor the number of problems is known.
    """
    _check_confidence(confidence)
    _check_score(score, "score")
    if samples_per_problem is not None and samples_per_problem < 1:
        raise ValueError(f"samples_per_problem must be at least 1 (got {samples_per_problem})")
    z = normal_quantile(0.5 + confidence / 2)
    if stderr is not None and stderr > 0:
        return Interval(low=max(0.0, score - z * stderr), high=min(100.0, score + z * stderr),
                        estimate=float(score), method=FROM_STDERR)
    if problems is None:
        return None
    if problems < 1:
        raise ValueError(f"problems must be at least 1 (got {problems})")
    low, high = _wilson(score / 100, problems, z)
    return Interval(low=100 * low, high=100 * high, estimate=float(score), method=NORMAL_APPROXIMATION)


def diff_ci_from_scores(score_a: float, problems_a: int | None, score_b: float, problems_b: int | None, *,
                        confidence: float = 0.95, stderr_a: float | None = None,
                        stderr_b: float | None = None) -> DiffInterval | None:
    """Approximate, unpaired interval of B - A from headline numbers only.

    With both imported standard errors: delta ± z * sqrt(se_a² + se_b²). Otherwise Newcombe's hybrid
    Wilson method over the numbers of problems. Both treat the results as independent; results on the
    same problems are positively correlated, so this is wider than a paired comparison: it can call a
    real difference "within noise", but should not call noise a difference. Returns ``None`` when the
    noise of either side is unknown (no standard error and no number of problems).
    """
    _check_confidence(confidence)
    _check_score(score_a, "score_a")
    _check_score(score_b, "score_b")
    z = normal_quantile(0.5 + confidence / 2)
    delta = score_b - score_a
    if stderr_a and stderr_b and stderr_a > 0 and stderr_b > 0:
        se = math.hypot(stderr_a, stderr_b)
        low, high = max(-100.0, delta - z * se), min(100.0, delta + z * se)
        method = FROM_STDERR
    else:
        interval_a = normal_score_ci(score_a, problems_a, confidence=confidence)
        interval_b = normal_score_ci(score_b, problems_b, confidence=confidence)
        if interval_a is None or interval_b is None:
            return None
        pa, pb = score_a / 100, score_b / 100
        la, ua, lb, ub = (v / 100 for v in (interval_a.low, interval_a.high, interval_b.low, interval_b.high))
        low = 100 * (pb - pa - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2))
        high = 100 * (pb - pa + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2))
        se = (high - low) / (2 * z)
        method = NORMAL_APPROXIMATION
    p_value = 2 * normal_sf(abs(delta) / se) if se > 0 else (1.0 if delta == 0 else 0.0)
    within = low <= 0.0 <= high
    return DiffInterval(delta=delta, low=low, high=high, within_noise=within, n_common=None, method=method,
                        se=se, p_value=min(1.0, p_value), test=None, df=None,
                        mde=(z + normal_quantile(POWER)) * se, confidence=confidence, headline_delta=delta)


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


def _counts(per_problem: PerProblem, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    outcomes = np.array([per_problem[i] for i in ids], dtype=np.int64).reshape(len(ids), 2)
    return outcomes[:, 0], outcomes[:, 1]


def _within_variance(correct: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Each problem's binomial sampling variance of its accuracy, Jeffreys-smoothed (never zero):
    p~(1 - p~) / (k + 1) with p~ = (c + 1/2) / (k + 1). Floors the variance, so 30/30 against 30/30 does
    not give a zero-width interval."""
    smoothed = (correct + 0.5) / (samples + 1.0)
    return smoothed * (1 - smoothed) / (samples + 1.0)


def _unbiased_within(correct: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Unbiased estimate of each problem's sampling variance p(1 - p) / k (0 where k = 1: unknowable)."""
    accuracy = correct / samples
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(samples > 1, accuracy * (1 - accuracy) / np.maximum(samples - 1, 1), 0.0)


def _correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or float(np.ptp(x)) == 0.0 or float(np.ptp(y)) == 0.0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}" if p < 0.1 else f"= {p:.2f}"


def _accuracies(per_problem: PerProblem, ids: list[str]) -> np.ndarray:
    outcomes = np.array([per_problem[i] for i in ids], dtype=np.float64).reshape(len(ids), 2)
    return outcomes[:, 0] / outcomes[:, 1]


def _wilson(p: float, n: int, z: float) -> tuple[float, float]:
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


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
