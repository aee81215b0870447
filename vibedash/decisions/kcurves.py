"""k-curves from stored samples: pass@k, pass^k and majority vote@k for every k up to n, each with a
confidence band (pure functions, 0 to 100 scale).

- **pass@k** (at least one of k samples correct) uses the unbiased estimator of Chen et al. 2021 (the Codex
  paper): for a problem with n samples of which c are correct, ``1 - C(n-c, k) / C(n, k)``, averaged over
  problems. It needs only per-problem counts.
- **pass^k** (all k samples correct, the reliability view) is ``C(c, k) / C(n, k)`` per problem, also from
  counts.
- **maj@k** (the majority answer of k samples is correct, self-consistency) needs every sample's extracted
  answer. Per problem it is the expected outcome over the k-subsets of the n samples: enumerated exactly when
  there are few subsets, else estimated from a fixed-seed draw of subsets. Samples without an answer do not
  vote; a tie between answers counts as the share of tied answers that are correct (the solve panel breaks
  ties by first appearance, which over a random order is the same expectation).

Bands resample problems (the unit of uncertainty, as in :mod:`vibedash.decisions.stats`): a percentile
bootstrap of the mean of the per-problem values, deterministic for a seed. k runs from 1 to the smallest n
among the problems, so every point uses every problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

PASS_AT_K = "pass@k"
PASS_HAT_K = "pass^k"
MAJORITY_AT_K = "maj@k"
EXACT_SUBSET_LIMIT = 5_000  # enumerate every k-subset of a problem's samples up to this many
MONTE_CARLO_DRAWS = 256
# maj@k costs a draw of subsets per (problem, k): past this many samples it is drawn at k = 1, 2, 4, ... and n
# (a page reads six 64-sample results in well under a second), every k below it.
MAJORITY_EVERY_K_UP_TO = 16


@dataclass(frozen=True)
class CurvePoint:
    k: int
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class KCurve:
    metric: str
    points: tuple[CurvePoint, ...]
    problems: int
    samples_per_problem: int  # the smallest n among the problems: the largest k
    confidence: float = 0.95

    def at(self, k: int) -> CurvePoint:
        for point in self.points:
            if point.k == k:
                return point
        raise KeyError(f"{self.metric} has no point at k={k} (k runs 1 to {self.samples_per_problem})")

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "problems": self.problems, "n": self.samples_per_problem,
                "confidence": self.confidence,
                "points": [{"k": p.k, "estimate": round(p.estimate, 6), "low": round(p.low, 6),
                            "high": round(p.high, 6)} for p in self.points]}


# --- per-problem estimators -------------------------------------------------------------------------------

def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    _check(n, c, k)
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k)/C(n, k) as a product: stable where the binomials overflow a float.
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that all k samples drawn without replacement from n (c correct) are correct."""
    _check(n, c, k)
    if c < k:
        return 0.0
    return float(np.prod((c - np.arange(k)) / (n - np.arange(k))))


def _check(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


def majority_at_k(answers: Sequence[str | None], correct_answers: set[str], k: int, *, seed: int = 0) -> float:
    """Expected correctness of the majority answer of k of these samples (answers already normalised for
    counting; None for a sample without an answer)."""
    n = len(answers)
    _check(n, 0, k)
    keys = sorted({a for a in answers if a is not None})
    group = np.array([keys.index(a) if a is not None else -1 for a in answers])
    good = np.array([key in correct_answers for key in keys], dtype=bool)
    if not len(keys) or not good.any():
        return 0.0
    if math.comb(n, k) <= EXACT_SUBSET_LIMIT:
        subsets = np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)
    else:
        rng = np.random.default_rng([seed, n, k])
        subsets = np.argsort(rng.random((MONTE_CARLO_DRAWS, n)), axis=1)[:, :k]
    chosen = group[subsets]  # subsets x k
    groups = len(keys)
    # Votes per (subset, answer) by one bincount over offset ids; unanswered samples go to a spare column.
    offsets = np.where(chosen >= 0, chosen, groups) + (groups + 1) * np.arange(len(chosen))[:, None]
    counts = np.bincount(offsets.ravel(), minlength=len(chosen) * (groups + 1)).reshape(len(chosen), groups + 1)
    counts = counts[:, :groups]
    top = counts.max(axis=1)
    tied = (counts == top[:, None]) & (top[:, None] > 0)
    credit = np.where(top > 0, (tied & good).sum(axis=1) / np.maximum(tied.sum(axis=1), 1), 0.0)
    return float(credit.mean())


# --- curves -----------------------------------------------------------------------------------------------

