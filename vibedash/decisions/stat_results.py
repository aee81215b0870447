"""What the statistics give back: a score with its interval, a difference with its interval, test and power,
and the names of the methods that produced them (shown beside every interval)."""

from __future__ import annotations

from dataclasses import dataclass

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
    confidence (t quantiles times ``se``, plus the exact test's continuity correction), ``correlation`` the
    between-version correlation of per-problem accuracies. ``only_a`` / ``only_b`` name the problems one side
    lacks; ``headline_delta`` is the difference of the stored headline scores, which differs from ``delta``
    when the problem sets differ.
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


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}" if p < 0.1 else f"= {p:.2f}"
