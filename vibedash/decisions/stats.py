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

The code lives by responsibility, and this module gathers its public names: :mod:`vibedash.decisions.per_problem`
(the outcomes, validated and counted; flipped problems), :mod:`vibedash.decisions.stat_results` (Interval,
DiffInterval, method names), :mod:`vibedash.decisions.intervals` (the intervals), :mod:`vibedash.decisions.significance`
(the exact test, Holm) and :mod:`vibedash.decisions.detectable_effect` (the minimum detectable effect).
"""

from __future__ import annotations

from vibedash.decisions.detectable_effect import (
    POWER,
    _lattice_correction,
    detectable_effect,
)
from vibedash.decisions.intervals import (
    _check_bootstrap_args,
    _check_confidence,
    _check_score,
    _wilson,
    diff_ci_from_scores,
    normal_score_ci,
    paired_diff_ci,
    score_ci,
)
from vibedash.decisions.per_problem import (
    Flips,
    PerProblem,
    _accuracies,
    _correlation,
    _counts,
    _is_int,
    _unbiased_within,
    _validated,
    _within_variance,
    flipped_problems,
    natural_key,
)
from vibedash.decisions.significance import (
    _EXACT_MAX_NONZERO,
    _EXACT_MAX_RANGE,
    holm,
    sign_flip_p_value,
)
from vibedash.decisions.stat_results import (
    BOOTSTRAP,
    EXACT_MCNEMAR,
    EXACT_SIGN_FLIP,
    FROM_STDERR,
    NORMAL_APPROXIMATION,
    NORMAL_SIGN_FLIP,
    PAIRED_BOOTSTRAP,
    PAIRED_T,
    T_INTERVAL,
    WILSON_OVER_PROBLEMS,
    DiffInterval,
    Interval,
    _p_text,
)

__all__ = ["BOOTSTRAP", "EXACT_MCNEMAR", "EXACT_SIGN_FLIP", "FROM_STDERR", "NORMAL_APPROXIMATION", "NORMAL_SIGN_FLIP",
           "PAIRED_BOOTSTRAP", "PAIRED_T", "POWER", "T_INTERVAL", "WILSON_OVER_PROBLEMS", "DiffInterval", "Flips",
           "Interval", "PerProblem", "_EXACT_MAX_NONZERO", "_EXACT_MAX_RANGE", "_accuracies", "_check_bootstrap_args",
           "_check_confidence", "_check_score", "_correlation", "_counts", "_is_int", "_lattice_correction",
           "_p_text", "_unbiased_within", "_validated", "_wilson", "_within_variance", "detectable_effect",
           "diff_ci_from_scores", "flipped_problems", "holm", "natural_key", "normal_score_ci", "paired_diff_ci",
           "score_ci", "sign_flip_p_value"]
