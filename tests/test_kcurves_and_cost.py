"""k-curves and the cost of a correct answer: pure functions against values computed by hand, and the cost
gate rules on facts."""

from __future__ import annotations

import math
import random
from itertools import combinations

import pytest

from vibedash.decisions import gate
from vibedash.decisions.cost import CostInputs, cost_figures, frontier, growth_percent
from vibedash.decisions.cost_rules import CostGrowth
from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.kcurves import (
    MAJORITY_AT_K,
    PASS_AT_K,
    PASS_HAT_K,
    _majority_by_draws,
    count_curve,
    curves_for,
    majority_at_k,
    majority_curve,
    majority_values,
    pass_at_k,
    pass_hat_k,
)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    for n, c, k in [(4, 1, 1), (4, 1, 2), (10, 3, 4), (64, 20, 16), (64, 0, 8), (5, 5, 3)]:
        expected = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected)
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)  # no overflow where the binomials are huge
    assert pass_at_k(1000, 500, 600) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_pass_hat_k_is_all_k_correct() -> None:
    assert pass_hat_k(4, 3, 2) == pytest.approx(math.comb(3, 2) / math.comb(4, 2))
    assert pass_hat_k(4, 1, 2) == 0.0
    assert pass_hat_k(8, 8, 8) == 1.0
    assert pass_hat_k(64, 32, 1) == pytest.approx(0.5)


def test_majority_counts_ties_as_the_share_of_correct_tied_answers() -> None:
    # k=1 is the share of samples with the right answer; unanswered samples never win
    assert majority_at_k(["4", "4", "5", None], {"4"}, 1) == pytest.approx(0.5)
    # subsets of 3 of [4, 5, 5, None]: {4,5,5} 0, {4,5,N} x2 tie 0.5, {5,5,N} 0
    assert majority_at_k(["4", "5", "5", None], {"4"}, 3) == pytest.approx(0.25)
    assert majority_at_k([None, None], {"4"}, 2) == 0.0
    assert majority_at_k(["1", "2"], set(), 2) == 0.0


def test_majority_estimated_by_draws_when_subsets_are_too_many() -> None:
    answers = ["7"] * 40 + ["8"] * 24  # C(64, 16) subsets: summed exactly from the histogram, not enumerated
    value = majority_at_k(answers, {"7"}, 16, seed=3)
    assert 0.8 < value <= 1.0
    assert majority_at_k(answers, {"7"}, 16, seed=3) == value  # deterministic for a seed
    assert majority_at_k(answers, {"7"}, 64) == 1.0
    # k = 16 by hand: 7 wins with 9 or more of the 16, ties at 8 give half
    wins = sum(math.comb(40, x) * math.comb(24, 16 - x) for x in range(9, 17))
    assert value == pytest.approx((wins + math.comb(40, 8) * math.comb(24, 8) / 2) / math.comb(64, 16), rel=1e-12)
    # the draw-based fallback (hundreds of samples per problem) estimates the same number
    assert _majority_by_draws(((24, False), (40, True)), 64, 16, 3) == pytest.approx(value, abs=0.05)


def brute_majority(groups: list[int], good: list[bool], unanswered: int, k: int) -> float:
    """maj@k by enumerating every k-subset (ties split), for small n."""
    owner = [i for i, size in enumerate(groups) for _ in range(size)] + [-1] * unanswered
    total = 0.0
    subsets = list(combinations(range(len(owner)), k))
    for subset in subsets:
        votes = [0] * len(groups)
        for index in subset:
            if owner[index] >= 0:
                votes[owner[index]] += 1
        top = max(votes, default=0)
        if top:
            tied = [i for i, v in enumerate(votes) if v == top]
            total += sum(good[i] for i in tied) / len(tied)
    return total / len(subsets)


def test_majority_from_a_histogram_is_the_exact_expectation_over_subsets() -> None:
    rng = random.Random(11)
    for _ in range(150):
        n = rng.randint(1, 10)
        cuts = sorted(rng.randint(0, n) for _ in range(rng.randint(1, 4)))
        groups = [b - a for a, b in zip([0, *cuts], cuts)]
        good = [rng.random() < 0.4 for _ in groups]
        ks = list(range(1, n + 1))
        expected = [brute_majority(groups, good, n - sum(groups), k) for k in ks]
        assert list(majority_values(groups, good, n, ks)) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError):
        majority_values([3, 2], [True, False], 4, [1])  # more votes than samples
    # thousands of samples (binomials past a float's range): drawn, finite, near the truth (k=1: 1500/2000)
    big = majority_values([1500, 400], [True, False], 2000, [1, 2000])
    assert big[0] == pytest.approx(0.75, abs=0.1) and big[1] == 1.0


def test_curves_cover_every_k_up_to_the_smallest_n_with_bands() -> None:
    curve = count_curve({"a": (1, 4), "b": (4, 4), "c": (0, 4), "d": (2, 8)}, PASS_AT_K, n_boot=500)
    assert [p.k for p in curve.points] == [1, 2, 3, 4] and curve.problems == 4
    assert curve.at(1).estimate == pytest.approx(100 * (0.25 + 1 + 0 + 0.25) / 4)
    assert all(p.low <= p.estimate <= p.high for p in curve.points)
    assert curve.at(1).high - curve.at(1).low > 10  # four problems: a wide band
    estimates = [p.estimate for p in curve.points]
    assert estimates == sorted(estimates)
    hat = count_curve({"a": (1, 4), "b": (4, 4)}, PASS_HAT_K)
    assert [round(p.estimate, 6) for p in hat.points] == [62.5, 50.0, 50.0, 50.0]
    assert count_curve({}, PASS_AT_K) is None
    one = count_curve({"a": (2, 4)}, PASS_AT_K)
    assert one.at(2).low == one.at(2).estimate == one.at(2).high  # nothing to resample