def _band(values: np.ndarray, confidence: float, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap (resampling problems = rows) of the column means."""
    problems = values.shape[0]
    rng = np.random.default_rng(seed)
    means = np.empty((n_boot, values.shape[1]))
    step = max(1, 2_000_000 // max(1, problems * values.shape[1]))
    for start in range(0, n_boot, step):
        rows = rng.integers(0, problems, size=(min(step, n_boot - start), problems))
        means[start:start + rows.shape[0]] = values[rows].mean(axis=1)
    alpha = (1 - confidence) / 2
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def majority_ks(n: int) -> list[int]:
    """The k at which maj@k is drawn: every k up to MAJORITY_EVERY_K_UP_TO, else powers of two and n."""
    if n <= MAJORITY_EVERY_K_UP_TO:
        return list(range(1, n + 1))
    ks = [1 << i for i in range(n.bit_length()) if 1 << i < n]
    return ks + [n]


def _curve(metric: str, values: np.ndarray, n_min: int, confidence: float, n_boot: int, seed: int,
           ks: list[int] | None = None) -> KCurve:
    ks = ks or list(range(1, values.shape[1] + 1))
    estimate = values.mean(axis=0)
    if values.shape[0] > 1:
        low, high = _band(values, confidence, n_boot, seed)
    else:  # one problem: nothing to resample
        low, high = estimate, estimate
    points = tuple(CurvePoint(k=k, estimate=100 * float(estimate[i]), low=100 * float(min(low[i], estimate[i])),
                              high=100 * float(max(high[i], estimate[i]))) for i, k in enumerate(ks))
    return KCurve(metric=metric, points=points, problems=values.shape[0], samples_per_problem=n_min,
                  confidence=confidence)


def count_curve(per_problem: Mapping[str, tuple[int, int]], metric: str = PASS_AT_K, *, confidence: float = 0.95,
                n_boot: int = 2_000, seed: int = 0) -> KCurve | None:
    """pass@k or pass^k for k = 1..min n from problem id -> (correct, samples); None without problems."""
    counts = [(c, n) for _, (c, n) in sorted(per_problem.items()) if n > 0]
    if not counts:
        return None
    if metric not in (PASS_AT_K, PASS_HAT_K):
        raise ValueError(f"unknown count curve {metric!r}")
    n_min = min(n for _, n in counts)
    values = np.array([_count_row(metric, n, c, n_min) for c, n in counts])
    return _curve(metric, values, n_min, confidence, n_boot, seed)


def _count_row(metric: str, n: int, c: int, k_max: int) -> np.ndarray:
    """pass@k (or pass^k) of one problem for k = 1..k_max, all at once: the products of pass_at_k / pass_hat_k
    built up cumulatively."""
    k = np.arange(1, k_max + 1)
    if metric == PASS_AT_K:
        # C(n-c, k)/C(n, k) = prod_{i<k} (n-c-i)/(n-i): zero once k > n-c
        ratios = np.clip((n - c - np.arange(k_max)) / (n - np.arange(k_max)), 0.0, None)
        return 1.0 - np.cumprod(ratios)
    ratios = np.clip((c - np.arange(k_max)) / (n - np.arange(k_max)), 0.0, None)
    return np.where(k <= c, np.cumprod(ratios), 0.0)


def majority_curve(samples: Mapping[str, Sequence[tuple[str | None, bool | None]]], *,
                   key: Callable[[str], str] = str.strip, confidence: float = 0.95, n_boot: int = 2_000,
                   seed: int = 0) -> KCurve | None:
    """maj@k for k = 1..min n from problem id -> [(answer, correct)] per sample; None when no sample of any
    problem has an answer. ``key`` normalises answers for counting (the solve panel's ``vote_key``)."""
    problems = sorted(samples)
    if not problems or not any(a is not None for p in problems for a, _ in samples[p]):
        return None
    n_min = min(len(samples[p]) for p in problems)
    if n_min == 0:
        return None
    ks = majority_ks(n_min)
    rows = []
    for index, problem in enumerate(problems):
        normalised = [key(a) if a is not None and a.strip() else None for a, _ in samples[problem]]
        correct_keys = {k for k, (_, ok) in zip(normalised, samples[problem]) if k is not None and ok}
        rows.append([majority_at_k(normalised, correct_keys, k, seed=seed + index) for k in ks])
    return _curve(MAJORITY_AT_K, np.array(rows), n_min, confidence, n_boot, seed, ks)


def curves_for(per_problem: Mapping[str, tuple[int, int]],
               samples: Mapping[str, Sequence[tuple[str | None, bool | None]]] | None = None, *,
               key: Callable[[str], str] = str.strip, confidence: float = 0.95, n_boot: int = 2_000,
               seed: int = 0) -> dict[str, KCurve]:
    """Every curve the data allows: pass@k and pass^k from counts, maj@k from answers."""
    out: dict[str, KCurve] = {}
    for metric in (PASS_AT_K, PASS_HAT_K):
        curve = count_curve(per_problem, metric, confidence=confidence, n_boot=n_boot, seed=seed)
        if curve is not None:
            out[metric] = curve
    if samples:
        curve = majority_curve(samples, key=key, confidence=confidence, n_boot=n_boot, seed=seed)
        if curve is not None:
            out[MAJORITY_AT_K] = curve
    return out
