"""Decisions you can trust (issue 9): exact tests for few problems, no zero-width intervals, like-with-like deltas,
headline-only results, power in plain words, Holm across benchmarks, one best candidate, and the noise-aware
default policy on the sample registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from vibedash.decisions.candidates import choose_best_candidate
from vibedash.decisions.distributions import t_cdf, t_quantile
from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.gate import (
    DEFAULT_POLICY,
    ImprovesOverLive,
    MinScore,
    Policy,
    SignificantImprovement,
    evaluate,
    load_policy,
    parse_rule,
    policy_from_strings,
    power_lines,
    register_rule_form,
)
from vibedash.decisions.noise import NOISE_UNKNOWN, SETS_DIFFER, TOO_FEW_PROBLEMS, compare_facts, score_interval
from vibedash.decisions.power import power_text, samples_to_detect
from vibedash.decisions.stats import (
    EXACT_MCNEMAR,
    FROM_STDERR,
    holm,
    paired_diff_ci,
    score_ci,
)
from vibedash.registry import queries
from vibedash.registry import records as registry
from vibedash.registry.action_queries import candidate_verdicts
from vibedash.registry.db import unit_of_work
from vibedash.registry.demo import BREAKTHROUGH_INDEX

LIVE, CANDIDATE = "a" * 40, "b" * 40


def k1(gained: int, lost: int, n: int = 30, both: int = 15) -> tuple[dict, dict]:
    """One sample per problem: ``gained`` problems only B solves, ``lost`` only A, ``both`` solved by both."""
    a, b = {}, {}
    for i in range(n):
        pid = f"p{i:02d}"
        if i < gained:
            a[pid], b[pid] = (0, 1), (1, 1)
        elif i < gained + lost:
            a[pid], b[pid] = (1, 1), (0, 1)
        else:
            solved = int(i < gained + lost + both)
            a[pid] = b[pid] = (solved, 1)
    return a, b


def fact(per_problem: dict, benchmark: str = "aime25", samples: int = 1) -> ScoreFact:
    score = 100 * sum(c for c, _ in per_problem.values()) / sum(k for _, k in per_problem.values())
    return ScoreFact(benchmark, score, problems=len(per_problem), samples_per_problem=samples, temperature=0.6,
                     per_problem=per_problem)


def versions(old: dict[str, ScoreFact], new: dict[str, ScoreFact]) -> tuple[VersionFacts, VersionFacts]:
    return VersionFacts(LIVE, old), VersionFacts(CANDIDATE, new)


# --- exact tests for few problems -----------------------------------------------------------------------

@pytest.mark.parametrize(("gained", "lost", "p"), [(4, 0, 0.125), (5, 0, 0.0625), (7, 1, 0.0703125)])
def test_few_flips_at_one_sample_are_within_noise_by_the_exact_mcnemar_test(gained: int, lost: int, p: float) -> None:
    a, b = k1(gained, lost)
    diff = paired_diff_ci(a, b)
    assert diff.p_value == pytest.approx(p) and diff.test == EXACT_MCNEMAR
    assert diff.within_noise and diff.direction == 0
    live, candidate = versions({"aime25": fact(a)}, {"aime25": fact(b)})
    check = SignificantImprovement("aime25").check(candidate, live)
    assert not check.passed and "exact McNemar test p = " in check.detail and ": within noise" in check.detail


def test_six_flips_to_none_is_beyond_noise() -> None:
    a, b = k1(6, 0)
    diff = paired_diff_ci(a, b)
    assert diff.p_value == pytest.approx(2 / 64) and not diff.within_noise and diff.low > 0
    live, candidate = versions({"aime25": fact(a)}, {"aime25": fact(b)})
    assert SignificantImprovement("aime25").check(candidate, live).passed


def test_every_verdict_states_its_method() -> None:
    diff = paired_diff_ci(*k1(4, 0))
    assert diff.method_text() == "paired t interval (df 29) over 30 problems, exact McNemar test p = 0.12"


@pytest.mark.parametrize(("old", "new"), [({"x": (0, 1)}, {"x": (1, 1)}),
                                          ({"x": (0, 1), "y": (0, 1)}, {"x": (1, 1), "y": (1, 1)})])
def test_one_or_two_problems_give_a_wide_interval_and_too_few_problems_to_judge(old: dict, new: dict) -> None:
    diff = paired_diff_ci(old, new)
    assert diff.high - diff.low > 50 and diff.within_noise  # 0/1 -> 1/1 was [+100, +100] and passed
    live, candidate = versions({"aime25": fact(old)}, {"aime25": fact(new)})
    check = SignificantImprovement("aime25").check(candidate, live)
    assert not check.passed
    assert f"too few problems to judge ({len(old)} paired; at least 10 needed)" in check.detail
    assert compare_facts(fact(old), fact(new)).undecided == TOO_FEW_PROBLEMS


def test_the_minimum_number_of_paired_problems_is_a_policy_setting() -> None:
    a, b = k1(6, 0, n=8, both=1)
    live, candidate = versions({"aime25": fact(a)}, {"aime25": fact(b)})
    strict = policy_from_strings(["aime25 significant"])
    lenient = policy_from_strings(["aime25 significant"], min_problems=5)
    assert "too few problems" in evaluate(strict, candidate, live).checks[0].detail
    assert "too few problems" not in evaluate(lenient, candidate, live).checks[0].detail


def test_all_correct_is_never_a_zero_width_interval() -> None:
    perfect = {f"p{i}": (1, 1) for i in range(30)}
    score = score_ci(perfect)
    assert score.high == 100.0 and score.low < 92.0  # was [100, 100]
    same = paired_diff_ci(perfect, dict(perfect))
    assert same.low < 0 < same.high and same.within_noise


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=40))
def test_no_interval_from_real_data_has_zero_width(pairs: list[tuple[int, int]]) -> None:
    a = {f"p{i}": (x, 8) for i, (x, _) in enumerate(pairs)}
    b = {f"p{i}": (y, 8) for i, (_, y) in enumerate(pairs)}
    diff = paired_diff_ci(a, b)
    assert diff.high - diff.low > 0.1
    assert score_ci(a).high - score_ci(a).low > 0.1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=10, max_size=40),
       st.sampled_from(["aime25 improves >= 1", "aime25 improves >= 2% headline", "aime25 significant",
                        "no regression > 1"]))
def test_a_check_never_shows_a_tick_beside_within_noise(pairs: list[tuple[int, int]], rule: str) -> None:
    a = {f"p{i}": (x, 4) for i, (x, _) in enumerate(pairs)}
    b = {f"p{i}": (y, 4) for i, (_, y) in enumerate(pairs)}
    live, candidate = versions({"aime25": fact(a, samples=4)}, {"aime25": fact(b, samples=4)})
    check = parse_rule(rule).check(candidate, live)
    if check.mark == "✓" and rule != "no regression > 1":
        assert "within noise" not in check.detail and paired_diff_ci(a, b).low > 0


# --- like with like -------------------------------------------------------------------------------------

def test_a_run_missing_its_hardest_problems_is_judged_on_the_shared_ones_and_flagged() -> None:
    rng = np.random.default_rng(1)
    full = {f"aime25-{i:02d}": (int(rng.binomial(8, 0.75 if i < 20 else 0.05)), 8) for i in range(30)}
    partial = {pid: outcome for pid, outcome in full.items() if int(pid[-2:]) < 20}  # the 10 hardest missing
    old, new = fact(full, samples=8), fact(partial, samples=8)
    assert new.score - old.score > 15  # the headline delta is mostly the missing hard problems
    comparison = compare_facts(old, new)
    assert comparison.undecided == SETS_DIFFER
    assert abs(comparison.delta) < 1e-9 and comparison.diff.headline_delta == pytest.approx(new.score - old.score)
    assert comparison.reason.startswith("problem sets differ: 10 only the baseline has (aime25-20, aime25-21")
    live, candidate = versions({"aime25": old}, {"aime25": new})
    check = ImprovesOverLive("aime25", 2).check(candidate, live)
    assert not check.passed and "problem sets differ" in check.detail
    compared = queries.compare_versions([live, candidate])
    (diff,) = compared.diffs
    assert diff.verdict == SETS_DIFFER and diff.delta == pytest.approx(0.0)
    assert compared.problem_set_warnings() == [f"AIME25 (aaaaaaa vs bbbbbbb): {comparison.reason}"]


def test_a_three_problem_smoke_run_is_not_significant_nor_marked_better() -> None:
    old = {f"p{i}": (0, 4) for i in range(3)}
    new = {f"p{i}": (4, 4) for i in range(3)}
    live, candidate = versions({"aime25": fact(old, samples=4)}, {"aime25": fact(new, samples=4)})
    assert not evaluate(policy_from_strings(["aime25 significant"]), candidate, live).passed
    (diff,) = queries.compare_versions([live, candidate]).diffs
    assert diff.verdict == TOO_FEW_PROBLEMS


# --- headline-only results ------------------------------------------------------------------------------

def test_headline_only_results_use_known_benchmark_sizes() -> None:
    published = ScoreFact("aime25", 74.4, samples_per_problem=64)
    ours = ScoreFact("aime25", 82.5, samples_per_problem=64)
    comparison = compare_facts(published, ours)
    assert comparison.diff is not None and comparison.problems_known_from == "known benchmark size"
    assert comparison.diff.within_noise
    interval = score_interval("aime25", 74.4)
    assert interval is not None and interval.low < 74.4 < interval.high
    live, candidate = versions({"aime25": published}, {"aime25": ours})
    detail = ImprovesOverLive("aime25", 2, relative=True).check(candidate, live).detail
    assert "known benchmark size" in detail and "within noise" in detail  # never a bare "+8.1"


def test_unknown_noise_is_said_everywhere() -> None:
    old, new = ScoreFact("custom_eval", 60.0), ScoreFact("custom_eval", 68.1)
    assert compare_facts(old, new).undecided == NOISE_UNKNOWN
    assert score_interval("custom_eval", 60.0) is None
    live, candidate = versions({"custom_eval": old}, {"custom_eval": new})
    (diff,) = queries.compare_versions([live, candidate]).diffs
    assert diff.verdict == NOISE_UNKNOWN
    check = ImprovesOverLive("custom_eval", 1).check(candidate, live)
    assert not check.passed and "noise unknown" in check.detail


def test_imported_standard_errors_are_shown_and_used() -> None:
    interval = score_interval("gsm8k", 80.0, stderr=1.5)
    assert interval is not None and interval.method == FROM_STDERR
    assert interval.low == pytest.approx(80.0 - 1.959964 * 1.5, abs=1e-4)
    diff = compare_facts(ScoreFact("gsm8k", 80.0, stderr=1.5), ScoreFact("gsm8k", 86.0, stderr=1.5)).diff
    assert diff.method == FROM_STDERR and diff.se == pytest.approx(1.5 * 2**0.5) and not diff.within_noise


# --- power in plain words -------------------------------------------------------------------------------

def test_power_says_what_the_comparison_detects_and_what_more_samples_would() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0.3, 0.7, 30)  # mid-difficulty problems: sampling noise dominates at k = 8
    a = {f"p{i}": (int(rng.binomial(8, q)), 8) for i, q in enumerate(p)}
    b = {f"p{i}": (int(rng.binomial(8, q)), 8) for i, q in enumerate(p)}
    diff = paired_diff_ci(a, b)
    assert 5 < diff.mde < 25
    k = samples_to_detect(diff, 4.0)
    assert k is not None and k > 8
    assert power_text(diff, 4.0) == (f"can detect about {diff.mde:.1f} points (80% power); k = {k} samples per "
                                     "problem would detect 4.0")
    live, candidate = versions({"aime25": fact(a, samples=8)}, {"aime25": fact(b, samples=8)})
    policy = policy_from_strings(["aime25 improves >= 4"], primary="aime25")
    (line,) = power_lines(policy, candidate, live)
    assert line.startswith("power on aime25 (30 shared problems): this comparison can detect about")
    assert "the policy's bar is +4.0 points" in line


def test_t_quantiles_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 4, 29, 59, 399):
        for q in (0.8, 0.975, 0.995):
            assert t_quantile(q, df) == pytest.approx(stats.t.ppf(q, df), abs=1e-9)
        assert t_cdf(1.7, df) == pytest.approx(stats.t.cdf(1.7, df), abs=1e-12)


# --- multiplicity ---------------------------------------------------------------------------------------

def test_holm_controls_the_family_across_benchmarks() -> None:
    assert holm([0.01, 0.04, 0.03, None]) == [True, False, False, False]
    assert holm([0.001, 0.02, 0.5]) == [True, True, False]
    a, b = k1(7, 0)  # exact p = 1/64
    one = versions({"aime25": fact(a)}, {"aime25": fact(b)})
    assert queries.compare_versions(list(one)).diffs[0].verdict == "better"
    null = {f"q{i}": (i % 2, 1) for i in range(30)}
    four = versions({"aime25": fact(a), **{n: fact(null, n) for n in ("aime24", "hmmt25", "lcb_v6")}},
                    {"aime25": fact(b), **{n: fact(null, n) for n in ("aime24", "hmmt25", "lcb_v6")}})
    aime = next(d for d in queries.compare_versions(list(four)).diffs if d.benchmark == "aime25")
    assert aime.verdict == "within noise"  # 1/64 > 0.05 / 4
    assert aime.note == "beyond noise alone, not after Holm's correction across 4 benchmarks"


# --- the best candidate ---------------------------------------------------------------------------------

def test_the_best_candidate_is_the_first_the_gate_passes_best_first() -> None:
    policy = Policy(rules=(MinScore("aime25", 70),), primary="aime25")
    ranked = [VersionFacts("1" * 40, {}),  # no results: never chosen
              VersionFacts("2" * 40, {"aime25": ScoreFact("aime25", 90.0)}),
              VersionFacts("3" * 40, {"aime25": ScoreFact("aime25", 60.0)})]
    choice = choose_best_candidate(None, ranked, policy, available=3)
    assert (choice.index, choice.passes, choice.considered) == (1, True, 1)
    strict = Policy(rules=(MinScore("aime25", 95),), primary="aime25")
    fallback = choose_best_candidate(None, ranked, strict)
    assert (fallback.index, fallback.passes, fallback.considered) == (1, False, 2)
    assert "none passes the gate" in fallback.selection_note("aime25")
    assert choose_best_candidate(None, [ranked[0]], policy).index is None
    capped = choose_best_candidate(None, [ranked[2]] * 50 + [ranked[1]], policy, max_judged=20)
    assert not capped.passes and capped.considered == 20


def test_the_sample_registry_best_candidate_is_shared_and_says_how_it_was_chosen(demo_engine: Engine) -> None:
    with unit_of_work(demo_engine) as session:
        best = queries.best_candidate(session, DEFAULT_POLICY, "aime25")
        ranked = registry.ranked_candidates(session, "aime25")
        breakthrough = registry.find_version(session, registry.short(best.sha)).message
        with_results = registry.primary_scores(session, [v.id for v, _ in ranked])
    assert best.passes_gate and best.verdict.passed and "new RL recipe" in breakthrough
    assert str(len(ranked)) in best.selection_note and "shrink on a re-run" in best.selection_note
    assert all(with_results[v.id] for v, _ in ranked)  # never a version without results
    assert BREAKTHROUGH_INDEX > 0


def test_the_default_policy_on_the_sample_registry_never_ticks_noise(demo_engine: Engine) -> None:
    verdicts = candidate_verdicts(demo_engine, DEFAULT_POLICY)
    passing = [c for c in verdicts if c.verdict.passed]
    assert len(passing) == 1 and "new RL recipe" in (passing[0].message or "")
    for c in verdicts:
        for check in c.verdict.checks:
            if check.mark == "✓":
                assert "within noise" not in check.detail


# --- policy files ---------------------------------------------------------------------------------------

def test_policy_noise_settings_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "gate.toml"
    path.write_text('[gate]\nprimary = "hmmt25"\nmin_problems = 20\nmax_unshared = 0.05\n'
                    'undecided_improvement = "warn"\nundecided_regression = "fail"\n'
                    'rules = ["hmmt25 improves >= 1 headline", "no regression > 2"]\n', encoding="utf-8")
    policy = load_policy(path)
    assert (policy.primary, policy.min_problems, policy.max_unshared) == ("hmmt25", 20, 0.05)
    assert (policy.undecided_improvement, policy.undecided_regression) == ("warn", "fail")
    assert policy.rules[0] == ImprovesOverLive("hmmt25", 1, headline=True)
    assert policy.primary_benchmark == "hmmt25"


def test_other_modules_can_add_rule_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    from vibedash.decisions import gate

    monkeypatch.setattr(gate, "RULE_FORMS", list(gate.RULE_FORMS))  # the table is restored after the test
    register_rule_form(r"(?P<bench>[a-z0-9_]+) at least (?P<num>\d+)",
                       lambda m: MinScore(m["bench"], float(m["num"])), "aime25 at least 70")
    assert parse_rule("AIME25 at least 70") == MinScore("aime25", 70)
    assert "'aime25 at least 70'" in gate.accepted_forms()


# --- Promote preselects the shared best candidate, never a version without results -----------------------

def _deploy_has_results(engine: Engine, deploy_id: str) -> bool:
    with unit_of_work(engine) as session:
        version = registry.find_deploy(session, deploy_id).version
        return bool(registry.primary_scores(session, [version.id])[version.id])


def test_promote_offers_the_shared_best_candidate(demo_engine: Engine, registry_url: str,
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pagetest import page_test

    from vibedash.ui import frame

    with unit_of_work(demo_engine) as session:
        best = queries.best_candidate(session, DEFAULT_POLICY, "aime25")
    at = page_test(frame.PROMOTE, registry_url, monkeypatch, tmp_path)
    at.run()
    assert not at.exception
    assert at.selectbox(key="promote_candidate").value == best.deploy_id


def test_promote_never_preselects_a_version_without_results(demo_engine: Engine, registry_url: str,
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pagetest import page_test

    from vibedash.ui import frame

    # A policy nothing passes: the newest candidates (no results yet) must not be offered first.
    strict = tmp_path / "strict-gate.toml"
    strict.write_text('[gate]\nrules = ["aime25 >= 99.9"]\n', encoding="utf-8")
    at = page_test(frame.PROMOTE, registry_url, monkeypatch, tmp_path, env={"VIBEDASH_GATE_POLICY": str(strict)})
    at.run()
    assert not at.exception
    offered = at.selectbox(key="promote_candidate").value
    assert _deploy_has_results(demo_engine, offered)
    with unit_of_work(demo_engine) as session:
        newest = registry.candidates(session, limit=1)[0][1].netlify_id
    assert not _deploy_has_results(demo_engine, newest) and offered != newest
