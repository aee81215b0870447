"""The gate's rules: each checks one condition for a candidate against live and says why, with its numbers.

Pure functions over :mod:`vibedash.decisions.facts`. Comparisons with live are like with like and noise-aware
(:mod:`vibedash.decisions.noise`): a check never shows ✓ beside "within noise"; where the data cannot decide it
fails or passes with a warning (⚠) as the policy in force says (see :func:`judging`).
:mod:`vibedash.decisions.gate` reads rules from text and evaluates policies.

The rules live by kind, and this module gathers them: :mod:`vibedash.decisions.rule_base` (Check, Rule,
benchmark names, finding a result), :mod:`vibedash.decisions.candidate_rules` (a minimum score, results
present, the same protocol), :mod:`vibedash.decisions.comparison_rules` (improvement, no regression, a gain
beyond noise) and :mod:`vibedash.decisions.judging` (the policy's settings while rules are checked).
"""

from __future__ import annotations

from vibedash.decisions.candidate_rules import (
    MinScore,
    RequiresBenchmarks,
    SameProtocol,
)
from vibedash.decisions.comparison_rules import (
    ImprovesOverLive,
    NoRegression,
    SignificantImprovement,
)
from vibedash.decisions.judging import (
    _JUDGING,
    FAIL,
    UNDECIDED_CHOICES,
    WARN,
    _baseline,
    _Judging,
    _judging,
    judging,
)
from vibedash.decisions.rule_base import (
    _EPSILON,
    NO_LIVE,
    NO_PER_PROBLEM,
    Check,
    PolicyError,
    Rule,
    _benchmark_tuple,
    _check_benchmark,
    _parse_list,
    find_score,
)
from vibedash.decisions.wording import (  # the wording helpers rules used to carry (cost_rules reads them here)
    EPSILON,
    _amount,
    _diff_text,
    _near,
    _no_result,
    _percent,
    _points,
    _same,
    _short,
)

__all__ = ["FAIL", "NO_LIVE", "NO_PER_PROBLEM", "UNDECIDED_CHOICES", "WARN", "Check", "ImprovesOverLive",
           "MinScore", "NoRegression", "PolicyError", "RequiresBenchmarks", "Rule", "SameProtocol",
           "SignificantImprovement", "_EPSILON", "_Judging", "_baseline", "_benchmark_tuple", "_check_benchmark",
           "_judging", "_parse_list", "_short", "find_score", "judging",
           # wording helpers, as before the split
           "EPSILON", "_JUDGING", "_amount", "_diff_text", "_near", "_no_result", "_percent", "_points", "_same"]
