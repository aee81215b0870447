"""k-curves from stored samples: pass@k, pass^k and majority vote@k for every k up to n, each with a
confidence band (pure functions, 0 to 100 scale).

- **pass@k** (at least one of k samples correct) uses the unbiased estimator of Chen et al. 2021 (the Codex
  paper): for a problem with n samples of which c are correct, ``1 - C(n-c, k) / C(n, k)``, averaged over
  problems. It needs only per-problem counts.
- **pass^k** (all k samples correct, the reliability view) is ``C(c, k) / C(n, k)`` per problem, also from
  counts.
- **maj@k** (the majority answer of k samples is correct, self-consistency) needs each problem's answer
  histogram only: how many of its n samples gave each answer (and which answers are correct), plus the
  unanswered ones. Per problem it is the exact expectation over the C(n, k) equally likely k-subsets (below).
  Samples without an answer do not vote; a tie between answers counts as the share of tied answers that are
  correct (the solve panel breaks ties by first appearance, which over a random order is the same
  expectation).

The exact maj@k. Answers i = 1..m have a_i samples, u samples are unanswered, n = u + sum a_i. A k-subset
takes x_i of answer i (multivariate hypergeometric: prod C(a_i, x_i) C(u, x_u) / C(n, k) ways). A correct
answer j earns 1/T when x_j = v >= 1 is the top count and T answers share it. So

    E = 1/C(n,k) * sum_j correct  sum_v>=1  C(a_j, v) * [z^(k-v)] (1+z)^u * prod_i!=j P_i,v(z, y)

where P_i,v = sum_{x<v} C(a_i, x) z^x + y C(a_i, v) z^v marks (by y) an answer tied with j, and the 1/T of a
term y^(T-1) is its integral over y from 0 to 1. The product is a polynomial of degree m-1 in y, so Gauss-
Legendre quadrature with m/2+1 nodes integrates it exactly; in z it is a truncated polynomial product
(numpy, every v at once). Cost per problem about n^3 m / 4 multiply-adds, all k at once; problems that share
a histogram share the work. Past ``EXACT_MAJORITY_WORK`` (hundreds of samples per problem), or past
``EXACT_MAJORITY_MAX_N`` samples (where C(n, k) leaves a float's range), maj@k falls back to a fixed-seed draw of ``MONTE_CARLO_DRAWS`` subsets, an unbiased estimate whose error shrinks as problems are
averaged.

Bands resample problems (the unit of uncertainty, as in :mod:`vibedash.decisions.stats`): a percentile
bootstrap of the mean of the per-problem values, deterministic for a seed. k runs from 1 to the smallest n
among the problems, so every point uses every problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

PASS_AT_K = "pass@k"
PASS_HAT_K = "pass^k"
MAJORITY_AT_K = "maj@k"
MONTE_CARLO_DRAWS = 256  # subsets drawn per (problem, k) where the exact maj@k would cost too much
EXACT_MAJORITY_WORK = 50_000_000  # multiply-adds one problem's exact maj@k may take (64 samples: ~100,000)
EXACT_MAJORITY_MAX_N = 1_000  # C(1000, 500) ~ 1e299: binomials stay finite floats
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
    votes: dict[str, int] = {}
    for answer in answers:
        if answer is not None:
            votes[answer] = votes.get(answer, 0) + 1
    keys = sorted(votes)
    return float(majority_values(tuple(votes[a] for a in keys), tuple(a in correct_answers for a in keys), n,
                                 (k,), seed=seed)[0])


def majority_values(votes: Sequence[int], good: Sequence[bool], samples: int, ks: Sequence[int], *,
                    seed: int = 0) -> np.ndarray:
    """maj@k of one problem at each k in ``ks`` (0-1 scale) from its answer histogram: ``votes[i]`` samples
    gave answer i, which is correct when ``good[i]``; the other ``samples - sum(votes)`` gave no answer."""
    pairs = tuple(sorted((int(v), bool(g)) for v, g in zip(votes, good) if v > 0))
    unanswered = samples - sum(v for v, _ in pairs)
    if unanswered < 0 or not all(1 <= k <= samples for k in ks):
        raise ValueError(f"need 1 <= k <= n and at most n votes, got n={samples}, votes={sum(v for v, _ in pairs)}, "
                         f"k={list(ks)}")
    if not any(g for _, g in pairs):
        return np.zeros(len(ks))
    if samples <= EXACT_MAJORITY_MAX_N and _exact_work(pairs, samples, max(ks)) <= EXACT_MAJORITY_WORK:
        return np.array(_exact_majority(pairs, samples, tuple(ks)))
    return np.array([_majority_by_draws(pairs, samples, k, seed) for k in ks])


def _exact_work(pairs: tuple[tuple[int, bool], ...], n: int, k_max: int) -> int:
    nodes = len(pairs) // 2 + 1
    per_answer = sum(min(a, k_max) + 1 for a, _ in pairs)
    return sum(min(a, k_max) * nodes * min(n - a + 1, k_max) * per_answer for a, g in pairs if g)


@lru_cache(maxsize=64)
def _binomials(n: int) -> np.ndarray:
    """C(i, x) for 0 <= i, x <= n as floats (exact up to 2^53, then as close as a float gets)."""
    table = np.zeros((n + 1, n + 1))
    table[:, 0] = 1.0
    for i in range(1, n + 1):
        table[i, 1:i + 1] = table[i - 1, 1:i + 1] + table[i - 1, 0:i]
    return table


@lru_cache(maxsize=32)
def _unit_quadrature(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]: exact for polynomials of degree below 2 * nodes."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    return (x + 1) / 2, w / 2


@lru_cache(maxsize=16_384)
def _exact_majority(pairs: tuple[tuple[int, bool], ...], n: int, ks: tuple[int, ...]) -> tuple[float, ...]:
    """The formula in the module docstring, for one histogram and every k in ``ks``."""
    binom = _binomials(n)
    k_max = max(ks)
    unanswered = n - sum(a for a, _ in pairs)
    totals = np.zeros(len(ks))
    for j, (a_j, is_good) in enumerate(pairs):
        if not is_good:
            continue
        others = [a for i, (a, _) in enumerate(pairs) if i != j]
        top = min(a_j, k_max)  # v = 1..top
        degree = min(n - a_j, k_max - 1) + 1  # coefficients of z^0 .. z^(k-v) that can be needed
        y, w = _unit_quadrature(len(others) // 2 + 1)
        v = np.arange(1, top + 1)[:, None]  # (top, 1)
        poly = np.zeros((top, len(y), degree))
        poly[:, :, :] = binom[unanswered, :degree]  # the unanswered samples: (1+z)^u
        for a in others:
            span = min(a, top, degree - 1)  # this answer adds x = 0..span samples (more would beat every v)
            x = np.arange(span + 1)[None, :]
            base = binom[a, :span + 1][None, :]
            # allowed below v, tied (marked by y) at v, never above: coef[v, q, x]
            coef = (np.where(x < v, base, 0.0)[:, None, :]
                    + np.where(x == v, base, 0.0)[:, None, :] * y[None, :, None])
            # poly * coef truncated to ``degree`` terms: windows of the zero-padded poly, one product per answer
            padded = np.zeros((top, len(y), degree + span))
            padded[:, :, span:] = poly
            step = padded.strides
            # windows[v, q, d, t] = poly[v, q, d + t - span]: a strided view, nothing copied
            windows = np.lib.stride_tricks.as_strided(padded, shape=(top, len(y), degree, span + 1),
                                                      strides=(*step, step[2]), writeable=False)
            poly = np.einsum("vqdt,vqt->vqd", windows, coef[:, :, ::-1])
        integrated = np.einsum("vqd,q->vd", poly, w)  # (top, degree): the ties' 1/T, integrated over y
        ways = binom[a_j, 1:top + 1][:, None]  # (top, 1)
        rest = np.asarray(ks)[None, :] - v  # (top, ks): the other samples' share of each k
        usable = (rest >= 0) & (rest < degree)
        picked = integrated[np.arange(top)[:, None], np.where(usable, rest, 0)]
        totals += np.where(usable, ways * picked, 0.0).sum(axis=0)
    return tuple(float(min(1.0, totals[i] / binom[n, k])) for i, k in enumerate(ks))


def _majority_by_draws(pairs: tuple[tuple[int, bool], ...], n: int, k: int, seed: int) -> float:
    """maj@k estimated from a fixed-seed draw of k-subsets (where the exact sum would take too long)."""
    groups = len(pairs)
    group = np.full(n, groups)  # unanswered samples vote for a spare column
    position = 0
    for index, (votes, _) in enumerate(pairs):
        group[position:position + votes] = index
        position += votes
    good = np.array([g for _, g in pairs], dtype=bool)
    rng = np.random.default_rng([seed, n, k])
    chosen = group[np.argsort(rng.random((MONTE_CARLO_DRAWS, n)), axis=1)[:, :k]]
    offsets = chosen + (groups + 1) * np.arange(len(chosen))[:, None]
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
    step = max(1, 2_000_000 // max(1, problems))
    for start in range(0, n_boot, step):
        rows = rng.integers(0, problems, size=(min(step, n_boot - start), problems))
        # how often each problem was drawn, then one matrix product: the mean of values[rows] without
        # building the (draws x problems x k) array
        offsets = rows + problems * np.arange(rows.shape[0])[:, None]
        drawn = np.bincount(offsets.ravel(), minlength=rows.size).reshape(rows.shape).astype(float)
        means[start:start + rows.shape[0]] = drawn @ values / problems
    alpha = (1 - confidence) / 2
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def majority_ks(n: int) -> list[int]:
    """The k at which maj@k is drawn: every k up to MAJORITY_EVERY_K_UP_TO, else powers of two and n."""
    if n <= MAJORITY_EVERY_K_UP_TO:
        return list(range(1, n + 1))
    ks = [1 << i for i in range(n.bit_length()) if 1 << i < n]
    return ks + [n]


@dataclass(frozen=True)
class _Values:
    """A curve before its band: per-problem values (rows: ``problems``; columns: ``ks``)."""

    metric: str
    problems: tuple[str, ...]
    values: np.ndarray
    n_min: int
    ks: tuple[int, ...]


def _finish(pending: Sequence[_Values], confidence: float, n_boot: int, seed: int) -> dict[str, KCurve]:
    """Estimates and bands. Curves over the same problems share one bootstrap (the same resampled problem sets,
    one draw and one matrix product for all their columns): the bands are the ones each would get alone."""
    bands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    groups: dict[tuple[str, ...], list[_Values]] = {}
    for item in pending:
        groups.setdefault(item.problems, []).append(item)
    for members in groups.values():
        joined = np.hstack([m.values for m in members])
        if joined.shape[0] > 1:
            low, high = _band(joined, confidence, n_boot, seed)
        else:  # one problem: nothing to resample
            low = high = joined.mean(axis=0)
        start = 0
        for m in members:
            width = m.values.shape[1]
            bands[m.metric] = low[start:start + width], high[start:start + width]
            start += width
    out = {}
    for item in pending:
        estimate = item.values.mean(axis=0)
        low, high = bands[item.metric]
        points = tuple(CurvePoint(k=k, estimate=100 * float(estimate[i]),
                                  low=100 * float(min(low[i], estimate[i])),
                                  high=100 * float(max(high[i], estimate[i]))) for i, k in enumerate(item.ks))
        out[item.metric] = KCurve(metric=item.metric, points=points, problems=len(item.problems),
                                  samples_per_problem=item.n_min, confidence=confidence)
    return out


def count_curve(per_problem: Mapping[str, tuple[int, int]], metric: str = PASS_AT_K, *, confidence: float = 0.95,
                n_boot: int = 2_000, seed: int = 0) -> KCurve | None:
    """pass@k or pass^k for k = 1..min n from problem id -> (correct, samples); None without problems."""
    if metric not in (PASS_AT_K, PASS_HAT_K):
        raise ValueError(f"unknown count curve {metric!r}")
    pending = _count_values(per_problem, metric)
    return _finish([pending], confidence, n_boot, seed)[metric] if pending else None


def _count_values(per_problem: Mapping[str, tuple[int, int]], metric: str) -> _Values | None:
    counts = [(problem, c, n) for problem, (c, n) in sorted(per_problem.items()) if n > 0]
    if not counts:
        return None
    n_min = min(n for _, _, n in counts)
    c = np.array([c for _, c, _ in counts], dtype=float)[:, None]
    n = np.array([n for _, _, n in counts], dtype=float)[:, None]
    return _Values(metric, tuple(p for p, _, _ in counts), _count_rows(metric, n, c, n_min), n_min,
                   tuple(range(1, n_min + 1)))


def _count_rows(metric: str, n: np.ndarray, c: np.ndarray, k_max: int) -> np.ndarray:
    """pass@k (or pass^k) of every problem (rows; n and c are columns) for k = 1..k_max, all at once: the
    products of pass_at_k / pass_hat_k built up cumulatively."""
    i = np.arange(k_max)[None, :]
    if metric == PASS_AT_K:
        # C(n-c, k)/C(n, k) = prod_{i<k} (n-c-i)/(n-i): zero once k > n-c
        return 1.0 - np.cumprod(np.clip((n - c - i) / (n - i), 0.0, None), axis=1)
    return np.where(i + 1 <= c, np.cumprod(np.clip((c - i) / (n - i), 0.0, None), axis=1), 0.0)


Histogram = tuple[int, Sequence[tuple[int, bool]]]  # (samples, [(votes, answer is correct)])


def majority_curve(samples: Mapping[str, Sequence[tuple[str | None, bool | None]]], *,
                   key: Callable[[str], str] = str.strip, confidence: float = 0.95, n_boot: int = 2_000,
                   seed: int = 0) -> KCurve | None:
    """maj@k for k = 1..min n from problem id -> [(answer, correct)] per sample; None when no sample of any
    problem has an answer. ``key`` normalises answers for counting (the solve panel's ``vote_key``)."""
    return majority_curve_from_counts(
        {problem: histogram([(answer, 1, 1 if ok else 0) for answer, ok in rows], len(rows), key=key)
         for problem, rows in samples.items()}, confidence=confidence, n_boot=n_boot, seed=seed)


def histogram(answers: Sequence[tuple[str | None, int, int]], samples: int, *,
              key: Callable[[str], str] = str.strip) -> Histogram:
    """A problem's vote histogram from (answer as written, votes, correct votes) rows: answers merged by their
    normal form ``key``, blank answers counted as unanswered, an answer correct when any of its votes was."""
    votes: dict[str, list[int]] = {}
    for answer, count, right in answers:
        if answer is None or not answer.strip():
            continue
        tally = votes.setdefault(key(answer), [0, 0])
        tally[0] += count
        tally[1] += right
    return samples, [(count, right > 0) for count, right in votes.values()]


def majority_curve_from_counts(histograms: Mapping[str, Histogram], *, confidence: float = 0.95,
                               n_boot: int = 2_000, seed: int = 0) -> KCurve | None:
    """maj@k from problem id -> (samples, [(votes, correct)]); None when no problem has an answer."""
    pending = _majority_values(histograms, seed)
    return _finish([pending], confidence, n_boot, seed)[MAJORITY_AT_K] if pending else None


def _majority_values(histograms: Mapping[str, Histogram], seed: int) -> _Values | None:
    problems = sorted(histograms)
    if not problems or not any(votes for p in problems for votes, _ in histograms[p][1]):
        return None
    n_min = min(histograms[p][0] for p in problems)
    if n_min == 0:
        return None
    ks = tuple(majority_ks(n_min))
    rows = []
    for index, problem in enumerate(problems):
        samples, pairs = histograms[problem]
        rows.append(majority_values([v for v, _ in pairs], [g for _, g in pairs], samples, ks, seed=seed + index))
    return _Values(MAJORITY_AT_K, tuple(problems), np.array(rows), n_min, ks)


def curves_for(per_problem: Mapping[str, tuple[int, int]],
               samples: Mapping[str, Sequence[tuple[str | None, bool | None]]] | None = None, *,
               key: Callable[[str], str] = str.strip, confidence: float = 0.95, n_boot: int = 2_000,
               seed: int = 0, histograms: Mapping[str, Histogram] | None = None) -> dict[str, KCurve]:
    """Every curve the data allows: pass@k and pass^k from counts, maj@k from answers (per sample, or already
    counted into ``histograms``)."""
    pending = [_count_values(per_problem, metric) for metric in (PASS_AT_K, PASS_HAT_K)]
    if not histograms and samples:
        histograms = {problem: histogram([(answer, 1, 1 if ok else 0) for answer, ok in rows], len(rows), key=key)
                      for problem, rows in samples.items()}
    if histograms:
        pending.append(_majority_values(histograms, seed))
    return _finish([item for item in pending if item is not None], confidence, n_boot, seed)
