"""Confidence intervals of a score and of the difference between two versions: from per-problem outcomes
(t over problems with a within-problem variance floor, paired over the problems both share), or
approximated from headline numbers only. See :mod:`vibedash.decisions.stats` for the method."""

from __future__ import annotations

import math

import numpy as np

from vibedash.decisions.detectable_effect import (
    POWER,
    _lattice_correction,
    detectable_effect,
)
from vibedash.decisions.distributions import normal_quantile, normal_sf, t_quantile
from vibedash.decisions.per_problem import (
    PerProblem,
    _correlation,
    _counts,
    _is_int,
    _unbiased_within,
    _validated,
    _within_variance,
    natural_key,
)
from vibedash.decisions.significance import sign_flip_p_value
from vibedash.decisions.stat_results import (
    FROM_STDERR,
    NORMAL_APPROXIMATION,
    PAIRED_T,
    T_INTERVAL,
    WILSON_OVER_PROBLEMS,
    DiffInterval,
    Interval,
)

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
