"""Tests of "no difference": the exact paired sign-flip test (the exact McNemar test at one sample per
problem) and Holm's correction across several benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from vibedash.decisions.distributions import normal_sf
from vibedash.decisions.stat_results import (
    EXACT_MCNEMAR,
    EXACT_SIGN_FLIP,
    NORMAL_SIGN_FLIP,
)

# Exact sign-flip distributions are enumerated up to this many differing problems; beyond it the normal
# approximation of the same permutation distribution is accurate to well under 0.1% in the tail.
_EXACT_MAX_NONZERO = 80
_EXACT_MAX_RANGE = 400_000


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
