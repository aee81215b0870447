"""Power in plain words: what a comparison can detect, and what it would take to detect the bar.

The variance of a paired difference over n problems has two parts: how much the change differs from
problem to problem (more samples do not remove it; only more problems do) and the sampling noise of k
samples per problem (it shrinks as 1/k). Splitting the observed variance this way answers "would k = 64
detect 3 points?" without re-running anything.
"""

from __future__ import annotations

import math

from vibedash.decisions.stats import DiffInterval, detectable_effect

SAMPLE_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MAX_PROBLEMS_SUGGESTED = 100_000


def detectable_with(diff: DiffInterval, *, samples: float | None = None, problems: int | None = None) -> float | None:
    """The minimum detectable effect (points, 80% power) of this comparison re-run with ``samples`` per
    problem and/or ``problems`` problems; None when the comparison has no standard error."""
    if diff.se is None:
        return None
    n_now = diff.n_common
    k_now = diff.samples_per_problem
    n_new = problems or n_now
    variance = diff.se**2  # of the mean, points²
    if n_now is None or n_new is None:
        # Unpaired, from headline numbers: only the number of problems can be scaled, and only when known.
        return diff.mde if problems is None else None
    per_problem = variance * n_now
    if samples is not None and k_now and diff.within_share is not None:
        within = per_problem * diff.within_share
        per_problem = (per_problem - within) + within * k_now / samples
    df = max(n_new - 1, 1)
    k_new = samples or k_now or 1.0
    # plus half a step of the exact test's lattice, as in DiffInterval.mde
    return detectable_effect(math.sqrt(per_problem / n_new), df, diff.confidence) + 100.0 / (n_new * k_new)


def samples_to_detect(diff: DiffInterval, bar: float) -> int | None:
    """The smallest standard number of samples per problem (1, 2, 4, ... 256) at which ``bar`` points
    would be detected with 80% power on the same problems; None when more samples alone cannot."""
    if bar <= 0 or diff.within_share is None or diff.samples_per_problem is None:
        return None
    for k in SAMPLE_STEPS:
        if k <= diff.samples_per_problem:
            continue
        mde = detectable_with(diff, samples=k)
        if mde is not None and mde <= bar:
            return k
    return None


def problems_to_detect(diff: DiffInterval, bar: float) -> int | None:
    """About how many problems (same samples per problem) would detect ``bar`` points with 80% power."""
    if bar <= 0 or diff.mde is None or diff.n_common is None or diff.mde <= bar:
        return None
    needed = math.ceil(diff.n_common * (diff.mde / bar) ** 2)
    return needed if needed <= MAX_PROBLEMS_SUGGESTED else None


def power_text(diff: DiffInterval, bar: float | None = None) -> str:
    """One clause: "this comparison can detect about 8.2 points (80% power); k = 64 would detect 2",
    or with no standard error, an empty string."""
    if diff.mde is None:
        return ""
    text = f"can detect about {diff.mde:.1f} points (80% power)"
    if bar is None or bar <= 0 or diff.mde <= bar:
        return text
    k = samples_to_detect(diff, bar)
    if k is not None:
        return f"{text}; k = {k} samples per problem would detect {bar:.1f}"
    n = problems_to_detect(diff, bar)
    if n is not None:
        return f"{text}; detecting {bar:.1f} needs about {n:,} problems (more samples alone would not)"
    return text
