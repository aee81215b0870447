"""The promotion gate: every rule's pass, fail and missing-data paths with exact numbers, rule parsing,
policy files, the no-live case, and verdicts through JSON and the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.gate import (
    DEFAULT_POLICY,
    NO_LIVE,
    Check,
    ImprovesOverLive,
    MinScore,
    NoRegression,
    Policy,
    PolicyError,
    RequiresBenchmarks,
    SameProtocol,
    SignificantImprovement,
    Verdict,
    evaluate,
    find_score,
    load_policy,
    parse_rule,
    policy_from_strings,
)
from vibedash.decisions.stats import diff_ci_from_scores, paired_diff_ci
from vibedash.registry.audit import latest_events, record_event

EXAMPLE_POLICY = Path(__file__).resolve().parents[1] / "examples" / "vibedash-gate.toml"
CANDIDATE_SHA = "9be11d0" + "a" * 33
LIVE_SHA = "3f2a9c1" + "b" * 33


def version(sha: str, **scores: float | ScoreFact) -> VersionFacts:
    facts = {name: value if isinstance(value, ScoreFact) else ScoreFact(name, float(value))
             for name, value in scores.items()}
    return VersionFacts(sha=sha, scores=facts)


def candidate(**scores: float | ScoreFact) -> VersionFacts:
    return version(CANDIDATE_SHA, **scores)


def live(**scores: float | ScoreFact) -> VersionFacts:
    return version(LIVE_SHA, **scores)


def outcomes(solved: int, total: int = 30, samples: int = 8) -> dict[str, tuple[int, int]]:
    """``solved`` problems fully correct, the rest fully wrong."""
    return {f"p{i}": (samples if i < solved else 0, samples) for i in range(total)}


def with_problems(score: float, per_problem: dict[str, tuple[int, int]]) -> ScoreFact:
    return ScoreFact("aime25", score, problems=len(per_problem), samples_per_problem=8, per_problem=per_problem)


# --- MinScore -------------------------------------------------------------------------------------------


def test_min_score_passes_at_or_above_the_bar() -> None:
    check = MinScore("aime25", 75).check(candidate(aime25=76.0), None)
    assert check == Check(rule="aime25 ≥ 75", passed=True, detail="76.0", measured=76.0)
    assert MinScore("aime25", 75).check(candidate(aime25=75.0), None).passed


def test_min_score_fails_below_the_bar() -> None:
    check = MinScore("aime25", 75).check(candidate(aime25=74.4), live(aime25=80.0))
    assert check == Check(rule="aime25 ≥ 75", passed=False, detail="74.4, below 75", measured=74.4)


def test_min_score_shows_enough_digits_to_explain_a_near_miss() -> None:
    check = MinScore("aime25", 75).check(candidate(aime25=74.96), None)
    assert not check.passed
    assert check.detail == "74.96, below 75"


def test_min_score_fails_without_the_result() -> None:
    check = MinScore("aime25", 75).check(candidate(hmmt25=50.0), None)
    assert not check.passed
    assert check.detail == "candidate 9be11d0 has no aime25 result"
    assert check.measured is None


# --- ImprovesOverLive -----------------------------------------------------------------------------------
# The old tests here passed "76.0 vs live 74.4: +1.6 (+2.2%)" on the headline numbers alone, within noise:
# that was the noise-blind gate of issue 9. An improvement is now judged on the interval's lower bound.

CERTAIN_GAIN = (candidate(aime25=with_problems(100.0, outcomes(30))), live(aime25=with_problems(0.0, outcomes(0))))


def test_improvement_passes_when_the_lower_bound_clears_the_bar() -> None:
    check = ImprovesOverLive("aime25", 1.5).check(*CERTAIN_GAIN)
    assert check.rule == "aime25 improves on live by ≥ 1.5 points (95% CI lower bound)"
    assert check.passed and not check.warning and check.mark == "✓"
    assert check.detail == ("100.0 vs live 0.0: +100.0 on 30 shared problems, 95% CI [+96.0, +100.0] (paired t "
                            "interval (df 29) over 30 problems, exact sign-flip test p < 0.001); the lower bound "
                            "clears +1.5 points")
    assert check.measured == 100.0


def test_improvement_fails_when_the_interval_cannot_reach_the_bar() -> None:
    check = ImprovesOverLive("aime25", 90).check(candidate(aime25=with_problems(60.0, outcomes(18))),
                                                 live(aime25=with_problems(0.0, outcomes(0))))
    assert not check.passed and check.detail.endswith("below the bar +90 points")


def test_a_headline_gain_within_noise_is_never_a_pass() -> None:
    # 76.0 vs 74.4 on AIME25: the gain clears 2% on the headline, but 30 problems cannot tell it from noise.
    check = ImprovesOverLive("aime25", 2, relative=True).check(candidate(aime25=76.0), live(aime25=74.4))
    assert not check.passed and check.mark == "✗"
    assert check.detail.startswith("76.0 vs live 74.4: +1.6 (headline scores, unpaired), 95% CI [")
    assert "within noise (normal approximation; known benchmark size)" in check.detail
    assert "underpowered: the interval does not clear +2% of 74.4 = +1.49 points" in check.detail
    assert "this comparison can detect about" in check.detail and "(80% power)" in check.detail
    assert check.measured == pytest.approx(100 * 1.6 / 74.4, abs=1e-6)


def test_a_policy_can_warn_instead_of_failing_where_the_data_cannot_decide() -> None:
    policy = Policy(rules=(ImprovesOverLive("aime25", 2, relative=True),), undecided_improvement="warn")
    verdict = evaluate(policy, candidate(aime25=76.0), live(aime25=74.4))
    (check,) = verdict.checks
    assert verdict.passed and check.passed and check.warning and check.mark == "⚠"
    assert "✓" not in verdict.format_text().splitlines()[1]
    assert verdict.format_text().splitlines()[0].endswith("1 of 1 rule passes, 1 with a warning")


def test_headline_form_needs_beyond_noise_and_an_estimate_over_the_bar() -> None:
    rule = ImprovesOverLive("aime25", 1.5, headline=True)
    assert rule.describe() == "aime25 improves on live beyond noise, by ≥ 1.5 points"
    check = rule.check(*CERTAIN_GAIN)
    assert check.passed and check.detail.endswith("the estimate clears +1.5 points")
    small = {f"p{i}": (8 if i < 6 else 0, 8) for i in range(30)}
    tiny_gain = rule.check(candidate(aime25=with_problems(20.0, small)),
                           live(aime25=with_problems(0.0, outcomes(0))))
    assert tiny_gain.passed  # +20 beyond noise


def test_improvement_says_when_the_difference_is_within_noise() -> None:
    new, old = outcomes(16), {f"p{i}": (8 if i % 2 else 0, 8) for i in range(30)}
    check = ImprovesOverLive("aime25", 2, relative=True).check(candidate(aime25=with_problems(53.3, new)),
                                                              live(aime25=with_problems(50.0, old)))
    diff = paired_diff_ci(old, new)
    assert not check.passed  # never a ✓ beside "within noise"
    assert check.detail.startswith(f"53.3 vs live 50.0: +3.3 on 30 shared problems, 95% CI [{diff.low:+.1f}, "
                                   f"{diff.high:+.1f}], within noise (paired t interval (df 29)")
    assert "exact sign-flip test p = 1.00" in check.detail


def test_improvement_falls_back_to_an_approximate_interval_from_scores() -> None:
    new = ScoreFact("aime25", 76.0, problems=30)
    old = ScoreFact("aime25", 74.4, problems=30)
    check = ImprovesOverLive("aime25", 1.5).check(candidate(aime25=new), live(aime25=old))
    diff = diff_ci_from_scores(74.4, 30, 76.0, 30)
    assert diff is not None
    assert check.detail.startswith(f"76.0 vs live 74.4: +1.6 (headline scores, unpaired), 95% CI "
                                   f"[{diff.low:+.1f}, {diff.high:+.1f}], within noise (normal approximation)")


def test_improvement_with_unknown_noise_says_noise_unknown() -> None:
    check = ImprovesOverLive("custom_eval", 1).check(candidate(custom_eval=80.0), live(custom_eval=70.0))
    assert not check.passed
    assert check.detail == ("80.0 vs live 70.0: +10.0, noise unknown: no per-problem results, no standard error "
                            "and no known number of problems")


def test_improvement_uses_imported_standard_errors() -> None:
    new = ScoreFact("custom_eval", 80.0, stderr=1.0)
    old = ScoreFact("custom_eval", 70.0, stderr=1.2)
    check = ImprovesOverLive("custom_eval", 1).check(candidate(custom_eval=new), live(custom_eval=old))
    assert check.passed and "from imported standard errors" in check.detail


def test_improvement_against_a_live_score_of_zero() -> None:
    rule = ImprovesOverLive("aime25", 2, relative=True)
    gained = rule.check(*CERTAIN_GAIN)
    assert gained.passed and gained.measured is None  # a relative gain over 0 is undefined
    assert not rule.check(candidate(aime25=with_problems(0.0, outcomes(0))),
                          live(aime25=with_problems(0.0, outcomes(0)))).passed


def test_improvement_missing_data_paths() -> None:
    rule = ImprovesOverLive("aime25", 2, relative=True)
    assert rule.check(candidate(aime25=76.0), None) == Check(rule.describe(), True, NO_LIVE)
    no_live_result = rule.check(candidate(aime25=76.0), live(hmmt25=50.0))
    assert no_live_result.passed
    assert no_live_result.detail == "live 3f2a9c1 has no aime25 result to compare"
    no_candidate_result = rule.check(candidate(hmmt25=50.0), live(aime25=74.4))
    assert not no_candidate_result.passed
    assert no_candidate_result.detail == "candidate 9be11d0 has no aime25 result"


def test_an_improvement_must_be_positive() -> None:
    with pytest.raises(PolicyError, match="more than 0"):
        ImprovesOverLive("aime25", 0)


# --- NoRegression ---------------------------------------------------------------------------------------
# The old tests failed "hmmt25 -1.4 (49.0 vs live 50.4)" as a regression on headline numbers within noise
# (the rule that blocked 81% of unchanged candidates, issue 9): a drop now fails only when it is beyond noise.


def test_no_regression_fails_a_drop_beyond_noise_and_the_margin() -> None:
    check = NoRegression(1).check(candidate(aime25=with_problems(0.0, outcomes(0))),
                                  live(aime25=with_problems(100.0, outcomes(30))))
    assert check.rule == "no benchmark drops > 1 point vs live"
    assert not check.passed
    assert check.detail.startswith("aime25 -100.0 on 30 shared problems, 95% CI [-100.0, -96.0]")
    assert check.detail.endswith("a drop of more than 1 point, beyond noise")
    assert check.measured == pytest.approx(-100.0)


def test_no_regression_passes_when_the_lower_bound_is_inside_the_margin() -> None:
    rng = np.random.default_rng(3)
    base = {f"p{i}": (int(c), 64) for i, c in enumerate(rng.binomial(64, np.linspace(0.05, 0.95, 400)))}
    check = NoRegression(2).check(candidate(aime25=with_problems(50.0, base)), live(aime25=with_problems(50.0, base)))
    assert check.passed and not check.warning
    assert check.detail.startswith("no drop beyond 2 points: lowest bound -")
    assert check.detail.endswith("on aime25; 1 benchmark compared")


def test_a_drop_that_cannot_be_ruled_out_warns_by_default() -> None:
    check = NoRegression(1).check(candidate(aime25=76.0, hmmt25=49.0, lcb_v6=49.1),
                                  live(aime25=74.4, hmmt25=50.4, lcb_v6=51.1))
    assert check.passed and check.warning and check.mark == "⚠"
    assert check.detail.startswith("cannot rule out a drop of more than 1 point: lcb_v6 -2.0, CI [")
    assert "these comparisons can detect drops of about" in check.detail
    assert check.detail.endswith("3 benchmarks compared")
    assert check.measured == pytest.approx(-2.0)


def test_a_policy_can_fail_an_undecided_regression() -> None:
    policy = Policy(rules=(NoRegression(1),), undecided_regression="fail")
    verdict = evaluate(policy, candidate(aime25=76.0), live(aime25=74.4))
    assert not verdict.passed and verdict.checks[0].mark == "✗"


def test_no_regression_only_compares_benchmarks_both_have() -> None:
    check = NoRegression(1).check(candidate(aime25=with_problems(50.0, outcomes(15))),
                                  live(aime25=with_problems(50.0, outcomes(15)), hmmt25=60.0))
    assert check.detail.endswith("1 benchmark compared")
    nothing = NoRegression(1).check(candidate(gpqa_diamond=10.0), live(hmmt25=60.0))
    assert nothing.passed and nothing.detail == "no benchmark in common with live 3f2a9c1"


def test_no_regression_on_named_benchmarks_reports_the_ones_it_could_not_compare() -> None:
    rule = NoRegression(0.5, ("aime25", "hmmt25", "gpqa_diamond"))
    check = rule.check(candidate(aime25=74.0, hmmt25=60.0, lcb_v6=0.0), live(aime25=74.4, gpqa_diamond=40.0))
    assert check.rule == "no drop > 0.5 points vs live on aime25, hmmt25, gpqa_diamond"
    assert check.passed and check.warning
    assert check.detail.endswith("1 benchmark compared; "
                                 "not compared: hmmt25 (no live result), gpqa_diamond (no candidate result)")


def test_no_regression_without_live() -> None:
    assert NoRegression(1).check(candidate(aime25=1.0), None) == Check("no benchmark drops > 1 point vs live",
                                                                       True, NO_LIVE)


# --- SignificantImprovement -----------------------------------------------------------------------------


def test_significant_improvement_passes_when_the_interval_is_above_zero() -> None:
    check = SignificantImprovement("aime25").check(*CERTAIN_GAIN)
    assert check.rule == "aime25 improves on live beyond noise (95% CI above 0)"
    assert check == Check(check.rule, True, "+100.0 on 30 shared problems, 95% CI [+96.0, +100.0] (paired t "
                          "interval (df 29) over 30 problems, exact sign-flip test p < 0.001): above zero", 100.0)


def test_significant_improvement_fails_within_noise() -> None:
    new, old = outcomes(16), {f"p{i}": (8 if i % 2 else 0, 8) for i in range(30)}
    check = SignificantImprovement("aime25").check(candidate(aime25=with_problems(53.3, new)),
                                                   live(aime25=with_problems(50.0, old)))
    diff = paired_diff_ci(old, new)
    assert not check.passed
    assert check.detail.startswith(f"+3.3 on 30 shared problems, 95% CI [{diff.low:+.1f}, {diff.high:+.1f}], "
                                   "within noise")
    assert ": within noise; this comparison can detect about" in check.detail
    assert check.measured == pytest.approx(100 / 30, abs=1e-6)


def test_significant_improvement_fails_for_a_clear_regression() -> None:
    check = SignificantImprovement("aime25").check(candidate(aime25=with_problems(0.0, outcomes(0))),
                                                   live(aime25=with_problems(100.0, outcomes(30))))
    assert not check.passed
    assert check.detail.startswith("-100.0 on 30 shared problems, 95% CI [-100.0, -96.0]")
    assert "below zero" in check.detail


def test_significance_at_another_confidence() -> None:
    rule = SignificantImprovement("aime25", 0.9)
    check = rule.check(*CERTAIN_GAIN)
    assert check.rule == "aime25 improves on live beyond noise (90% CI above 0)"
    assert "90% CI [+9" in check.detail


def test_significance_needs_per_problem_results() -> None:
    rule = SignificantImprovement("aime25")
    both_missing = rule.check(candidate(aime25=76.0), live(aime25=74.4))
    assert not both_missing.passed
    assert both_missing.detail == "no per-problem results to test (none for candidate and live)"
    live_missing = rule.check(candidate(aime25=with_problems(76.0, outcomes(23))), live(aime25=74.4))
    assert live_missing.detail == "no per-problem results to test (none for live)"
    disjoint = rule.check(candidate(aime25=with_problems(50.0, {"a": (1, 2)})),
                          live(aime25=with_problems(50.0, {"b": (1, 2)})))
    assert not disjoint.passed
    assert disjoint.detail == "no per-problem results to test: no problem ids in common with live"


def test_significance_missing_result_paths() -> None:
    rule = SignificantImprovement("aime25")
    assert rule.check(candidate(aime25=76.0), None).detail == NO_LIVE
    assert rule.check(candidate(aime25=76.0), live(hmmt25=1.0)).passed
    missing = rule.check(candidate(hmmt25=1.0), live(aime25=74.4))
    assert not missing.passed and missing.detail == "candidate 9be11d0 has no aime25 result"


# --- RequiresBenchmarks ---------------------------------------------------------------------------------


def test_requires_benchmarks() -> None:
    rule = RequiresBenchmarks(("aime25", "hmmt25"))
    assert rule.check(candidate(aime25=76.0, hmmt25=50.0), None) == Check(
        "has results for aime25, hmmt25", True, "has aime25, hmmt25")
    assert rule.check(candidate(aime25=76.0, lcb_v6=51.0), live(aime25=1.0)) == Check(
        "has results for aime25, hmmt25", False, "missing hmmt25 (has aime25, lcb_v6)")
    assert rule.check(candidate(), None).detail == "missing aime25, hmmt25 (has no results)"


def test_benchmark_names_match_case_insensitively() -> None:
    facts = candidate(AIME25=76.0)
    assert find_score(facts, "aime25") is facts.scores["AIME25"]
    assert RequiresBenchmarks(("aime25",)).check(facts, None).passed


def test_requires_needs_a_benchmark() -> None:
    with pytest.raises(PolicyError, match="at least one benchmark"):
        RequiresBenchmarks(())


# --- SameProtocol ---------------------------------------------------------------------------------------


def protocol(samples: int | None = 64, temperature: float | None = 1.0, metric: str = "pass@1") -> ScoreFact:
    return ScoreFact("aime25", 70.0, metric=metric, samples_per_problem=samples, temperature=temperature)


def test_same_protocol_passes_when_everything_matches() -> None:
    check = SameProtocol("aime25").check(candidate(aime25=protocol()), live(aime25=protocol()))
    assert check == Check("aime25 measured with live's protocol", True,
                          "pass@1, 64 samples per problem, temperature 1.0 on both")


def test_same_protocol_lists_every_difference() -> None:
    check = SameProtocol("aime25").check(candidate(aime25=protocol(8, 0.6, "avg@8")), live(aime25=protocol()))
    assert not check.passed
    assert check.detail == ("metric avg@8 vs live pass@1; samples per problem 8 vs live 64; "
                            "temperature 0.6 vs live 1.0")


def test_same_protocol_cannot_confirm_unknown_settings() -> None:
    check = SameProtocol("aime25").check(candidate(aime25=protocol()), live(aime25=protocol(temperature=None)))
    assert not check.passed
    assert check.detail == "cannot confirm: unknown temperature (live)"


def test_same_protocol_missing_data_paths() -> None:
    rule = SameProtocol("aime25")
    assert rule.check(candidate(aime25=protocol()), None).detail == NO_LIVE
    assert rule.check(candidate(aime25=protocol()), live(hmmt25=1.0)).passed
    assert not rule.check(candidate(hmmt25=1.0), live(aime25=protocol())).passed


# --- parsing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "rule"), [
    ("aime25 >= 75", MinScore("aime25", 75)),
    ("AIME25 ≥ 74.5", MinScore("aime25", 74.5)),
    ("aime25>=75", MinScore("aime25", 75)),
    ("aime25 improves >= 2%", ImprovesOverLive("aime25", 2, relative=True)),
    ("aime25  improves >= +2 %", ImprovesOverLive("aime25", 2, relative=True)),
    ("aime25 improves >= 1.5", ImprovesOverLive("aime25", 1.5)),
    ("aime25 improves >= 1.5 points", ImprovesOverLive("aime25", 1.5)),
    ("no regression > 1", NoRegression(1)),
    ("No regressions > 0.5 pts", NoRegression(0.5)),
    ("no regression > 1 on aime25,hmmt25", NoRegression(1, ("aime25", "hmmt25"))),
    ("no regression > 1 on aime25, hmmt25", NoRegression(1, ("aime25", "hmmt25"))),
    ("aime25 significant", SignificantImprovement("aime25")),
    ("aime25 significant at 90%", SignificantImprovement("aime25", 0.9)),
    ("requires aime25,hmmt25", RequiresBenchmarks(("aime25", "hmmt25"))),
    ("requires aime25 hmmt25 lcb_v6", RequiresBenchmarks(("aime25", "hmmt25", "lcb_v6"))),
    ("  lcb_v6 same protocol ", SameProtocol("lcb_v6")),
])
def test_parse_rule_reads_every_form(text: str, rule: object) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize("text", [
    "", "aime25", "aime25 > 75", "aime25 >= 75%", "aime25 >= high", "aime25 improves", "aime25 improves 2%",
    "no regression", "no regression > -1", "requires", "requires ,", "aime 25 >= 75", "aime25 significant at",
])
def test_parse_rule_rejects_unknown_text_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(PolicyError, match=r"cannot read gate rule .*write one of: 'aime25 >= 75'"):
        parse_rule(text)


@pytest.mark.parametrize(("text", "message"), [
    ("aime25 >= 120", "score from 0 to 100"),
    ("aime25 improves >= 0%", "more than 0"),
    ("aime25 significant at 100%", "confidence"),
    ("aime25 significant at 20%", "confidence"),
])
def test_parse_rule_rejects_impossible_values(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_rule(text)


def test_parse_rule_rejects_non_strings() -> None:
    with pytest.raises(PolicyError, match="must be a string"):
        parse_rule(75)  # type: ignore[arg-type]


def test_policy_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        parse_rule("bogus")


RULES = st.one_of(
    st.builds(MinScore, st.sampled_from(["aime25", "hmmt25", "lcb_v6"]),
              st.decimals(0, 100, places=1).map(float)),
    st.builds(ImprovesOverLive, st.just("aime25"), st.decimals("0.1", 50, places=2).map(float), st.booleans()),
    st.builds(NoRegression, st.decimals(0, 10, places=1).map(float),
              st.none() | st.lists(st.sampled_from(["aime25", "hmmt25"]), min_size=1, max_size=2).map(tuple)),
    st.builds(SignificantImprovement, st.just("gpqa_diamond"), st.sampled_from([0.8, 0.9, 0.95, 0.99])),
    st.builds(RequiresBenchmarks, st.lists(st.sampled_from(["aime25", "lcb_v5", "math500"]), min_size=1,
                                           max_size=3).map(tuple)),
    st.builds(SameProtocol, st.just("hmmt25")),
)


@given(RULES)
def test_every_rule_reads_back_from_its_text(rule: object) -> None:
    assert parse_rule(rule.text) == rule  # type: ignore[attr-defined]
    assert str(rule) == rule.text  # type: ignore[attr-defined]


# --- policies and policy files --------------------------------------------------------------------------


def test_default_policy_is_noise_aware() -> None:
    assert DEFAULT_POLICY.name == "default" and DEFAULT_POLICY.primary == "aime25"
    assert DEFAULT_POLICY.as_strings() == ["requires aime25", "aime25 improves >= 2% headline", "no regression > 2"]
    assert (DEFAULT_POLICY.undecided_improvement, DEFAULT_POLICY.undecided_regression) == ("fail", "warn")
    assert DEFAULT_POLICY.min_problems == 10
    assert policy_from_strings(DEFAULT_POLICY.as_strings(), name="default", primary="aime25") == DEFAULT_POLICY


def test_a_policy_needs_rules() -> None:
    with pytest.raises(PolicyError, match="no rules"):
        Policy(rules=())
    with pytest.raises(PolicyError, match="no rules"):
        policy_from_strings([])


def test_the_example_policy_file_loads() -> None:
    policy = load_policy(EXAMPLE_POLICY)
    assert policy.name == "vibethinker" and policy.primary == "aime25"
    assert policy.rules == (RequiresBenchmarks(("aime25", "hmmt25")), MinScore("aime25", 70),
                            ImprovesOverLive("aime25", 1), SameProtocol("aime25"), NoRegression(2))
    assert (policy.min_problems, policy.max_unshared) == (10, 0.1)
    assert (policy.undecided_improvement, policy.undecided_regression) == ("fail", "warn")


def test_load_policy_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "team-gate.toml"
    path.write_text('[gate]\nrules = ["aime25 >= 75", "aime25 significant"]\n', encoding="utf-8")
    policy = load_policy(path)
    assert policy == Policy(rules=(MinScore("aime25", 75), SignificantImprovement("aime25")), name="team-gate")


def test_a_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
    assert load_policy(tmp_path / "nope.toml", missing_ok=True) is DEFAULT_POLICY


@pytest.mark.parametrize(("content", "message"), [
    ("[gate\nrules = 1", "not valid TOML"),
    ('rules = ["aime25 >= 75"]', r"no \[gate\] table"),
    ('[gate]\nrule = ["aime25 >= 75"]', "unknown key"),
    ('[gate]\nrules = "aime25 >= 75"', "list of strings"),
    ("[gate]\nrules = [75]", "list of strings"),
    ("[gate]\nrules = []", "no rules"),
    ('[gate]\nrules = ["aime25 >= 75"]\nundecided_improvement = "pass"', "fail.*or.*warn"),
    ('[gate]\nrules = ["aime25 >= 75"]\nmin_problems = 1', "min_problems"),
    ('[gate]\nrules = ["aime25 >= 75"]\nmax_unshared = 2', "max_unshared"),
    ('[gate]\nname = ""\nrules = ["aime25 >= 75"]', "name"),
    ('[gate]\nrules = ["aime25 >= 75", "aime25 beats live"]',
     r"rule 2: cannot read gate rule 'aime25 beats live'"),
])
def test_bad_policy_files_say_what_to_fix(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError, match=message) as error:
        load_policy(path)
    assert str(path) in str(error.value)


# --- evaluation and verdicts ----------------------------------------------------------------------------

SKETCH_CANDIDATE = candidate(aime25=76.0, hmmt25=49.8, lcb_v6=51.9)
SKETCH_LIVE = live(aime25=74.4, hmmt25=50.4, lcb_v6=51.1)


def test_evaluate_checks_every_rule_and_fails_if_any_fails() -> None:
    policy = policy_from_strings(["aime25 >= 75", "aime25 improves >= 2.5%", "no regression > 1"], name="team")
    verdict = evaluate(policy, SKETCH_CANDIDATE, SKETCH_LIVE)
    assert not verdict.passed
    assert [check.mark for check in verdict.checks] == ["✓", "✗", "⚠"]
    assert (verdict.candidate_sha, verdict.live_sha, verdict.policy) == (CANDIDATE_SHA, LIVE_SHA, "team")
    assert verdict.summary() == "2 of 3 rules pass"
    lines = verdict.format_text().splitlines()
    assert lines[0] == "✗ gate 'team' fails for 9be11d0 (against live 3f2a9c1): 2 of 3 rules pass"
    assert lines[1] == "  ✓ aime25 ≥ 75: 76.0"
    assert lines[2].startswith("  ✗ aime25 improves on live by ≥ 2.5% (95% CI lower bound): 76.0 vs live 74.4: +1.6")
    assert lines[3].startswith("  ⚠ no benchmark drops > 1 point vs live: cannot rule out a drop")


def test_default_policy_does_not_pass_a_headline_gain_within_noise() -> None:
    # The sketch candidate (+1.6 on AIME25's 30 problems, headline numbers only) passed the old default gate.
    verdict = evaluate(DEFAULT_POLICY, SKETCH_CANDIDATE, SKETCH_LIVE)
    assert not verdict.passed and verdict.summary() == "2 of 3 rules pass"
    assert "within noise" in verdict.checks[1].detail and verdict.checks[1].mark == "✗"


def test_default_policy_passes_a_gain_beyond_noise() -> None:
    verdict = evaluate(DEFAULT_POLICY, *CERTAIN_GAIN)
    assert verdict.passed and verdict.summary() == "3 of 3 rules pass"
    assert verdict.format_text().startswith("✓ gate 'default' passes for 9be11d0 (against live 3f2a9c1)")


def test_against_another_version_is_labelled_as_such() -> None:
    verdict = evaluate(DEFAULT_POLICY, *CERTAIN_GAIN, against="--against")
    assert verdict.against == "3f2a9c1 (--against)"
    text = verdict.format_text()
    assert text.startswith("✓ gate 'default' passes for 9be11d0 (against 3f2a9c1 (--against))")
    assert "live" not in text
    assert Verdict.from_dict(verdict.to_dict()) == verdict


def test_with_no_live_version_only_the_candidates_own_rules_can_fail() -> None:
    policy = policy_from_strings(["requires aime25,hmmt25", "aime25 >= 75", "aime25 improves >= 2%",
                                  "no regression > 1", "aime25 significant", "aime25 same protocol"])
    verdict = evaluate(policy, candidate(aime25=74.0), None)
    assert verdict.live_sha is None
    assert [(check.passed, check.detail) for check in verdict.checks] == [
        (False, "missing hmmt25 (has aime25)"),
        (False, "74.0, below 75"),
        (True, NO_LIVE), (True, NO_LIVE), (True, NO_LIVE), (True, NO_LIVE),
    ]
    assert verdict.format_text().splitlines()[0] == (
        "✗ gate 'custom' fails for 9be11d0 (against no live version): 4 of 6 rules pass")


def test_summary_of_a_single_rule() -> None:
    verdict = evaluate(policy_from_strings(["aime25 >= 75"]), candidate(aime25=80.0), None)
    assert verdict.summary() == "1 of 1 rule passes"


def test_verdict_round_trips_through_json() -> None:
    policy = policy_from_strings(["requires aime25", "aime25 improves >= 2%", "aime25 significant",
                                  "no regression > 1"], name="default")
    new = candidate(aime25=with_problems(100.0, outcomes(30)), hmmt25=48.0)
    old = live(aime25=with_problems(0.0, outcomes(0)), hmmt25=50.4)
    verdict = evaluate(policy, new, old)
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert data["summary"] == "4 of 4 rules pass"
    assert data["checks"][1]["measured"] is None  # a relative gain over 0 is undefined
    assert data["checks"][3]["measured"] == -2.4 and data["checks"][3]["warning"] is True  # hmmt25 within noise
    assert Verdict.from_dict(data) == verdict


def test_verdict_round_trips_through_the_audit_log(engine: Engine) -> None:
    verdict = evaluate(DEFAULT_POLICY, SKETCH_CANDIDATE, SKETCH_LIVE)
    assert any(check.warning for check in verdict.checks)
    record_event(engine, kind="promote", actor="tester", target="deploy-1", version_sha=CANDIDATE_SHA,
                 verdict=verdict.to_dict())
    (stored,) = latest_events(engine)
    assert Verdict.from_dict(stored.verdict) == verdict


def test_a_verdict_must_agree_with_its_checks() -> None:
    with pytest.raises(ValueError, match="every check passes"):
        Verdict(passed=True, checks=(Check("aime25 ≥ 75", False, "74.4, below 75", 74.4),),
                candidate_sha=CANDIDATE_SHA, live_sha=None)


def test_from_dict_rejects_something_that_is_not_a_verdict() -> None:
    with pytest.raises(ValueError, match="not a gate verdict"):
        Verdict.from_dict({"passed": True})
