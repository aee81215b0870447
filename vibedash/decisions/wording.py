"""How the gate's checks word their numbers: shas, points, intervals with their method, near misses."""

from __future__ import annotations

import math

from vibedash.decisions.facts import VersionFacts
from vibedash.decisions.noise import BenchmarkComparison

# Scores are decimals such as 64.1; in floating point 64.1 - 62.1 is 1.99999999999999, which would miss a
# 2-point bar. The tolerance is far below any meaningful difference on a 0 to 100 scale.
EPSILON = 1e-9


def _short(sha: str | None) -> str:
    return (sha or "")[:7]


def _no_result(side: str, version: VersionFacts, benchmark: str) -> str:
    return f"{side} {_short(version.sha)} has no {benchmark} result"


def _diff_text(comparison: BenchmarkComparison) -> str:
    """"+4.2 on 30 shared problems, 95% CI [+1.0, +7.4] (paired t interval (df 29), exact ... p = 0.010)"."""
    diff = comparison.diff
    if diff is None:
        return f"{comparison.delta:+.1f}"
    paired = diff.n_common is not None
    where = f" on {diff.n_common} shared problems" if paired else " (headline scores, unpaired)"
    if paired and diff.headline_delta is not None and abs(diff.headline_delta - diff.delta) > 0.05:
        where += f" (headline {diff.headline_delta:+.1f})"
    known = f"; {comparison.problems_known_from}" if comparison.problems_known_from else ""
    return (f"{diff.delta:+.1f}{where}, {_percent(diff.confidence)} CI [{diff.low:+.1f}, {diff.high:+.1f}]"
            f"{', within noise' if diff.within_noise else ''} ({diff.method_text()}{known})")


def _near(value: float, bar: float, *, signed: bool = False) -> str:
    """``value`` with one decimal, or more when one decimal would print the bar it missed or just made."""
    sign = "+" if signed else ""
    for decimals in range(1, 5):
        shown = f"{value:{sign}.{decimals}f}"
        if abs(value - bar) <= EPSILON or float(shown) != bar:
            return shown
    return shown


def _points(value: float) -> str:
    return f"{value:g} point" if value == 1 else f"{value:g} points"


def _amount(value: float, relative: bool) -> str:
    return f"{value:g}%" if relative else _points(value)


def _percent(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _same(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b