def test_majority_curve_needs_answers_and_normalises_them() -> None:
    samples = {"p": [("\\frac{1}{2}", True), ("\\dfrac{1}{2}", True), ("0.3", False)],
               "q": [(None, False), (None, False), (None, False)]}
    curve = majority_curve(samples, key=lambda a: a.replace("dfrac", "frac"))
    # p: k=3 the two spellings of 1/2 vote together and win; q never answers
    assert curve.at(3).estimate == pytest.approx(50.0)
    assert majority_curve({"q": [(None, False)]}) is None
    both = curves_for({"p": (2, 3), "q": (0, 3)}, samples)
    assert set(both) == {PASS_AT_K, PASS_HAT_K, MAJORITY_AT_K}
    assert set(curves_for({"p": (2, 3)})) == {PASS_AT_K, PASS_HAT_K}
    # past 16 samples maj@k is drawn at powers of two and n (pass@k stays at every k)
    wide = {"p": [("1", True)] * 40 + [("2", False)] * 24}
    assert [p.k for p in majority_curve(wide).points] == [1, 2, 4, 8, 16, 32, 64]
    assert majority_curve(wide).at(64).estimate == 100.0
    assert len(count_curve({"p": (40, 64)}).points) == 64


def test_cost_figures_by_hand() -> None:
    figures = cost_figures(CostInputs(samples=12, correct=4, output_tokens=36, token_samples=12, thinking_tokens=20,
                                      thinking_samples=12, seconds=6.0, joules=1200.0))
    assert figures.accuracy == pytest.approx(100 / 3)
    assert (figures.mean_output_tokens, figures.tokens_per_correct) == (3.0, 9.0)
    assert figures.mean_thinking_tokens == pytest.approx(20 / 12)
    assert (figures.seconds_per_correct, figures.joules_per_correct) == (1.5, 300.0)
    # only half the samples counted: the mean stands for all of them
    half = cost_figures(CostInputs(samples=4, correct=2, output_tokens=20, token_samples=2))
    assert (half.mean_output_tokens, half.tokens_per_correct, half.joules_per_correct) == (10.0, 20.0, None)
    none = cost_figures(CostInputs(samples=4, correct=0, output_tokens=40, token_samples=4, seconds=2.0))
    assert none.tokens_per_correct is None and none.seconds_per_correct is None
    assert growth_percent(11, 10) == pytest.approx(10.0) and growth_percent(1, 0) is None


def test_frontier_keeps_versions_nobody_beats_on_both() -> None:
    points = [("a", 1000, 70.0), ("b", 2000, 75.0), ("c", 2500, 72.0), ("d", 900, 60.0), ("e", 1000, 65.0)]
    assert frontier(points) == ["d", "a", "b"]


def facts(sha: str, **cost) -> VersionFacts:
    return VersionFacts(sha=sha, scores={"aime25": ScoreFact("aime25", 70.0, cost=cost)})


def test_cost_rules_parse_and_judge() -> None:
    tokens = gate.parse_rule("aime25 tokens grow <= 10%")
    per_correct = gate.parse_rule("AIME25 cost_per_correct grows ≤ 15%")
    assert tokens == CostGrowth("aime25", "tokens", 10.0) and per_correct.measure == "cost_per_correct"
    assert gate.parse_rule(tokens.text) == tokens and gate.parse_rule(per_correct.text) == per_correct
    live = facts("1" * 40, mean_output_tokens=1000.0, tokens_per_correct=2000.0, correct=10)
    grown = facts("2" * 40, mean_output_tokens=1150.0, tokens_per_correct=2200.0, correct=10)
    check = tokens.check(grown, live)
    assert not check.passed and check.measured == pytest.approx(15.0) and "1,150.0 vs live 1,000.0" in check.detail
    assert per_correct.check(grown, live).passed and per_correct.check(grown, live).measured == pytest.approx(10.0)
    assert tokens.check(grown, None).passed  # nothing live: nothing to grow from
    assert tokens.check(grown, facts("3" * 40)).passed  # live without per-sample results
    no_samples = VersionFacts(sha="4" * 40, scores={"aime25": ScoreFact("aime25", 70.0)})
    assert not tokens.check(no_samples, live).passed
    none_right = facts("5" * 40, mean_output_tokens=900.0, tokens_per_correct=None, correct=0)
    failed = per_correct.check(none_right, live)
    assert not failed.passed and "no correct answers" in failed.detail
    verdict = gate.evaluate(gate.policy_from_strings(["aime25 tokens grow <= 10%", "aime25 >= 60"]), grown, live)
    assert not verdict.passed and verdict.checks[1].passed
    with pytest.raises(gate.PolicyError, match="aime25 tokens grow <= 10% \\(or cost_per_correct"):
        gate.parse_rule("aime25 length grows <= 5%")
