"""Statistics over per-problem results: exact cases, agreement with analytic formulas, reproducibility,
validation (speed: bench/bench_noise.py)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibedash.decisions.bootstrap import bootstrap_score_ci, paired_bootstrap_ci
from vibedash.decisions.distributions import t_quantile
from vibedash.decisions.stats import (
    NORMAL_APPROXIMATION,
    PAIRED_T,
    T_INTERVAL,
    WILSON_OVER_PROBLEMS,
    diff_ci_from_scores,
    flipped_problems,
    natural_key,
    normal_score_ci,
    paired_diff_ci,
    score_ci,
)

Z95 = NormalDist().inv_cdf(0.975)


def spread_outcomes(n: int = 200, samples: int = 64) -> dict[str, tuple[int, int]]:
    """Deterministic per-problem outcomes covering the whole range of difficulty."""
    return {f"p{i}": ((i * 37) % (samples + 1), samples) for i in range(n)}


def accuracies(per_problem: dict[str, tuple[int, int]]) -> np.ndarray:
    return np.array([correct / samples for correct, samples in per_problem.values()])


# --- score_ci -------------------------------------------------------------------------------------------


def test_score_estimate_is_the_mean_of_per_problem_accuracies() -> None:
    interval = score_ci({"a": (3, 4), "b": (1, 2), "c": (0, 1)})
    assert interval.estimate == pytest.approx(100 * (0.75 + 0.5 + 0.0) / 3)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 100.0
    assert interval.method == T_INTERVAL


# Was "identical problems have no width": a zero-width interval from 30 problems was the bug (issue 9).
def test_score_ci_of_identical_problems_is_a_wilson_interval_over_problems() -> None:
    interval = score_ci({f"p{i}": (48, 64) for i in range(30)})
    assert interval.estimate == 75.0 and interval.method == WILSON_OVER_PROBLEMS
    assert interval.low < 75.0 < interval.high


def test_an_all_correct_score_is_not_a_certain_hundred() -> None:
    interval = score_ci({f"p{i}": (1, 1) for i in range(30)})
    assert interval.high == 100.0 and interval.low == pytest.approx(100 * 30 / (30 + Z95**2))
    assert bootstrap_score_ci({f"p{i}": (1, 1) for i in range(30)}).low == 100.0  # the old, too-sure interval


def test_score_ci_is_the_t_interval_of_the_mean() -> None:
    per_problem = spread_outcomes()
    acc = accuracies(per_problem)
    half_width = 100 * t_quantile(0.975, len(acc) - 1) * acc.std(ddof=1) / math.sqrt(len(acc))
    interval = score_ci(per_problem)
    assert interval.estimate == pytest.approx(100 * acc.mean())
    assert interval.low == pytest.approx(interval.estimate - half_width, abs=0.05 * half_width)
    assert interval.high == pytest.approx(interval.estimate + half_width, abs=0.05 * half_width)


def test_a_lower_confidence_gives_a_narrower_interval() -> None:
    per_problem = spread_outcomes(60)
    wide, narrow = score_ci(per_problem, confidence=0.95), score_ci(per_problem, confidence=0.8)
    assert wide.low < narrow.low < narrow.high < wide.high


# --- paired_diff_ci -------------------------------------------------------------------------------------


# Was "differ by exactly zero" with a [0, 0] interval: the same outcomes twice are not proof that two versions
# are equal, and a zero-width interval was the bug (issue 9). The within-problem variance floors it.
def test_identical_versions_differ_by_zero_within_noise_with_a_real_interval() -> None:
    per_problem = spread_outcomes(30)
    diff = paired_diff_ci(per_problem, dict(per_problem))
    assert diff.delta == 0.0 and diff.low == pytest.approx(-diff.high) and diff.high > 1.0
    assert diff.within_noise is True and diff.p_value == 1.0
    assert diff.n_common == 30
    assert diff.method == PAIRED_T


def test_all_correct_against_all_wrong_is_a_clear_hundred_points_but_not_a_zero_width_interval() -> None:
    all_right = {f"p{i}": (8, 8) for i in range(30)}
    all_wrong = {f"p{i}": (0, 8) for i in range(30)}
    down = paired_diff_ci(all_right, all_wrong)
    assert (down.delta, down.low, down.within_noise) == (-100.0, -100.0, False)
    assert -100.0 < down.high < -90.0
    up = paired_diff_ci(all_wrong, all_right)
    assert (up.delta, up.high, up.within_noise) == (100.0, 100.0, False)
    assert 90.0 < up.low < 100.0
    assert up.p_value == pytest.approx(2 * 0.5**30)  # the exact sign-flip test: every problem gained


def test_paired_ci_is_the_t_interval_of_the_mean_difference() -> None:
    a = spread_outcomes()
    # Gains that differ a lot from problem to problem: far more spread than sampling noise, so no floor applies.
    b = {pid: (min(samples, max(0, correct + (int(pid[1:]) * 7) % 41 - 10)), samples)
         for pid, (correct, samples) in a.items()}
    differences = accuracies(b) - accuracies(a)
    half_width = 100 * t_quantile(0.975, len(differences) - 1) * differences.std(ddof=1) / math.sqrt(len(differences))
    diff = paired_diff_ci(a, b)
    assert diff.delta == pytest.approx(100 * differences.mean())
    assert diff.low == pytest.approx(diff.delta - half_width, abs=0.05 * half_width)
    assert diff.high == pytest.approx(diff.delta + half_width, abs=0.05 * half_width)
    assert diff.within_noise is False  # a steady gain of ~4.5 points with little spread


def test_pairing_cancels_problem_difficulty() -> None:
    # Problems range from trivial to impossible; B solves each a little more often, with real sampling noise.
    rng = np.random.default_rng(5)
    p = np.linspace(0.02, 0.98, 60)
    a = {f"p{i}": (int(rng.binomial(64, q)), 64) for i, q in enumerate(p)}
    b = {f"p{i}": (int(rng.binomial(64, min(1.0, q + 0.08))), 64) for i, q in enumerate(p)}
    paired = paired_diff_ci(a, b)
    separate_a, separate_b = score_ci(a), score_ci(b)
    unpaired_width = (separate_a.high - separate_a.low) + (separate_b.high - separate_b.low)
    assert paired.high - paired.low < unpaired_width / 4
    assert paired.low > 0 and not paired.within_noise
    assert paired.correlation is not None and paired.correlation > 0.9  # the between-version correlation


def test_paired_ci_uses_only_the_common_problems() -> None:
    a = {"p1": (1, 1), "p2": (0, 1), "only-a": (1, 1)}
    b = {"p1": (1, 1), "p2": (1, 1), "only-b": (0, 1)}
    diff = paired_diff_ci(a, b)
    assert diff.n_common == 2
    assert diff.delta == pytest.approx(50.0)


def test_no_common_problems_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no problem ids in common"):
        paired_diff_ci({"a1": (1, 1)}, {"b1": (1, 1)})


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from([f"p{i}" for i in range(12)]),
                       st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1))
def test_swapping_the_versions_negates_the_difference(pairs: dict[str, tuple[int, int]]) -> None:
    a = {pid: (ca, 4) for pid, (ca, _) in pairs.items()}
    b = {pid: (cb, 4) for pid, (_, cb) in pairs.items()}
    forward, backward = paired_diff_ci(a, b, n_boot=500), paired_diff_ci(b, a, n_boot=500)
    assert forward.delta == pytest.approx(-backward.delta, abs=1e-9)
    assert forward.low == pytest.approx(-backward.high, abs=1e-9)
    assert forward.high == pytest.approx(-backward.low, abs=1e-9)
    assert -100.0 <= forward.low <= forward.high <= 100.0


# --- reproducibility ------------------------------------------------------------------------------------


def test_same_seed_same_interval_and_another_seed_a_slightly_different_one() -> None:
    per_problem = spread_outcomes(50)
    assert bootstrap_score_ci(per_problem, seed=7) == bootstrap_score_ci(per_problem, seed=7)
    other = bootstrap_score_ci(per_problem, seed=8)
    first = bootstrap_score_ci(per_problem, seed=7)
    assert other != first
    assert other.low == pytest.approx(first.low, abs=1.0)


def test_results_do_not_depend_on_dict_order() -> None:
    a, b = spread_outcomes(40), {f"p{i}": (i % 9, 8) for i in range(40)}
    reversed_a, reversed_b = dict(reversed(list(a.items()))), dict(reversed(list(b.items())))
    assert score_ci(a) == score_ci(reversed_a)
    assert paired_diff_ci(a, b) == paired_diff_ci(reversed_a, reversed_b)


def test_ten_thousand_resamples_of_five_hundred_problems_match_a_plain_loop() -> None:
    """The vectorised, chunked resampling is the textbook bootstrap: the same draws from the same seed give the
    same interval as one resample at a time (its speed is bench/bench_noise.py's business, not a test's)."""
    a, b = spread_outcomes(500), {f"p{i}": (i % 65, 64) for i in range(500)}
    confidence, n_boot, seed = 0.95, 10_000, 11

    def plain_percentile_bootstrap(values: np.ndarray) -> tuple[float, float]:
        rng = np.random.default_rng(seed)
        means = [float(np.mean(values[rng.integers(0, len(values), size=len(values))])) for _ in range(n_boot)]
        return tuple(100 * q for q in np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2]))

    ids = sorted(a)
    acc_a = np.array([a[i][0] / a[i][1] for i in ids])
    acc_b = np.array([b[i][0] / b[i][1] for i in ids])
    score = bootstrap_score_ci(a, confidence=confidence, n_boot=n_boot, seed=seed)
    diff = paired_bootstrap_ci(a, b, confidence=confidence, n_boot=n_boot, seed=seed)
    # Rows drawn in one block or one at a time come from the same stream of integers, so the draws agree exactly.
    assert (score.low, score.high) == pytest.approx(plain_percentile_bootstrap(acc_a), abs=1e-9)
    assert (diff.low, diff.high) == pytest.approx(plain_percentile_bootstrap(acc_b - acc_a), abs=1e-9)
    assert score.estimate == pytest.approx(100 * acc_a.mean())
    assert diff.delta == pytest.approx(100 * (acc_b - acc_a).mean())
    assert diff.n_common == 500
    # And the interval is the one the sampling distribution of a mean predicts: half-width about z * sd / sqrt(n).
    half = Z95 * 100 * acc_a.std() / math.sqrt(len(acc_a))
    assert (score.high - score.low) / 2 == pytest.approx(half, rel=0.05)


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("per_problem", "message"), [
    ({}, "empty"),
    ({"p1": (3, 2)}, "impossible"),
    ({"p1": (0, 0)}, "impossible"),
    ({"p1": (-1, 4)}, "impossible"),
    ({"p1": (1.5, 4)}, "whole numbers"),
    ({"p1": (True, 1)}, "whole numbers"),
    ({"p1": (1, 2, 3)}, "pair"),
    ({"p1": None}, "pair"),
    ({1: (1, 2)}, "must be strings"),
])
def test_bad_outcomes_are_rejected(per_problem: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_ci(per_problem)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"confidence": 1.0}, "confidence"),
    ({"confidence": 0.0}, "confidence"),
    ({"n_boot": 10}, "n_boot"),
    ({"n_boot": 1000.0}, "n_boot"),
])
def test_bad_bootstrap_settings_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_diff_ci({"p1": (1, 1)}, {"p1": (0, 1)}, **kwargs)


def test_numpy_integers_are_accepted() -> None:
    interval = score_ci({"p1": (np.int64(1), np.int64(2))})
    assert interval.estimate == 50.0


# --- approximations from headline scores ----------------------------------------------------------------


def test_normal_score_ci_is_the_wilson_interval_over_problems() -> None:
    interval = normal_score_ci(50.0, 30, 64)
    # Hand computation: p = 0.5, n = 30, z = 1.96: centre 0.5, half-width
    # z * sqrt(p(1-p)/n + z^2/(4n^2)) / (1 + z^2/n) = 0.16846.
    assert interval is not None
    assert interval.low == pytest.approx(33.154, abs=0.005)
    assert interval.high == pytest.approx(66.846, abs=0.005)
    assert interval.estimate == 50.0
    assert interval.method == NORMAL_APPROXIMATION


def test_normal_score_ci_stays_honest_at_a_perfect_score() -> None:
    interval = normal_score_ci(100.0, 30)
    assert interval is not None
    assert interval.high == 100.0
    assert interval.low == pytest.approx(100 * 30 / (30 + Z95**2))  # Wilson's bound at p = 1


def test_normal_score_ci_is_wider_than_the_bootstrap_it_stands_in_for() -> None:
    per_problem = spread_outcomes(30)
    bootstrap = score_ci(per_problem)
    approximate = normal_score_ci(bootstrap.estimate, 30, 64)
    assert approximate is not None
    assert approximate.high - approximate.low > bootstrap.high - bootstrap.low


def test_normal_score_ci_without_a_problem_count_says_nothing() -> None:
    assert normal_score_ci(74.4, None, 64) is None


@pytest.mark.parametrize(("args", "message"), [
    ((101.0, 30), "score"),
    ((float("nan"), 30), "score"),
    ((50.0, 0), "problems"),
    ((50.0, 30, 0), "samples_per_problem"),
])
def test_normal_score_ci_rejects_bad_input(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normal_score_ci(*args)


def test_diff_from_equal_scores_is_centred_on_zero_and_within_noise() -> None:
    diff = diff_ci_from_scores(74.4, 30, 74.4, 30)
    assert diff is not None
    assert diff.delta == 0.0
    assert diff.low == pytest.approx(-diff.high)
    assert diff.within_noise is True
    assert diff.n_common is None and diff.method == NORMAL_APPROXIMATION


def test_diff_from_scores_is_wider_than_the_paired_bootstrap() -> None:
    a = spread_outcomes(30)
    b = {pid: (min(samples, correct + 1), samples) for pid, (correct, samples) in a.items()}
    paired = paired_diff_ci(a, b)
    unpaired = diff_ci_from_scores(score_ci(a).estimate, 30, score_ci(b).estimate, 30)
    assert unpaired is not None
    assert unpaired.delta == pytest.approx(paired.delta)
    assert unpaired.low < paired.low and unpaired.high > paired.high
    assert unpaired.within_noise is True  # too little information without pairing


def test_diff_from_scores_sees_a_huge_difference() -> None:
    diff = diff_ci_from_scores(0.0, 30, 100.0, 30)
    assert diff is not None
    assert diff.delta == 100.0 and diff.within_noise is False and diff.low > 70


def test_diff_from_scores_without_problem_counts_says_nothing() -> None:
    assert diff_ci_from_scores(74.4, None, 76.0, 30) is None
    assert diff_ci_from_scores(74.4, 30, 76.0, None) is None


# --- flipped problems -----------------------------------------------------------------------------------


def test_a_problem_is_solved_only_by_a_strict_majority() -> None:
    a = {"half": (32, 64), "majority": (33, 64), "single": (0, 1)}
    b = {"half": (33, 64), "majority": (32, 64), "single": (1, 1)}
    flips = flipped_problems(a, b)
    assert flips.gained == ["half", "single"]
    assert flips.lost == ["majority"]
    assert flips.n_common == 3


def test_flips_are_in_natural_order_and_only_over_common_problems() -> None:
    a = {f"p{i}": (0, 1) for i in (1, 2, 10, 11)} | {"only-a": (1, 1)}
    b = {f"p{i}": (1, 1) for i in (1, 2, 10, 11)} | {"only-b": (0, 1)}
    flips = flipped_problems(b, a)
    assert flips.gained == []
    assert flips.lost == ["p1", "p2", "p10", "p11"]
    assert flips.n_common == 4


def test_flip_threshold_can_be_raised() -> None:
    a, b = {"p1": (40, 64)}, {"p1": (60, 64)}
    assert flipped_problems(a, b).gained == []
    assert flipped_problems(a, b, threshold=0.75).gained == ["p1"]
    with pytest.raises(ValueError, match="threshold"):
        flipped_problems(a, b, threshold=1.0)


def test_natural_key_orders_numbers_by_value() -> None:
    ids = ["aime25-10", "AIME25-2", "aime25-1", "hmmt", "10", "9", "aime24-30"]
    assert sorted(ids, key=natural_key) == ["9", "10", "aime24-30", "aime25-1", "AIME25-2", "aime25-10", "hmmt"]
